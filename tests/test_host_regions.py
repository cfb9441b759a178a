"""Xen's own extended regions for dom0 and dom0less domains, from host DTBs.

Every expected region below was worked out by hand from the dumped or
written address map and the rules of Xen's domain_build.c at each release
(see xendt/hostregions.py); none comes from xendt's own output. Version
groups: 4.16/4.17 (byte rangesets), 4.18-4.20 (page rangesets, a region
whose end is 2 MiB-aligned comes out 2 MiB short), 4.21/4.22 (fixed).
"""

from __future__ import annotations

import contextlib
import json

import pytest

from conftest import check_output, dtb_to_dts, dts_to_dtb
from conftest_host import QEMU_SHAPES, board, passthrough, qemu  # noqa: F401  (fixtures)
from xendt.cli import main
from xendt.errors import ConfigError, XenFailure
from xendt.fdt.tree import Tree
from xendt.host import bootinfo, xen_dt
from xendt.hostregions import domains
from xendt.hostregions import regions as hostregions
from xendt.ranges import MiB, Range
from xendt.xen import layouts

BYTES = ("4.16", "4.17")
SHORT = ("4.18", "4.19", "4.20")  # the 2 MiB shortfall
FIXED = ("4.21", "4.22")
WITH_REGIONS = BYTES + SHORT + FIXED


def shortfall(version: str) -> int:
    """What 4.18-4.20 lose on a region whose end is 2 MiB-aligned."""
    return 2 * MiB if version in SHORT else 0


def compute(path, xen, *, pa_bits=40, **options):
    tree = xen_dt.read_host(path.read_bytes(), path.name)
    layout = layouts.load(xen)
    ipa = min(pa_bits, layout.ipa_start_bits)
    return hostregions.compute(tree, layout, ipa, domains.DomainOptions(**options))


def spans(result) -> list[tuple[int, int]]:
    return [(r.base, r.size) for r in result.regions]


def aligned_ends(expected: list[tuple[int, int]], version: str) -> list[tuple[int, int]]:
    """`expected` (start, end) pairs whose ends are all 2 MiB-aligned, as
    (base, size) for `version`."""
    return [(start, end - start - shortfall(version)) for start, end in expected]


def run(*args: str, capsysbinary) -> tuple[int, bytes, str]:
    with pytest.raises(SystemExit) as exit:
        main(list(args))
    out, err = capsysbinary.readouterr()
    check_output(args, exit.value.code, out)
    return exit.value.code, out, err.decode()


# ---------------------------------------------------------------------------
# QEMU's virt machine, IOMMU on: the holes in its address map.
#
# The low map of every shape (QEMU 7.2 hw/arm/virt.c, as dumped): flash
# 0-128 MiB, GIC 0x8000000.., UART 0x9000000, RTC 0x9010000, fw-cfg 0x9020000,
# GPIO 0x9030000, (SMMUv3 0x9050000), 32 virtio-mmio at 0xa000000-0xa004000,
# PCIe MMIO 0x10000000-0x3eff0000 and I/O 0x3eff0000-0x3f000000, RAM from
# 0x40000000. So the first hole >= 64 MiB is 0xa004000-0x10000000, rounded
# up to 0xa200000. The 16 MiB left below RAM (0x3f000000-0x40000000) is too
# small. With highmem, ECAM is 0x4010000000-0x4020000000 and the 64-bit
# PCIe MMIO window 0x8000000000-0x10000000000 (512 GiB).

LOW = (0xA20_0000, 0x1000_0000)


def highmem(ram_end: int, ipa_bits: int) -> list[tuple[int, int]]:
    """The holes above RAM of a highmem=on virt machine, within 2^ipa."""
    out = [(ram_end, 0x40_1000_0000), (0x40_2000_0000, min(1 << ipa_bits, 0x80_0000_0000))]
    if ipa_bits > 40:
        out.append((0x100_0000_0000, 1 << ipa_bits))
    return out


QEMU_EXPECTED = {  # shape: IPA bits -> (start, end) of each hole, all ends 2 MiB-aligned
    "gicv2-1g": {40: [LOW, *highmem(0x8000_0000, 40)]},
    "gicv2-virt-1g": {40: [LOW, *highmem(0x8000_0000, 40)]},
    "gicv3-2g": {40: [LOW, *highmem(0xC000_0000, 40)], 44: [LOW, *highmem(0xC000_0000, 44)],
                 36: [LOW, (0xC000_0000, 1 << 36)],
                 32: [LOW, (0xC000_0000, 1 << 32)]},
    "gicv3-virt-4g": {40: [LOW, *highmem(0x1_4000_0000, 40)]},
    "lowmem-3g": {40: [LOW, (0x1_0000_0000, 1 << 40)], 32: [LOW]},
    "smmuv3-512m": {40: [LOW, *highmem(0x6000_0000, 40)]},
}


RAM_REG = {"1G": "0x00 0x40000000", "2G": "0x00 0x80000000", "4G": "0x01 0x00",
           "3G": "0x00 0xc0000000", "512M": "0x00 0x20000000"}


