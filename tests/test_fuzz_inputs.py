"""Fuzzing every input path beyond show/check/diff (test_fuzz_inspect.py has
those): host DTBs, dom0 DTBs and dom0less partial DTBs for host-regions, the
guest's partial DTB for build --device-tree, xl.cfg text, the build flags,
guest JSON (documents and mutated text) and layout files. Whatever comes
in, the answer is a result or an XendtError of one line (exit status 2 from
the CLI), never another exception. Each guest JSON and layout example runs
with at most 512 MiB more address space (bounded_memory), as test_bounds.py
runs whole processes on unending and deeply nested inputs.

Small in CI; XENDT_FUZZ_EXAMPLES=N runs N examples per test (the long
offline run).
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import GOLDEN, dts_to_dtb
from conftest_host import BOARD_DTS, PASSTHROUGH_DTS
from xendt import api
from xendt.cli import main
from xendt.errors import XendtError
from xendt.guest import libxl_build, xlcfg
from xendt.guest.libxl_build import GuestDT
from xendt.guest.model import GuestConfig, Host, Iomem, Kernel, VirtioDisk
from xendt.hostregions import domains
from xendt.xen import layouts
from xendt.xen.context import resolve


def build(guest: GuestConfig, host: Host | None = None) -> GuestDT:
    """libxl_build.build with host.xen resolved, as the edge does."""
    return libxl_build.build(guest, host, xen=resolve(host.xen if host else None))

EXAMPLES = int(os.environ.get("XENDT_FUZZ_EXAMPLES", "0"))
IMAGE = Kernel("arm64", 8 << 20)
BOARD = dts_to_dtb(BOARD_DTS)
PASSTHROUGH = dts_to_dtb(PASSTHROUGH_DTS)
PARTIAL = (GOLDEN / "partial-passthrough.dtb").read_bytes()
VERSIONS = layouts.versions()


def fuzz(ci: int):  # type: ignore[no-untyped-def]
    """Hypothesis settings: `ci` examples, or XENDT_FUZZ_EXAMPLES."""
    return settings(max_examples=EXAMPLES or ci, deadline=timedelta(seconds=10),
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


def one_line(error: XendtError) -> None:
    assert str(error) and "\n" not in str(error), repr(str(error))


#: What one example may add to the process's address space (test_bounds.py's
#: limit for a whole xendt process).
LIMIT = 512 << 20


@contextlib.contextmanager
def bounded_memory():  # type: ignore[no-untyped-def]
    """RLIMIT_AS lowered to the address space in use + LIMIT while the body
    runs (a MemoryError fails the test), then put back."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/status") as f:
        used = next(int(line.split()[1]) << 10 for line in f if line.startswith("VmSize:"))
    limit = used + LIMIT if hard == resource.RLIM_INFINITY else min(used + LIMIT, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


# --- blobs: every header field, then bytes ---------------------------------------

#: The ten 32-bit header fields: magic, totalsize, off_dt_struct, off_dt_strings,
#: off_mem_rsvmap, version, last_comp_version, boot_cpuid_phys, size_dt_strings,
#: size_dt_struct.
HEADER_FIELDS = range(0, 40, 4)
INTERESTING = st.sampled_from([0, 1, 2, 3, 16, 17, 0x28, 0x38, 0x1000, 0x10_0000, 0x7FFF_FFFF,
                               0xFFFF_FFFF, 0xD00D_FEED])
TOKENS = st.sampled_from([0, 1, 2, 3, 4, 9, 0xFFFF_FFFF])


@st.composite
def mutated(draw, seed: bytes) -> bytes:  # type: ignore[no-untyped-def]
    """`seed` with 1 to 4 mutations: a header field set (to an interesting
    value or one near the blob's size), a byte, a structure token, a cut or
    an insertion."""
    blob = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["header", "header", "byte", "token", "cut", "insert"]))
        if not blob:
            break
        if kind == "header" and len(blob) >= 40:
            value = draw(st.one_of(INTERESTING, st.integers(0, len(blob) + 64)))
            struct.pack_into(">I", blob, draw(st.sampled_from(HEADER_FIELDS)), value)
        elif kind == "byte":
            blob[draw(st.integers(0, len(blob) - 1))] = draw(st.integers(0, 255))
        elif kind == "token" and len(blob) > 0x44:
            at = draw(st.integers(0x40, len(blob) - 4)) & ~3
            struct.pack_into(">I", blob, at, draw(TOKENS))
        elif kind == "cut":
            del blob[draw(st.integers(0, len(blob) - 1)):]
        else:
            at = draw(st.integers(0, len(blob)))
            blob[at:at] = draw(st.binary(min_size=1, max_size=16))
    return bytes(blob)


