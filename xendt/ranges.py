"""Address ranges and sizes: the vocabulary of every memory map in xendt."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30


def human_size(size: int) -> str:
    """`size` in the largest binary unit it reaches: "16 MiB", "2.5 GiB", and
    "~831.88 MiB" when two decimals do not hold it exactly."""
    for unit, name in ((1 << 40, "TiB"), (GiB, "GiB"), (MiB, "MiB"), (KiB, "KiB")):
        if size >= unit:
            text = f"{size / unit:.2f}".rstrip("0").rstrip(".")
            exact = round(float(text) * unit) == size
            return f"{'' if exact else '~'}{text} {name}"
    return f"{size} B"


def align_up(value: int, align: int) -> int:
    """`value` rounded up to a multiple of `align` (a power of two)."""
    return (value + align - 1) & ~(align - 1)


@dataclass(frozen=True)
class Range:
    """A guest-physical address range.

    base:
      first byte address.
    size:
      length in bytes (may be 0 for an empty RAM bank).
    """

    base: int
    size: int

    @property
    def end(self) -> int:
        """One past the last byte."""
        return self.base + self.size

    @property
    def last(self) -> int:
        """The last byte (inclusive end), as Xen's code states ranges."""
        return self.base + self.size - 1

    def overlaps(self, other: Range) -> bool:
        return self.size > 0 and other.size > 0 and self.base < other.end and other.base < self.end

    def __str__(self) -> str:
        return f"[{self.base:#x}, {self.end:#x})"


@dataclass(frozen=True)
class Region(Range):
    """A named range of a Xen version's guest memory map.

    name:
      xendt's name for it, e.g. "grant-table", "ram0", "gicv3-redistributor".
    header:
      the arch-arm.h constant it comes from, e.g. "GUEST_GNTTAB_BASE".
    gic:
      "v2" or "v3" when the region exists only with that vGIC, else "".
    """

    name: str = ""
    header: str = ""
    gic: str = ""


def overlapping(left: Sequence[Range], right: Sequence[Range]) -> list[tuple[int, int]]:
    """Every (i, j) with left[i] overlapping right[j], in (i, j) order; in
    time proportional to the ranges and the pairs found (a sweep by base),
    not to the product of the two lengths."""
    return _sweep(left, right, same=False)


def overlapping_within(ranges: Sequence[Range]) -> list[tuple[int, int]]:
    """Every (i, j), i < j, with ranges[i] overlapping ranges[j], in (i, j)
    order; as overlapping()."""
    return _sweep(ranges, ranges, same=True)


def by_first(pairs: list[tuple[int, int]]) -> dict[int, list[int]]:
    """The (i, j) pairs of overlapping() as {i: [j, ...]}."""
    out: dict[int, list[int]] = {}
    for i, j in pairs:
        out.setdefault(i, []).append(j)
    return out


def _sweep(left: Sequence[Range], right: Sequence[Range], same: bool) -> list[tuple[int, int]]:
    import heapq

    starts = [(r.base, 0, i) for i, r in enumerate(left) if r.size > 0]
    if not same:
        starts += [(r.base, 1, j) for j, r in enumerate(right) if r.size > 0]
    starts.sort()
    # The ranges begun so far that have not ended, per side, by end.
    active: tuple[list[tuple[int, int]], list[tuple[int, int]]] = ([], [])
    found = []
    for base, side, i in starts:
        for heap in active:
            while heap and heap[0][0] <= base:
                heapq.heappop(heap)
        ranges = right if side else left
        if same:
            found += [(min(i, j), max(i, j)) for _, j in active[0]]
        elif side:
            found += [(j, i) for _, j in active[0]]
        else:
            found += [(i, j) for _, j in active[1]]
        heapq.heappush(active[side], (ranges[i].end, i))
    found.sort()
    return found
