"""xendt.uboot.script: a boot script's `fdt` edits applied as U-Boot v2026.07 applies them.

Every expectation is derived by hand from U-Boot's source (cmd/fdt.c,
boot/fdt_support.c, common/cli_hush.c, cmd/setexpr.c, lib/strto.c, fs/fs.c,
cmd/net.c at tag v2026.07) and from libfdt's documented placement rules; the
derivation is written next to each test. Results are read back with dtc or
with libfdt's fdt_getprop, never with xendt.
"""

from __future__ import annotations

import struct
from pathlib import Path

import libfdt
import pytest

from conftest import dtb_to_dts, dts_to_dtb
from xendt.errors import ConfigError
from xendt.uboot.script import apply_script

DATA = Path(__file__).resolve().parent / "data" / "uboot"

HOST = """/dts-v1/;
/ {
	#address-cells = <2>;
	#size-cells = <2>;
	chosen {
		old = <7 8>;
	};
};
"""


def run(script: str, files: dict[str, int] | None = None, host: str = HOST,
        dtb_name: str | None = None) -> bytes:
    return apply_script(dts_to_dtb(host), script, "boot.source", files, dtb_name)


def prop(blob: bytes, path: str, name: str) -> bytes:
    buf = bytearray(blob)
    value, length = libfdt.fdt_getprop(buf, libfdt.fdt_path_offset(buf, path), name)
    assert length >= 0, f"{path} {name}: {libfdt.fdt_strerror(length)}"
    return bytes(value)


def set_value(value: str) -> bytes:
    """The bytes `fdt set /chosen p <value>` stores."""
    return prop(run(f"fdt addr 0x1000\nfdt resize\nfdt set /chosen p {value}\n"), "/chosen", "p")


def refusal(script: str, files: dict[str, int] | None = None, dtb_name: str | None = None,
            host: str = HOST) -> str:
    with pytest.raises(ConfigError) as info:
        run(script, files, host, dtb_name)
    return str(info.value)


def header(blob: bytes) -> dict[str, int]:
    fields = struct.unpack(">10I", blob[:40])
    names = ("magic", "totalsize", "off_dt_struct", "off_dt_strings", "off_mem_rsvmap",
             "version", "last_comp_version", "boot_cpuid_phys", "size_dt_strings",
             "size_dt_struct")
    return dict(zip(names, fields))


# -- the ImageBuilder script -----------------------------------------------------


def test_imagebuilder_script_gives_the_hand_derived_tree() -> None:
    # boot.source follows uboot-script-gen -s (see its header). Addresses, by
    # setexpr's hex arithmetic (filesize is hex without 0x, fs/fs.c):
    #   xen   @0xC00000, 1000000 = 0xf4240 bytes -> next (0xCF4240+0x1FFFFF)&~0x1FFFFF = 0xE00000
    #   Image @0xE00000, 0x1234567 -> next (0x2034567+0x1FFFFF)&~0x1FFFFF = 0x2200000
    #   initrd@0x2200000, 0x345678 -> next 0x2600000, where board.dtb goes.
    # reg = <0x${addr_hi} 0x${addr_lo} 0x${size_hi} 0x${size_lo}> with hi = v / 2^32 = 0.
    # libfdt puts a new property first in its node (fdt_add_property_ splices
    # right after the node's name) and a new subnode right after the parent's
    # properties, so both come out in reverse order of creation.
    # `fdt rm /chosen/domU0` follows booti and never runs.
    host = dts_to_dtb((DATA / "host.dts").read_text())
    files = {"xen": 1000000, "domU0/Image": 0x1234567, "domU0/initrd.cpio": 0x345678}
    out = apply_script(host, (DATA / "boot.source").read_text(), "boot.source", files,
                       "board.dtb")
    assert dtb_to_dts(out) == (DATA / "boot.expected.dts").read_text()


