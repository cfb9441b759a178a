"""Many of one thing: hundreds of memory banks, reserved-memory nodes,
/memreserve/ entries and dom0less domains give the right answer, and more
banks than Xen holds (NR_MEM_BANKS, the layout's [host] max) do what Xen
does with them (xendt.host.banks). How fast is benchmarks/bench_scale.py's
business; these tests only say what the answer is, on inputs small enough
to run at once.
"""

from __future__ import annotations

import pytest

from conftest import dts_to_dtb
from xendt.fdt.read import parse
from xendt.host import firmware
from xendt.hostregions import domains
from xendt.hostregions import regions as hostregions
from xendt.inspect.addressmap import address_map
from xendt.inspect.check import check
from xendt.inspect.show import map_text
from xendt.ranges import Range
from xendt.xen import layouts

GiB = 1 << 30
MiB = 1 << 20


def compute(dts: str, xen: str, **options):
    layout = layouts.load(xen)
    fw = firmware.Firmware()
    tree = firmware.prepare(dts_to_dtb(dts), "t.dtb", fw, layout.host)
    return hostregions.compute(tree, layout, 40, domains.DomainOptions(firmware=fw, **options))


def cells(*numbers: int) -> str:
    return " ".join(f"0x{n >> 32:x} 0x{n & 0xFFFF_FFFF:x}" for n in numbers)


def board(banks: int = 1, reserved: int = 0, memreserve: int = 0, after: str = "") -> str:
    """A host with `banks` 64 MiB RAM banks every 128 MiB from 1 GiB in one
    memory node, `reserved` 4 KiB /reserved-memory nodes and `memreserve`
    4 KiB /memreserve/ entries (each every 8 KiB from 1 GiB), then `after`."""
    lines = ["/dts-v1/;"]
    lines += [f"/memreserve/ {GiB + i * 0x2000:#x} 0x1000;" for i in range(memreserve)]
    reg = " ".join(cells(GiB + i * 128 * MiB, 64 * MiB) for i in range(banks))
    lines += ["/ { #address-cells = <2>; #size-cells = <2>;",
              f'  memory@40000000 {{ device_type = "memory"; reg = <{reg}>; }};']
    if reserved:
        lines.append("  reserved-memory { #address-cells = <2>; #size-cells = <2>; ranges;")
        lines += [f"    buf@{GiB + i * 0x2000:x} {{ reg = <{cells(GiB + i * 0x2000, 0x1000)}>; }};"
                  for i in range(reserved)]
        lines.append("  };")
    lines += [after, "};"]
    return "\n".join(lines)


# --- NR_MEM_BANKS ---------------------------------------------------------------

def test_more_ram_banks_than_nr_mem_banks_panic_from_4_19():
    failure = compute(board(banks=300), "4.19", iommu=True).failure
    assert str(failure) == (
        "/memory@40000000: boot_fdt_info: its reg goes past the 256 RAM banks Xen holds"
        " (NR_MEM_BANKS): -ENOSPC, \"fdt: node `memory@40000000': parsing failed\" and panic"
        " \"Early FDT parsing failed (-28)\"")


def test_before_4_19_xen_keeps_the_first_nr_mem_banks_and_stops_scanning():
    # The scan stops at the memory node: the reserved-memory node after it
    # is never read, so bank 1 (0x48000000, 64 MiB) stays free RAM whole.
    after = ('  reserved-memory { #address-cells = <2>; #size-cells = <2>; ranges;'
             f' fw@48000000 {{ reg = <{cells(0x4800_0000, 0x100_0000)}>; }}; }};')

    def free(banks: int):
        return compute(board(banks=banks, after=after), "4.17", iommu=False,
                       dom0_ram=(hostregions.Range(GiB, 64 * MiB),))

    result = free(300)
    assert result.failure is None
    assert result.warnings[0] == (
        "/memory@40000000: device_tree_for_each_node: its reg goes past the 256 RAM banks Xen"
        " holds (NR_MEM_BANKS): -ENOSPC, \"fdt: node `memory@40000000': parsing failed\"; the"
        " early scan stops there, so Xen boots with the banks read so far and never reads the"
        " nodes after it")
    regions = [(r.base, r.size) for r in result.regions]
    assert (0x4800_0000, 64 * MiB) in regions and len(regions) == 255  # banks 1 to 255
    assert (0x4800_0000, 64 * MiB) not in [(r.base, r.size) for r in free(256).regions]


