"""dom0's RAM banks as Xen allocates them at boot, predicted.

Dom0 is direct-mapped (1:1): allocate_memory_11 (``xen/arch/arm/
domain_build.c`` @ RELEASE-4.14.0 … RELEASE-4.22.0, the same algorithm in
each) asks the buddy allocator (xendt.dom0.heap) for the largest block it
can get below 2**bits for bits = order … 32 (the lowest such block becomes
bank 0, at least min(dom0_mem, 128 MiB)), then for more blocks below 4 GiB,
then anywhere, merging each into a bank (insert_11_bank).

The heap it allocates from is what setup_mm left free (``xen/arch/arm/
setup.c`` @ RELEASE-4.17.0, ``xen/arch/arm/arm64/mmu/mm.c`` later): the
RAM banks minus every boot module (Xen's image, the host DTB, the kernel,
ramdisk and every other multiboot module: populate_boot_allocator), the
/memreserve/ entries and the reserved memory (fw_unreserved_regions),
page-rounded inwards (init_boot_pages); the frame table is then taken from
the top of the highest region (setup_frametable_mappings /
init_frametable_chunk: alloc_boot_pages), and end_boot_allocator hands the
lowest region to the heap first, then the others from the highest down.
With a static heap (/chosen xen,static-heap) only its banks are the heap.

Not modelled: Xen's own allocations between end_boot_allocator and
construct_dom0 and the page tables of the direct map (from the highest
zone), and the scrubbing idle CPUs do meanwhile, which reorders the free
lists: with more than one CPU that has moved banks above 4 GiB on real
boots, so the prediction warns there.
"""

from __future__ import annotations

from dataclasses import dataclass

from xendt.dom0.heap import NR_ZONES, PAGE_SHIFT, Heap, bits_to_zone
from xendt.dom0.inputs import option
from xendt.errors import XenFailure
from xendt.fdt.tree import Tree
from xendt.host import bootinfo, xen_dt
from xendt.ranges import Range
from xendt.xen.layout import Layout

PAGE = 1 << PAGE_SHIFT
MB = 1 << 20
#: Platforms whose dma_bitsize is not 32 (arch_get_dma_bitsize;
#: xen/arch/arm/platforms/brcm-raspberry-pi.c @ RELEASE-4.14.0 … RELEASE-4.22.0).
_DMA_BITS = (("brcm,bcm2711", 30),)
_MODULE = ("multiboot,module", "xen,multiboot-module")
#: bootscrub= values parse_bool reads as on or off: pages then enter the heap
#: scrubbed (init_heap_pages marks them dirty only for the default "idle").
_BOOLS = ("", "yes", "on", "true", "enable", "1", "no", "off", "false", "disable", "0")


@dataclass(frozen=True)
class Boot:
    """Where the bootloader put what Xen cannot read from the DT: Xen's
    image (its load address and _end - _start) and the host DTB (its
    address and totalsize)."""

    xen_image: Range
    dtb: Range


@dataclass(frozen=True)
class Prediction:
    """dom0's banks as predicted, and what may make the real boot differ."""

    banks: tuple[Range, ...]
    warnings: tuple[str, ...]


def dom0_mem(text: str, source: str, default: int) -> tuple[int, str | None]:
    """dom0_mem= on Xen's command line `text` (parse_size_and_unit: a C
    number, then T, G, M, K or B, else KiB), Xen's `default` when absent
    or 0 (create_dom0 / construct_dom0); with the warning Xen prints when
    text follows the size (parse_dom0_mem returns -EINVAL, the size kept)."""
    given = option(text, "dom0_mem")
    if not given:
        return default, None
    digits, base = given, 10
    if given[:2].lower() == "0x":
        digits, base = given[2:], 16
    elif given[:1] == "0":
        base = 8
    ok = "0123456789abcdef"[:base]
    n = len(digits) - len(digits.lstrip(ok + ok.upper()))
    value = int(digits[:n], base) if n else 0
    unit = digits[n:n + 1].lower()
    shift = {"t": 40, "g": 30, "m": 20, "k": 10, "b": 0}.get(unit, 10)
    rest = digits[n + 1:] if unit and unit in "tgmkb" else digits[n:]
    size = (value << shift) & ((1 << 64) - 1)
    warning = (f"dom0_mem={given[:40]} ({source}): Xen prints \"parameter 'dom0_mem' has"
               f" invalid value\" and keeps {size} bytes") if rest else None
    return size or default, warning