def test_the_dumps_have_the_map_the_expectations_come_from(qemu):
    for name, path in qemu.items():
        text = dtb_to_dts(path.read_bytes())
        assert f"reg = <0x00 0x40000000 {RAM_REG[QEMU_SHAPES[name][1]]}>;" in text, name
        assert "reg = <0x00 0xa003e00 0x00 0x200>;" in text, name  # the last virtio-mmio
        assert "0x2000000 0x00 0x10000000 0x00 0x10000000 0x00 0x2eff0000" in text, name
        if "lowmem" in name:
            assert "reg = <0x00 0x3f000000 0x00 0x1000000>;" in text  # ECAM below RAM
        else:
            assert "reg = <0x40 0x10000000 0x00 0x10000000>;" in text  # ECAM at 256 GiB
            assert "0x3000000 0x80 0x00 0x80 0x00 0x80 0x00>;" in text  # 512 GiB at 512 GiB


@pytest.mark.parametrize("version", WITH_REGIONS)
@pytest.mark.parametrize("shape,ipa", [(s, b) for s, by in QEMU_EXPECTED.items() for b in by])
def test_dom0_with_an_iommu_gets_the_holes_of_the_qemu_map(qemu, shape, ipa, version):
    result = compute(qemu[shape], version, pa_bits=ipa, iommu=True)
    assert result.finder == "find_memory_holes"
    assert spans(result) == aligned_ends(QEMU_EXPECTED[shape][ipa], version)


def test_an_smmuv3_in_the_host_dt_leaves_a_default_build_without_iommu(qemu):
    # Was: any #iommu-cells turned the IOMMU on. Xen's default build has no
    # SMMUv3 driver (ARM_SMMU_V3 is `if EXPERT`, no default, in
    # xen/drivers/passthrough/Kconfig @ RELEASE-4.15.0 … RELEASE-4.22.0), so
    # device_init finds no driver for /smmuv3@9050000 and iommu_enabled stays 0.
    ram = (Range(0x4800_0000, 128 * MiB),)  # inside the machine's 512 MiB
    result = compute(qemu["smmuv3-512m"], "4.21", dom0_ram=ram)
    assert not result.domain.iommu and result.finder == "find_unallocated_memory"
    assert result.iommu_why == ("/smmuv3@9050000 (arm,smmu-v3) needs ARM_SMMU_V3, not in a default"
                                " Xen 4.21.0 build (only with EXPERT)")
    assert not compute(qemu["gicv3-2g"], "4.21", dom0_ram=ram).domain.iommu


# QEMU, IOMMU off: dom0 has 512 MiB at 0x48000000, the grant table (256 KiB)
# sits at 0x40200000. Free RAM of the 2 GiB machine: 0x40000000-0x40200000
# (2 MiB, too small), 0x40240000-0x48000000 (start rounded up to 0x40400000),
# 0x68000000-0xc0000000.

@pytest.mark.parametrize("version", WITH_REGIONS)
def test_dom0_without_iommu_gets_the_host_ram_it_does_not_use(qemu, version):
    result = compute(qemu["gicv3-2g"], version, iommu=False,
                     dom0_ram=(Range(0x4800_0000, 512 * MiB),), grant_table=Range(0x4020_0000, 0x40000))
    assert result.finder == "find_unallocated_memory"
    assert spans(result) == aligned_ends([(0x4040_0000, 0x4800_0000), (0x6800_0000, 0xC000_0000)],
                                         version)


def test_without_iommu_dom0s_banks_are_required(qemu):
    with pytest.raises(ConfigError, match="give dom0's banks with --dom0-mem"):
        compute(qemu["gicv3-2g"], "4.21", iommu=False)


@pytest.mark.parametrize("version", ("4.14", "4.15"))
def test_no_extended_regions_before_4_16(qemu, version):
    result = compute(qemu["gicv3-2g"], version, iommu=True)
    assert result.regions == () and "came in 4.16" in result.warnings[0]


def test_a_32_bit_dom0_gets_none(qemu):
    result = compute(qemu["gicv3-2g"], "4.21", iommu=True, bits=32)
    assert result.regions == ()
    assert result.warnings == ("dom0: extended regions not supported for 32-bit guests"
                               " (Xen 4.21 gives none)",)


# ---------------------------------------------------------------------------
# The hand-written board (tests/conftest_host.py), IOMMU on (it has an SMMU).
# Taken out: RAM 0x80000000-0x100000000 and 0x880000000-0xa00000000; the UART
# 0x1c090000 (+4 KiB), SMMU 0x2b400000 (+1 MiB), GIC 0x2f000000 (+64 KiB) and
# 0x2f100000 (+2 MiB), translated 1:1 through /soc; ECAM 0x40000000 (+256 MiB);
# the bridge's I/O 0x5f800000 (+8 MiB), 32-bit 0x60000000 (+256 MiB) and
# 64-bit 0x4000000000 (+8 GiB) windows. Holes, start rounded up to 2 MiB:
# 0-0x1c090000 (size rounded down to 0x1c000000: its end is not 2 MiB-aligned,
# so no shortfall), 0x1c200000-0x2b400000, [0x2b600000-0x2f000000 is 58 MiB:
# dropped], 0x2f400000-0x40000000, 0x50000000-0x5f800000, 0x70000000-0x80000000,
# 0x100000000-0x880000000, 0xa00000000-0x4000000000, 0x4200000000-2^40.