def test_resize_sizes_the_dtb_to_a_page_boundary() -> None:
    # fdt_shrink_to_minimum: end of strings + 5 * 16 + extra, rounded up so
    # that address + size is a multiple of 0x1000. "fdt resize 1024" is hex.
    host = dts_to_dtb(HOST)
    h = header(host)
    end = h["off_dt_strings"] + h["size_dt_strings"]
    out = apply_script(host, "fdt addr 0x2600000\nfdt resize 1024\n", "b", None)
    expected = (end + 80 + 0x1024 + 0xFFF) & ~0xFFF
    assert header(out)["totalsize"] == expected == len(out)


def test_resize_counts_the_address_offset_within_its_page() -> None:
    host = dts_to_dtb(HOST)
    h = header(host)
    end = h["off_dt_strings"] + h["size_dt_strings"]
    out = apply_script(host, "fdt addr 0x2600800\nfdt resize\n", "b", None)
    assert header(out)["totalsize"] == ((end + 80 + 0x800 + 0xFFF) & ~0xFFF) - 0x800


def test_resize_moves_the_dtbs_own_reservation_to_the_new_size() -> None:
    host = "/dts-v1/;\n/memreserve/ 0x2600000 0x1000;\n/memreserve/ 0x0 0x10;\n" + HOST[10:]
    blob = dts_to_dtb(host)
    h = header(blob)
    size = (h["off_dt_strings"] + h["size_dt_strings"] + 80 + 0x1000 + 0xFFF) & ~0xFFF
    out = apply_script(blob, "fdt addr 2600000\nfdt resize 1000\n", "b", None)
    # The own entry is deleted (the other moves up) and added back at the end.
    assert dtb_to_dts(out).splitlines()[2:4] == [
        "/memreserve/\t0x0000000000000000 0x0000000000000010;",
        f"/memreserve/\t0x0000000002600000 0x{size:016x};",
    ]


def test_a_dtb_without_room_refuses_a_new_node() -> None:
    # dtc leaves no free space; without `fdt resize` libfdt has nowhere to go.
    assert refusal("fdt addr 0x1000\nfdt mknod /chosen domU0\n") == (
        "boot.source:2: fdt mknod: no room left in the DTB for /chosen/domU0 "
        "(FDT_ERR_NOSPACE); the script needs a larger 'fdt resize'")


def test_fdt_addr_length_reopens_the_dtb_larger() -> None:
    out = run("fdt addr 0x1000 0x2000\nfdt mknod /chosen domU0\n")
    assert len(out) == header(out)["totalsize"] == 0x2000


def test_a_script_without_fdt_commands_returns_the_dtb_unchanged() -> None:
    host = dts_to_dtb(HOST)
    assert apply_script(host, "echo hi\nbooti 0x1 - 0x2\n", "b", None) == host


def test_rm_removes_a_property_then_a_node() -> None:
    out = run("fdt addr 1000\nfdt rm /chosen old\nfdt resize\nfdt mknod / x\nfdt rm /chosen\n")
    assert dtb_to_dts(out) == ("/dts-v1/;\n\n/ {\n\t#address-cells = <0x02>;\n"
                               "\t#size-cells = <0x02>;\n\n\tx {\n\t};\n};\n")


# -- fdt set values (fdt_parse_prop) -------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    ("<0x0 0x1000>", "00000000 00001000"),          # split over two words
    ("<1 010 0x1F>", "00000001 00000008 0000001f"),  # decimal, octal, hex
    ("<0x100000001>", "00000001"),                   # a cell keeps its low 32 bits
    ("'<1  2 >'", "00000001 00000002"),              # spaces inside one word
    ("<5> <6>", "00000005"),                         # text after '>' is ignored
    ("<>", ""),
    ("[00 11 22]", "001122"),
    ("[0x1 a 123]", "010a23"),                       # each byte is hextoul's low byte
    ('"xen,domain"', "78656e2c646f6d61696e00"),
    ('"a" "b"', "610062 00"),                         # one string per word
    ("a b", "610062 00"),
    ('""', "00"),
])
def test_fdt_set_value_syntax(value: str, expected: str) -> None:
    assert set_value(value) == bytes.fromhex(expected.replace(" ", ""))


