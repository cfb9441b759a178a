"""Xen's binary buddy allocator, as far as dom0's 1:1 banks depend on it.

Modelled from ``xen/common/page_alloc.c`` @ RELEASE-4.14.0 … RELEASE-4.22.0:

- a free block of 2**order pages is on the list heap(zone, order), its zone
  the bit length of its first MFN (page_to_zone: zone z holds MFNs
  2**(z-1) to 2**z - 1);
- free_heap_pages merges a block with its buddy while the buddy is free and
  of the same order, up to MAX_ORDER, and puts the result at the tail of
  its list when any of it needs scrubbing, else at the head
  (page_list_add_scrub);
- get_free_buddy looks from zone_hi down to zone_lo, orders from the one
  asked up; a first pass takes only a scrubbed block, moving each dirty
  head it meets to its list's tail; a second pass (MEMF_no_scrub) takes
  the first head found (a single page is taken dirty in the first pass);
- alloc_heap_pages halves the block it found, the lower half back on the
  free lists, until it has the order asked, and hands out the upper part.

Only the allocator's state matters here, not the pages: blocks are MFNs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PAGE_SHIFT = 12
#: PADDR_BITS on arm64 (xen/arch/arm/include/asm/config.h @ RELEASE-4.17.0):
#: NR_ZONES is PADDR_BITS - PAGE_SHIFT + 1.
NR_ZONES = 48 - PAGE_SHIFT + 1


def zone_of(mfn: int) -> int:
    """page_to_zone for a domheap page: flsl(mfn), at least 1."""
    return mfn.bit_length() or 1


def bits_to_zone(bits: int) -> int:
    """The highest zone whose pages lie below 2**bits."""
    return 1 if bits < PAGE_SHIFT + 1 else bits - PAGE_SHIFT


@dataclass
class Heap:
    """The domain heap's free lists (one NUMA node)."""

    max_order: int
    lists: dict[tuple[int, int], list[int]] = field(default_factory=dict)
    free: dict[int, tuple[int, bool]] = field(default_factory=dict)  # mfn -> (order, dirty)
    avail: dict[int, int] = field(default_factory=dict)

    def _add(self, mfn: int, order: int, dirty: bool) -> None:
        self.free[mfn] = (order, dirty)
        entries = self.lists.setdefault((zone_of(mfn), order), [])
        if dirty:
            entries.append(mfn)
        else:
            entries.insert(0, mfn)

    def _remove(self, mfn: int) -> tuple[int, bool]:
        order, dirty = self.free.pop(mfn)
        self.lists[(zone_of(mfn), order)].remove(mfn)
        return order, dirty

    def free_pages(self, mfn: int, order: int, dirty: bool) -> None:
        """free_heap_pages: give back 2**order pages at `mfn`, merged with
        their free buddies."""
        zone = zone_of(mfn)
        self.avail[zone] = self.avail.get(zone, 0) + (1 << order)
        while order < self.max_order:
            mask = 1 << order
            buddy = mfn - mask if mfn & mask else mfn + mask
            if self.free.get(buddy, (-1, False))[0] != order:
                break
            dirty = self._remove(buddy)[1] or dirty
            mfn = min(mfn, buddy)
            order += 1
        self._add(mfn, order, dirty)

    def init_pages(self, start: int, end: int, dirty: bool) -> None:
        """_init_heap_pages (4.17+): MFNs [start, end) freed in ascending
        blocks, each the largest the start's alignment and what is left
        allow. Before 4.17 init_heap_pages freed them page by page in the
        same order, which leaves the same blocks in the same list order."""
        if start == 0:  # MFN 0 is kept away from the allocator
            start = 1
        while start < end:
            order = min(self.max_order, (end - start).bit_length() - 1)
            if start:
                order = min(order, (start & -start).bit_length() - 1)
            self.free_pages(start, order, dirty)
            start += 1 << order

    def alloc(self, order: int, zone_hi: int) -> int | None:
        """alloc_heap_pages(zone 1 .. zone_hi, order) without MEMF_no_scrub:
        the MFN handed out, or None."""
        if order > self.max_order:
            return None
        found = self._buddy(order, zone_hi, scrubbed_only=True)
        if found is None:
            found = self._buddy(order, zone_hi, scrubbed_only=False)
        if found is None:
            return None
        mfn = found
        got, dirty = self._remove(mfn)
        zone = zone_of(mfn)
        while got != order:
            got -= 1
            self._add(mfn, got, dirty)
            mfn += 1 << got
        self.avail[zone] -= 1 << order
        return mfn

    def _buddy(self, order: int, zone_hi: int, scrubbed_only: bool) -> int | None:
        """get_free_buddy's walk over the zones and orders."""
        for zone in range(zone_hi, 0, -1):
            if self.avail.get(zone, 0) < (1 << order):
                continue
            for j in range(order, self.max_order + 1):
                entries = self.lists.get((zone, j))
                if not entries:
                    continue
                head = entries[0]
                if not scrubbed_only or not self.free[head][1] or order == 0:
                    return head
                entries.append(entries.pop(0))
        return None
