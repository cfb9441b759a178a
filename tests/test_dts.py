"""xendt.fdt.dts.to_dts against dtc 1.6.1 itself, byte for byte.

Each blob that to_dts prints is also decompiled with ``dtc -I dtb -O dts -q``
and the two texts must match. Each DTS snippet test also states the line it
expects, so that it says which dtc behaviour it pins down. dtc is required:
without it, or with another version, every test errors.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import libfdt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xendt.errors import DtbError
from xendt.fdt.dts import MAX_DEPTH, to_dts

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
GOLDEN_BLOBS = sorted(GOLDEN.rglob("*.dtb"))
SAMPLE = GOLDEN / "4.21" / "mem1024-v3-vcpu2-pa40.dtb"  # has NOPs and a stale tail

# Byte offsets of the fdt_header fields.
HEADER = {"totalsize": 4, "off_dt_struct": 8, "off_dt_strings": 12, "off_mem_rsvmap": 16,
          "version": 20, "last_comp_version": 24, "size_dt_strings": 32, "size_dt_struct": 36}

DTC = shutil.which("dtc")


@pytest.fixture(scope="session", autouse=True)
def require_dtc_1_6_1():
    if DTC is None:
        pytest.fail("dtc is required: install device-tree-compiler 1.6.1")
    version = subprocess.run([DTC, "--version"], capture_output=True, text=True).stdout
    if "DTC 1.6.1" not in version:
        pytest.fail(f"to_dts copies dtc 1.6.1, but {DTC} is {version.strip()!r}")


def dtc_text(blob: bytes) -> str | None:
    """What dtc prints for `blob`, or None if it refuses it."""
    done = subprocess.run([DTC, "-I", "dtb", "-O", "dts", "-q", "-"],
                          input=blob, capture_output=True, timeout=60)
    return done.stdout.decode() if done.returncode == 0 else None


def assert_like_dtc(blob: bytes) -> str:
    expected = dtc_text(blob)
    assert expected is not None, "dtc refuses this blob"
    assert to_dts(blob) == expected
    return expected


def compile_dts(tmp_path: Path, body: str, *options: str) -> bytes:
    source = tmp_path / "test.dts"
    source.write_text("/dts-v1/;\n" + body)
    blob = tmp_path / "test.dtb"
    subprocess.run([DTC, "-I", "dts", "-O", "dtb", "-q", *options, "-o", blob, source],
                   check=True, capture_output=True)
    return blob.read_bytes()


def decompile(tmp_path: Path, body: str, *options: str) -> str:
    """to_dts of `body` compiled by dtc, once checked against dtc's own decompilation."""
    return assert_like_dtc(compile_dts(tmp_path, body, *options))


def patched(blob: bytes, **fields: int) -> bytes:
    """`blob` with some header fields set to new values."""
    out = bytearray(blob)
    for field, value in fields.items():
        struct.pack_into(">I", out, HEADER[field], value)
    return bytes(out)


def header(blob: bytes, field: str) -> int:
    return struct.unpack_from(">I", blob, HEADER[field])[0]


def raw_blob(tokens: list[bytes], strings: bytes = b"p\0name\0") -> bytes:
    """A version 17 blob, with no reserved memory, from structure block tokens."""
    structure = b"".join(tokens)
    start = 40 + 16
    totalsize = start + len(structure) + len(strings)
    head = struct.pack(">10I", 0xD00DFEED, totalsize, start, start + len(structure), 40,
                       17, 16, 0, len(strings), len(structure))
    return head + bytes(16) + structure + strings


def pad4(data: bytes) -> bytes:
    return data + bytes(-len(data) % 4)


def begin_node(name: str) -> bytes:
    return struct.pack(">I", libfdt.FDT_BEGIN_NODE) + pad4(name.encode() + b"\0")


def prop(value: bytes, name_offset: int = 0) -> bytes:
    return struct.pack(">III", libfdt.FDT_PROP, len(value), name_offset) + pad4(value)


END_NODE = struct.pack(">I", libfdt.FDT_END_NODE)
NOP = struct.pack(">I", libfdt.FDT_NOP)
END = struct.pack(">I", libfdt.FDT_END)


def assert_refused(blob: bytes, match: str) -> None:
    with pytest.raises(DtbError, match=match) as refused:
        to_dts(blob)
    assert "\n" not in str(refused.value)