def test_fdt_set_without_a_value_sets_an_empty_property() -> None:
    assert prop(run("fdt addr 0x1000\nfdt set /chosen old\n"), "/chosen", "old") == b""


def test_question_mark_keeps_the_cell_already_there() -> None:
    out = run("fdt addr 0x1000\nfdt set /chosen old <? 9>\n")
    assert prop(out, "/chosen", "old") == bytes.fromhex("00000007 00000009".replace(" ", ""))


@pytest.mark.parametrize(("value", "problem"), [
    ("<1 2", "value '<1 2' has no closing '>'"),
    ("<1 zz>", "cannot read a cell from 'zz>'"),
    ("<-1>", "cannot read a cell from '-1>'"),
    ("[00 x]", "unexpected character 'x' in byte list"),
    ("[00", "value '[00' has no closing ']'"),
])
def test_a_malformed_value_is_refused(value: str, problem: str) -> None:
    assert refusal(f"fdt addr 0x1000\nfdt resize\nfdt set /chosen p {value}\n") == (
        f"boot.source:3: fdt set: /chosen p: {problem}")


def test_a_value_over_the_scratchpad_is_refused() -> None:
    assert refusal("fdt addr 0x1000\nfdt resize\nfdt set /chosen p <" + "1 " * 257 + ">\n") == (
        "boot.source:3: fdt set: /chosen p: value is longer than U-Boot's 1024-byte buffer")


# -- the shell -------------------------------------------------------------------


def test_unquoted_variable_splits_into_a_string_list() -> None:
    # hush pastes the value into the line and reads it again.
    out = run('setenv v "a b"\nfdt addr 0x1000\nfdt resize\nfdt set /chosen p ${v}\n')
    assert prop(out, "/chosen", "p") == b"a\0b\0"


@pytest.mark.parametrize("word", ['"${v}"', '\\"${v}\\"'])
def test_quoted_variable_stays_one_string(word: str) -> None:
    out = run(f'setenv v "a b"\nfdt addr 0x1000\nfdt resize\nfdt set /chosen p {word}\n')
    assert prop(out, "/chosen", "p") == b"a b\0"


def test_single_quotes_keep_dollar_literal() -> None:
    out = run("fdt addr 0x1000\nfdt resize\nfdt set /chosen p '${v}'\n")
    assert prop(out, "/chosen", "p") == b"${v}\0"


def test_escaped_hash_becomes_a_comment_when_the_line_is_read_again() -> None:
    # `\#` gives `#size-cells`; with a `$` in the command, hush reads the
    # expanded line again and `#...` starts a comment there: fdt set sees 3 args.
    assert refusal("setenv n chosen\nfdt addr 0x1000\nfdt set /${n} \\#size-cells <1>\n") == (
        "boot.source:3: fdt set: usage: fdt set <path> <prop> [<val>]")


def test_semicolons_and_and_lists_run_in_order() -> None:
    out = run("setenv a 1; setenv a 2 && fdt addr 0x1000 ; fdt resize; fdt set /chosen p <${a}> # c\n")
    assert prop(out, "/chosen", "p") == bytes.fromhex("00000002")


def test_default_value_expansion() -> None:
    out = run("fdt addr 0x1000\nfdt resize\nx=\nfdt set /chosen p ${x:-dflt}\n")
    assert prop(out, "/chosen", "p") == b"dflt\0"


def test_setexpr_arithmetic_is_hex_without_prefix() -> None:
    out = run("setexpr a 0x10 - 1\nsetexpr b ${a} * 10\nsetexpr c ${b}\n"
              "fdt addr 0x1000\nfdt resize\nfdt set /chosen p ${a} ${b} ${c}\n")
    assert prop(out, "/chosen", "p") == b"f\0f0\0f0\0"


