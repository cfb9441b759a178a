"""Nodes named memory@… that are not the host's RAM: /reserved-memory
children on most Qualcomm boards.

Before 4.20 early_scan_node takes every node device_tree_node_matches
calls "memory" (memory, memory@…, any depth) for RAM
(xen/arch/arm/bootfdt.c @ RELEASE-4.14.0 … RELEASE-4.19.0); its walk also
reaches /reserved-memory's children, which process_reserved_memory records
as reserved memory too. 47d4d3cdc5 ("xen/arm: bootfdt: Fix device tree
memory node probing", first in RELEASE-4.20.0, in no stable branch before)
takes only top-level nodes with device_type "memory". A child inside RAM is
then a second RAM bank over the first:

- 4.14-4.16: setup_xenheap_mappings rewrites the 1 GiB entries it shares
  and init_boot_pages skips it (reserved memory): Xen boots;
- 4.17-4.19: setup_directmap_mappings' map_pages_to_xen refuses pages
  already mapped: panic "Unable to setup the directmap mappings."
  (xen/arch/arm/mm.c @ RELEASE-4.17.0, RELEASE-4.18.0,
  arm64/mmu/mm.c @ RELEASE-4.19.0).

Every expected region is derived by hand below; none is xendt's output.
"""

from __future__ import annotations

import pytest

from conftest import ROOT, dtb_to_dts, dtc, dts_node, dts_to_dtb, run_cli
from xendt.host import bootinfo, firmware
from xendt.hostregions import domains
from xendt.hostregions import regions as hostregions
from xendt.ranges import Range
from xendt.xen import layouts

# sdm845-like: 2 GiB of RAM at 2 GiB and its firmware carve-outs, named
# memory@… as in arch/arm64/boot/dts/qcom/sdm845.dtsi. No SMMU node.
QCOMM_DTS = """/dts-v1/;
/ {
    #address-cells = <2>;
    #size-cells = <2>;
    interrupt-parent = <&intc>;

    memory@80000000 {                 /* [0x8000_0000, 0x1_0000_0000) */
        device_type = "memory";
        reg = <0x0 0x80000000 0x0 0x80000000>;
    };
    reserved-memory {
        #address-cells = <2>;
        #size-cells = <2>;
        ranges;
        memory@85700000 { reg = <0x0 0x85700000 0x0 0x600000>; no-map; };
        memory@85e00000 { reg = <0x0 0x85e00000 0x0 0x100000>; no-map; };
        memory@85fc0000 { reg = <0x0 0x85fc0000 0x0 0x20000>; no-map; };
        memory@85fe0000 { compatible = "qcom,cmd-db"; reg = <0x0 0x85fe0000 0x0 0x20000>; no-map; };
        memory@86000000 { reg = <0x0 0x86000000 0x0 0x200000>; no-map; };
        memory@86200000 { reg = <0x0 0x86200000 0x0 0x2d00000>; no-map; };
        memory@88f00000 { compatible = "qcom,rmtfs-mem"; reg = <0x0 0x88f00000 0x0 0x200000>; no-map; };
        memory@8e000000 { reg = <0x0 0x8e000000 0x0 0x7800000>; no-map; };
    };
    intc: interrupt-controller@17a00000 {
        compatible = "arm,gic-v3";
        #interrupt-cells = <3>;
        interrupt-controller;
        reg = <0x0 0x17a00000 0x0 0x10000>, <0x0 0x17a60000 0x0 0x100000>;
    };
    timer {
        compatible = "arm,armv8-timer";
        interrupts = <1 13 0xf08>, <1 14 0xf08>, <1 11 0xf08>, <1 10 0xf08>;
    };
    chosen { };
};
"""
DOM0 = {"iommu": False, "dom0_ram": (Range(0xA000_0000, 0x2000_0000),),
        "grant_table": Range(0x9600_0000, 0x40000)}
DOM0_ARGS = ("--no-iommu", "--dom0-mem", "0xa0000000:512M", "--gnttab", "0x96000000:256K")

FAILING = [f"4.17.{z}" for z in range(8)] + [f"4.18.{z}" for z in range(7)] + \
    [f"4.19.{z}" for z in range(7)]