# Real libxl blobs


def test_golden_set_is_there():
    assert len(GOLDEN_BLOBS) >= 111
    assert GOLDEN / "partial-passthrough.dtb" in GOLDEN_BLOBS


@pytest.mark.parametrize("path", GOLDEN_BLOBS, ids=lambda p: str(p.relative_to(GOLDEN)))
def test_golden_blob_prints_like_dtc(path):
    expected = subprocess.run([DTC, "-I", "dtb", "-O", "dts", "-q", path],
                              capture_output=True, check=True).stdout.decode()
    assert to_dts(path.read_bytes()) == expected


def test_golden_nopped_out_node_is_skipped():
    blob = SAMPLE.read_bytes()
    start = header(blob, "off_dt_struct")
    nops = struct.pack(">8I", *[libfdt.FDT_NOP] * 8)
    assert nops in blob[start:start + header(blob, "size_dt_struct")]  # was memory@200000000
    assert to_dts(blob).count("memory@") == 1


def test_golden_stale_tail_is_ignored():
    blob = SAMPLE.read_bytes()
    end_of_strings = header(blob, "off_dt_strings") + header(blob, "size_dt_strings")
    assert end_of_strings < header(blob, "totalsize") == len(blob)
    cleaned = patched(blob[:end_of_strings], totalsize=end_of_strings)
    assert to_dts(blob) == to_dts(cleaned)


# Layout


def test_header_then_blank_line_then_root(tmp_path):
    assert decompile(tmp_path, "/ { a; };").startswith("/dts-v1/;\n\n/ {\n\ta;\n};\n")


def test_memreserve_entries_come_before_the_root_without_blank_line(tmp_path):
    text = decompile(tmp_path, "/memreserve/ 0x10000000 0x4000;\n"
                               "/memreserve/ 0x123456789 0x1;\n/ { };")
    assert text == ("/dts-v1/;\n\n"
                    "/memreserve/\t0x0000000010000000 0x0000000000004000;\n"
                    "/memreserve/\t0x0000000123456789 0x0000000000000001;\n"
                    "/ {\n};\n")


def test_node_without_properties(tmp_path):
    assert "\tchosen {\n\t};\n" in decompile(tmp_path, "/ { chosen { }; };")


def test_blank_line_before_each_child_even_without_properties(tmp_path):
    text = decompile(tmp_path, "/ { a { x = <1>; b { }; c { }; }; };")
    assert text.endswith("/ {\n\n\ta {\n\t\tx = <0x01>;\n\n\t\tb {\n\t\t};\n\n\t\tc {\n\t\t};\n\t};\n};\n")


def test_deep_nesting_indents_with_tabs(tmp_path):
    depth = 40
    text = decompile(tmp_path, "/ {" + " n {" * depth + " leaf;" + " };" * (depth + 1))
    assert "\t" * (depth + 1) + "leaf;\n" in text


def test_node_names_print_verbatim_with_unit_addresses(tmp_path):
    text = decompile(tmp_path, "/ { #address-cells = <2>; #size-cells = <1>;"
                               " memory@200000000 { reg = <2 0 1>; };"
                               " vendor,dev_1.x+y-z@1,2 { reg = <0 1 1>; }; };")
    assert "\tmemory@200000000 {\n" in text
    assert "\tvendor,dev_1.x+y-z@1,2 {\n" in text


def test_properties_keep_blob_order(tmp_path):
    text = decompile(tmp_path, "/ { z; a; m; };")
    assert "\tz;\n\ta;\n\tm;\n" in text


# Values: dtc guesses a type for each


def test_empty_property(tmp_path):
    assert "\tflag;\n" in decompile(tmp_path, "/ { flag; };")


def test_string(tmp_path):
    assert '\tmodel = "XENVM-4.21";\n' in decompile(tmp_path, '/ { model = "XENVM-4.21"; };')


def test_string_escapes(tmp_path):
    escaped = r'''"\a\b\t\n\v\f\r \\ \" ' ?"'''
    assert f"\ts = {escaped};\n" in decompile(tmp_path, f"/ {{ s = {escaped}; }};")


def test_string_list_prints_with_nul_escapes(tmp_path):
    text = decompile(tmp_path, '/ { compatible = "arm,psci-1.0", "arm,psci-0.2", "arm,psci"; };')
    assert '\tcompatible = "arm,psci-1.0\\0arm,psci-0.2\\0arm,psci";\n' in text


