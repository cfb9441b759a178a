"""Xen's rangesets, as far as its hole finders use them.

A rangeset (xen/common/rangeset.c) holds sorted, disjoint, inclusive
ranges; adding merges overlapping and adjacent ones. The hole finders count
bytes, or page frames from 4.18 (HostRules.rangeset_unit). Removal follows
rangeset_remove_range step by step, because its corner cases are visible:

- before "xen/rangeset: fix incorrect subtraction" (e118fc98e7ae, in
  4.21.0; backported as c7e568308546 to 4.19.3 and 6b399ed19fd3 to 4.20.1),
  removing [s, e] where s lies in a gap and e reaches a later range widened
  the range before the gap up to s - 1, putting the gap back
  (HostRules.rangeset_subtract "buggy");
- a zero-size range at a page-aligned address A arrives as [A, A - 1]
  (release builds compile ASSERT(s <= e) out): at 0 the end wraps to the
  top; strictly inside a range it splits it; at a range's first unit the
  walk runs off the list and Xen dereferences NULL (every version).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from xendt.fdt.cells import U64_MASK

#: Xen on Arm pages are 4 KiB (PAGE_SHIFT, xen/arch/arm/include/asm/page-bits.h)
PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT


class Failed(Exception):
    """A hole finder returned an error: Xen then gives no regions."""


class Crash(Exception):
    """rangeset_remove_range walked off its list: Xen dereferences NULL."""


@dataclass
class Reopened:
    """A gap the subtraction bug put back: units [first, last], by `what`."""

    first: int
    last: int
    what: str


@dataclass
class History:
    """What shaped the ranges, for explaining them: the `what` that made a
    range start (starts) or end (ends) at a unit, every removal, and the
    gaps the subtraction bug put back."""

    starts: dict[int, str] = field(default_factory=dict)
    ends: dict[int, str] = field(default_factory=dict)
    removed: list[tuple[int, int, str]] = field(default_factory=list)
    reopened: list[Reopened] = field(default_factory=list)


class Rangeset:
    """Xen's rangeset (xen/common/rangeset.c @ RELEASE-4.19.0 and
    RELEASE-4.19.3; the rest of the file unchanged 4.16 … 4.22 where used
    here) in `unit`s ("byte", or "page" frames from 4.18), with
    rangeset_remove_range as `subtract` ("buggy" or "fixed") has it."""

    def __init__(self, unit: str, subtract: str = "fixed") -> None:
        self.shift = PAGE_SHIFT if unit == "page" else 0
        self.fixed = subtract == "fixed"
        self.ranges: list[list[int]] = []
        self.history = History()

    def units(self, start: int, end: int) -> tuple[int, int]:
        """[start, end) in bytes as Xen's callers pass it: start, end - 1
        (PFN_DOWN of both with page frames), in 64-bit arithmetic, so an
        empty range at 0 ends at the top of the address space."""
        return start >> self.shift, ((end - 1) & U64_MASK) >> self.shift

    def add(self, start: int, end: int, what: str) -> None:
        s, e = self.units(start, end)
        if e < s:
            return
        self.history.starts.setdefault(s, what)
        self.history.ends.setdefault(e, what)
        # The ranges overlapping or adjacent to [s, e] are a run of the
        # sorted, disjoint list: merge them.
        ranges = self.ranges
        lo = bisect.bisect_left(ranges, s, key=lambda r: r[1] + 1)
        hi = bisect.bisect_right(ranges, e + 1, key=lambda r: r[0])
        if lo < hi:
            s, e = min(s, ranges[lo][0]), max(e, ranges[hi - 1][1])
        ranges[lo:hi] = [[s, e]]

    def remove(self, start: int, end: int, what: str) -> None:
        """rangeset_remove_range(start, end - 1) in this set's units."""
        s, e = self.units(start, end)
        self.history.removed.append((s, e, what))
        self._remove(s, e, what)

    def _find(self, unit: int) -> int | None:
        """find_range: the last range starting at or below `unit`."""
        found = bisect.bisect_right(self.ranges, unit, key=lambda r: r[0]) - 1
        return None if found < 0 else found

    def _remove(self, s: int, e: int, what: str) -> None:
        ranges, history = self.ranges, self.history
        x, y = self._find(s), self._find(e)
        if x == y:
            if x is None or ranges[x][1] < s:
                return
            first, last = ranges[x]
            if first < s and last > e:
                ranges[x:x + 1] = [[first, s - 1], [(e + 1) & U64_MASK, last]]
                history.ends[s - 1] = history.starts[(e + 1) & U64_MASK] = what
            elif first == s and last <= e:
                del ranges[x]
            elif first == s:
                ranges[x][0] = (e + 1) & U64_MASK
                history.starts[ranges[x][0]] = what
            elif last <= e:
                ranges[x][1] = s - 1
                history.ends[s - 1] = what
            return
        if not ranges:
            raise Crash(what)
        i = 0 if x is None else x
        if ranges[i][0] < s:
            if not self.fixed or ranges[i][1] >= s:
                if ranges[i][1] < s - 1:  # only the buggy code gets here
                    history.reopened.append(Reopened(ranges[i][1] + 1, s - 1, what))
                ranges[i][1] = s - 1
                history.ends[s - 1] = what
            i += 1
        # The walk destroys ranges from i until it meets y; a y behind i (an
        # empty range at a range's start) is never met: NULL dereference.
        if y is None or y < i:
            raise Crash(what)
        del ranges[i:y]
        ranges[i][0] = (e + 1) & U64_MASK
        history.starts[ranges[i][0]] = what
        if ranges[i][0] > ranges[i][1]:
            del ranges[i]

    def report(self, limit: int):
        """(first, last) unit pairs inside [0, limit] bytes, as
        rangeset_report_ranges clips them."""
        top = limit >> self.shift
        for s, e in self.ranges:
            if s > top:
                break
            yield s, min(e, top)

    def bytes(self, first: int, last: int) -> tuple[int, int]:
        """Units [first, last] as bytes [start, end)."""
        return first << self.shift, (last + 1) << self.shift