BOOTING_OLD = [f"4.14.{z}" for z in range(7)] + [f"4.15.{z}" for z in range(8)] + \
    [f"4.16.{z}" for z in range(8)]
BOOTING_NEW = [f"4.20.{z}" for z in range(5)] + [f"4.21.{z}" for z in range(3)] + ["4.22.0"]

PANIC = ("/reserved-memory/memory@85700000: setup_mm: RAM bank [0x85700000, 0x85d00000)"
         " (/reserved-memory/memory@85700000 reg[0]) shares pages with RAM bank [0x80000000,"
         " 0x100000000) (/memory@80000000 reg[0]), mapped before it: map_pages_to_xen refuses to"
         " map them again and setup_directmap_mappings panics \"Unable to setup the directmap"
         " mappings.\" (before the console is up) (/reserved-memory/memory@85700000 holds no RAM"
         " from 4.20.0 (\"xen/arm: bootfdt: Fix device tree memory node probing\"): it is not a"
         " top-level node with device_type \"memory\")")


def compute(dts: str, xen: str, fw: firmware.Firmware | None = None, **options):
    layout = layouts.load(xen)
    fw = fw or firmware.Firmware()
    tree = firmware.prepare(dts_to_dtb(dts), "t.dtb", fw, layout.host)
    return hostregions.compute(tree, layout, 40, domains.DomainOptions(firmware=fw, **options))


def ram(dts: str, xen: str, fw: firmware.Firmware | None = None) -> list[str]:
    layout = layouts.load(xen)
    fw = fw or firmware.Firmware()
    tree = firmware.prepare(dts_to_dtb(dts), "t.dtb", fw, layout.host)
    info = bootinfo.boot_info(tree, firmware.efi_rules(layout.host, fw),
                              firmware.efi_ram(layout.host, fw))
    return [b.source for b in info.ram]


def spans(result) -> list[tuple[int, int]]:
    return [(r.base, r.size) for r in result.regions]


@pytest.mark.parametrize("xen", FAILING)
def test_4_17_to_4_19_map_the_first_child_twice_and_panic(xen):
    # bootinfo.mem after the sort: /memory@80000000, then the children in
    # address order; populate_boot_allocator gives the children nothing (all
    # reserved), then the directmap maps RAM and refuses memory@85700000.
    assert str(compute(QCOMM_DTS, xen, **DOM0).failure) == PANIC


@pytest.mark.parametrize("xen", ["4.17.7", "4.19.0"])
def test_host_regions_exits_1_with_xens_message(xen, tmp_path, capsysbinary):
    board = tmp_path / "qcom.dtb"
    board.write_bytes(dts_to_dtb(QCOMM_DTS))
    code, _, err = run_cli("host-regions", "--host-dtb", str(board), "--xen", xen, *DOM0_ARGS,
                           capsysbinary=capsysbinary)
    assert code == 1
    assert err == f"xendt: error: {board}: Xen {xen} fails: {PANIC}\n"


@pytest.mark.parametrize("xen", BOOTING_OLD + BOOTING_NEW)
def test_the_other_releases_boot(xen):
    assert compute(QCOMM_DTS, xen, **DOM0).failure is None


def test_4_20_0_gives_dom0_the_ram_around_the_children():
    # find_unallocated_memory (domain_build.c @ RELEASE-4.20.0, page frames,
    # add_ext_regions taking the last page's start for the end): RAM frames
    # [0x80000, 0xfffff] minus dom0 [0xa0000, 0xbffff], the eight children and
    # the grant table [0x96000, 0x9603f] leave [0x80000, 0x856ff],
    # [0x85d00, 0x85dff], [0x85f00, 0x85fbf], [0x89100, 0x8dfff],
    # [0x95800, 0x95fff], [0x96040, 0x9ffff], [0xc0000, 0xfffff]; then
    # start rounded up to 2 MiB, size (last page start + 1 - start) down:
    # 0x8000_0000 + 0x56f_f001 -> 0x560_0000; 0x8920_0000 + 0x4df_f001 ->
    # 0x4c0_0000; 0x9620_0000 + 0x9df_f001 -> 0x9c0_0000; 0xc000_0000 +
    # 0x3fff_f001 -> 0x3fe0_0000; the others are below 64 MiB.
    assert spans(compute(QCOMM_DTS, "4.20.0", **DOM0)) == [
        (0x8000_0000, 0x560_0000), (0x8920_0000, 0x4C0_0000), (0x9620_0000, 0x9C0_0000),
        (0xC000_0000, 0x3FE0_0000)]


