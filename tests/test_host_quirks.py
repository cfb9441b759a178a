"""Xen's own quirks and refusals on the host side, per release.

Every expected region is derived by hand below from Xen's source (the
functions named at each test); none comes from xendt's output.
"""

from __future__ import annotations

import json

import pytest

from conftest import check_output, dts_to_dtb
from xendt.cli import main
from xendt.host import firmware, xen_dt
from xendt.hostregions import domains
from xendt.hostregions import regions as hostregions
from xendt.hostregions.rangeset import Crash, Rangeset
from xendt.ranges import MiB, Range
from xendt.xen import layouts


def run(*args: str, capsysbinary) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit:
        main(list(args))
    out, err = capsysbinary.readouterr()
    check_output(args, exit.value.code, out)
    return exit.value.code, out.decode(), err.decode()


def compute(dts: str, xen: str, ipa: int = 40, fw: firmware.Firmware | None = None, **options):
    layout = layouts.load(xen)
    fw = fw or firmware.Firmware()
    tree = firmware.prepare(dts_to_dtb(dts), "t.dtb", fw, layout.host)
    return hostregions.compute(tree, layout, ipa, domains.DomainOptions(firmware=fw, **options))


def spans(result) -> list[tuple[int, int]]:
    return [(r.base, r.size) for r in result.regions]


# ---------------------------------------------------------------------------
# rangeset_remove_range before and after "xen/rangeset: fix incorrect
# subtraction" (xen/common/rangeset.c @ RELEASE-4.19.2 vs RELEASE-4.19.3).

def test_the_commits_own_example():
    # {[0,1],[4,5]} - [3,4]: s=3 lies in the gap after [0,1]; x=[0,1], y=[4,5].
    # Buggy: x.e = s-1 = 2 unconditionally -> {[0,2],[5,5]}; fixed: x.e < s, untouched.
    for subtract, expected in (("buggy", [[0, 2], [5, 5]]), ("fixed", [[0, 1], [5, 5]])):
        rs = Rangeset("byte", subtract)
        rs.add(0, 2, "a")
        rs.add(4, 6, "b")
        rs.remove(3, 5, "c")
        assert rs.ranges == expected


def test_an_empty_range_at_a_ranges_first_unit_walks_off_the_list():
    # remove(4, 3): x = find(4) = [4,5], y = find(3) = [0,1], behind x.
    rs = Rangeset("byte")
    rs.add(0, 2, "a")
    rs.add(4, 6, "b")
    with pytest.raises(Crash):
        rs.remove(4, 4, "empty")


