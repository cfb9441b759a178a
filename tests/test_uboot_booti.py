"""xendt.uboot.script with uboot_version: what U-Boot 2023.01's booti does
to the DTB after the script (boot_relocate_fdt and image_setup_libfdt in
boot/image-fdt.c, fdt_root / fdt_chosen / fdt_shrink_to_minimum in
common/fdt_support.c, arch_fixup_fdt in arch/arm/lib/bootm-fdt.c, all @
v2023.01). Expectations are derived by hand from that source; results are
read back with dtc and the blob header. The real board's result is in
test_uboot_reference.py.
"""

from __future__ import annotations

import struct

import pytest

from conftest import dtb_to_dts, dts_node, dts_to_dtb, run_cli
from xendt.errors import ConfigError
from xendt.uboot.script import apply_script

HOST = """/dts-v1/;
/ {
	#address-cells = <2>;
	#size-cells = <2>;
	chosen {
	};
	memory@40000000 {
		device_type = "memory";
		reg = <0 0x40000000 0 0x40000000>;
	};
};
"""
IN_PLACE = "setenv fdt_high ffffffffffffffff\n"


def boot(script: str, host: str = HOST) -> bytes:
    return apply_script(dts_to_dtb(host), script, "boot.source", uboot_version="V1")


def refusal(script: str, host: str = HOST) -> str:
    with pytest.raises(ConfigError) as info:
        boot(script, host)
    return str(info.value)


def totalsize(blob: bytes) -> int:
    return struct.unpack_from(">I", blob, 4)[0]


def test_booti_adds_the_version_to_chosen() -> None:
    out = boot(IN_PLACE + "booti 0x80000 - 0x1800\n")
    assert dts_node(dtb_to_dts(out), "/chosen") == (
        '\tchosen {\n\t\tu-boot,version = "V1";\n\t};\n')


def test_in_place_the_size_ends_the_dtb_on_a_page() -> None:
    # dtc's blob: strings at 192, 43 bytes. u-boot,version = "V1" adds a
    # 16-byte property (12 + "V1\0" padded) and "u-boot,version\0" (15):
    # strings end at 208 + 58 = 266. fdt_shrink_to_minimum: 266 + 5 * 16 =
    # 346, aligned with the DTB's page offset 0x800: ALIGN(346 + 0x800,
    # 0x1000) - 0x800 = 0x800.
    out = boot(IN_PLACE + "booti 0x80000 - 0x1800\n")
    assert (totalsize(out), len(out)) == (0x800, 0x800)


def test_a_moved_dtb_starts_on_a_page() -> None:
    # fdt_high 0: boot_relocate_fdt copies the DTB to a block lmb_alloc
    # aligns to 0x1000, so the page offset is 0: ALIGN(346, 0x1000).
    out = boot("setenv fdt_high 0\nbooti 0x80000 - 0x1800\n")
    assert (totalsize(out), len(out)) == (0x1000, 0x1000)


def test_the_scripts_bootargs_go_to_chosen_before_the_version() -> None:
    # fdt_chosen sets bootargs, then u-boot,version; libfdt puts each new
    # property first in its node.
    out = boot(IN_PLACE + "setenv bootargs console=hvc0\nbooti 0x80000 - 0x1800\n")
    assert dts_node(dtb_to_dts(out), "/chosen") == (
        '\tchosen {\n\t\tu-boot,version = "V1";\n\t\tbootargs = "console=hvc0";\n\t};\n')


def test_the_scripts_serial_number_goes_to_the_root() -> None:
    out = boot(IN_PLACE + "setenv serial# 1234\nbooti 0x80000 - 0x1800\n")
    assert '\tserial-number = "1234";\n' in dtb_to_dts(out)


def test_a_memory_node_without_device_type_gets_it() -> None:
    out = boot(IN_PLACE + "booti 0x80000 - 0x1800\n",
               HOST.replace('\t\tdevice_type = "memory";\n', ""))
    assert dts_node(dtb_to_dts(out), "/memory@40000000") == (
        '\tmemory@40000000 {\n\t\tdevice_type = "memory";\n'
        "\t\treg = <0x00 0x40000000 0x00 0x40000000>;\n\t};\n")


def test_booti_edits_the_dtb_the_script_edited() -> None:
    out = boot(IN_PLACE + "fdt addr 0x2000\nfdt resize\nfdt set /chosen p <1>\n"
               "booti 0x80000 - 0x2000\n")
    assert dts_node(dtb_to_dts(out), "/chosen") == (
        '\tchosen {\n\t\tu-boot,version = "V1";\n\t\tp = <0x01>;\n\t};\n')


@pytest.mark.parametrize(("script", "message"), [
    ("fdt addr 0x2000\n", "boot.source: the script never boots (no booti), so U-Boot hands"
                          " Xen no DT"),
    (IN_PLACE + "bootm 0x80000 - 0x2000\n",
     "boot.source:2: bootm: what it does to the DTB is not modelled (booti is)"),
    (IN_PLACE + "booti 0x80000\n", "boot.source:2: booti: no DT address: Xen would get no"
                                   " device tree"),
    (IN_PLACE + "booti 0x80000 0x90000:0x1000 0x2000\n",
     "boot.source:2: booti: an initrd (0x90000:0x1000) is not modelled: give '-'"),
    (IN_PLACE + "fdt addr 0x2000\nbooti 0x80000 - 0x3000\n",
     "boot.source:3: booti: 0x3000 is not 0x2000, where the script edited the host DTB"),
    ("booti 0x80000 - 0x1800\n", "boot.source:1: booti: fdt_high is not set by the script, and"
                                 " whether U-Boot moves the DTB (the board's fdt_high) changes"
                                 " what Xen gets"),
    (IN_PLACE + "booti 0x80000 - ${fdt_addr_r}\n",
     "boot.source:2: booti: ${fdt_addr_r} is not set by the script"),
])
def test_booti_refuses(script: str, message: str) -> None:
    assert refusal(script) == message