def test_empty_string_prints_as_byte(tmp_path):
    assert "\ts = [00];\n" in decompile(tmp_path, '/ { s = ""; };')


def test_string_list_with_empty_member(tmp_path):
    assert '\ts = "ab\\0";\n' in decompile(tmp_path, '/ { s = "ab", ""; };')


def test_string_list_with_more_nuls_than_text_prints_as_cells(tmp_path):
    assert "\ts = <0x61000000>;\n" in decompile(tmp_path, '/ { s = "a", "", ""; };')


def test_string_with_high_byte_prints_as_bytes(tmp_path):
    assert "\ts = [63 61 66 e9 00];\n" in decompile(tmp_path, r'/ { s = "caf\xe9"; };')


def test_string_with_control_byte_prints_as_cells(tmp_path):
    assert "\ts = <0x61017a00>;\n" in decompile(tmp_path, r'/ { s = "a\x01z"; };')


def test_text_without_nul_prints_as_bytes(tmp_path):
    assert "\ts = [61 62 63];\n" in decompile(tmp_path, "/ { s = [61 62 63]; };")


def test_cells_are_lower_case_hex_at_least_two_digits(tmp_path):
    text = decompile(tmp_path, "/ { c = <0 1 0x2a 0xDEADBEEF>; };")
    assert "\tc = <0x00 0x01 0x2a 0xdeadbeef>;\n" in text


def test_cells_that_spell_a_string_print_as_string(tmp_path):
    assert '\tc = "abc";\n' in decompile(tmp_path, "/ { c = <0x61626300>; };")


def test_64_bit_values_print_as_pairs_of_cells(tmp_path):
    text = decompile(tmp_path, "/ { r = /bits/ 64 <0x123456789 0x40000000>; };")
    assert "\tr = <0x01 0x23456789 0x00 0x40000000>;\n" in text


def test_16_bit_values_print_as_bytes(tmp_path):
    assert "\tv = [00 01 00 02 00 03];\n" in decompile(tmp_path, "/ { v = /bits/ 16 <1 2 3>; };")


def test_odd_length_byte_array(tmp_path):
    assert "\tb = [01 02 ff];\n" in decompile(tmp_path, "/ { b = [01 02 ff]; };")


def test_four_bytes_print_as_a_cell(tmp_path):
    assert "\tb = <0xdeadbeef>;\n" in decompile(tmp_path, "/ { b = [de ad be ef]; };")


def test_phandle_references_print_as_cells(tmp_path):
    text = decompile(tmp_path, "/ { gic: gic { }; dev { interrupt-parent = <&gic>; }; };")
    assert "\tgic {\n\t\tphandle = <0x01>;\n\t};\n" in text
    assert "\t\tinterrupt-parent = <0x01>;\n" in text


@given(values=st.lists(st.one_of(
    st.binary(min_size=1, max_size=12),
    st.lists(st.sampled_from(b"\0\0\0\a\t\n\r ab\\\"\x01\x7f\x80\xff"),
             min_size=1, max_size=12).map(bytes),
    st.text("abc ,\t\"\\", max_size=6).map(lambda s: s.encode() + b"\0"),
), min_size=1, max_size=8))
@settings(max_examples=200, deadline=None)
def test_any_value_prints_like_dtc(values):
    sw = libfdt.FdtSw()
    sw.finish_reservemap()
    sw.begin_node("")
    for i, value in enumerate(values):
        sw.property(f"p{i}", value)
    sw.end_node()
    assert_like_dtc(bytes(sw.as_fdt().as_bytearray()))


# What dtc reads past or rewrites


def test_nop_tokens_are_skipped(tmp_path):
    blob = bytearray(compile_dts(tmp_path, "/ { a = <1>; gone = <2>; b { }; c { }; };"))
    libfdt.fdt_nop_property(blob, 0, "gone")
    libfdt.fdt_nop_node(blob, libfdt.fdt_path_offset(blob, "/b"))
    text = assert_like_dtc(bytes(blob))
    assert text == "/dts-v1/;\n\n/ {\n\ta = <0x01>;\n\n\tc {\n\t};\n};\n"