BOARD_HOLES = [(0x1C20_0000, 0x2B40_0000), (0x2F40_0000, 0x4000_0000), (0x5000_0000, 0x5F80_0000),
               (0x7000_0000, 0x8000_0000), (0x1_0000_0000, 0x8_8000_0000),
               (0xA_0000_0000, 0x40_0000_0000), (0x42_0000_0000, 1 << 40)]


@pytest.mark.parametrize("version", WITH_REGIONS)
def test_board_dom0_with_iommu_skips_devices_translated_through_buses_and_pci_windows(board, version):
    result = compute(board, version)
    assert result.domain.iommu
    assert spans(result) == [(0, 0x1C00_0000), *aligned_ends(BOARD_HOLES, version)]


# Board, IOMMU off: dom0 has 512 MiB at 0xc0000000, the grant table 256 KiB at
# 0x80200000. Bank 1 loses the grant table, /reserved-memory dsp (0xa0000000,
# 16 MiB) and optee (0xbc000000, 64 MiB), from 4.17 the static shared memory
# host bank (0xa1000000, 32 MiB), from 4.19 the /memreserve/ MiB at 0xe0000000.
# Bank 2 loses domU3's static memory (0x900000000, 256 MiB).

BOARD_FREE = {
    "4.16": [(0x8040_0000, 0xA000_0000), (0xA100_0000, 0xBC00_0000), (0xE000_0000, 0x1_0000_0000)],
    "4.17": [(0x8040_0000, 0xA000_0000), (0xA300_0000, 0xBC00_0000), (0xE000_0000, 0x1_0000_0000)],
    "4.19": [(0x8040_0000, 0xA000_0000), (0xA300_0000, 0xBC00_0000), (0xE020_0000, 0x1_0000_0000)],
}
BANK2_FREE = [(0x8_8000_0000, 0x9_0000_0000), (0x9_1000_0000, 0xA_0000_0000)]


@pytest.mark.parametrize("version", WITH_REGIONS)
def test_board_dom0_without_iommu_avoids_reserved_static_and_shared_memory(board, version):
    result = compute(board, version, iommu=False, dom0_ram=(Range(0xC000_0000, 512 * MiB),),
                     grant_table=Range(0x8020_0000, 0x40000))
    group = "4.16" if version == "4.16" else "4.17" if version in ("4.17", "4.18") else "4.19"
    assert spans(result) == aligned_ends(BOARD_FREE[group] + BANK2_FREE, version)


# Board, dom0less. domU1: 512 MiB, so bank 0 holds RAM up to 0x60000000; its
# 32 MiB of shared memory sits at guest 0x81000000.

@pytest.mark.parametrize("version", ("4.17", "4.18"))
def test_domu_regions_are_the_bank_tails_even_over_shared_memory_in_4_17_and_4_18(board, version):
    result = compute(board, version, domain="domU1")
    assert result.finder == "find_domU_holes"
    assert spans(result) == [(0x6000_0000, 0xA000_0000), (0x2_0000_0000, 0xFE_0000_0000)]


@pytest.mark.parametrize("version", ("4.19", "4.20"))
def test_domu_shared_memory_is_cut_out_from_4_19_and_every_tail_loses_2_mib(board, version):
    assert spans(compute(board, version, domain="domU1")) == [
        (0x6000_0000, 0x2100_0000 - 2 * MiB), (0x8300_0000, 0x7D00_0000 - 2 * MiB),
        (0x2_0000_0000, 0xFE_0000_0000 - 2 * MiB)]


@pytest.mark.parametrize("version", FIXED)
def test_domu_regions_from_4_21_skip_shared_memory(board, version):
    assert spans(compute(board, version, domain="domU1")) == [
        (0x6000_0000, 0x2100_0000), (0x8300_0000, 0x7D00_0000), (0x2_0000_0000, 0xFE_0000_0000)]


def test_xen_reg_ranges_of_the_passthrough_dt_are_cut_out_from_4_21(board, passthrough):
    options = {"domain": "domU1", "passthrough": passthrough.read_bytes(), "passthrough_name": "p.dtb"}
    assert spans(compute(board, "4.21", **options)) == [
        (0x6000_0000, 0x2100_0000), (0x8300_0000, 0x0D00_0000), (0x9020_0000, 0x6FE0_0000),
        (0x2_0000_0000, 0xFE_0000_0000)]
    assert spans(compute(board, "4.20", **options)) == spans(compute(board, "4.20", domain="domU1"))


def test_a_domu_without_xen_enhanced_gets_no_hypervisor_node(board):
    result = compute(board, "4.21", domain="domU2")
    assert result.regions == () and not result.domain.hypervisor_node
    assert "needs xen,enhanced" in result.warnings[0]


def test_dom0less_domains_get_no_hypervisor_node_in_4_16(board):
    result = compute(board, "4.16", domain="domU1")
    assert result.regions == () and "came in 4.17" in result.warnings[0]