def predict(tree: Tree, layout: Layout, cmdline: str, source: str, boot: Boot,
            bits: int = 64) -> Prediction:
    """dom0's banks as `layout`'s Xen allocates them from `tree` for a
    `bits`-bit dom0, with Xen's command line `cmdline` (read from
    `source`)."""
    rules = layout.dom0
    assert rules is not None
    size, bad = dom0_mem(cmdline, source, rules.dom0_mem_default)
    if size < PAGE:
        raise XenFailure(f"dom0_mem={size} ({source}): dom0 gets no page and Xen fails to"
                         f" build it")
    heap = Heap(rules.heap_max_order)
    scrub = option(cmdline, "bootscrub")
    dirty = scrub is None or scrub not in _BOOLS
    regions = _regions(tree, layout, boot)
    if not regions:
        raise XenFailure(f"{tree.file}: no RAM is left for Xen's heap (the memory nodes less"
                         f" Xen, the DTB, the boot modules and reserved memory): Xen cannot"
                         f" boot, let alone allocate dom0's {size >> 20} MiB")
    for start, end in [regions[0], *regions[:0:-1]] if regions else []:
        heap.init_pages(start, end, dirty)
    lowmem_bits = min(32, next((b for p, b in _DMA_BITS if tree.root.is_compatible(p)), 32))
    banks = _allocate_11(heap, size, lowmem_bits, layout.host.max, bits)
    warnings = [bad] if bad else []
    if any(b.end > 1 << 32 for b in banks):
        warnings.append("dom0's banks above 4 GiB are a prediction only: idle CPUs scrubbing"
                        " free memory while CPU 0 builds dom0 reorder the allocator's lists"
                        " there (seen with 2 and 4 CPUs); Xen's console prints the real"
                        " ones (BANK[n]), give them with --dom0-mem")
    return Prediction(banks, tuple(warnings))