@fuzz(60)
@given(blob=mutated(BOARD), version=st.sampled_from(VERSIONS))
def test_a_mutated_host_dtb_gives_regions_or_one_line(blob, version):
    try:
        api.host_regions(blob, xen=version, iommu=True)
    except XendtError as e:
        one_line(e)


@fuzz(40)
@given(blob=mutated(BOARD))
def test_a_mutated_dom0_dtb_gives_banks_or_one_line(blob):
    try:
        domains.dom0_facts(blob, "dom0.dtb")
    except XendtError as e:
        one_line(e)


@fuzz(40)
@given(blob=mutated(PASSTHROUGH))
def test_a_mutated_dom0less_partial_dtb_gives_regions_or_one_line(blob):
    try:
        api.host_regions(BOARD, xen="4.21", iommu=True, domain="domU1", partial_dtb=blob)
    except XendtError as e:
        one_line(e)


@fuzz(60)
@given(blob=mutated(PARTIAL), version=st.sampled_from(VERSIONS))
def test_a_mutated_guest_partial_dtb_builds_or_is_one_line(blob, version):
    try:
        build(GuestConfig(kernel=IMAGE, partial_dtb=blob, partial_dtb_name="p.dtb"),
              Host(xen=version))
    except XendtError as e:
        one_line(e)


# --- xl.cfg text -----------------------------------------------------------------

KEYS = st.one_of(
    st.sampled_from(["memory", "maxmem", "videoram", "vcpus", "maxvcpus", "gic_version", "vuart",
                     "cmdline", "root", "extra", "kernel", "ramdisk", "disk", "virtio", "pci",
                     "iomem", "tee", "acpi", "nr_spis", "vpmu", "type", "builder",
                     "max_grant_frames", "name"]),
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True))
NUMBERS = st.one_of(st.integers(-(1 << 70), 1 << 70).map(str),
                    st.integers(0, 1 << 70).map(hex),
                    st.sampled_from(["0", "010", "09", "0x", "-0", "4294967295", "2147483648",
                                     "9223372036854775808", "1e3", "+5"]))