# domU3 is direct-mapped without a passthrough DT, so without IOMMU: free host
# RAM minus its own static memory; dom0's RAM is not taken out (Xen does not
# know about it there), /memreserve/ from 4.19 splits 0xc0000000-0x100000000.

DIRECT = {
    "4.17": [(0x8000_0000, 0xA000_0000), (0xA300_0000, 0xBC00_0000), (0xC000_0000, 0x1_0000_0000)],
    "4.19": [(0x8000_0000, 0xA000_0000), (0xA300_0000, 0xBC00_0000), (0xC000_0000, 0xE000_0000),
             (0xE020_0000, 0x1_0000_0000)],
}


@pytest.mark.parametrize("version", WITH_REGIONS[1:])
def test_a_direct_mapped_domu_uses_the_host_layout(board, version):
    result = compute(board, version, domain="domU3")
    group = "4.17" if version in ("4.17", "4.18") else "4.19"
    assert result.domain.host_layout and not result.domain.iommu
    assert spans(result) == aligned_ends(DIRECT[group] + BANK2_FREE, version)


# ---------------------------------------------------------------------------
# Single rules, on small trees.

def tree_of(body: str, memreserve: str = "") -> Tree:
    dts = f"/dts-v1/;\n{memreserve}\n/ {{ #address-cells = <2>; #size-cells = <2>;\n{body}\n}};"
    return xen_dt.read_host(dts_to_dtb(dts), "t.dtb")


RAM_1G = 'memory@40000000 { device_type = "memory"; reg = <0x0 0x40000000 0x0 0x40000000>; };'


def holes(tree, version, ipa=40, **options):
    return spans(hostregions.compute(tree, layouts.load(version), ipa,
                                     domains.DomainOptions(iommu=True, **options)))


def test_at_most_128_regions_in_4_16_and_256_later():
    # 300 one-page devices 128 MiB apart leave 300 holes of 128 MiB - 4 KiB.
    bases = [0x8000_0000 + i * 0x800_0000 for i in range(300)]
    regs = " ".join(f"{a >> 32:#x} {a & 0xFFFF_FFFF:#x} 0x0 0x1000" for a in bases)
    tree = tree_of(f"{RAM_1G} dev@80000000 {{ reg = <{regs}>; }};")
    assert len(holes(tree, "4.16", ipa=44)) == 128
    assert len(holes(tree, "4.17", ipa=44)) == 256


def test_regions_start_on_2_mib_and_keep_only_whole_2_mib():
    tree = tree_of(f'{RAM_1G} dev@80001000 {{ reg = <0x0 0x80001000 0x0 0x1000>; }};'
                   ' dev@85123000 { reg = <0x0 0x85123000 0x0 0x1000>; };')
    # below RAM; 0x80000000-0x80001000 (too small); 0x80002000-0x85123000; 0x85124000-4 GiB
    assert holes(tree, "4.21", ipa=32) == [(0, 0x4000_0000), (0x8020_0000, 0x4E0_0000),
                                           (0x8520_0000, 0x7AE0_0000)]


def test_a_region_below_64_mib_is_dropped():
    tree = tree_of(f'{RAM_1G} dev@83e00000 {{ reg = <0x0 0x83e00000 0x0 0x1000>; }};')
    # 0x80000000-0x83e00000 is 62 MiB
    assert holes(tree, "4.21", ipa=32) == [(0, 0x4000_0000), (0x8400_0000, 0x7C00_0000)]


def test_the_2_mib_shortfall_needs_a_2_mib_aligned_end():
    tree = tree_of(f'{RAM_1G} dev@88001000 {{ reg = <0x0 0x88001000 0x0 0x1000>; }};'
                   ' dev@90000000 { reg = <0x0 0x90000000 0x0 0x1000>; };')
    # 0x80000000-0x88001000: end not aligned; 0x88002000-0x90000000: aligned
    assert holes(tree, "4.19", ipa=32)[1:3] == [(0x8000_0000, 0x800_0000), (0x8820_0000, 0x7C0_0000)]
    assert holes(tree, "4.21", ipa=32)[1:3] == [(0x8000_0000, 0x800_0000), (0x8820_0000, 0x7E0_0000)]


def test_memreserve_entries_are_reserved_memory_from_4_19():
    tree = tree_of(RAM_1G, memreserve="/memreserve/ 0x60000000 0x1000;")
    # The grant table is left unknown (assumed outside free RAM), as Xen's
    # image is: then only dom0's RAM and the memreserve entry are taken.
    options = {"iommu": False, "dom0_ram": (Range(0x4000_0000, 256 * MiB),)}
    def free(v):
        return spans(hostregions.compute(tree, layouts.load(v), 40, domains.DomainOptions(**options)))
    assert free("4.18") == [(0x5000_0000, 0x3000_0000 - 2 * MiB)]
    assert free("4.19") == [(0x5000_0000, 0x1000_0000 - 2 * MiB), (0x6020_0000, 0x1FE0_0000 - 2 * MiB)]