def _order(size: int) -> int:
    """get_order_from_bytes: the smallest order whose pages hold `size`."""
    pages = -(-size // PAGE)
    return max(0, (pages - 1).bit_length())


def _allocate_11(heap: Heap, size: int, lowmem_bits: int, max_banks: int,
                 bits: int) -> tuple[Range, ...]:
    """allocate_memory_11 on `heap` for `size` bytes."""
    min_low_order = _order(min(size, 128 * MB))
    min_order = _order(4 * MB)
    left = size
    banks: list[Range] = []

    def allocation_size() -> int:
        return _order(left + 1) - 1

    def take(order: int, below: int) -> int | None:
        return heap.alloc(order, min(bits_to_zone(below), NR_ZONES - 1))

    order, lowmem = allocation_size(), False
    while order >= min_low_order and not lowmem:
        for low in range(order, lowmem_bits + 1):
            mfn = take(order, low)
            if mfn is not None:
                _insert(banks, mfn, order, max_banks)
                left -= PAGE << order
                lowmem = True
                break
        else:
            order -= 1
    if not lowmem and bits == 32:
        raise XenFailure("Xen panics \"Unable to allocate first memory bank\" (a 32-bit dom0"
                         f" needs bank 0 below 2^{lowmem_bits})")
    order = allocation_size()
    while left and len(banks) < max_banks:
        mfn = take(order, lowmem_bits if lowmem else 64 + PAGE_SHIFT)
        if mfn is None:
            order -= 1
            if lowmem and order < min_low_order:
                order, lowmem = allocation_size(), False
                continue
            if order >= min_order:
                continue
            break
        if not _insert(banks, mfn, order, max_banks):
            heap.free_pages(mfn, order, False)
            if len(banks) == max_banks or not lowmem:
                break
            order, lowmem = allocation_size(), False
            continue
        left -= PAGE << order
        order = allocation_size()
    if left:
        raise XenFailure(f"Xen panics \"Failed to allocate requested dom0 memory."
                         f" {left >> 20}MB unallocated\"")
    return tuple(banks)


def _insert(banks: list[Range], mfn: int, order: int, max_banks: int) -> bool:
    """insert_11_bank: merge the block into a bank, or add one in address
    order; False (the block is freed) below bank 0 and under 128 MiB, or
    when the banks are full."""
    start, size = mfn << PAGE_SHIFT, PAGE << order
    if banks and size < 128 * MB and start + size < banks[0].base:
        return False
    for i, bank in enumerate(banks):
        if bank.base == start + size:
            banks[i] = Range(start, bank.size + size)
            return True
        if start == bank.end:
            banks[i] = Range(bank.base, bank.size + size)
            return True
        if start + size < bank.base and len(banks) < max_banks:
            banks.insert(i, Range(start, size))
            return True
    if len(banks) < max_banks:
        banks.append(Range(start, size))
        return True
    return False


def _regions(tree: Tree, layout: Layout, boot: Boot) -> list[tuple[int, int]]:
    """The boot allocator's free MFN ranges after setup_mm, in address
    order."""
    info = bootinfo.boot_info(tree, layout.host)
    heap = [b for b in info.reserved if " xen,static-heap[" in b.source]
    if heap:
        free = [(b.base, b.end) for b in sorted(heap, key=lambda b: b.base)]
    else:
        taken = [boot.xen_image, boot.dtb]
        taken += _modules(tree)
        taken += [Range(b.base, b.size) for b in info.reserved] + list(tree.reservations)
        free = _subtract(sorted((b.base, b.end) for b in info.ram), taken)
    regions = [(-(-s // PAGE), e // PAGE) for s, e in free]
    regions = [(s, e) for s, e in regions if s < e]
    if regions and info.ram:
        _frame_table(regions, layout, min(b.base for b in info.ram),
                     max(b.end for b in info.ram))
    return regions


def _modules(tree: Tree) -> list[Range]:
    """Every boot module under /chosen (depth 3 or less), dom0's and the
    dom0less domains'."""
    chosen = tree.node("/chosen")
    out: list[Range] = []
    for node in tree.descendants(chosen) if chosen is not None else ():
        if node.depth <= 3 and any(node.is_compatible(c) for c in _MODULE):
            out += xen_dt.meminfo(tree, node, "reg", xen_dt.cells(tree, node))[:1]
    return out


def _subtract(free: list[tuple[int, int]], taken: list[Range]) -> list[tuple[int, int]]:
    """The parts of the `free` ranges no `taken` range covers, in order
    (one sweep over both, sorted)."""
    cuts = sorted((t.base, t.end) for t in taken if t.size)
    out: list[tuple[int, int]] = []
    i = 0
    for s, e in sorted(free):
        while i < len(cuts) and cuts[i][1] <= s:
            i += 1
        j = i
        while s < e and j < len(cuts) and cuts[j][0] < e:
            if cuts[j][0] > s:
                out.append((s, cuts[j][0]))
            s = max(s, cuts[j][1])
            j += 1
        if s < e:
            out.append((s, e))
    return out


def _frame_table(regions: list[tuple[int, int]], layout: Layout, ram_start: int,
                 ram_end: int) -> None:
    """alloc_boot_pages for the frame table (one struct page_info per page
    of [ram_start, ram_end)): from the top of the highest region that
    holds it, aligned; the rest of that region stays free."""
    rules = layout.dom0
    assert rules is not None
    size = ((ram_end - 1) // PAGE - ram_start // PAGE + 1) * rules.page_info_size
    if rules.frame_table_rounded:
        size = -(-size // (2 * MB if size < 32 * MB else 32 * MB)) * (
            2 * MB if size < 32 * MB else 32 * MB)
        align = 32 * MB // PAGE
    else:
        size = -(-size // PAGE) * PAGE
        align = (32 * MB if size >= 32 * MB else 2 * MB) // PAGE
    pages = size // PAGE
    for i in range(len(regions) - 1, -1, -1):
        s, e = regions[i]
        pg = (e - pages) & ~(align - 1)
        if pg >= e or pg < s:
            continue
        regions[i:i + 1] = [r for r in ((s, pg), (pg + pages, e)) if r[0] < r[1]]
        return