# The hand-made host of examples/host/rangeset-bug.dts (QEMU-virt-like,
# SMMU arm,mmu-500: ARM_SMMU `default y` at every tag, so dom0 has an IOMMU and
# find_memory_holes runs; IPA 40 bits). Removals in DT order, each widened to
# pages, from {[0, 0xff_ffff_ffff]}:
#  flash@0 [0, 0x800_0000)            -> {[0x800_0000, top]}
#  intc reg[0] [0x800_0000, +0x1_0000) -> {[0x801_0000, top]}
#  intc reg[1] [0x80a_0000, +0xf6_0000) splits -> [0x801_0000,0x809_ffff], [0x900_0000, top]
#  pl011 [0x900_0000, +0x1000)         -> ..., [0x900_1000, top]
#  iommu [0x905_0000, +0x2_0000)       -> ..., [0x900_1000,0x904_ffff], [0x907_0000, top]
#  sram [0x1010_0000, +0x40_0000)      -> ..., [0x907_0000,0x100f_ffff], [0x1050_0000, top]
#  mailbox [0x1034_0000, +0x800_0000): s = 0x1034_0000 lies in the gap sram left;
#    x = [0x907_0000, 0x100f_ffff] (x.e < s), y = [0x1050_0000, top].
#    4.17.7 (buggy): x.e = s - 1 = 0x1033_ffff, re-opening [0x1010_0000, 0x1034_0000),
#    which is sram's MMIO; 4.19.3 (fixed): x stays. Both: y.s = 0x1834_0000.
#  rtc [0x3ff0_0000, +0x1000), memory@40000000 1 GiB, nvram [0xff_fff0_0000, +1 MiB)
#    -> [0x1834_0000,0x3fef_ffff], [0x3ff0_1000,0x3fff_ffff], [0x8000_0000,0xff_ffef_ffff].
# add_ext_regions (start up 2 MiB, size down 2 MiB, >= 64 MiB; every free end is
# 1 MiB off a 2 MiB boundary, so the 4.18-4.20 end bug changes nothing):
#  [0x907_0000, 0x1033_ffff] -> 0x920_0000 + 0x700_0000 (4.17.7)
#  [0x907_0000, 0x100f_ffff] -> 0x920_0000 + 0x6e0_0000 (4.19.3)
#  [0x1834_0000, 0x3fef_ffff] -> 0x1840_0000 + 0x27a0_0000; [0x8000_0000, ...] ->
#  0x8000_0000 + 0xff_7fe0_0000; the three small ones round to nothing.
RANGESET_BUG_DTS = """/dts-v1/;
/ {
    compatible = "linux,dummy-virt"; #address-cells = <2>; #size-cells = <2>;
    interrupt-parent = <&gic>;
    cpus { #address-cells = <1>; #size-cells = <0>;
        cpu@0 { device_type = "cpu"; compatible = "arm,cortex-a57"; reg = <0>; }; };
    psci { compatible = "arm,psci-1.0"; method = "hvc"; };
    flash@0 { compatible = "cfi-flash"; reg = <0x0 0x0 0x0 0x08000000>; };
    gic: intc@8000000 { compatible = "arm,gic-v3"; #interrupt-cells = <3>; interrupt-controller;
        reg = <0x0 0x08000000 0x0 0x10000>, <0x0 0x080a0000 0x0 0xf60000>; interrupts = <1 9 4>; };
    timer { compatible = "arm,armv8-timer"; interrupts = <1 13 4>, <1 14 4>, <1 11 4>, <1 10 4>; };
    pl011@9000000 { compatible = "arm,pl011"; reg = <0x0 0x09000000 0x0 0x1000>; interrupts = <0 1 4>; };
    smmu: iommu@9050000 { compatible = "arm,mmu-500"; reg = <0x0 0x09050000 0x0 0x20000>;
        #global-interrupts = <1>; interrupts = <0 74 4>, <0 75 4>; #iommu-cells = <1>; };
    sram@10100000 { compatible = "mmio-sram"; reg = <0x0 0x10100000 0x0 0x400000>; };
    mailbox@10340000 { compatible = "vendor,mailbox"; reg = <0x0 0x10340000 0x0 0x8000000>;
        iommus = <&smmu 1>; };
    rtc@3ff00000 { compatible = "arm,pl031"; reg = <0x0 0x3ff00000 0x0 0x1000>; interrupts = <0 2 4>; };
    memory@40000000 { device_type = "memory"; reg = <0x0 0x40000000 0x0 0x40000000>; };
    nvram@fffff00000 { compatible = "vendor,nvram"; reg = <0xff 0xfff00000 0x0 0x100000>; };
    chosen { stdout-path = "/pl011@9000000"; };
};
"""
COMMON = [(0x1840_0000, 0x27A0_0000), (0x8000_0000, 0xFF_7FE0_0000)]


def test_4_17_7_gives_the_buggy_region_over_sram_and_4_19_3_the_fixed_one():
    buggy, fixed = compute(RANGESET_BUG_DTS, "4.17.7"), compute(RANGESET_BUG_DTS, "4.19.3")
    assert buggy.finder == fixed.finder == "find_memory_holes"
    assert spans(buggy) == [(0x920_0000, 0x700_0000), *COMMON]
    assert spans(fixed) == [(0x920_0000, 0x6E0_0000), *COMMON]


@pytest.mark.parametrize("xen", ["4.16.7", "4.18.6", "4.19.2", "4.20.0"])
def test_every_release_before_the_fix_has_the_bug(xen):
    assert spans(compute(RANGESET_BUG_DTS, xen))[0] == (0x920_0000, 0x700_0000)


