"""Shared fixtures: the golden libxl blobs, the real captures in tests/data
and the real dtc. The suite tests xendt as `pip install` put it in the
environment, never the source tree beside it (README: the test command)."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "golden"
DATA = ROOT / "tests" / "data"
#: Dom0less guest blobs the real hypervisor built (tests/data/README.md).
REAL_DOM0LESS = DATA / "reference-dom0less"
#: The same through the real ImageBuilder script and the real U-Boot.
REAL_UBOOT = DATA / "reference-uboot"


def _installed_xendt() -> Path:
    """Where the xendt under test comes from; the suite refuses to run
    against the source tree (`python -m pytest` from the top folder would
    import ./xendt and hide a module the wheel lacks)."""
    import xendt

    where = Path(xendt.__file__).resolve().parent
    if where == ROOT / "xendt":
        raise pytest.UsageError(
            f"xendt is imported from the source tree ({where}), not from the installed"
            " package: run the suite as README says (.venv/bin/pytest after pip install)")
    return where


INSTALLED = _installed_xendt()


def golden_cases() -> list[dict]:
    """The entries of golden/cases.json (one per libxl blob)."""
    return json.loads((GOLDEN / "cases.json").read_text())


def dtc(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess:
    """Run Debian's dtc; the suite requires it (README's test command installs it)."""
    exe = shutil.which("dtc")
    if exe is None:
        pytest.fail("dtc not found: install Debian's device-tree-compiler")
    return subprocess.run([exe, *args], input=input, capture_output=True, check=True)


def dtb_to_dts(blob: bytes) -> str:
    return dtc("-q", "-I", "dtb", "-O", "dts", "-", input=blob).stdout.decode()


def dts_to_dtb(source: str) -> bytes:
    return dtc("-q", "-I", "dts", "-O", "dtb", "-", input=source.encode()).stdout


def run_cli(*args: str, capsysbinary) -> tuple[int, bytes, str]:
    """`xendt ARGS` in this process: exit status, stdout bytes, stderr text."""
    from xendt.cli import main

    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsysbinary.readouterr()
    check_output(args, code, out)
    return code, out, err.decode()


def check_output(args: tuple[str, ...], code: int | None, out: bytes) -> None:
    """check_document() on what `xendt ARGS` printed, when it printed JSON."""
    if code in (0, 1) and out and any(a == "--format" and b == "json"
                                      for a, b in itertools.pairwise(args)):
        check_document(json.loads(out))


def check_document(data: dict) -> None:
    """Every JSON document a command prints is valid against the JSON Schema
    of its kind, shipped in the package (xendt.schema)."""
    import jsonschema

    import xendt

    kind = data["schema"].removeprefix("xendt.").split("/")[0]
    jsonschema.Draft202012Validator(xendt.schema(kind)).validate(data)


def dts_node(dts: str, path: str) -> str:
    """The text of the node at `path` ("/chosen", "/cpus/cpu@3") in DTS as
    dtc prints it, from its opening line to its closing "};", so that a test
    compares a whole node exactly rather than a line of it."""
    lines = dts.splitlines(keepends=True)
    depth, start = 0, lines.index("/ {\n")
    for name in [p for p in path.split("/") if p]:
        depth += 1
        opening = "\t" * depth + name + " {\n"
        start = lines.index(opening, start + 1)
    end = lines.index("\t" * depth + "};\n", start)
    return "".join(lines[start:end + 1])