def test_4_16_boots_and_gives_the_same_holes_counted_in_bytes():
    # The children are RAM banks inside RAM (the rangeset merges them) and
    # reserved memory (removed again): the holes of 4.20.0, in bytes, whole:
    # [0x8000_0000, 0x8570_0000) -> 0x560_0000; [0x8910_0000, 0x8e00_0000) ->
    # 0x8920_0000 + 0x4e0_0000; [0x9604_0000, 0xa000_0000) -> 0x9620_0000 +
    # 0x9e0_0000; [0xc000_0000, 0x1_0000_0000) -> 1 GiB.
    assert spans(compute(QCOMM_DTS, "4.16.0", **DOM0)) == [
        (0x8000_0000, 0x560_0000), (0x8920_0000, 0x4E0_0000), (0x9620_0000, 0x9E0_0000),
        (0xC000_0000, 0x4000_0000)]


def test_before_4_20_the_children_are_ram_banks_and_from_4_20_they_are_not():
    children = [f"/reserved-memory/memory@{a} reg[0]" for a in (
        "85700000", "85e00000", "85fc0000", "85fe0000", "86000000", "86200000", "88f00000",
        "8e000000")]
    assert ram(QCOMM_DTS, "4.19.6") == ["/memory@80000000 reg[0]", *children]
    assert ram(QCOMM_DTS, "4.20.0") == ["/memory@80000000 reg[0]"]


# Children outside RAM, as firmware that keeps its carve-outs out of /memory
# leaves them: RAM [0x8000_0000, 0x8570_0000) and [0x9580_0000,
# 0x1_0000_0000); one child below it, one in the hole between its banks.
CARVED = """/dts-v1/;
/ {
    #address-cells = <2>;
    #size-cells = <2>;
    memory@80000000 {
        device_type = "memory";
        reg = <0x0 0x80000000 0x0 0x5700000>, <0x0 0x95800000 0x0 0x6a800000>;
    };
    reserved-memory {
        #address-cells = <2>;
        #size-cells = <2>;
        ranges;
        memory@7f000000 { reg = <0x0 0x7f000000 0x0 0x600000>; no-map; };
        memory@8e000000 { reg = <0x0 0x8e000000 0x0 0x7800000>; no-map; };
    };
    chosen { };
};
"""


def test_a_child_outside_ram_is_one_more_ram_bank_before_4_20():
    banks = ["/memory@80000000 reg[0]", "/memory@80000000 reg[1]"]
    assert ram(CARVED, "4.19.0") == [*banks, "/reserved-memory/memory@7f000000 reg[0]",
                                     "/reserved-memory/memory@8e000000 reg[0]"]
    assert ram(CARVED, "4.20.0") == banks


def test_a_child_outside_ram_leaves_dom0s_regions_as_they_are():
    # 4.19.0 boots: the sort puts memory@7f000000 first, nothing overlaps.
    # find_unallocated_memory adds the children as RAM and removes them as
    # reserved memory. RAM frames at 4.19.0: [0x7f000, 0x7f5ff], [0x80000,
    # 0x856ff], [0x8e000, 0xfffff] (the second child touches the second
    # bank); at 4.20.0: [0x80000, 0x856ff], [0x95800, 0xfffff]. Minus dom0
    # [0xa0000, 0xbffff], the children and the grant table [0x96000,
    # 0x9603f], both leave [0x80000, 0x856ff], [0x95800, 0x95fff], [0x96040,
    # 0x9ffff], [0xc0000, 0xfffff] (no removal starts in a gap and reaches a
    # later range: the old subtraction does no harm). Same arithmetic (page
    # frames, end bug): 0x8000_0000 + 0x56f_f001 -> 0x560_0000; 8 MiB is too
    # small; 0x9620_0000 + 0x9df_f001 -> 0x9c0_0000; 0xc000_0000 +
    # 0x3fff_f001 -> 0x3fe0_0000.
    expected = [(0x8000_0000, 0x560_0000), (0x9620_0000, 0x9C0_0000),
                (0xC000_0000, 0x3FE0_0000)]
    assert compute(CARVED, "4.19.0", **DOM0).failure is None
    assert spans(compute(CARVED, "4.19.0", **DOM0)) == expected
    assert spans(compute(CARVED, "4.20.0", **DOM0)) == expected