@pytest.mark.parametrize("xen", ["4.19.3", "4.20.1", "4.21", "4.22"])
def test_every_release_with_the_fix_has_the_smaller_region(xen):
    assert spans(compute(RANGESET_BUG_DTS, xen))[0] == (0x920_0000, 0x6E0_0000)


def test_the_table_says_the_bug_made_a_region_overlap_device_mmio(tmp_path, capsysbinary):
    path = tmp_path / "bug.dtb"
    path.write_bytes(dts_to_dtb(RANGESET_BUG_DTS))
    code, out, _ = run("host-regions", "--host-dtb", str(path), "--xen", "4.17.7",
                       capsysbinary=capsysbinary)
    assert code == 0
    assert out.splitlines()[-1] == (
        "  note: rangeset subtraction bug: region [0x9200000, 0x10200000) reaches into"
        " [0x10100000, 0x10340000), which rangeset_remove_range put back as a hole; it overlaps"
        " device MMIO (/sram@10100000 reg[0] [0x10100000, 0x10500000)). \"xen/rangeset: fix"
        " incorrect subtraction\" (4.19.3, 4.20.1, 4.21.0) gives [0x9200000, 0x10000000) here")
    _, fixed, _ = run("host-regions", "--host-dtb", str(path), "--xen", "4.19.3",
                      capsysbinary=capsysbinary)
    assert "note:" not in fixed


def test_explain_json_says_what_cut_each_region(tmp_path, capsysbinary):
    path = tmp_path / "bug.dtb"
    path.write_bytes(dts_to_dtb(RANGESET_BUG_DTS))
    code, out, _ = run("host-regions", "--host-dtb", str(path), "--xen", "4.19.3", "--explain",
                       "--format", "json", capsysbinary=capsysbinary)
    data = json.loads(out)
    host = data["hosts"][0]
    assert code == 0 and host["release"] == "4.19.3"
    assert [p["commit"] for p in host["points"]] == ["6f7af8383f51", "c7e568308546"]
    first = next(c for c in host["candidates"] if c["region"])
    assert first == {"free": {"base": 0x907_0000, "size": 0x1010_0000 - 0x907_0000},
                     "start_by": "/iommu@9050000 reg[0]", "end_by": "/sram@10100000 reg[0]",
                     "region": {"base": 0x920_0000, "size": 0x6E0_0000},
                     "cuts": ["start rounded up to 2 MiB", "size rounded down to 2 MiB"],
                     "dropped": ""}
    # intc's two regs leave [0x801_0000, 0x80a_0000): nothing from 2 MiB up.
    assert host["candidates"][0]["dropped"] == "nothing left after rounding its start up to 2 MiB"


# ---------------------------------------------------------------------------
# Zero-size reg. find_memory_holes passes [addr & PAGE_MASK, PAGE_ALIGN(addr +
# size) - 1]; size 0 at a page-aligned A gives [A, A - 1] (ASSERT(s <= e) is
# compiled out of release builds).

ZERO_AT_0 = """/dts-v1/;
/ { #address-cells = <2>; #size-cells = <2>;
    smmu@9050000 { compatible = "arm,mmu-500"; reg = <0x0 0x09050000 0x0 0x20000>; #iommu-cells = <1>; };
    uart@9000000 { compatible = "arm,pl011"; reg = <0x0 0x09000000 0x0 0x1000>; };
    memory@0 { device_type = "memory"; reg = <0x0 0x0 0x0 0x0>; };
    memory@40000000 { device_type = "memory"; reg = <0x0 0x40000000 0x0 0x40000000>; };
};
"""


@pytest.mark.parametrize("xen", ["4.18", "4.19.3", "4.21", "4.22"])
def test_an_empty_reg_at_0_removes_every_hole_from_4_18(xen):
    # Page frames: s = 0, e = PFN_DOWN(0 - 1) = 0xf_ffff_ffff_ffff, above every
    # frame: every range is destroyed, later removals find nothing.
    result = compute(ZERO_AT_0, xen)
    assert result.regions == () and result.failure is None
    assert result.warnings == ("dom0: failed to allocate extended regions: /memory@0 reg[0] has"
                               " size 0 at address 0: Xen computes its last byte as 0 - 1, which"
                               " wraps to the top, and removes every hole",)