def test_as_many_ram_banks_as_nr_mem_banks_are_all_kept():
    result = compute(board(banks=128), "4.16", iommu=True)
    assert result.failure is None and not any("NR_MEM_BANKS" in w for w in result.warnings)


@pytest.mark.parametrize("xen,limit", [("4.16", 128), ("4.18", 256), ("4.21", 256)])
def test_more_reserved_memory_nodes_than_nr_mem_banks_panic(xen, limit):
    failure = compute(board(reserved=limit + 1), xen, iommu=True).failure
    assert str(failure) == (
        f"/reserved-memory/buf@{GiB + limit * 0x2000:x}: process_reserved_memory_node: more than"
        f" the {limit} reserved-memory banks Xen holds (NR_MEM_BANKS): panic \"Max number of"
        f" supported reserved-memory regions reached.\"")


def test_more_memreserve_entries_than_nr_mem_banks_panic_from_4_19():
    dts = board(memreserve=257)
    assert str(compute(dts, "4.19", iommu=True).failure) == (
        "/memreserve/: boot_fdt_info: 257 /memreserve/ entries, more than the 256 reserved-memory"
        " banks Xen holds (NR_MEM_BANKS): panic \"Cannot allocate reserved memory bank\"")
    # Before 4.19 /memreserve/ is not reserved memory: nothing to hold.
    assert compute(dts, "4.18", iommu=True).failure is None


def test_memreserve_entries_fill_the_reserved_array_before_reserved_memory_nodes():
    # 4.19+: 200 entries and 57 reserved-memory banks are 257.
    failure = compute(board(reserved=57, memreserve=200), "4.21", iommu=True).failure
    assert failure is not None and failure.node == f"/reserved-memory/buf@{GiB + 56 * 0x2000:x}"


# --- check and show on many banks ---------------------------------------------------

GUEST_HEAD = """/dts-v1/;
/ { compatible = "xen,xenvm-4.21", "xen,xenvm"; #address-cells = <2>; #size-cells = <2>;
"""


def test_check_finds_the_one_overlap_among_300_memory_banks():
    starts = [0x2_0000_0000 + i * 128 * MiB for i in range(300)] + [0x2_0000_0000 + 150 * 128 * MiB]
    reg = " ".join(cells(s, 64 * MiB) for s in starts)
    dts = GUEST_HEAD + f'  memory@200000000 {{ device_type = "memory"; reg = <{reg}>; }};\n}};'
    found = [str(f) for f in check(parse(dts_to_dtb(dts), "g.dtb")).findings
             if "[memory]" in str(f)]
    assert found == [
        "error: /memory@200000000:reg: RAM [0x6b0000000, 0x6b4000000) overlaps RAM"
        " [0x6b0000000, 0x6b4000000) (/memory@200000000 reg[150]): libxl writes one node per RAM"
        " bank, never overlapping; Linux merges them and cannot tell which part Xen populated"
        " [memory]"]


def test_show_lists_300_memreserve_entries_inside_the_ram_bank():
    lines = map_text(address_map(parse(dts_to_dtb(board(memreserve=300)), "b.dtb"))).splitlines()
    assert lines[4:8] == [
        "  0x40000000  0x43ffffff  64 MiB  RAM                   /memory@40000000 reg[0]",
        "  0x40000000  0x40000fff   4 KiB    /memreserve/ entry  /memreserve/[0]",
        "  0x40002000  0x40002fff   4 KiB    /memreserve/ entry  /memreserve/[1]",
        "  0x40004000  0x40004fff   4 KiB    /memreserve/ entry  /memreserve/[2]"]
    assert lines[-1] == "  0x40256000  0x40256fff   4 KiB    /memreserve/ entry  /memreserve/[299]"
    assert len(lines) == 4 + 1 + 300