def test_without_fdt_high_a_dtb_on_a_page_is_the_same_moved_or_not() -> None:
    assert boot("booti 0x80000 - 0x2000\n") == boot(IN_PLACE + "booti 0x80000 - 0x2000\n")


def test_without_fdt_high_bytes_an_earlier_dtb_left_are_refused() -> None:
    # Four 1000-byte properties take the DTB past its first page; removed,
    # they leave their last bytes after the shrunk 4 KiB DTB. booti's long
    # bootargs then take it past the page again: in place those bytes are
    # its free space, in a copy zeros are.
    script = ("fdt addr 0x2000\nfdt resize 0x2000\n"
              + "".join(f"fdt set /chosen p{i} {'y' * 1000}\n" for i in range(4))
              + "".join(f"fdt rm /chosen p{i}\n" for i in range(4))
              + "fdt resize\nsetenv bootargs " + "z" * 3900 + "\nbooti 0x80000 - 0x2000\n")
    assert boot(IN_PLACE + script) != boot("setenv fdt_high 0\n" + script)
    assert refusal(script) == (
        "boot.source:13: booti: fdt_high is not set by the script, and whether U-Boot moves"
        " the DTB (the board's fdt_high) changes what Xen gets")


def test_a_dt_without_a_memory_node_is_refused() -> None:
    assert refusal(IN_PLACE + "booti 0x80000 - 0x2000\n",
                   HOST.replace("memory@40000000", "ram@40000000")) == (
        "boot.source:2: booti: the DT has no memory node: U-Boot would add one with its DRAM"
        " banks, which xendt does not know")


def test_an_ethernet_alias_is_refused() -> None:
    host = HOST.replace("\tchosen {", '\taliases {\n\t\tethernet0 = "/eth";\n\t};\n\tchosen {')
    assert refusal(IN_PLACE + "booti 0x80000 - 0x2000\n", host) == (
        "boot.source:2: booti: /aliases ethernet0: U-Boot writes the board's MAC address into"
        " that device (fdt_fixup_ethernet), which xendt does not know")


# -- the option ----------------------------------------------------------------------


def test_a_version_with_the_banners_u_boot_prefix_is_refused(tmp_path, capsysbinary) -> None:
    host, script = tmp_path / "host.dtb", tmp_path / "boot.source"
    host.write_bytes(dts_to_dtb(HOST))
    script.write_text(IN_PLACE + "booti 0x80000 - 0x2000\n")
    code, out, err = run_cli("host-dt", "--host-dtb", str(host), "--uboot-script", str(script),
                             "--uboot-version", "U-Boot 2023.01", capsysbinary=capsysbinary)
    assert (code, out) == (2, b"")
    assert err == ("xendt: --uboot-version 'U-Boot 2023.01': give it without \"U-Boot \""
                   " ('2023.01'): that is U-Boot's PLAIN_VERSION, the value of"
                   " /chosen/u-boot,version (see 'xendt host-dt --help')\n")


def test_a_version_without_a_script_is_refused(tmp_path, capsysbinary) -> None:
    host = tmp_path / "host.dtb"
    host.write_bytes(dts_to_dtb(HOST))
    code, out, err = run_cli("host-dt", "--host-dtb", str(host), "--uboot-version", "2023.01",
                             capsysbinary=capsysbinary)
    assert (code, out, err) == (2, b"", "xendt: --uboot-version goes with --uboot-script"
                                 " (see 'xendt host-dt --help')\n")


def test_booti_hands_xen_the_shrunk_tree_of_a_script_that_resized_past_2_mib() -> None:
    # fdt_shrink_to_minimum (common/fdt_support.c @ v2023.01) sizes the tree
    # to its contents: Xen's 2 MiB MAX_FDT_SIZE is never reached.
    out = boot(IN_PLACE + "fdt addr 0x1800\nfdt resize 0x2ff000\nbooti 0x80000 - 0x1800\n")
    assert totalsize(out) == 0x800


def test_booti_refuses_a_tree_whose_contents_pass_xens_2_mib() -> None:
    # A 2 MiB - 64 byte property: with the header, blocks and the version
    # string the shrunk tree is over MAX_FDT_SIZE (SZ_2M, early_fdt_map in
    # xen/arch/arm/mmu/setup.c @ RELEASE-4.21.0 refuses it).
    big = HOST.replace("\tchosen {\n", "\tchosen {\n\t\tbig = [" + "00" * (2 * 1024 * 1024 - 64) + "];\n")
    assert refusal(IN_PLACE + "booti 0x80000 - 0x1800\n", big) == (
        "boot.source:2: booti: the DTB Xen receives would be 0x200800 bytes, more than Xen takes as"
        " the host DT (0x200000 bytes, MAX_FDT_SIZE)")