@pytest.mark.parametrize("xen", ["4.16", "4.17.7"])
def test_an_empty_reg_at_0_undoes_earlier_removals_in_4_16_and_4_17(xen):
    # Bytes: e = 2^64 - 1 and e + 1 wraps to 0. The smmu and uart left
    # {[0,0x8ff_ffff],[0x900_1000,0x904_ffff],[0x907_0000,top]}: x = [0, ...],
    # y = the last; every range but y is destroyed and y.s = e + 1 = 0, so the
    # set is [0, 0xff_ffff_ffff] again. memory@40000000 then splits it:
    # [0, 0x3fff_ffff] -> 0 + 1 GiB (over the uart), [0x8000_0000, top] -> 1022 GiB.
    assert spans(compute(ZERO_AT_0, xen)) == [(0, 0x4000_0000), (0x8000_0000, 0xFF_8000_0000)]


ZERO_AT_START = """/dts-v1/;
/ { #address-cells = <2>; #size-cells = <2>;
    flash@0 { compatible = "cfi-flash"; reg = <0x0 0x0 0x0 0x08000000>; };
    dummy@8000000 { compatible = "vendor,dummy"; reg = <0x0 0x08000000 0x0 0x0>; };
    smmu@9050000 { compatible = "arm,mmu-500"; reg = <0x0 0x09050000 0x0 0x20000>; #iommu-cells = <1>; };
    memory@40000000 { device_type = "memory"; reg = <0x0 0x40000000 0x0 0x40000000>; };
};
"""


@pytest.mark.parametrize("xen", ["4.16", "4.17.7", "4.19.6", "4.22"])
def test_an_empty_reg_at_a_free_ranges_start_crashes_xen_building_dom0(xen, tmp_path,
                                                                       capsysbinary):
    # flash@0 leaves {[0x800_0000, top]}; dummy gives remove(0x800_0000,
    # 0x7ff_ffff): x = that range, y = NONE (nothing starts at or below
    # 0x7ff_ffff); x.s == s, so the loop destroys x and runs to NULL, then
    # writes x->s: a NULL dereference in the hypervisor while building dom0.
    path = tmp_path / "z.dtb"
    path.write_bytes(dts_to_dtb(ZERO_AT_START))
    code, out, err = run("host-regions", "--host-dtb", str(path), "--xen", xen,
                         capsysbinary=capsysbinary)
    assert code == 1
    assert err == (f"xendt: error: {path}: Xen {xen} fails: /dummy@8000000: find_memory_holes:"
                   f" /dummy@8000000 reg[0] has size 0 at the first byte of a free range:"
                   f" rangeset_remove_range(s, s - 1) walks off its list and Xen dereferences NULL"
                   f" while building dom0 (a debug build stops at \"Assertion 's <= e' failed\")"
                   f" (no release guards it: every version from 4.16 crashes)\n")
    assert "  Xen fails: /dummy@8000000: find_memory_holes:" in out


# ---------------------------------------------------------------------------
# Boards Xen refuses.

def test_an_untranslatable_reg_on_the_dom0_path_is_an_error_with_status_1(tmp_path, capsysbinary):
    # As on TI K3 DTBs: 0x2000000 is outside /bus's only ranges entry
    # [0, 0x100_0000), so handle_device's dt_device_get_paddr fails (-EINVAL).
    path = tmp_path / "k3.dtb"
    path.write_bytes(dts_to_dtb(
        '/dts-v1/; / { #address-cells = <2>; #size-cells = <2>;'
        ' memory@40000000 { device_type = "memory"; reg = <0x0 0x40000000 0x0 0x40000000>; };'
        ' bus { #address-cells = <1>; #size-cells = <1>; ranges = <0x0 0x0 0x10000000 0x1000000>;'
        ' dev@2000000 { reg = <0x2000000 0x1000>; }; }; };'))
    code, _, err = run("host-regions", "--host-dtb", str(path), "--xen", "4.19", "--iommu",
                       capsysbinary=capsysbinary)
    assert code == 1
    assert err.startswith(f"xendt: error: {path}: Xen 4.19 fails: /bus/dev@2000000: handle_device:"
                          f" \"Unable to retrieve address 0 for /bus/dev@2000000\"")
    assert err.endswith("then panic \"Could not set up DOM0 guest OS (rc = -22)\" (no release builds"
                        " dom0 on this DT)\n")