def test_a_child_below_ram_is_a_bank_below_the_first_until_the_banks_are_sorted():
    # 4.14.0-4.14.2 map the banks in DT order: both RAM banks, then
    # memory@7f000000 below the first (setup_xenheap_mappings @ RELEASE-4.14.0).
    assert str(compute(CARVED, "4.14.0", **DOM0).failure) == (
        "/reserved-memory/memory@7f000000: setup_mm: RAM bank [0x7f000000, 0x7f600000)"
        " (/reserved-memory/memory@7f000000 reg[0]) lies below the first bank Xen maps,"
        " [0x80000000, 0x85700000) (/memory@80000000 reg[0]): setup_xenheap_mappings panics"
        " \"cannot add xenheap mapping at 7f000 below heap start 80000\" (before the console is"
        " up) (fixed by \"xen/arm: bootfdt: Always sort memory banks\" in 4.14.3, 4.15.1,"
        " 4.16.0)")
    assert compute(CARVED, "4.14.3", **DOM0).failure is None


def test_under_uefi_4_16_scans_the_children_the_efi_loader_left():
    # fdt_add_uefi_nodes deletes only device_type "memory" nodes and 4.16's
    # early_scan_node has no EFI check: the children join the EFI map's RAM.
    # From 4.17 (53701ecb8f) the scan skips memory nodes under EFI.
    fw = firmware.parse("0x80000000:2G", uefi=True)
    assert ram(QCOMM_DTS, "4.16.0", fw)[:2] == ["EFI memory map [0]",
                                               "/reserved-memory/memory@85700000 reg[0]"]
    assert ram(QCOMM_DTS, "4.17.0", fw) == ["EFI memory map [0]"]


TWO_RAM_NODES = (
    '/dts-v1/; / { #address-cells = <2>; #size-cells = <2>;'
    ' memory@40000000 { device_type = "memory"; reg = <0x0 0x40000000 0x0 0x40000000>; };'
    ' memory@60000000 { device_type = "memory"; reg = <0x0 0x60000000 0x0 0x40000000>; }; };')


@pytest.mark.parametrize("xen", ["4.16.0", "4.21.0"])
def test_overlapping_ram_nodes_give_pages_to_the_boot_allocator_twice(xen, tmp_path,
                                                                      capsysbinary):
    # Was a bad-input refusal (exit 2). Both nodes are RAM in every release;
    # [0x6000_0000, 0x8000_0000) is not reserved, so init_boot_pages hands it
    # over twice: 4.16 after mapping the second bank, 4.21 in
    # populate_boot_allocator, before any mapping.
    board = tmp_path / "t.dtb"
    board.write_bytes(dts_to_dtb(TWO_RAM_NODES))
    code, _, err = run_cli("host-regions", "--host-dtb", str(board), "--xen", xen,
                           capsysbinary=capsysbinary)
    assert code == 1
    assert err == (
        f"xendt: error: {board}: Xen {xen} fails: /memory@60000000: setup_mm: RAM bank"
        " [0x60000000, 0xa0000000) (/memory@60000000 reg[0]) overlaps RAM bank [0x40000000,"
        " 0x80000000) (/memory@40000000 reg[0]) outside reserved memory: init_boot_pages gets"
        " [0x60000000, 0x80000000) twice and bootmem_region_add hits BUG_ON: \"Xen BUG at"
        " page_alloc.c\" (before the console is up) (no release boots this DT)\n")


# The dom0less path: a real 4.19.0 host with a Qualcomm-style child added.
HOST = ROOT / "tests" / "data" / "reference-dom0less" / "4.19.0" / "all-nodom0-gicv3" / "host.dtb"
CHILD = ("/ { reserved-memory { #address-cells = <2>; #size-cells = <2>; ranges;"
         " memory@50000000 { reg = <0 0x50000000 0 0x400000>; no-map; }; }; };\n")