def test_from_4_20_host_ram_is_a_top_level_node_with_device_type_memory():
    body = ('memory@40000000 { device_type = "memory"; reg = <0x0 0x40000000 0x0 0x40000000>; };'
            ' memory@100000000 { reg = <0x1 0x0 0x0 0x40000000>; };')
    def info(v):
        return [b.base for b in bootinfo.boot_info(tree_of(body), layouts.load(v).host).ram]
    assert info("4.19") == [0x4000_0000, 0x1_0000_0000]
    assert info("4.20") == [0x4000_0000]


def test_disabled_memory_nodes_count_until_4_18():
    body = (RAM_1G + ' memory@100000000 { device_type = "memory"; status = "disabled";'
            ' reg = <0x1 0x0 0x0 0x40000000>; };')
    def info(v):
        return len(bootinfo.boot_info(tree_of(body), layouts.load(v).host).ram)
    assert (info("4.18"), info("4.19")) == (2, 1)


def test_from_4_18_a_ram_banks_partial_last_page_counts_as_free():
    # RAM ends 0x800 bytes into a page, 2 KiB short of 0x44200000.
    tree = tree_of('memory@40000000 { device_type = "memory"; reg = <0x0 0x40000000 0x0 0x41ff800>; };')
    options = domains.DomainOptions(iommu=False, dom0_ram=(Range(0x4000_0000, 0x1000),))
    def free(v):
        return spans(hostregions.compute(tree, layouts.load(v), 40, options))
    assert free("4.17") == []                            # bytes: 0x40200000-0x441ff800, 62 MiB
    assert free("4.21") == [(0x4020_0000, 0x400_0000)]   # pages: up to 0x44200000, 64 MiB


UNTRANSLATABLE = (f'{RAM_1G} bus {{ #address-cells = <1>; #size-cells = <1>;'
                  ' ranges = <0x0 0x0 0x10000000 0x1000000>; dev@2000000 { reg = <0x2000000 0x1000>; }; };')


def test_an_untranslatable_reg_means_xen_builds_no_dom0():
    # Was: "0 regions" and a warning. handle_device (device.c @
    # RELEASE-4.21.0) fails on dt_device_get_paddr first: 0x2000000 lies
    # outside the bus's one ranges entry [0, 0x1000000), so
    # __dt_translate_address gives DT_BAD_ADDR, -EINVAL (-22), and
    # start_xen panics.
    result = hostregions.compute(tree_of(UNTRANSLATABLE), layouts.load("4.21"), 40,
                                 domains.DomainOptions(iommu=True))
    assert result.regions == () and result.finder == ""
    assert str(result.failure) == (
        "/bus/dev@2000000: handle_device: \"Unable to retrieve address 0 for /bus/dev@2000000\""
        " (/bus/dev@2000000 address 0 (0x2000000) does not translate to a CPU address through its"
        " parents' ranges), then panic \"Could not set up d0 guest OS (rc = -22)\" (no release"
        " builds dom0 on this DT)")


def test_an_untranslatable_reg_costs_a_direct_mapped_domu_its_regions_only():
    # dom0less domUs run no handle_device on host nodes: find_memory_holes
    # fails on the same address and make_hypervisor_node only warns.
    body = (UNTRANSLATABLE + ' chosen { #address-cells = <2>; #size-cells = <2>;'
            ' domU { compatible = "xen,domain"; memory = <0x0 0x40000>; cpus = <1>; xen,enhanced;'
            ' passthrough = "enabled"; direct-map; xen,static-mem = <0x0 0x50000000 0x0 0x10000000>; }; };')
    result = hostregions.compute(tree_of(body), layouts.load("4.21"), 40,
                                 domains.DomainOptions(domain="domU", iommu=True))
    assert result.failure is None and result.regions == ()
    assert "/bus/dev@2000000 address 0 (0x2000000) does not translate" in result.warnings[0]


def test_nodes_under_a_bus_without_ranges_are_not_addresses():
    tree = tree_of(f'{RAM_1G} i2c {{ #address-cells = <1>; #size-cells = <1>;'
                   ' dev@90000000 { reg = <0x90000000 0x1000>; }; };')
    assert holes(tree, "4.21", ipa=32)[1] == (0x8000_0000, 0x8000_0000)


def test_a_direct_map_domain_gets_an_iommu_from_any_later_partial_dt_module():
    # create_domUs' dt_find_compatible_node(node, ...) searches all later nodes.
    body = (RAM_1G + ' smmu { compatible = "arm,mmu-500"; #iommu-cells = <1>; };'
            ' chosen { #address-cells = <2>; #size-cells = <2>;'
            ' domA { compatible = "xen,domain"; memory = <0x0 0x40000>; cpus = <1>; xen,enhanced;'
            '   direct-map; xen,static-mem = <0x0 0x50000000 0x0 0x10000000>; };'
            ' domB { compatible = "xen,domain"; memory = <0x0 0x40000>; cpus = <1>;'
            '   module@0 { compatible = "multiboot,device-tree", "multiboot,module"; reg = <0x0 0x0 0x0 0x1000>; }; }; };')
    domain = hostregions.dom0less(tree_of(body), layouts.load("4.21"), "domA")
    assert domain.iommu and domain.host_layout