def test_a_node_deeper_than_16_hangs_xen_until_4_20_4():
    # device_tree_for_each_node: depth >= DEVICE_TREE_MAX_DEPTH (16) printed a
    # warning and `continue`d without advancing: a hang; a0c5fde6f7cc (4.20.4) skips it.
    nest = "".join(f"n{i} {{ " for i in range(16)) + "}; " * 16
    dts = ('/dts-v1/; / { #address-cells = <2>; #size-cells = <2>; memory@40000000 {'
           ' device_type = "memory"; reg = <0x0 0x40000000 0x0 0x40000000>; }; ' + nest + '};')
    failure = compute(dts, "4.20.3", iommu=True).failure
    assert failure is not None and failure.function == "device_tree_for_each_node"
    assert failure.node == "/" + "/".join(f"n{i}" for i in range(16))
    assert compute(dts, "4.20.4", iommu=True).failure is None


MEMRESERVE = """/dts-v1/;
/memreserve/ 0x60000000 0x200000;
/ { #address-cells = <2>; #size-cells = <2>;
    memory@40000000 { device_type = "memory"; reg = <0x0 0x40000000 0x0 0x40000000>; };
    reserved-memory { #address-cells = <2>; #size-cells = <2>; ranges;
        fw@60000000 { reg = <0x0 0x60000000 0x0 0x100000>; no-map; }; };
};
"""


@pytest.mark.parametrize("xen,fails", [("4.18", False), ("4.19.0", True), ("4.19.1", True),
                                       ("4.19.2", False), ("4.20", False)])
def test_reserved_memory_inside_a_memreserve_entry_panics_only_in_4_19_0_and_4_19_1(xen, fails):
    # 4.19.0 made /memreserve/ entries reserved_mem banks and
    # check_reserved_regions_overlap refuses /reserved-memory/fw@60000000
    # inside one; 6f7af8383f51 (4.19.2) allows a region wholly inside.
    result = compute(MEMRESERVE, xen, iommu=True)
    assert (result.failure is not None) == fails
    if fails:
        assert result.failure.function == "check_reserved_regions_overlap"
        assert result.failure.node == "/reserved-memory/fw@60000000"


def test_unsorted_ram_banks_panic_4_15_0_and_not_4_15_1():
    dts = ('/dts-v1/; / { #address-cells = <2>; #size-cells = <2>;'
           ' memory@80000000 { device_type = "memory"; reg = <0x0 0x80000000 0x0 0x40000000>; };'
           ' memory@40000000 { device_type = "memory"; reg = <0x0 0x40000000 0x0 0x40000000>; }; };')
    assert compute(dts, "4.15.0", iommu=True).failure.function == "setup_mm"
    assert compute(dts, "4.15.1", iommu=True).failure is None


# ---------------------------------------------------------------------------
# Boards whose DTB has no /memory: firmware writes it, or Xen takes RAM from
# the EFI memory map.

NO_MEMORY = """/dts-v1/;
/memreserve/ 0x80000000 0x100000;
/ { #address-cells = <2>; #size-cells = <2>;
    uart@9000000 { compatible = "arm,pl011"; reg = <0x0 0x09000000 0x0 0x1000>; };
    reserved-memory { #address-cells = <2>; #size-cells = <2>; ranges;
        tee@90000000 { reg = <0x0 0x90000000 0x0 0x2000000>; no-map; }; };
};
"""
DOM0 = {"iommu": False, "dom0_ram": (Range(0x4000_0000, 512 * MiB),),
        "grant_table": Range(0x6000_0000, 0x40000)}