DOMU_PANIC = (
    "/reserved-memory/memory@50000000: setup_mm: RAM bank [0x50000000, 0x50400000)"
    " (/reserved-memory/memory@50000000 reg[0]) shares pages with RAM bank [0x40000000,"
    " 0x240000000) (/memory@40000000 reg[0]), mapped before it: map_pages_to_xen refuses to map"
    " them again and setup_directmap_mappings panics \"Unable to setup the directmap"
    " mappings.\" (before the console is up) (/reserved-memory/memory@50000000 holds no RAM"
    " from 4.20.0 (\"xen/arm: bootfdt: Fix device tree memory node probing\"): it is not a"
    " top-level node with device_type \"memory\")")


@pytest.fixture
def dom0less_board(tmp_path):
    board = tmp_path / "board.dtb"
    source = dtb_to_dts(HOST.read_bytes()) + CHILD
    board.write_bytes(dtc("-q", "-I", "dts", "-O", "dtb", "-", input=source.encode()).stdout)
    return board


def test_host_regions_and_build_give_the_same_failure_for_a_dom0less_domain(dom0less_board,
                                                                            capsysbinary):
    code, _, err = run_cli("host-regions", "--host-dtb", str(dom0less_board), "--domain", "domU2",
                           "--xen", "4.19.0", capsysbinary=capsysbinary)
    assert (code, err) == (1, f"xendt: error: {dom0less_board}: Xen 4.19.0 fails: {DOMU_PANIC}\n")
    code, out, err = run_cli("build", "--host-dtb", str(dom0less_board), "--domain", "domU2",
                             "--xen", "4.19.0", "-o", "-", capsysbinary=capsysbinary)
    assert (code, out) == (1, b"")  # Xen itself fails: status 1, as host-regions
    assert err.splitlines()[-1] == (f"xendt: error: {dom0less_board}: Xen 4.19.0 stops at boot before"
                                    f" building domU2: {DOMU_PANIC}")


def test_4_20_builds_the_dom0less_domain_on_that_host(dom0less_board, tmp_path, capsysbinary):
    # domU2 (1 GiB, find_domU_holes, IPA 40 bits): the grant table, the rest
    # of guest bank 0 [0x8000_0000, 0x1_0000_0000) and guest bank 1 up to
    # 2^40, [0x2_0000_0000, 0x100_0000_0000). The same from both commands.
    built = tmp_path / "domU2.dtb"
    code, _, err = run_cli("build", "--host-dtb", str(dom0less_board), "--domain", "domU2",
                           "--xen", "4.20.0", "-o", str(built), capsysbinary=capsysbinary)
    assert code == 0, err
    code, out, err = run_cli("host-regions", "--host-dtb", str(dom0less_board), "--domain",
                             "domU2", "--xen", "4.20.0", "--format", "dts",
                             capsysbinary=capsysbinary)
    assert code == 0, err
    reg = ("\t\treg = <0x00 0x38000000 0x00 0x1000000 0x00 0x80000000 0x00 0x80000000 0x02 0x00"
           " 0xfe 0x00>;")
    assert dts_node(dtb_to_dts(built.read_bytes()), "/hypervisor").splitlines()[2] == reg
    assert dts_node(out.decode(), "/hypervisor").splitlines()[2] == reg


# A memory@… child without reg (a dynamically placed pool): before 4.20 the
# early scan reads it as a memory node, device_tree_get_meminfo returns
# -ENOENT and early_scan_node passes the error up, which ends the walk.
# boot_fdt_info ignores that before 4.19 and panics from 4.19.0 (02d0a615b3,
# "xen/arm: bootfdt: Check return code of device_tree_for_each_node()").
POOL = CARVED.replace(
    "        memory@8e000000 { reg = <0x0 0x8e000000 0x0 0x7800000>; no-map; };\n",
    "        memory@8e000000 { reg = <0x0 0x8e000000 0x0 0x7800000>; no-map; };\n"
    "        memory@9a000000 { compatible = \"shared-dma-pool\"; size = <0x0 0x800000>;"
    " alloc-ranges = <0x0 0x9a000000 0x0 0x1000000>; reusable; };\n")