def test_filesize_is_the_given_size_in_hex() -> None:
    out = run("tftpb 0x80000 Image\nfdt addr 0x1000\nfdt resize\nfdt set /chosen p <0x${filesize}>\n",
              {"Image": 0x123456})
    assert prop(out, "/chosen", "p") == bytes.fromhex("00123456")


def test_load_bytes_and_pos_bound_filesize() -> None:
    # fs/fs.c: reads min(bytes, size - pos) bytes from pos.
    out = run("load mmc 0:1 0x80000 Image 0 100\nsetenv a ${filesize}\n"
              "load mmc 0:1 0x80000 Image 20 100\n"
              "fdt addr 0x1000\nfdt resize\nfdt set /chosen p ${a} ${filesize}\n", {"Image": 0x150})
    assert prop(out, "/chosen", "p") == b"50\x0020\0"


def test_tftp_with_one_hex_word_takes_it_as_the_address() -> None:
    # cmd/net.c parse_args: a lone all-hex argument is the load address, the
    # file is ${bootfile}; `dead` is all hex, `Image` is not.
    out = run("setenv bootfile Image\ntftpb dead\nsetenv a ${filesize} ${fileaddr}\n"
              "tftpb Image\nfdt addr 0x1000\nfdt resize\nfdt set /chosen p ${a}\n", {"Image": 0x10})
    assert prop(out, "/chosen", "p") == b"10\0dead\0"  # unquoted: split again


def test_a_boot_command_ends_the_script() -> None:
    out = run("fdt addr 0x1000\nbooti 0x80000 - 0x1000\nfdt rm /chosen\n")
    assert libfdt.fdt_path_offset(bytearray(out), "/chosen") > 0


# -- refusals ----------------------------------------------------------------------


@pytest.mark.parametrize(("script", "message"), [
    ("load mmc 0:1 0x80000 Image\nfdt addr 0x1000\nfdt resize\nfdt set /chosen p <0x${filesize}>\n",
     "boot.source:4: fdt set: ${filesize} is unknown: no size was given for 'Image' (loaded on line 1)"),
    ("fdt addr ${fdt_addr_r}\n",
     "boot.source:1: fdt addr: ${fdt_addr_r} is not set by the script"),
    ("fdt addr 0x1000\nfdt frob\n", "boot.source:2: fdt frob: unknown subcommand"),
    ("fdt addr 0x1000\nfdt set /chosen/domU9 p <1>\n",
     "boot.source:2: fdt set: /chosen/domU9 does not exist"),
    ("fdt addr 0x1000\nfdt mknod /nowhere x\n", "boot.source:2: fdt mknod: /nowhere does not exist"),
    ("fdt addr 0x1000\nfdt rm /chosen nope\n",
     "boot.source:2: fdt rm: /chosen property nope does not exist"),
    ("fdt addr 0x1000 0x2000\nfdt mknod / chosen\n",
     "boot.source:2: fdt mknod: //chosen already exists"),
    ("fdt set /chosen p <1>\n", "boot.source:1: fdt set: no working DTB (run 'fdt addr' first)"),
    ("fdt addr 0x1000\nfdt apply 0x2000\n", "boot.source:2: fdt apply: not supported"),
    ("fdt addr 0x1000\nfdt addr 0x3000\n",
     "boot.source:2: fdt addr: 0x3000 is not 0x1000, where the host DTB was selected before"),
    ("run bootcmd\n", "boot.source:1: run: unknown command (xendt cannot tell what it changes)"),
    ("setexpr a 1 / 0\n", "boot.source:1: setexpr: division by zero"),
    ("load mmc 0:1 zz Image\n", "boot.source:1: load: 'zz' is not a hex address"),
    ("if true; then echo; fi\n", "boot.source: shell construct 'if' is not supported"),
    ("echo a || echo b\n", "boot.source: '||' is not supported"),
    ('echo "a\n', "boot.source: unterminated double quote"),
    ("echo ${a\n", "boot.source: '${' without a closing '}'"),
    ("echo a\recho b\n", "boot.source:1: control character '\\r'"),
])
def test_refusal_message(script: str, message: str) -> None:
    assert refusal(script) == message