def test_host_ram_is_the_memory_node_u_boot_writes():
    # U-Boot adds /memory reg = <0x40000000 2 GiB>. find_unallocated_memory
    # (4.21: page frames, no end bug): RAM [0x4000_0000, 0xc000_0000) minus dom0
    # [0x4000_0000, 0x6000_0000), grant table [0x6000_0000, 0x6004_0000), tee
    # [0x9000_0000, 0x9200_0000) and, 4.19+, /memreserve/ [0x8000_0000, +1 MiB):
    # [0x6004_0000, 0x8000_0000) -> 0x6020_0000 + 0x1fe0_0000;
    # [0x8010_0000, 0x9000_0000) -> 0x8020_0000 + 0xfe0_0000;
    # [0x9200_0000, 0xc000_0000) -> 0x9200_0000 + 0x2e00_0000.
    fw = firmware.parse("0x40000000:2G", uefi=False)
    assert spans(compute(NO_MEMORY, "4.21", fw=fw, **DOM0)) == [
        (0x6020_0000, 0x1FE0_0000), (0x8020_0000, 0xFE0_0000), (0x9200_0000, 0x2E00_0000)]


ONE_CELL = """/dts-v1/;
/ { #address-cells = <1>; #size-cells = <1>; chosen { };
    interrupt-controller@8000000 { compatible = "arm,gic-v3"; interrupt-controller;
        #interrupt-cells = <3>; reg = <0x8000000 0x10000 0x80a0000 0xf60000>; }; };
"""


@pytest.mark.parametrize("ram, message", [
    ("0x100000000:1G", "--host-ram 0x100000000:0x40000000: 0x100000000 does not fit the host DT's"
                       " #address-cells = <1> (U-Boot writes /memory in the root's cells)"),
    ("0x40000000:4G", "--host-ram 0x40000000:0x100000000: 0x100000000 does not fit the host DT's"
                      " #size-cells = <1> (U-Boot writes /memory in the root's cells)"),
], ids=["base", "size"])
def test_host_ram_the_roots_cells_cannot_hold_is_one_line(ram, message, tmp_path, capsys):
    board = tmp_path / "board.dtb"
    board.write_bytes(dts_to_dtb(ONE_CELL))
    with pytest.raises(SystemExit) as exit_:
        main(["host-regions", "--host-dtb", str(board), "--iommu", "--host-ram", ram])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == f"xendt: {message}\n"


def test_under_uefi_ram_is_the_efi_maps_and_memreserve_is_gone():
    # fdt_add_uefi_nodes deletes every /memreserve/ entry: the same minus
    # that MiB, so [0x6004_0000, 0x9000_0000) -> 0x6020_0000 + 0x2fe0_0000.
    fw = firmware.parse("0x40000000:2G", uefi=True)
    assert spans(compute(NO_MEMORY, "4.21", fw=fw, **DOM0)) == [
        (0x6020_0000, 0x2FE0_0000), (0x9200_0000, 0x2E00_0000)]


def test_runtime_descriptors_are_ram_until_4_16_3():
    # --host-ram 1 GiB + 1 GiB EFI_MEMORY_RUNTIME: 4.16.2 takes both as RAM
    # (4.16 bytes: [0x6004_0000, 0x9000_0000) -> 0x6020_0000 + 0x2fe0_0000,
    # [0x9200_0000, 0xc000_0000) -> 0x9200_0000 + 0x2e00_0000); 54f8ed80c830
    # (4.16.3) drops the runtime one: RAM ends at 0x8000_0000.
    fw = firmware.parse("0x40000000:1G,0x80000000:1G:runtime", uefi=True)
    assert spans(compute(NO_MEMORY, "4.16.2", fw=fw, **DOM0)) == [
        (0x6020_0000, 0x2FE0_0000), (0x9200_0000, 0x2E00_0000)]
    assert spans(compute(NO_MEMORY, "4.16.3", fw=fw, **DOM0)) == [(0x6020_0000, 0x1FE0_0000)]