QUOTED = st.text(max_size=24).map(
    lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"')
SPECS = st.sampled_from(['"vdev=xvda,specification=virtio,target=/x"', '"0x1c090,1@0x9c090"',
                         '"type=virtio,device22,transport=mmio"', '"01:00.0"', '"sbsa_uart"',
                         '"v2"', '"v3"', '"optee"', '"pvh"', '"ffa"', "'single'"])
SCALARS = st.one_of(NUMBERS, QUOTED, SPECS, st.sampled_from(["'x'", '"', "'", "\\"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4).map(
    lambda items: "[" + ", ".join(items) + "]"), max_leaves=8)
LINES = st.one_of(
    st.tuples(KEYS, st.sampled_from(["=", " = ", "+=", "=="]), VALUES).map("".join),
    st.text(max_size=30),
    st.sampled_from(["# comment", "", ";", "memory = 512 # trailing", "a = 1; b = 2"]))
TEXTS = st.one_of(st.lists(LINES, max_size=8).map("\n".join),
                  st.binary(max_size=60).map(lambda b: b.decode("utf-8", "surrogateescape")))


@fuzz(150)
@given(text=TEXTS, version=st.sampled_from(VERSIONS), ramdisk=st.sampled_from([None, 4096]),
       pa_bits=st.sampled_from([32, 36, 40, 48]))
def test_xl_cfg_text_builds_or_is_one_line(text, version, ramdisk, pa_bits):
    try:
        cfg = xlcfg.parse(text, "fuzz.cfg")
        guest, _ = xlcfg.guest_config(cfg, read_files=False, kernel=IMAGE,
                                             ramdisk_size=ramdisk, partial_dtb=b"")
        build(guest, Host(xen=version, pa_bits=pa_bits if pa_bits <= 48 else None))
    except XendtError as e:
        one_line(e)


# --- flags -------------------------------------------------------------------------

BIG = st.one_of(st.integers(-(1 << 80), 1 << 80).map(str), st.integers(0, 1 << 80).map(hex),
                st.integers(-4, 4000).map(str), st.text(max_size=6))
FLAG = st.one_of(
    st.tuples(st.sampled_from(["--memory", "--maxmem", "--vcpus", "--maxvcpus", "--nr-spis",
                               "--kernel-size", "--ramdisk-size", "--text-offset", "--acpi-size",
                               "--clock-frequency"]), BIG),
    st.tuples(st.sampled_from(["--cmdline", "--root", "--extra", "--iomem", "--virtio", "--disk",
                               "--pci", "--rng-seed"]),
              st.one_of(st.text(max_size=40), SPECS.map(lambda s: s.strip("\"'")))),
    st.tuples(st.sampled_from(["--gic-version", "--host-gic"]),
              st.sampled_from(["v2", "v3", "default", "v4", ""])),
    st.tuples(st.sampled_from(["--tee"]), st.sampled_from(["none", "optee", "ffa", "x"])),
    st.tuples(st.sampled_from(["--guest-arch"]), st.sampled_from(["arm64", "arm32", "x86"])),
    st.tuples(st.sampled_from(["--xen"]), st.sampled_from([*VERSIONS, "4.13", "5.0", "", "4.21.x"])),
    st.tuples(st.sampled_from(["--pa-bits", "--ipa-bits"]),
              st.sampled_from(["32", "36", "40", "42", "44", "48", "52", "39", "-1", "x"])),
    st.sampled_from([("--vuart",), ("--no-vuart",), ("--acpi",), ("--no-acpi",)]))


@fuzz(120)
@given(flags=st.lists(FLAG, max_size=6))
def test_build_flags_give_a_tree_or_one_line_and_status_2(flags):
    args = ["build", *[part for flag in flags for part in flag], "-o", os.devnull]
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()), \
            pytest.raises(SystemExit) as exit:
        main(args)
    text = err.getvalue()
    assert exit.value.code in (0, 2), (args, text)
    if exit.value.code == 2:
        assert text.startswith("xendt: ") and text.count("\n") == 1, (args, text)
    else:
        assert all(line.startswith(("xendt: warning: ", "xendt: fleet: "))
                   for line in text.splitlines()), (args, text)


# --- U-Boot boot scripts (host-dt / build --uboot-script) ------------------------

#: Script lines: ImageBuilder's commands and hostile ones (doubling variables,
#: long expansions, resizes near and past Xen's 2 MiB, rsvmem indexes that are
#: negative as an int, boot commands); {n} and {s} are filled per line.
UBOOT_LINES = st.sampled_from([
    "fdt addr 0x1000", "fdt addr 0x1000 {n:x}", "fdt addr {n:x}", "fdt resize", "fdt resize {n:x}",
    "fdt mknod /chosen d{n}", "fdt mknod /chosen/d{n} m", "fdt set /chosen/d{n} p <{n} 0x{n:x}>",
    'fdt set /chosen p "{s}"', "fdt set /chosen p [{n:x} 00]", "fdt set / p <?>", "fdt rm /chosen p",
    "fdt rm /chosen/d{n}", "fdt rsvmem add {n:x} {n:x}", "fdt rsvmem delete {n:x}",
    "fdt bootcpu {n:x}", "fdt print", "setenv a ${{a}}${{a}}", "setenv a {s}", "setenv a{n} {n}",
    "setexpr a ${{a}} + {n:x}", "setexpr a {n:x} {s} {n:x}", "echo ${{a}}${{a}}${{a}}${{a}}",
    "a=${{a}}${{a}}", "b=${{a:-{s}}}", "tftpb 0x{n:x} f", "tftpb {s}",
    "load mmc 0:1 0x{n:x} f {n:x} {n:x}", "setenv fdt_high {n:x}", "setenv bootargs {s}",
    "booti 0x80000 - 0x1000", "booti 0x80000 - {n:x}", "booti {s}", "{s}"])
UBOOT_NUMBERS = st.one_of(st.sampled_from([0, 1, 3, 0x1000, 0x1FF000, 0x200000, 0x3F00000,
                                           0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, (1 << 64) - 1]),
                          st.integers(0, 1 << 70))


@st.composite
def uboot_scripts(draw) -> str:  # type: ignore[no-untyped-def]
    """A few script lines, each possibly repeated up to 3000 times."""
    out = []
    for _ in range(draw(st.integers(1, 8))):
        line = draw(UBOOT_LINES).format(n=draw(UBOOT_NUMBERS), s=draw(st.text(max_size=12)))
        out += [line] * draw(st.one_of(st.just(1), st.integers(1, 3000)))
    return "\n".join(out) + "\n"


@contextlib.contextmanager
def address_space(extra: int):  # type: ignore[no-untyped-def]
    """At most `extra` more bytes of address space than the process has now
    (test_bounds.py gives each CLI run 512 MiB the same way): a runaway
    allocation is a MemoryError, not a machine swapping."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as f:
        used = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    limit = used + extra if hard == resource.RLIM_INFINITY else min(used + extra, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@fuzz(40)
@given(script=uboot_scripts(), version=st.sampled_from([None, "2023.01"]))
def test_a_u_boot_script_gives_a_dt_or_one_line_within_512_mib(script, version):
    from xendt.fdt.read import MAX_BLOB_SIZE
    from xendt.inputs import HOST_DTB_MAX
    from xendt.uboot.script import apply_script

    try:
        with address_space(512 << 20):
            out = apply_script(BOARD, script, "fuzz.source", {"f": 4096}, uboot_version=version)
    except XendtError as e:
        one_line(e)
    else:
        # The tree booti hands Xen is held to MAX_FDT_SIZE; the working DTB
        # the script leaves without booti's edits, to xendt's 64 MiB.
        assert len(out) <= (HOST_DTB_MAX if version else MAX_BLOB_SIZE)
# --- guest JSON ----------------------------------------------------------------------

def _fields(cls: type) -> list[str]:
    import dataclasses

    return [f.name for f in dataclasses.fields(cls)]


JSON_KEYS = st.one_of(
    st.sampled_from([*_fields(GuestConfig), *_fields(Kernel), "vdev", "backend_domid",
                     "grant_usage", "type", "transport", "start", "pages", "gfn", "device_tree",
                     *_fields(Host), "guest", "host"]),
    st.text(max_size=8))
JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(1 << 70), 1 << 70),
    st.sampled_from([0, 1, -1, 2 ** 31, 2 ** 32, 2 ** 63, 2 ** 64 - 1, 2 ** 64, 0x7FF0, 1 << 30,
                     (1 << 30) + 1, 4096]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12), st.sampled_from(["arm64", "arm32", "v2", "v3", "default", "none",
                                           "optee", "ffa", "mmio", "virtio,device22", "4.21",
                                           "4.19.3", "a\0b", "00" * 128]))
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(JSON_KEYS, inner, max_size=5)), max_leaves=20)
GUEST_DOCS = st.fixed_dictionaries(
    {"guest": st.dictionaries(JSON_KEYS, JSON_VALUES, max_size=6)},
    optional={"host": st.dictionaries(JSON_KEYS, JSON_VALUES, max_size=4)})


@fuzz(150)
@given(doc=st.one_of(GUEST_DOCS, JSON_VALUES))
def test_a_guest_json_document_builds_or_is_one_line(doc):
    import json

    from xendt.guest.jsonio import guest_from_json

    try:
        with bounded_memory():
            guest, host = guest_from_json(json.dumps(doc), "fuzz.json")
            build(guest, host or Host())
    except XendtError as e:
        one_line(e)


GUEST_JSON = ('{"guest": {"memory_mib": 1024, "max_vcpus": 2, "kernel": {"size": 31457280},'
              ' "disks": [{"vdev": "xvda", "backend_domid": 1}],'
              ' "iomem": [{"start": 115856, "pages": 1, "gfn": 639120}]},'
              ' "host": {"xen": "4.21", "pa_bits": 44}}')


@st.composite
def mutated_text(draw, seed: str) -> str:  # type: ignore[no-untyped-def]
    """`seed` with 1 to 4 cuts, insertions (of brackets, quotes, digits or
    anything) or deletions."""
    text = seed
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["insert", "brackets", "digits", "delete", "cut"]))
        if kind == "insert":
            text = text[:at] + draw(st.text(max_size=8)) + text[at:]
        elif kind == "brackets":
            text = text[:at] + draw(st.sampled_from(["[", "{", "]", "}", '"', "'", "#"])) \
                * draw(st.integers(1, 3000)) + text[at:]
        elif kind == "digits":
            text = text[:at] + "9" * draw(st.integers(1, 6000)) + text[at:]
        elif kind == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 8)):]
        else:
            text = text[:at]
    return text


@fuzz(150)
@given(text=mutated_text(GUEST_JSON))
def test_a_mutated_guest_json_text_builds_or_is_one_line(text):
    from xendt.guest.jsonio import guest_from_json

    try:
        with bounded_memory():
            guest, host = guest_from_json(text, "fuzz.json")
            build(guest, host or Host())
    except XendtError as e:
        one_line(e)


# --- layout files ----------------------------------------------------------------------

LAYOUT = (Path(layouts.layout_dir()) / "4.21.toml").read_text()


@contextlib.contextmanager
def layout_folder(folder: Path):  # type: ignore[no-untyped-def]
    """XENDT_LAYOUT_PATH set to `folder` (its files win over xendt's own),
    without the layout cache, for the body only."""
    saved = {k: os.environ.get(k) for k in ("XENDT_LAYOUT_PATH", "XENDT_NO_CACHE")}
    os.environ.update(XENDT_LAYOUT_PATH=str(folder), XENDT_NO_CACHE="1")
    layouts.versions.cache_clear()
    layouts.load.cache_clear()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        layouts.versions.cache_clear()
        layouts.load.cache_clear()


@fuzz(80)
@given(text=mutated_text(LAYOUT), point=st.sampled_from(["4.21", "4.21.2"]))
def test_a_mutated_layout_file_loads_and_builds_or_is_one_line(text, point, tmp_path_factory):
    folder = tmp_path_factory.mktemp("layout")
    (folder / "4.21.toml").write_text(text, errors="surrogatepass")  # lone surrogate: not UTF-8
    try:
        with bounded_memory(), layout_folder(folder):
            build(GuestConfig(kernel=IMAGE, ramdisk_size=4096, vuart=True, max_vcpus=4,
                              disks=(VirtioDisk("xvda", 1),), pci_devices=1,
                              iomem=(Iomem(0x1c090, 1),)), Host(xen=point, rng_seed=b""))
            api.host_regions(BOARD, xen=point, iommu=True)
    except XendtError as e:
        one_line(e)


# --- the model's extremes, from Python -------------------------------------------------

def _edge(lo: int, hi: int):  # type: ignore[no-untyped-def]
    return st.one_of(st.sampled_from([lo, hi, lo + 1, hi - 1, (lo + hi) // 2]), st.integers(lo, hi))


KERNELS = st.builds(Kernel, arch=st.sampled_from(["arm64", "arm32"]), size=_edge(0, 1 << 30),
                    text_offset=_edge(0, (1 << 64) - 1))
GUESTS = st.builds(
    GuestConfig, memory_mib=_edge(0, ((1 << 63) - 1) // 1024), max_vcpus=_edge(-(1 << 31), 200),
    gic_version=st.sampled_from(["default", "v2", "v3"]), vuart=st.booleans(),
    cmdline=st.one_of(st.none(), st.text(max_size=3000).filter(lambda s: "\0" not in s)),
    kernel=KERNELS, ramdisk_size=st.one_of(st.none(), _edge(1, 1 << 30)),
    disks=st.lists(st.builds(VirtioDisk, backend_domid=_edge(0, 0x7FEF),
                             grant_usage=st.one_of(st.none(), st.booleans())),
                   max_size=12).map(tuple),
    pci_devices=_edge(0, (1 << 31) - 1),
    iomem=st.lists(st.builds(Iomem, start=_edge(0, (1 << 64) - 1), pages=_edge(1, (1 << 64) - 1),
                             gfn=st.one_of(st.none(), _edge(0, (1 << 64) - 2))),
                   max_size=3).map(tuple),
    tee=st.sampled_from(["none", "optee", "ffa"]), acpi=st.booleans(),
    nr_spis=st.one_of(st.none(), _edge(0, (1 << 32) - 1)), vpmu=st.booleans())
HOSTS = st.builds(Host, xen=st.sampled_from([None, *VERSIONS, "4.19.3"]),
                  pa_bits=st.sampled_from([None, 32, 40, 48, 52]), gic=st.sampled_from(["v2", "v3"]),
                  clock_frequency=_edge(0, (1 << 32) - 1), rng_seed=st.sampled_from([None, b""]),
                  acpi_size=st.one_of(st.none(), _edge(0, (1 << 32) - 1)))


@fuzz(150)
@given(guest=GUESTS, host=HOSTS)
def test_any_guest_the_model_accepts_builds_or_is_one_line(guest, host):
    try:
        with bounded_memory():
            build(guest, host)
    except XendtError as e:
        one_line(e)