def test_bytes_after_strings_block_are_ignored(tmp_path):
    blob = compile_dts(tmp_path, '/ { a = "x"; };')
    stale = patched(blob + b"\xff" * 20, totalsize=len(blob) + 20)
    assert assert_like_dtc(stale) == to_dts(blob)


def test_bytes_after_totalsize_are_ignored(tmp_path):
    blob = compile_dts(tmp_path, '/ { a = "x"; };')
    assert assert_like_dtc(blob + b"\xd0\x0d\xfe\xed garbage") == to_dts(blob)


def test_property_after_subnode_prints_with_the_others():
    sw = libfdt.FdtSw()
    sw.finish_reservemap()
    sw.begin_node("")
    sw.property_string("early", "x")
    sw.begin_node("child")
    sw.end_node()
    sw.property_u32("late", 5)
    sw.end_node()
    text = assert_like_dtc(bytes(sw.as_fdt().as_bytearray()))
    assert '\tearly = "x";\n\tlate = <0x05>;\n\n\tchild {\n' in text


def test_name_property_repeating_node_name_is_dropped():
    sw = libfdt.FdtSw()
    sw.finish_reservemap()
    sw.begin_node("")
    sw.property("name", b"\0")
    sw.begin_node("uart@1000")
    sw.property("name", b"uart\0")
    sw.property_u32("reg", 0x1000)
    sw.end_node()
    sw.end_node()
    text = assert_like_dtc(bytes(sw.as_fdt().as_bytearray()))
    assert "name" not in text


@pytest.mark.parametrize("version", [2, 3, 16])
def test_older_blob_versions(tmp_path, version):
    body = ('/ { a@1 { reg = /bits/ 64 <1 2>; s = "four"; b = [01 02 03]; };'
            ' c { m = "twelve chars"; }; };')
    old = compile_dts(tmp_path, body, "-V", str(version))
    assert header(old, "version") == version
    assert assert_like_dtc(old) == to_dts(compile_dts(tmp_path, body))


def test_non_ascii_node_name_is_escaped_though_dtc_refuses_it():
    sw = libfdt.FdtSw()
    sw.finish_reservemap()
    sw.begin_node("")
    sw.begin_node("caf\u00e9")
    sw.end_node()
    sw.end_node()
    blob = bytes(sw.as_fdt().as_bytearray())
    assert dtc_text(blob) is None
    assert "\tcaf\\xc3\\xa9 {\n" in to_dts(blob)


# Blobs that to_dts refuses


def test_empty_blob():
    assert_refused(b"", r"^not a device tree blob: only 0 bytes$")


def test_wrong_magic():
    assert_refused(b"\x12\x34\x56\x78" + SAMPLE.read_bytes()[4:],
                   r"^not a device tree blob: bad magic 0x12345678$")


def test_truncated():
    blob = SAMPLE.read_bytes()
    assert_refused(blob[:100], rf"^truncated: header says {len(blob)} bytes, file has 100$")


def test_truncated_inside_header():
    assert_refused(SAMPLE.read_bytes()[:6], r"^truncated: only 6 bytes, less than a header$")


def test_totalsize_larger_than_data():
    blob = SAMPLE.read_bytes()
    assert_refused(patched(blob, totalsize=len(blob) + 1),
                   rf"^truncated: header says {len(blob) + 1} bytes, file has {len(blob)}$")


def test_huge_totalsize():
    assert_refused(patched(SAMPLE.read_bytes(), totalsize=0xFFFFFFFF),
                   r"^truncated: header says 4294967295 bytes, file has \d+$")


def test_totalsize_smaller_than_header():
    assert_refused(patched(SAMPLE.read_bytes(), totalsize=24),
                   r"^truncated: header says 24 bytes, less than the 40-byte header$")


def test_block_outside_totalsize():
    blob = SAMPLE.read_bytes()
    assert_refused(patched(blob, off_dt_strings=len(blob)),
                   r"^header's blocks do not fit between its end \(0x28\) and totalsize"
                   r" \(0x159a\): .* strings block at 0x159a \(0x[0-9a-f]+ bytes\)$")


def test_unsupported_version():
    assert_refused(patched(SAMPLE.read_bytes(), last_comp_version=18),
                   r"^unsupported version 17 \(last compatible version 18\)")


def test_version_1_is_refused_though_dtc_reads_it(tmp_path):
    blob = compile_dts(tmp_path, "/ { a; };", "-V", "1")
    assert dtc_text(blob) is not None
    assert_refused(blob, r"^unsupported version 1 ")