def test_u_boot_replaces_a_zero_size_memory_placeholder():
    # fdt_find_or_add_subnode finds /memory@0 by its name "memory": its
    # reg <0 0 0 0> becomes the banks, so Xen never sees the empty reg.
    fw = firmware.parse("0x40000000:1G", uefi=False)
    tree = firmware.prepare(dts_to_dtb(ZERO_AT_0), "t.dtb", fw, layouts.load("4.21").host)
    assert xen_dt.meminfo(tree, tree.node("/memory@0"), "reg", (2, 2)) == (Range(0x4000_0000, 1 << 30),)


def test_a_board_without_memory_says_what_to_give(tmp_path, capsysbinary):
    path = tmp_path / "board.dtb"
    path.write_bytes(dts_to_dtb(NO_MEMORY))
    code, _, err = run("host-regions", "--host-dtb", str(path), capsysbinary=capsysbinary)
    assert code == 2 and err == (
        f"xendt: {path}: no RAM bank in the DT (firmware usually writes /memory): give --host-ram"
        f" BASE:SIZE[,…] (the banks U-Boot writes) or --uefi --host-ram BASE:SIZE[,…] (the EFI"
        f" memory map's RAM)\n")


@pytest.mark.parametrize("xen,function", [("4.21.1", "handle_passthrough_prop"),
                                          ("4.21.2", "handle_passthrough_prop")])
def test_a_partial_dt_xen_reg_in_zero_cells(xen, function):
    # /passthrough/dev's parent says #address-cells = <0>, #size-cells = <0>:
    # before e16e18e31285/137827d85809 (4.20.4, 4.21.2) Xen divides the
    # xen,reg length by 2 * 0 + 0; after, "Invalid address_cells 0 or size_cells 0".
    from xendt.hostregions import domains as hostdomains

    partial = dts_to_dtb('/dts-v1/; / { #address-cells = <2>; #size-cells = <2>; passthrough {'
                         ' #address-cells = <0>; #size-cells = <0>;'
                         ' dev { xen,reg = <0x1c000000 0x1000 0x90000000>; }; }; };')
    dts = (ZERO_AT_0.replace("memory@0 { device_type = \"memory\"; reg = <0x0 0x0 0x0 0x0>; };", "")
           [:-3] + ' chosen { #address-cells = <2>; #size-cells = <2>;'
           ' domU { compatible = "xen,domain"; memory = <0x0 0x40000>; cpus = <1>; xen,enhanced; }; }; };')
    result = compute(dts, xen, domain="domU", passthrough=partial, passthrough_name="p.dtb")
    assert result.failure is not None and result.failure.function == function
    message = result.failure.message
    if xen == "4.21.2":
        assert message.startswith("\"Invalid address_cells 0 or size_cells 0\"")
    else:
        assert "division by zero" in message
    assert hostdomains.DEFAULT_BUILD_SCMI_SMC


def test_the_readme_point_release_example_is_what_the_command_prints(tmp_path, monkeypatch,
                                                                       capsysbinary):
    """README's "Point releases" example, run as written on the example
    board (the same board as RANGESET_BUG_DTS above)."""
    from conftest import ROOT, dtc
    from xendt.cli import main

    readme = (ROOT / "README.md").read_text().split("### Point releases", 1)[1]
    commands, printed = readme.split("```sh\n", 1)[1].split("```\n```\n", 1)
    first, second = commands.strip().splitlines()
    assert first == "dtc -I dts -O dtb -o board.dtb examples/host/rangeset-bug.dts"
    source = (ROOT / "examples/host/rangeset-bug.dts").read_bytes()
    assert dtc("-q", "-I", "dts", "-O", "dts", "-", input=source).stdout == \
        dtc("-q", "-I", "dts", "-O", "dts", "-", input=RANGESET_BUG_DTS.encode()).stdout
    (tmp_path / "board.dtb").write_bytes(dtc("-q", "-I", "dts", "-O", "dtb", "-", input=source).stdout)
    monkeypatch.chdir(tmp_path)
    try:
        main(second.split()[1:])
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out, _ = capsysbinary.readouterr()
    assert code == 0 and out.decode() == printed.split("```", 1)[0]