def test_a_child_without_reg_makes_4_19_panic_in_the_early_scan():
    assert str(compute(POOL, "4.19.0", **DOM0).failure) == (
        "/reserved-memory/memory@9a000000: boot_fdt_info: a memory node without reg: \"fdt: node"
        " `memory@9a000000': parsing failed\", then panic \"Early FDT parsing failed (-2)\" (not a"
        " memory node from 4.20.0 (\"xen/arm: bootfdt: Fix device tree memory node probing\"):"
        " it is not a top-level node with device_type \"memory\")")


@pytest.mark.parametrize("xen", ["4.18.6", "4.20.0"])
def test_a_child_without_reg_ends_the_scan_quietly_before_4_19_and_is_no_memory_node_after(xen):
    # 4.18: the walk stops at the pool, after every node that matters here
    # (/reserved-memory's own walk has read all its children); 4.20: the pool
    # is reserved-memory business only. Both give the holes of
    # test_a_child_outside_ram_leaves_dom0s_regions_as_they_are.
    assert spans(compute(POOL, xen, **DOM0)) == [
        (0x8000_0000, 0x560_0000), (0x9620_0000, 0x9C0_0000), (0xC000_0000, 0x3FE0_0000)]


def test_a_top_level_memory_node_without_reg_panics_from_4_19(tmp_path, capsysbinary):
    # Two RAM nodes, the second without reg (firmware did not fill it in).
    board = tmp_path / "t.dtb"
    board.write_bytes(dts_to_dtb(
        '/dts-v1/; / { #address-cells = <2>; #size-cells = <2>;'
        ' memory@40000000 { device_type = "memory"; reg = <0x0 0x40000000 0x0 0x40000000>; };'
        ' memory@c0000000 { device_type = "memory"; }; };'))
    code, _, err = run_cli("host-regions", "--host-dtb", str(board), "--xen", "4.22",
                           capsysbinary=capsysbinary)
    assert (code, err) == (1, f"xendt: error: {board}: Xen 4.22 fails: /memory@c0000000:"
                              " boot_fdt_info: a memory node without reg: \"fdt: node"
                              " `memory@c0000000': parsing failed\", then panic \"Early FDT"
                              " parsing failed (-2)\"\n")


def test_before_4_19_xendt_says_where_the_scan_ended():
    assert compute(POOL, "4.18.6", **DOM0).notes == (
        "Xen's early scan ends at /reserved-memory/memory@9a000000 (a memory node without reg,"
        " error -2): the nodes after it were never read",)
    assert compute(POOL, "4.20.0", **DOM0).notes == ()


# Two reserved regions that overlap: check_reserved_regions_overlap (4.18+)
# fails the scan. 4.18's boot_fdt_info ignores the error, 4.19's panics.
OVERLAPPING_RESERVED = CARVED.replace(
    "        memory@7f000000 { reg = <0x0 0x7f000000 0x0 0x600000>; no-map; };\n",
    "        fw@90000000 { reg = <0x0 0x90000000 0x0 0x200000>; no-map; };\n"
    "        fw@90100000 { reg = <0x0 0x90100000 0x0 0x200000>; no-map; };\n")
REGION = ("/reserved-memory/fw@90100000: check_reserved_regions_overlap: \"Region: [0x90100000,"
          " 0x90300000) overlapping with /reserved-memory/fw@90000000 reg[0] [0x90000000,"
          " 0x90200000)\", then ")


def test_overlapping_reserved_regions_end_the_scan_in_4_18():
    assert str(compute(OVERLAPPING_RESERVED, "4.18.0", **DOM0).failure) == REGION + (
        "the early scan ends there and Xen boots on without the nodes after it (their reserved"
        " memory is taken for free RAM, their boot modules are missing); from 4.19.0 Xen panics"
        " instead")


def test_overlapping_reserved_regions_panic_from_4_19():
    assert str(compute(OVERLAPPING_RESERVED, "4.19.0", **DOM0).failure) == REGION + (
        "panic \"Early FDT parsing failed (-22)\"")
