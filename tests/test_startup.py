"""What a CLI start loads (README: Speed). Image builders start `xendt
build` thousands of times: a flags-only build imports no module it does not
use, and the model's dataclasses are made from code compiled at an earlier
start (xendt.cli.compiled). Timings are benchmarks/' business, not these
tests'."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys

import pytest

from xendt.cli.compiled import compiled

#: Runs `xendt ARGS` and prints every module then loaded, one a line.
_LOADED = """
import sys
from xendt.cli import main
try:
    main(sys.argv[1:])
except SystemExit as e:
    assert not e.code, e.code
print("\\n".join(sorted(sys.modules)))
"""

#: What a flags-only `xendt build` has no use for, and so never imports.
UNUSED = (
    "tomllib",          # layouts come from the cache, parsed at the first start only
    "pickle",           # ... which is not a pickle
    "tempfile",         # writing /dev/null needs no temporary file
    "shutil",
    "json",             # --format json and --guest-json only
    "jsonschema",
    "xendt.xen.reader", "xendt.xen.schema", "xendt.xen.points",  # the layout file reader
    "xendt.guest.xlcfg.syntax",  # the xl.cfg parser: no --xl-config
    "xendt.guest.xlcfg.disk", "xendt.guest.xlcfg.devices",
    "xendt.guest.jsonio", "xendt.guest.partial",
    "xendt.guest.images", "zlib",  # the image readers: no --kernel, --ramdisk or device_tree
    "xendt.inspect", "xendt.render", "xendt.dom0less", "xendt.dom0", "xendt.uboot",
    "xendt.host", "xendt.domu", "xendt.hostregions", "xendt.api", "xendt.notices",
    "xendt.fdt.dts", "xendt.fdt.read",
    "libfdt",           # pylibfdt's wrappers: the build calls its extension, _libfdt
    "signal",           # only a file replaced through a temporary one needs it
)


def loaded(cache: str, *args: str) -> list[str]:
    """The modules loaded by the end of `xendt ARGS`, with `cache` as the
    user's cache folder."""
    env = {**os.environ, "XDG_CACHE_HOME": cache}
    env.pop("XENDT_NO_CACHE", None)
    run = subprocess.run([sys.executable, "-c", _LOADED, *args], capture_output=True, text=True,
                         check=True, cwd="/", env=env)
    return run.stdout.split()


def test_a_flags_only_build_imports_none_of_the_modules_it_does_not_use(tmp_path):
    args = ("build", "--pa-bits", "40", "-o", os.devnull)
    loaded(str(tmp_path), *args)  # the first start fills the caches
    modules = loaded(str(tmp_path), *args)
    assert "xendt.guest.libxl_build" in modules
    assert [m for m in modules if m.split(".")[0] in UNUSED or m in UNUSED
            or any(m.startswith(f"{u}.") for u in UNUSED)] == []


def test_a_first_start_parses_the_layout_and_fills_the_caches(tmp_path):
    modules = loaded(str(tmp_path), "build", "--pa-bits", "40", "-o", os.devnull)
    assert "tomllib" in modules
    assert [re.sub(r"\.[0-9a-f]{8}\.", ".<where>.", name)
            for name in sorted(os.listdir(tmp_path / "xendt"))] == [
        "4.22.0.<where>.layout", f"dataclasses.{sys.implementation.cache_tag}"]
    assert "xendt.guest.model.marshal" in os.listdir(
        tmp_path / "xendt" / f"dataclasses.{sys.implementation.cache_tag}")


def _point(annotations: str = "int") -> type:
    """A frozen dataclass made by dataclasses, as a module defines one."""
    namespace: dict[str, object] = {"__name__": __name__}
    exec(f"@dataclass(frozen=True)\nclass Point:\n    x: {annotations}\n    y: {annotations} = 0\n",
         {"dataclass": dataclasses.dataclass, "__name__": __name__}, namespace)
    return namespace["Point"]  # type: ignore[return-value]


def _behaviour(cls: type) -> tuple[object, ...]:
    p = cls(1, y=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.x = 3
    return (repr(p), p == cls(1, 2), hash(p) == hash(cls(1, 2)), cls.__init__.__annotations__,
            [f.name for f in dataclasses.fields(cls)], dataclasses.replace(p, x=5).x)


def test_a_dataclass_made_from_cached_code_is_the_one_made_without(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("XENDT_NO_CACHE", raising=False)
    plain = _behaviour(_point())
    with compiled():
        first = _behaviour(_point())
    with compiled():
        cached = _behaviour(_point())
    assert plain == first == cached == (
        "Point(x=1, y=2)", True, True, {"x": "int", "y": "int", "return": None}, ["x", "y"], 5)


def test_code_compiled_once_is_read_back_not_written_again(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("XENDT_NO_CACHE", raising=False)
    with compiled():
        _point("float")
    [entry] = (tmp_path / "xendt" / f"dataclasses.{sys.implementation.cache_tag}").iterdir()
    assert entry.name == f"{__name__}.marshal"
    written = entry.stat().st_mtime_ns, entry.read_bytes()
    with compiled():
        _point("float")
    assert (entry.stat().st_mtime_ns, entry.read_bytes()) == written


def test_a_damaged_cache_is_compiled_past_and_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("XENDT_NO_CACHE", raising=False)
    entry = tmp_path / "xendt" / f"dataclasses.{sys.implementation.cache_tag}" / f"{__name__}.marshal"
    entry.parent.mkdir(parents=True)
    entry.write_bytes(b"\xe3not marshal")
    with compiled():
        assert _behaviour(_point("str"))[0] == "Point(x=1, y=2)"
    assert entry.read_bytes() != b"\xe3not marshal"


def test_xendt_no_cache_keeps_no_compiled_code(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("XENDT_NO_CACHE", "1")
    with compiled():
        _point("bytes")
    assert not (tmp_path / "xendt").exists()


def test_outside_a_command_dataclasses_compile_as_usual(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with compiled():
        pass
    assert "exec" not in vars(dataclasses)