def test_named_root_is_refused_though_dtc_reads_it():
    blob = raw_blob([begin_node("root"), END_NODE, END])
    assert dtc_text(blob) == "/dts-v1/;\n\nroot {\n};\n"
    assert_refused(blob, r"^corrupt device tree: .* a named root \(FDT_ERR_BADSTRUCTURE\)$")


def test_unterminated_memory_reservation_map():
    blob = bytearray(SAMPLE.read_bytes())
    rsvmap = header(blob, "off_mem_rsvmap")
    blob[rsvmap:] = b"\x01" * (len(blob) - rsvmap)
    assert_refused(bytes(blob), r"^truncated: the memory reservation map has no end$")


def test_garbage_structure_block():
    blob = bytearray(SAMPLE.read_bytes())
    start = header(blob, "off_dt_struct")
    blob[start + 8:start + 40] = b"\xff" * 32
    assert_refused(bytes(blob), r"^corrupt device tree: .*\(FDT_ERR_BADSTRUCTURE\)$")


def test_property_name_outside_strings_block():
    blob = bytearray(SAMPLE.read_bytes())
    first_prop = header(blob, "off_dt_struct") + 8  # after the root's FDT_BEGIN_NODE and name
    struct.pack_into(">I", blob, first_prop + 8, 0x7FFF0000)
    assert_refused(bytes(blob), r"^corrupt device tree: a property name lies outside")


def test_property_before_root_node():
    blob = raw_blob([prop(b"x\0"), begin_node(""), END_NODE, END])
    assert dtc_text(blob) is None
    assert_refused(blob, r"^corrupt device tree: a property comes before the root node$")


def test_structure_block_without_root_node():
    sw = libfdt.FdtSw()
    sw.finish_reservemap()
    assert_refused(bytes(sw.as_fdt().as_bytearray()), r"^corrupt device tree: no root node$")


def test_nesting_deeper_than_max_depth(tmp_path):
    blob = compile_dts(tmp_path, "/ {" + " n {" * MAX_DEPTH + " };" * (MAX_DEPTH + 1))
    assert_refused(blob, rf"^nodes nested more than {MAX_DEPTH} levels deep")


def test_error_names_the_file():
    with pytest.raises(DtbError, match=r"^guest\.dtb: not a device tree blob"):
        to_dts(b"hello world", name="guest.dtb")


@given(edits=st.lists(st.tuples(st.integers(0, SAMPLE.stat().st_size - 1),
                                st.sampled_from([0, 1, 2, 3, 4, 9, 0x80, 0xFF])),
                      min_size=1, max_size=4))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_corrupted_blob_raises_dtberror_or_prints_like_dtc(edits):
    blob = bytearray(SAMPLE.read_bytes())
    for offset, value in edits:
        blob[offset] = value
    try:
        text = to_dts(bytes(blob))
    except DtbError:
        return
    expected = dtc_text(bytes(blob))
    if expected is not None:  # dtc refuses what fails its checks; to_dts prints it
        assert text == expected


NOT_A_NODE = st.one_of(
    st.just(END_NODE), st.just(NOP), st.just(END),
    st.builds(prop, st.sampled_from([b"", b"n\0", b"\0", b"abc\0", b"\1\2\3", b"12345678"]),
              st.sampled_from([0, 2])),  # named "p" or "name"
)
TOKENS = st.one_of(st.sampled_from(["", "n", "n@1", "name"]).map(begin_node), NOT_A_NODE)


# No node before the root: see test_named_root_is_refused_though_dtc_reads_it.
@given(before=st.lists(NOT_A_NODE, max_size=2), inside=st.lists(TOKENS, max_size=10),
       closing=st.integers(0, 4))
@settings(max_examples=400, deadline=None)
def test_any_token_stream_prints_like_dtc_or_raises_dtberror(before, inside, closing):
    tokens = [*before, begin_node(""), *inside, *[END_NODE] * closing, END]
    blob = raw_blob(tokens)
    expected = dtc_text(blob)
    try:
        text = to_dts(blob)
    except DtbError:
        assert expected is None, "dtc reads a blob that to_dts refuses"
        return
    if expected is not None:  # dtc refuses what fails its checks; to_dts prints it
        assert text == expected
