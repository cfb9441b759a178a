"""How arm64 Xen maps the host RAM banks at boot (setup_mm), and where
that fails.

boot_fdt_info leaves the banks in the early scan's order, sorted from
4.14.3/4.15.1/4.16.0 by a heapsort (sort(), xen/include/xen/sort.h @
RELEASE-4.19.0, xen/common/sort.c @ RELEASE-4.14.3) with cmp_memory_node
(bootfdt.c), which calls two overlapping banks equal unless the first
starts lower: the order of overlapping banks is the heapsort's. Then
(HostRules.ram_mapping):

- "xenheap" (xen/arch/arm/setup.c and mm.c @ RELEASE-4.14.0 …
  RELEASE-4.16.0): per bank, setup_xenheap_mappings (panics for a bank
  below the first one; otherwise rewrites whole 1 GiB entries, so an
  overlapping bank maps again without complaint) and then init_boot_pages
  for the bank minus /memreserve/ entries and reserved memory
  (dt_unreserved_regions);
- "directmap" (setup.c and mm.c @ RELEASE-4.17.0, RELEASE-4.18.0;
  arm64/mmu/mm.c @ RELEASE-4.19.0 …): populate_boot_allocator for every
  bank first (only the static heap when there is one), then
  setup_directmap_mappings per bank, whose map_pages_to_xen refuses to
  replace a valid entry: a bank sharing a page with one mapped before
  panics.

init_boot_pages hands page frames to bootmem_region_add, which hits
BUG_ON for frames already given (xen/common/page_alloc.c @ RELEASE-4.14.0
… RELEASE-4.22.0). Boot modules (Xen, the DTB, kernels) are left out too,
but xendt does not know where they lie; overlaps of RAM with them are
taken as free RAM. Xen's console is not up yet: these messages show only
with earlyprintk.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from dataclasses import replace

from xendt.fdt.tree import Tree
from xendt.host.bootinfo import Bank, BootInfo, is_ram_node
from xendt.host.refusals import Failure
from xendt.ranges import Range
from xendt.xen import layouts
from xendt.xen.rules import HostRules

PAGE_SHIFT = 12
_MASK = (1 << 64) - 1


def xen_sort(banks: Sequence[Bank]) -> list[Bank]:
    """`banks` as Xen's heapsort leaves them with cmp_memory_node."""
    a = list(banks)

    def cmp(x: Bank, y: Bank) -> int:
        if x.base < y.base:
            return -1
        return 1 if x.base >= (y.base + y.size) & _MASK else 0

    def sift(r: int, limit: int) -> None:
        while 2 * r + 1 < limit:
            c = 2 * r + 1
            if c < limit - 1 and cmp(a[c], a[c + 1]) < 0:
                c += 1
            if cmp(a[r], a[c]) >= 0:
                return
            a[r], a[c] = a[c], a[r]
            r = c

    for i in range(len(a) // 2 - 1, -1, -1):
        sift(i, len(a))
    for i in range(len(a) - 1, -1, -1):
        a[0], a[i] = a[i], a[0]
        sift(0, i)
    return a


def setup_mm(tree: Tree, rules: HostRules, info: BootInfo) -> Failure | None:
    """Where setup_mm stops on these RAM banks, or None. Disjoint banks
    (the usual case) can only fail unsorted; they sort by their start."""
    if not info.ram:
        return None
    ascending = sorted(info.ram, key=lambda b: b.base)
    disjoint = all(a.end <= b.base for a, b in itertools.pairwise(ascending))
    why = _Why(tree, rules)
    if disjoint:
        order = list(info.ram) if rules.unsorted_ram_banks == "panic" else ascending
        low = next((b for b in order if b.base >> PAGE_SHIFT < order[0].base >> PAGE_SHIFT), None)
        return None if low is None else _below(rules, why, low, order[0])
    order = list(info.ram) if rules.unsorted_ram_banks == "panic" else xen_sort(info.ram)
    heap = _Allocator(_reserved(tree, rules, info), why)
    if rules.ram_mapping == "directmap" and not any(
            b.source.endswith("xen,static-heap") for b in info.reserved):
        failure = next((f for f in map(heap.add, order) if f is not None), None)
        if failure is not None:
            return failure
    first = order[0]
    mapped = _Frames()
    for bank in order:
        if bank.base >> PAGE_SHIFT < first.base >> PAGE_SHIFT:
            return _below(rules, why, bank, first)
        if rules.ram_mapping == "xenheap":
            failure = heap.add(bank)
            if failure is not None:
                return failure
            continue
        s = bank.base >> PAGE_SHIFT
        hit = mapped.add(s, s + (bank.size >> PAGE_SHIFT), bank)
        if hit is not None:
            return Failure(_node(bank), "setup_mm", (
                f"RAM bank {bank} ({bank.source}) shares pages with RAM bank {hit[2]}"
                f" ({hit[2].source}), mapped before it: map_pages_to_xen refuses to map them"
                f" again and setup_directmap_mappings panics \"Unable to setup the"
                f" directmap mappings.\" (before the console is up)"), why(hit[2], bank))
    return None


class _Frames:
    """Disjoint page frame ranges [s, e), each with the bank it came from."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.spans: list[tuple[int, int, Bank]] = []

    def add(self, s: int, e: int, bank: Bank) -> tuple[int, int, Bank] | None:
        """Records [s, e), or gives the range it overlaps (then nothing)."""
        if s >= e:
            return None
        i = bisect.bisect_left(self.starts, e)
        if i and self.spans[i - 1][1] > s:
            return self.spans[i - 1]
        self.starts.insert(i, s)
        self.spans.insert(i, (s, e, bank))
        return None


class _Why:
    """Which releases boot the DT, for a failure between two banks: from
    the fix of the memory node probing on, when one bank comes from a node
    the fix no longer takes for RAM; otherwise none."""

    def __init__(self, tree: Tree, rules: HostRules) -> None:
        self.tree = tree
        self.rules = rules

    def __call__(self, a: Bank, b: Bank) -> str:
        stray = next((_node(x) for x in (a, b) if self._stray(x)), None)
        if stray is None:
            return "no release boots this DT"
        releases = ", ".join(layouts.first_releases("host", "memory-nodes",
                                                    "name-depth-1-device-type"))
        return (f"{stray} holds no RAM from {releases} (\"xen/arm: bootfdt: Fix device tree"
                f" memory node probing\"): it is not a top-level node with device_type"
                f" \"memory\"")

    def _stray(self, bank: Bank) -> bool:
        """Whether Xen takes the bank's node for RAM only by its name."""
        if self.rules.memory_nodes != "name":
            return False
        node = self.tree.node(_node(bank))
        fixed = replace(self.rules, memory_nodes="name-depth-1-device-type")
        return node is not None and not is_ram_node(node, fixed)


class _Allocator:
    """bootmem_region_add's list of free page frames: init_boot_pages for
    a bank minus reserved memory (`reserved`: disjoint, ascending)."""

    def __init__(self, reserved: list[Range], why: _Why) -> None:
        self.reserved = reserved
        self.starts = [r.base for r in reserved]
        self.why = why
        self.given = _Frames()

    def add(self, bank: Bank) -> Failure | None:
        for piece in self._unreserved(bank):
            s = (piece.base + (1 << PAGE_SHIFT) - 1) >> PAGE_SHIFT
            e = piece.end >> PAGE_SHIFT
            hit = self.given.add(s, e, bank)
            if hit is None:
                continue
            gs, ge, owner = hit
            twice = Range(max(s, gs) << PAGE_SHIFT, (min(e, ge) - max(s, gs)) << PAGE_SHIFT)
            return Failure(_node(bank), "setup_mm", (
                f"RAM bank {bank} ({bank.source}) overlaps RAM bank {owner}"
                f" ({owner.source}) outside reserved memory: init_boot_pages gets"
                f" {twice} twice and bootmem_region_add hits BUG_ON: \"Xen BUG at"
                f" page_alloc.c\" (before the console is up)"), self.why(owner, bank))
        return None

    def _unreserved(self, bank: Bank) -> list[Range]:
        out = []
        at = bank.base
        i = max(0, bisect.bisect_right(self.starts, bank.base) - 1)
        for hole in self.reserved[i:]:
            if hole.base >= bank.end:
                break
            if hole.end <= at:
                continue
            if hole.base > at:
                out.append(Range(at, hole.base - at))
            at = max(at, hole.end)
        if at < bank.end:
            out.append(Range(at, bank.end - at))
        return out


def _reserved(tree: Tree, rules: HostRules, info: BootInfo) -> list[Range]:
    """What dt_unreserved_regions keeps from the boot allocator: reserved
    memory, /memreserve/ entries (reserved memory from 4.19) and static
    shared memory host banks, merged into disjoint ascending ranges."""
    out: list[Range] = [Range(b.base, b.size) for b in info.reserved]
    if not rules.memreserve:
        out += [r for r in tree.reservations if r.size]
    out += [s.host for s in info.shm if s.host is not None]
    merged: list[Range] = []
    for r in sorted(out, key=lambda r: r.base):
        if merged and r.base <= merged[-1].end:
            last = merged[-1]
            merged[-1] = Range(last.base, max(last.end, r.end) - last.base)
        else:
            merged.append(r)
    return merged


def _below(rules: HostRules, why: _Why, bank: Bank, first: Bank) -> Failure:
    kind = "xenheap" if rules.ram_mapping == "xenheap" else "directmap"
    if rules.unsorted_ram_banks == "panic":
        fixed = ("fixed by \"xen/arm: bootfdt: Always sort memory banks\" in 4.14.3, 4.15.1,"
                 " 4.16.0")
    else:
        fixed = f"boot_fdt_info's sort leaves overlapping banks out of order; {why(first, bank)}"
    return Failure(_node(bank), "setup_mm", (
        f"RAM bank {bank} ({bank.source}) lies below the first bank Xen maps, {first}"
        f" ({first.source}): setup_{kind}_mappings panics \"cannot add {kind} mapping at"
        f" {bank.base >> PAGE_SHIFT:x} below heap start {first.base >> PAGE_SHIFT:x}\""
        f" (before the console is up)"), fixed)


def _node(bank: Bank) -> str:
    return bank.source.split(" ")[0]
