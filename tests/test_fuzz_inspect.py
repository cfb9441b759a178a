"""Bad input to show, check and diff: one line on stderr and exit status 2,
never a traceback or a hang, and bounded memory on a blob that claims to be
huge. A hypothesis test mutates the golden libxl blobs and feeds them to all
three commands through the CLI, in process.
"""

from __future__ import annotations

import struct
import tracemalloc
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import GOLDEN, check_output, dts_to_dtb
from xendt.cli import main
from xendt.errors import DtbError
from xendt.fdt.read import parse, read_blob

GOLDEN_BLOBS = sorted(GOLDEN.rglob("*.dtb"))
SAMPLE = GOLDEN / "4.21" / "mem1024-v3-vcpu2-pa40-partialdt.dtb"
COMMANDS = (["show"], ["show", "--format", "json"], ["check"], ["diff", str(SAMPLE)])


def run(*args: str, capsysbinary) -> tuple[int, bytes, str]:
    with pytest.raises(SystemExit) as exit:
        main(list(args))
    out, err = capsysbinary.readouterr()
    check_output(args, exit.value.code, out)
    return exit.value.code, out, err.decode()


def assert_one_line_status_2(args: list[str], capsysbinary, message: str) -> None:
    code, out, err = run(*args, capsysbinary=capsysbinary)
    assert code == 2, (args, err)
    assert out == b"" and err.startswith("xendt: ") and err.count("\n") == 1, err
    assert message in err, err


def with_header(blob: bytes, offset: int, value: int) -> bytes:
    return blob[:offset] + struct.pack(">I", value) + blob[offset + 4:]


def bad_files(tmp: Path) -> dict[str, tuple[Path, str]]:
    """Each kind of bad input, and what its one-line error says."""
    good = SAMPLE.read_bytes()
    files = {
        "empty": (b"", "not a device tree blob: only 0 bytes"),
        "text": (b"hello, world\n" * 10, "not a device tree blob: bad magic 0x68656c6c"),
        "dts source": (b"/dts-v1/;\n/ { };\n", "this is device tree source, not a blob"),
        "wrong magic": (with_header(good, 0, 0xEDFE0DD0), "bad magic 0xedfe0dd0"),
        "truncated": (good[:200], f"truncated: header says {len(good)} bytes, file has 200"),
        "header only": (good[:6], "truncated: only 6 bytes, less than a header"),
        "oversized": (with_header(good, 4, 0xFFFF_FFF0),
                      "header says the blob is 4294967280 bytes; xendt reads device trees up to"),
        "size below header": (with_header(good, 4, 36),
                              "truncated: header says 36 bytes, less than the 40-byte header"),
        "struct outside": (with_header(good, 8, 0x7FFF_0000), "header's blocks do not fit"),
        "strings outside": (with_header(good, 12, len(good) + 8), "header's blocks do not fit"),
        "bad version": (with_header(good, 24, 99), "unsupported version 17 (last compatible version 99)"),
        "bad token": (good[:0x40] + struct.pack(">I", 7) + good[0x44:], "corrupt device tree"),
    }
    out = {}
    for name, (data, message) in files.items():
        path = tmp / name.replace(" ", "-")
        path.write_bytes(data)
        out[name] = (path, message)
    out["directory"] = (tmp, "cannot read: Is a directory")
    out["missing"] = (tmp / "missing.dtb", "cannot read: No such file or directory")
    return out


KINDS = ["empty", "text", "dts source", "wrong magic", "truncated", "header only", "oversized",
         "size below header", "struct outside", "strings outside", "bad version", "bad token",
         "directory", "missing"]


@pytest.mark.parametrize("command", ["show", "check", "diff"])
@pytest.mark.parametrize("kind", KINDS)
def test_bad_input_is_one_line_and_status_2(kind, command, tmp_path, capsysbinary):
    path, message = bad_files(tmp_path)[kind]
    args = [command, str(path)] + ([str(SAMPLE)] if command == "diff" else [])
    assert_one_line_status_2(args, capsysbinary, message)


def test_nesting_deeper_than_the_limit_is_refused(tmp_path, capsysbinary):
    from xendt.fdt.dts import MAX_DEPTH

    depth = MAX_DEPTH + 1
    source = "/dts-v1/; / { " + "n { " * (depth - 1) + "};" * (depth - 1) + " };"
    deep = tmp_path / "deep.dtb"
    deep.write_bytes(dts_to_dtb(source))
    assert_one_line_status_2(["show", str(deep)], capsysbinary, f"nested more than {MAX_DEPTH}")


def test_an_interrupt_parent_pointing_at_itself_does_not_hang(tmp_path, capsysbinary):
    loop = tmp_path / "loop.dtb"
    loop.write_bytes(dts_to_dtb('/dts-v1/; / { compatible = "xen,xenvm-4.21";'
                                " dev { phandle = <1>; interrupt-parent = <1>; interrupts = <1>; }; };"))
    code, out, _ = run("check", str(loop), capsysbinary=capsysbinary)
    assert code == 1 and b"error: /dev:interrupts: the interrupt-parent chain loops at /dev" in out
    assert run("show", str(loop), capsysbinary=capsysbinary)[0] == 0


def test_a_blob_claiming_a_huge_size_is_refused_without_reading_it(tmp_path):
    # A sparse 1 GiB file whose header says so: nothing past the header is read.
    huge = tmp_path / "huge.dtb"
    with open(huge, "wb") as f:
        f.write(struct.pack(">II", 0xD00DFEED, 1 << 30))
        f.truncate(1 << 30)
    tracemalloc.start()
    with pytest.raises(DtbError, match="header says the blob is 1073741824 bytes"):
        read_blob(str(huge))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1 << 20