def test_fdt_addr_must_point_where_the_named_dtb_was_loaded() -> None:
    assert refusal("load mmc 0:1 0x2000 board.dtb\nfdt addr 0x3000\n", dtb_name="board.dtb") == (
        "boot.source:2: fdt addr: 0x3000 is not where 'board.dtb' was loaded (at 0x2000)")


def test_fdt_addr_before_the_named_dtb_is_loaded_is_refused() -> None:
    assert refusal("fdt addr 0x3000\n", dtb_name="board.dtb") == (
        "boot.source:1: fdt addr: 0x3000 is not where 'board.dtb' was loaded (not loaded yet)")


def test_a_script_over_one_mib_is_refused() -> None:
    assert refusal("#" * (1 << 20) + "\n") == "boot.source: script is larger than 1048576 bytes"


def test_a_dtb_grown_again_gets_back_the_bytes_memory_kept() -> None:
    # `fdt rm` moves what follows the property down and leaves the old last
    # bytes where they were; a shrinking `fdt resize` only lowers totalsize
    # (fdt_shrink_to_minimum writes the header alone), so a growing one
    # brings the bytes past the page boundary back into the DTB's free space.
    sets = "".join(f"fdt set /chosen p{i} {'y' * 1000}\n" for i in range(4))
    before = run(f"fdt addr 0x1000\nfdt resize 0x2000\n{sets}")
    after = run(f"fdt addr 0x1000\nfdt resize 0x2000\n{sets}"
                + "".join(f"fdt rm /chosen p{i}\n" for i in range(4))
                + "fdt resize\nfdt resize 0x2000\n")
    end = header(before)["off_dt_strings"] + header(before)["size_dt_strings"]
    assert header(after)["off_dt_strings"] + header(after)["size_dt_strings"] < 0x1000 < end
    assert after[0x1000:end] == before[0x1000:end] != bytes(end - 0x1000)


# -- bounds: every unit of work a script asks for -----------------------------------


def test_a_working_dtb_past_2_mib_is_accepted_as_on_the_board() -> None:
    # U-Boot resizes in its own memory; Xen's MAX_FDT_SIZE (SZ_2M,
    # xen/arch/arm/include/asm/setup.h @ RELEASE-4.21.0) is for the tree
    # booti hands over, which fdt_shrink_to_minimum has cut to its contents.
    out = run("fdt addr 0x1000\nfdt resize 0x2ff000\n")
    assert header(out)["totalsize"] == 0x300000


def test_a_resize_past_xendts_working_bound_is_refused() -> None:
    # HOST's blob ends its strings well inside one page: end + 80 + extra,
    # rounded up to 4 KiB, is 0x1000 + extra.
    assert refusal("fdt addr 0x1000\nfdt resize 0x400000\n") == (
        "boot.source:2: fdt resize: a working DTB of 0x401000 bytes is more than xendt holds"
        " (0x400000 bytes)")


def test_a_resize_to_exactly_2_mib_is_accepted() -> None:
    out = run("fdt addr 0x1000\nfdt resize 0x1ff000\n")
    assert header(out)["totalsize"] == 0x200000 and len(out) == 0x200000


def test_an_fdt_addr_length_past_xendts_working_bound_is_refused() -> None:
    assert refusal("fdt addr 0x1000 0x400001\n") == (
        "boot.source:1: fdt addr: a working DTB of 0x400001 bytes is more than xendt holds"
        " (0x400000 bytes)")


@pytest.mark.parametrize(("index", "as_int"), [("ffffffff", -1), ("80000000", -2147483648),
                                              ("1ffffffff", -1)])