def test_legacy_xen_enhanced_is_known_from_4_21():
    body = (RAM_1G + ' chosen { domU { compatible = "xen,domain"; memory = <0x0 0x40000>;'
            ' cpus = <1>; xen,enhanced = "legacy"; }; };')
    def node(v):
        return hostregions.dom0less(tree_of(body), layouts.load(v), "domU").hypervisor_node
    assert (node("4.20"), node("4.21")) == (False, True)


def test_passthrough_enabled_gives_a_domu_the_iommu_from_4_19():
    body = (RAM_1G + ' smmu { compatible = "arm,mmu-500"; #iommu-cells = <1>; }; chosen { #address-cells = <2>; #size-cells = <2>;'
            ' domU { compatible = "xen,domain"; memory = <0x0 0x40000>; cpus = <1>; xen,enhanced;'
            ' passthrough = "enabled"; direct-map; xen,static-mem = <0x0 0x50000000 0x0 0x10000000>; }; };')
    def iommu(v):
        return hostregions.dom0less(tree_of(body), layouts.load(v), "domU").iommu
    assert (iommu("4.18"), iommu("4.19")) == (False, True)


HWDOM = (RAM_1G + ' smmu { compatible = "arm,mmu-500"; #iommu-cells = <1>; }; chosen { #address-cells = <2>; #size-cells = <2>;'
         ' hwdom { compatible = "xen,domain"; memory = <0x0 0x40000>; cpus = <1>; capabilities = <0x2>; }; };')


def test_a_dom0less_hardware_domain_is_built_like_dom0_from_4_21():
    result = hostregions.compute(tree_of(HWDOM), layouts.load("4.21"), 32,
                                 domains.DomainOptions(domain="hwdom"))
    assert result.domain.hardware and result.domain.iommu and result.finder == "find_memory_holes"
    assert spans(result) == [(0, 0x4000_0000), (0x8000_0000, 0x8000_0000)]
    assert not hostregions.dom0less(tree_of(HWDOM), layouts.load("4.20"), "hwdom").hypervisor_node


def test_a_hardware_domain_neither_direct_mapped_nor_behind_an_iommu_is_refused():
    with pytest.raises(XenFailure, match="not direct-mapped needs an IOMMU"):
        hostregions.dom0less(tree_of(HWDOM), layouts.load("4.21"), "hwdom", iommu=False)


def test_xen_reg_is_read_in_its_parents_cells_which_default_to_2_and_1():
    partial = dts_to_dtb(
        '/dts-v1/; / { #address-cells = <1>; #size-cells = <1>; passthrough {'
        ' xen,reg = <0x0 0x1c000000 0x1000 0x0 0x90000000>;'  # /passthrough itself: 2+1 cells
        ' dev { xen,reg = <0x0 0x1d000000 0x2000 0x0 0xa0000000>; }; }; };')  # not the root's 1+1
    assert domains.passthrough_xen_reg(partial, "p.dtb") == (Range(0x9000_0000, 0x1000),
                                                                 Range(0xA000_0000, 0x2000))


def test_direct_map_without_static_memory_is_refused():
    body = (RAM_1G + ' chosen { domU { compatible = "xen,domain"; memory = <0x0 0x40000>;'
            ' cpus = <1>; direct-map; }; };')
    with pytest.raises(XenFailure) as e:
        hostregions.dom0less(tree_of(body), layouts.load("4.21"), "domU")
    assert str(e.value) == ("/chosen/domU: direct-map without xen,static-mem (Xen panics:"
                            " \"direct-map is not valid for domain … without static allocation\")")


def test_an_unknown_domain_lists_the_known_ones(board):
    with pytest.raises(ConfigError, match=r"no dom0less domain 'domU9' .* found: domU1, domU2, domU3"):
        compute(board, "4.21", domain="domU9")


# ---------------------------------------------------------------------------
# The command line.

def test_table_lists_the_regions_of_the_qemu_map(qemu, capsysbinary):
    # --iommu: a Xen built with ARM_SMMU_V3 (a default build has none).
    code, out, _ = run("host-regions", "--host-dtb", str(qemu["smmuv3-512m"]), "--xen", "4.21",
                       "--iommu", capsysbinary=capsysbinary)
    lines = out.decode().splitlines()
    assert code == 0
    assert lines[0] == f"Xen 4.21, dom0 on {qemu['smmuv3-512m']}: IPA 40 bits, IOMMU on, find_memory_holes"
    assert lines[3] == "  1    0x000000000a200000  0x0000000005e00000  0x0000000010000000  94 MiB"


def test_json_gives_the_regions_and_the_facts_behind_them(board, capsysbinary):
    code, out, _ = run("host-regions", "--host-dtb", str(board), "--xen", "4.19", "--domain", "domU1",
                       "--format", "json", capsysbinary=capsysbinary)
    data = json.loads(out)
    host = data["hosts"][0]
    assert code == 0 and host["finder"] == "find_domU_holes" and host["grant_table"] == {
        "base": 0x3800_0000, "size": 0x100_0000}
    assert host["extended_regions"] == data["extended_regions"]
    assert host["ram"] == [{"base": 0x4000_0000, "size": 512 * MiB}, {"base": 0x2_0000_0000, "size": 0}]
    assert data["extended_regions"][0] == {"base": 0x6000_0000, "size": 0x20E0_0000}


