"""Xen's rangesets, as far as its hole finders use them.

A rangeset (xen/common/rangeset.c) holds sorted, disjoint, inclusive
ranges; adding merges overlapping and adjacent ones. The hole finders count
bytes, or page frames from 4.18 (HostRules.rangeset_unit).
"""

from __future__ import annotations

#: Xen on Arm pages are 4 KiB (PAGE_SHIFT, xen/arch/arm/include/asm/page-bits.h)
PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT


class Failed(Exception):
    """A hole finder returned an error: Xen then gives no regions."""


class Rangeset:
    """Xen's rangeset (xen/common/rangeset.c @ RELEASE-4.19.0, unchanged
    4.16 … 4.22 where used here), as far as the hole finders use it: sorted,
    inclusive ranges in `unit`s ("byte", or "page" frames from 4.18);
    adding merges overlapping and adjacent ranges."""

    def __init__(self, unit: str) -> None:
        self.shift = PAGE_SHIFT if unit == "page" else 0
        self.ranges: list[list[int]] = []

    def _units(self, start: int, end: int) -> tuple[int, int]:
        """[start, end) in bytes as Xen's callers pass it: PFN_DOWN(start),
        PFN_DOWN(end - 1) with page frames."""
        return start >> self.shift, (end - 1) >> self.shift

    def add(self, start: int, end: int) -> None:
        s, e = self._units(start, end)
        if e < s:
            return
        kept = []
        for r in self.ranges:
            if r[1] + 1 < s or r[0] > e + 1:
                kept.append(r)
            else:  # overlapping or adjacent: merge
                s, e = min(s, r[0]), max(e, r[1])
        kept.append([s, e])
        self.ranges = sorted(kept)

    def remove(self, start: int, end: int, what: str) -> None:
        s, e = self._units(start, end)
        if e < s:
            self._remove_nothing(s, what)
            return
        kept = []
        for r in self.ranges:
            if r[1] < s or r[0] > e:
                kept.append(r)
                continue
            if r[0] < s:
                kept.append([r[0], s - 1])
            if r[1] > e:
                kept.append([e + 1, r[1]])
        self.ranges = kept

    def _remove_nothing(self, s: int, what: str) -> None:
        """rangeset_remove_range(s, s - 1), from a zero-size range: a release
        build splits a range holding s in two (later reported separately);
        at a range's very start it walks off its list."""
        for i, r in enumerate(self.ranges):
            if r[0] < s <= r[1]:
                self.ranges[i:i + 1] = [[r[0], s - 1], [s, r[1]]]
                return
            if r[0] == s:
                raise Failed(f"{what} is empty at the start of a free range, where Xen's"
                              f" rangeset_remove_range misbehaves")

    def report(self, limit: int):
        """(first, last) unit pairs inside [0, limit] bytes, as
        rangeset_report_ranges clips them."""
        top = limit >> self.shift
        for s, e in self.ranges:
            if s > top:
                break
            yield s, min(e, top)