# --- many dom0less domains --------------------------------------------------------

def test_the_fortieth_of_forty_domains_is_found_and_built():
    domus = "\n".join(
        f'    domU{i} {{ compatible = "xen,domain"; #address-cells = <2>; #size-cells = <2>;'
        f' memory = <0x0 {0x4000 * (i + 1):#x}>; cpus = <1>; }};' for i in range(40))
    dts = board(after="  chosen { #address-cells = <2>; #size-cells = <2>;\n" + domus + "\n  };")
    layout = layouts.load("4.21")
    tree = firmware.prepare(dts_to_dtb(dts), "t.dtb", firmware.Firmware(), layout.host)
    # domU39: 40 * 0x4000 KiB = 640 MiB, all in guest bank 0 (GUEST_RAM0_BASE,
    # xen/include/public/arch-arm.h @ RELEASE-4.21.0); bank 1 stays empty.
    assert domains.dom0less(tree, layout, "domU39", iommu=True).ram == (
        Range(0x4000_0000, 640 << 20), Range(0x2_0000_0000, 0))


# --- the overlap sweep ------------------------------------------------------------

def test_overlapping_gives_every_overlapping_pair_in_index_order():
    from xendt.ranges import Range, overlapping, overlapping_within

    a = [Range(10, 10), Range(0, 5), Range(12, 0), Range(4, 20)]
    b = [Range(15, 1), Range(0, 1), Range(30, 5)]
    # Range(12, 0) is empty: it overlaps nothing, as Range.overlaps says.
    assert overlapping(a, b) == [(0, 0), (1, 1), (3, 0)]
    assert overlapping_within(a) == [(0, 3), (1, 3)]


# --- MAX_MODULES -------------------------------------------------------------------

def with_kernels(count: int) -> str:
    """A board with `count` dom0less domains, each with its own kernel module."""
    domus = "\n".join(
        f'    domU{i} {{ compatible = "xen,domain"; #address-cells = <2>; #size-cells = <2>;'
        f' memory = <0x0 0x4000>; cpus = <1>;'
        f' module@{0x8000_0000 + i * 0x100_0000:x} {{'
        f' compatible = "multiboot,kernel", "multiboot,module";'
        f' reg = <{cells(0x8000_0000 + i * 0x100_0000, 0x80_0000)}>; }}; }};' for i in range(count))
    return board(after="  chosen { #address-cells = <2>; #size-cells = <2>;\n" + domus + "\n  };")


def test_xen_registers_30_modules_of_the_dt_and_the_31st_domain_has_no_kernel():
    # MAX_MODULES is 32: Xen's own image and the host DTB take two.
    dts = with_kernels(31)
    assert compute(dts, "4.21", iommu=True, domain="domU29").failure is None
    assert str(compute(dts, "4.21", iommu=True, domain="domU30").failure) == (
        "/chosen/domU30/module@9e000000: Xen 4.21.0's early scan drops the kernel module (\"Ignoring"
        " Kernel boot module at 000000009e000000-000000009e800000 (too many)\"): kernel_probe prints"
        " \"Missing kernel boot module?\", then panic \"Could not set up domain domU30 (rc = -2)\"")


def test_a_module_shared_by_two_domains_takes_one_slot():
    dts = with_kernels(31).replace("module@9e000000", "module@80000000").replace(
        cells(0x9E00_0000, 0x80_0000), cells(0x8000_0000, 0x80_0000))
    assert compute(dts, "4.21", iommu=True, domain="domU30").failure is None