def test_rsvmem_delete_of_an_index_negative_as_an_int_is_refused(index: str, as_int: int) -> None:
    # cmd/fdt.c hands hextoul's unsigned long to fdt_del_mem_rsv's int n: its
    # low 32 bits, signed; libfdt checks only n < count (fdt_rw.c @ v2023.01).
    assert refusal(f"fdt addr 0x1000\nfdt rsvmem delete {index}\n") == (
        f"boot.source:2: fdt rsvmem delete: index {index} is {as_int} as libfdt's int;"
        " U-Boot would corrupt the DTB header (indexes are 0 to the number of"
        " reservations - 1)")


def test_rsvmem_delete_past_the_last_reservation_is_refused() -> None:
    assert refusal("fdt addr 0x1000 0x2000\nfdt rsvmem add 0 1000\nfdt rsvmem delete 1\n") == (
        "boot.source:3: fdt rsvmem delete: reservation 1 does not exist")


def test_doubling_a_variable_stops_at_the_expansion_bound() -> None:
    # Line n >= 2 pastes a of 2^(n-2) characters twice; with "setenv", "a"
    # and a separator per piece the line needs 14 + 2 * 2^(n-2) characters,
    # more than 16384 first on line 15 (a is 8192 characters there).
    script = "setenv a x\n" + "setenv a ${a}${a}\n" * 40
    assert refusal(script) == (
        "boot.source:15: the command expands to more than 16384 characters (xendt's bound)")


def test_a_line_of_many_references_stops_at_the_expansion_bound() -> None:
    script = "setenv a " + "x" * 1000 + "\necho " + "${a}" * 4000 + "\n"
    assert refusal(script) == (
        "boot.source:2: the command expands to more than 16384 characters (xendt's bound)")


def test_expansions_in_all_stop_at_the_total_bound() -> None:
    # Each echo pastes 16000 characters (plus 6 for "echo" and the word
    # separators): the 66th passes 1048576 in all (65 * 16006 = 1040390).
    script = "setenv a " + "x" * 16000 + "\n" + "echo ${a}\n" * 100
    assert refusal(script) == (
        "boot.source:67: the script's commands expand to more than 1048576 characters"
        " in all (xendt's bound)")


def test_a_line_over_the_line_bound_is_refused() -> None:
    assert refusal("echo " + "x" * 16380 + "\n") == (
        "boot.source:1: line is longer than 16384 characters (xendt's bound)")


def test_a_script_of_65536_lines_is_read() -> None:
    assert run("\n" * 65535 + "fdt addr 0x1000\n") == dts_to_dtb(HOST)


def test_a_script_of_too_many_lines_is_refused() -> None:
    assert refusal("\n" * 65537) == "boot.source: script has more than 65536 lines (xendt's bound)"


def test_thousands_of_resizes_stop_at_the_command_bound() -> None:
    script = "fdt addr 0x1000\n" + "fdt resize 0x1ff000\nfdt resize 0\n" * 5000
    assert refusal(script) == "boot.source:10001: more than 10000 commands (xendt's bound)"


def test_the_513th_variable_is_refused() -> None:
    # U-Boot's environment table: CONFIG_ENV_MAX_ENTRIES = 512 entries
    # (env/Kconfig; himport_r, lib/hashtable.c @ v2023.01).
    script = "".join(f"setenv v{i} 1\n" for i in range(513))
    assert refusal(script) == (
        "boot.source:513: v512: more than 512 variables: U-Boot's environment is full"
        " (CONFIG_ENV_MAX_ENTRIES)")


def test_board_variables_in_a_load_interface_do_not_matter() -> None:
    # ImageBuilder's `-t "load ${devtype} ${devnum}:${bootpart}"`: the board
    # sets these; only the address, the file name and its size are used.
    out = run("load ${devtype} ${devnum}:${bootpart} 0x80000 Image\nfdt addr 0x1000\n"
              "fdt resize\nfdt set /chosen p <0x0 0x${fileaddr} 0x0 0x${filesize}>\n",
              {"Image": 0x2000})
    assert prop(out, "/chosen", "p") == bytes.fromhex("00000000000800000000000000002000")