def test_dts_is_the_hypervisor_node_xen_writes_for_dom0(qemu, capsysbinary):
    code, out, err = run("host-regions", "--host-dtb", str(qemu["gicv3-2g"]), "--xen", "4.21",
                         "--no-iommu", "--dom0-mem", "0x48000000:512M", "--gnttab", "0x40200000:256K",
                         "--format", "dts", capsysbinary=capsysbinary)
    assert code == 0, err
    assert out.decode() == (
        "/dts-v1/;\n\n/ {\n\t#address-cells = <0x02>;\n\t#size-cells = <0x02>;\n\n"
        "\thypervisor {\n\t\tcompatible = \"xen,xen-4.21\\0xen,xen\";\n"
        "\t\treg = <0x00 0x40200000 0x00 0x40000 0x00 0x40400000 0x00 0x7c00000"
        " 0x00 0x68000000 0x00 0x58000000>;\n"
        "\t\tinterrupts = <0x01 0x00 0xf08>;\n\t\tinterrupt-parent = <0x8002>;\n\t};\n};\n")


def test_dtb_output_is_what_dtc_reads_as_the_dts_output(board, capsysbinary):
    args = ("host-regions", "--host-dtb", str(board), "--domain", "domU1")
    _, dts, _ = run(*args, "--format", "dts", capsysbinary=capsysbinary)
    _, dtb, _ = run(*args, "--format", "dtb", "-o", "-", capsysbinary=capsysbinary)
    assert dtb_to_dts(dtb) == dts.decode()


def test_a_dom0_dt_gives_dom0s_banks_and_grant_table(qemu, tmp_path, capsysbinary):
    dom0 = tmp_path / "dom0.dtb"
    dom0.write_bytes(dts_to_dtb(
        '/dts-v1/; / { #address-cells = <2>; #size-cells = <2>;'
        ' memory@48000000 { device_type = "memory"; reg = <0x0 0x48000000 0x0 0x20000000>; };'
        ' hypervisor { compatible = "xen,xen-4.21", "xen,xen"; reg = <0x0 0x40200000 0x0 0x40000>; }; };'))
    code, out, _ = run("host-regions", "--host-dtb", str(qemu["gicv3-2g"]), "--no-iommu",
                       "--dom0-dtb", str(dom0), "--format", "json", capsysbinary=capsysbinary)
    data = json.loads(out)
    assert code == 0 and data["hosts"][0]["grant_table"] == {"base": 0x4020_0000, "size": 0x40000}
    assert [r["base"] for r in data["extended_regions"]] == [0x4040_0000, 0x6800_0000]


def test_warnings_go_to_stderr(board, capsysbinary):
    code, _, err = run("host-regions", "--host-dtb", str(board), "--domain", "domU2",
                       capsysbinary=capsysbinary)
    assert code == 0 and err.startswith("xendt: warning: domU2: no /hypervisor node")


BAD_DTS = {
    # Was "no host RAM": Xen boots such boards once firmware writes /memory.
    "no memory": ("/dts-v1/; / { #address-cells = <2>; #size-cells = <2>; };",
                  "t.dtb: no RAM bank in the DT (firmware usually writes /memory): give --host-ram"
                  " BASE:SIZE[,…] (the banks U-Boot writes) or --uefi --host-ram BASE:SIZE[,…]"
                  " (the EFI memory map's RAM)"),
    "three address cells": (
        '/dts-v1/; / { #address-cells = <3>; #size-cells = <2>;'
        ' memory@0 { device_type = "memory"; reg = <0x0 0x0 0x40000000 0x0 0x40000000>; }; };',
        "t.dtb: expected / #address-cells and #size-cells of 1 or 2, got 3 and 2"),
    "reg not whole pairs": (
        '/dts-v1/; / { #address-cells = <2>; #size-cells = <2>;'
        ' memory@0 { device_type = "memory"; reg = <0x0 0x0 0x40000000 0x0 0x40000000>; }; };',
        "expected property 'reg' on /memory@0 in t.dtb to hold pairs of 2+2 cells, got 5 cells"),
}


@pytest.mark.parametrize("dts,message", BAD_DTS.values(), ids=BAD_DTS.keys())
def test_bad_host_dtbs_are_one_line_and_status_2(dts, message, tmp_path, capsysbinary):
    path = tmp_path / "t.dtb"
    path.write_bytes(dts_to_dtb(dts))
    code, _, err = run("host-regions", "--host-dtb", str(path), capsysbinary=capsysbinary)
    assert code == 2 and err.startswith("xendt: ") and err.count("\n") == 1
    assert message.replace("t.dtb", str(path)) in err


def test_a_truncated_host_dtb_is_one_line_and_status_2(qemu, tmp_path, capsysbinary):
    path = tmp_path / "cut.dtb"
    path.write_bytes(qemu["gicv3-2g"].read_bytes()[:3000])
    code, _, err = run("host-regions", "--host-dtb", str(path), capsysbinary=capsysbinary)
    assert code == 2 and err == f"xendt: {path}: truncated: header says 1048576 bytes, file has 3000\n"