def test_a_huge_file_that_is_no_blob_is_refused_after_its_first_bytes(tmp_path):
    huge = tmp_path / "huge.bin"
    with open(huge, "wb") as f:
        f.write(b"MZ\x90\x00")
        f.truncate(1 << 30)
    tracemalloc.start()
    data, _ = read_blob(str(huge))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(data) == 8 and peak < 1 << 20
    with pytest.raises(DtbError, match="bad magic 0x4d5a9000"):
        parse(data, str(huge))


def test_a_blob_shorter_than_its_claim_reads_only_what_is_there(tmp_path):
    short = tmp_path / "short.dtb"
    short.write_bytes(with_header(SAMPLE.read_bytes(), 4, 3 << 20)[:4096])
    tracemalloc.start()
    data, _ = read_blob(str(short))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(data) == 4096 and peak < 4 << 20


# --- fuzzing -----------------------------------------------------------------------

HEADER_FIELDS = range(0, 40, 4)
INTERESTING = st.sampled_from([0, 1, 4, 0x28, 0x38, 0x40, 0x1000, 0x7FFF_FFFF, 0xFFFF_FFFF])
TOKENS = st.sampled_from([1, 2, 3, 4, 9, 0, 0xFFFF_FFFF])


@st.composite
def mutated_blobs(draw) -> bytes:
    """A golden blob with one to four random changes: flipped bytes, a
    header field set to an edge value, a structure word set to a token,
    bytes cut or inserted. Positions favour the structure block, where most
    changes keep the blob readable and reach the decoders."""
    blob = bytearray(GOLDEN_BLOBS[draw(st.integers(0, len(GOLDEN_BLOBS) - 1))].read_bytes())

    def position(low: int = 0x40) -> int:
        return draw(st.integers(min(low, len(blob) - 1), len(blob) - 1))

    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["byte", "byte", "byte", "header", "token", "cut", "insert"]))
        if len(blob) < 0x48:
            break
        if kind == "byte":
            blob[position()] = draw(st.integers(0, 255))
        elif kind == "header":
            offset = draw(st.sampled_from(HEADER_FIELDS))
            value = draw(st.one_of(INTERESTING, st.integers(0, len(blob) + 64)))
            blob[offset:offset + 4] = struct.pack(">I", value)
        elif kind == "token":
            offset = position() // 4 * 4
            blob[offset:offset + 4] = struct.pack(">I", draw(TOKENS))
        elif kind == "cut":
            del blob[position(0):]
        else:
            at = position()
            blob[at:at] = draw(st.binary(min_size=1, max_size=16))
    return bytes(blob)


#: Values worth trying in a property: cell counts that fit no binding, phandles
#: that exist (65000, 65001) or not, GIC specifiers of every kind, strings.
VALUES = st.one_of(
    st.binary(max_size=40),
    st.lists(st.sampled_from([0, 1, 2, 3, 4, 15, 0xF08, 65000, 65001, 0x3800_0000, 0xFFFF_FFFF]),
             max_size=12).map(lambda cells: struct.pack(f">{len(cells)}I", *cells)),
    st.sampled_from([b"xen,xen\0", b"xen,xen-4.21\0xen,xen\0", b"memory\0", b"pci\0", b""]),
)
TARGETS = st.sampled_from(["reg", "ranges", "interrupts", "interrupt-parent", "#address-cells",
                           "#size-cells", "#interrupt-cells", "compatible", "device_type",
                           "phandle", "iommus", "linux,initrd-start", "linux,initrd-end"])


@st.composite
def rewritten_blobs(draw) -> bytes:
    """A golden tree rewritten by libfdt with one to six properties set to
    odd values: a well-formed blob whose meaning is broken, for the decoders."""
    import libfdt

    tree = parse(GOLDEN_BLOBS[draw(st.integers(0, len(GOLDEN_BLOBS) - 1))].read_bytes())
    nodes = list(tree.nodes())
    edits: dict[tuple[str, str], bytes] = {}
    for _ in range(draw(st.integers(1, 6))):
        node = nodes[draw(st.integers(0, len(nodes) - 1))]
        edits[(node.path, draw(TARGETS))] = draw(VALUES)
    sw = libfdt.FdtSw(1 << 16)
    sw.finish_reservemap()

    def write(node) -> None:
        with sw.add_node(node.name):
            names = set()
            for p in node.props:
                sw.property(p.name, edits.get((node.path, p.name), p.value))
                names.add(p.name)
            for (path, name), value in edits.items():
                if path == node.path and name not in names:
                    sw.property(name, value)
            for child in node.children:
                write(child)

    write(tree.root)
    return bytes(sw.as_fdt().as_bytearray())


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@settings(max_examples=200, deadline=timedelta(seconds=5),
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(blob=st.one_of(mutated_blobs(), rewritten_blobs()))
def test_mutated_golden_blobs_never_crash_show_check_or_diff(blob, fuzz_dir, capsysbinary):
    path = fuzz_dir / "mutated.dtb"
    path.write_bytes(blob)
    picture = fuzz_dir / "mutated.svg"
    for command in [*COMMANDS, ["show", "--picture", str(picture)]]:
        code, out, err = run(*command, str(path), capsysbinary=capsysbinary)
        assert code in (0, 1, 2), (command, code)
        if code == 2:
            assert err.startswith("xendt: ") and err.count("\n") == 1, (command, err)
            assert out == b""
        else:
            assert out and "Traceback" not in err