BAD_ARGS = {
    "missing file": (["--host-dtb", "/nonexistent.dtb"], "/nonexistent.dtb: cannot read: No such file or directory"),
    "dom0 banks twice": (["--dom0-mem", "0x0:1M", "--dom0-dtb", "x"], "give one"),
    "bad banks": (["--no-iommu", "--dom0-mem", "0x48000000"], "--dom0-mem: '0x48000000' is not BASE:SIZE"),
    "pa and ipa": (["--pa-bits", "40", "--ipa-bits", "40"], "mutually exclusive"),
    "unknown version": (["--xen", "4.13"], "unknown Xen version '4.13'"),
}


@pytest.mark.parametrize("args,message", BAD_ARGS.values(), ids=BAD_ARGS.keys())
def test_bad_arguments_are_one_line_and_status_2(args, message, qemu, capsysbinary):
    if "--host-dtb" not in args:
        args = ["--host-dtb", str(qemu["gicv3-2g"]), *args]
    code, _, err = run("host-regions", *args, capsysbinary=capsysbinary)
    assert code == 2 and err.count("\n") == 1 and message in err, err


# ---------------------------------------------------------------------------
# The per-version switches are data: layouts/*.toml [host].

ALL = ("4.14", "4.15", "4.16", "4.17", "4.18", "4.19", "4.20", "4.21", "4.22")


def rules(field: str) -> list:
    return [getattr(layouts.load(v).host, field) for v in ALL]


def test_each_versions_host_rules_match_xens_code():
    assert rules("dom0_regions") == [False, False] + [True] * 7
    assert rules("domu_holes") == ["none"] * 3 + ["banks"] * 2 + ["banks-then-shm"] * 2 + ["rangeset"] * 2
    assert rules("max") == [128] * 3 + [256] * 6
    assert rules("rangeset_unit") == ["byte"] * 4 + ["page"] * 5
    assert rules("end_bug") == [False] * 4 + [True] * 3 + [False] * 2
    assert rules("memreserve") == rules("status_check") == [False] * 5 + [True] * 4
    assert rules("memory_nodes") == ["name"] * 6 + ["name-depth-1-device-type"] * 3
    assert rules("ram_mapping") == ["xenheap"] * 3 + ["directmap"] * 6
    assert rules("scan_error") == ["ends-scan"] * 5 + ["panic"] * 4
    assert rules("static_shm") == ["none"] * 3 + ["reserved"] * 2 + ["separate"] * 4
    assert rules("xen_reg") == [False] * 7 + [True] * 2


def host_table_changed(tmp_path, old: str, new: str):
    from pathlib import Path

    text = (Path(layouts.layout_dir()) / "4.21.toml").read_text()
    assert old in text
    path = tmp_path / "4.21.toml"
    path.write_text(text.replace(old, new))
    return path


def test_an_unknown_host_rule_is_refused(tmp_path):
    from xendt.errors import LayoutError

    path = host_table_changed(tmp_path, "xen-reg = true", "xen-reg = true\nxen-regs = true")
    with pytest.raises(LayoutError, match=r"4.21.toml: unknown key 'xen-regs' in \[host\]"):
        layouts.load_file(path)


def test_a_host_rule_outside_its_choices_is_refused(tmp_path):
    from xendt.errors import LayoutError

    path = host_table_changed(tmp_path, "[host]\n", '[host]\nrangeset-unit = "frame"\n')
    with pytest.raises(LayoutError, match=r"\[host\].rangeset-unit is 'frame', expected one of byte, page"):
        layouts.load_file(path)


def test_the_readme_example_is_what_the_command_prints(qemu, tmp_path, monkeypatch, capsysbinary):
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## Before you boot Xen on a new board", 1)[1]
    command, printed = section.split("```sh\n", 1)[1].split("```\n```\n", 1)
    assert "-m 2G -machine virt,gic-version=3,dumpdtb=virt.dtb" in command  # the gicv3-2g shape
    args = command.strip().splitlines()[-1].split()[1:]
    (tmp_path / "virt.dtb").write_bytes(qemu["gicv3-2g"].read_bytes())
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(*args, capsysbinary=capsysbinary)
    assert code == 0 and out.decode() == printed.split("```", 1)[0]


def test_a_mutated_host_dtb_gives_regions_or_one_clean_error():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from conftest_host import BOARD_DTS
    from xendt.errors import XendtError

    base = dts_to_dtb(BOARD_DTS)
    options = (domains.DomainOptions(iommu=True), domains.DomainOptions(domain="domU1"),
               domains.DomainOptions(domain="domU3"),
               domains.DomainOptions(iommu=False, dom0_ram=(Range(0xC000_0000, 16 * MiB),)))

    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.tuples(st.integers(40, len(base) - 1), st.integers(0, 255)), min_size=1, max_size=4))
    def check(changes):
        blob = bytearray(base)
        for offset, value in changes:
            blob[offset] = value
        try:
            tree = xen_dt.read_host(bytes(blob), "f.dtb")
            for version in ("4.19", "4.21"):
                for option in options:
                    with contextlib.suppress(XendtError):
                        hostregions.compute(tree, layouts.load(version), 40, option)
        except XendtError:
            pass

    check()
