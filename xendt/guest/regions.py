"""The extended regions libxl puts in /hypervisor.

Extended regions are guest address space a Xen-aware guest may use for
foreign and grant mappings: the part of each RAM bank above the guest's RAM,
inside the IPA size. Which rule applies is the layout's `ext_scheme`:

- "none" (4.14, 4.15): no extended regions.
- "banks" (4.16-4.20): per bank, start at the RAM end rounded up to 2 MiB,
  end at the bank end or the IPA limit, keep it if at least 64 MiB.
- "banks-minus-iomem" (4.21+): the same ranges with the guest's iomem= ranges
  (sorted by guest frame) cut out; a piece left by a cut is not re-aligned;
  at most `ext_max` regions.
"""

from __future__ import annotations

from xendt.guest.model import Iomem
from xendt.ranges import Range, align_up
from xendt.xen.layout import Layout


def extended_regions(layout: Layout, ram: tuple[int, ...], ipa_bits: int,
                     iomem: tuple[Iomem, ...] = ()) -> tuple[Range, ...]:
    """The extended regions of a guest with `ram[i]` bytes in RAM bank i,
    in the order libxl lists them (bank 0 first, ascending)."""
    if layout.ext_scheme == "none":
        return ()
    limit = (1 << ipa_bits) - 1
    cuts = sorted(iomem, key=lambda r: r.guest_frame) if layout.ext_scheme == "banks-minus-iomem" else ()
    page = layout.page_size
    regions: list[Range] = []

    def keep(start: int, last: int) -> None:
        if last >= start and last - start + 1 >= layout.ext_min_size:
            regions.append(Range(start, last - start + 1))

    for bank, used in zip(layout.banks, ram):
        if len(regions) >= layout.ext_max:
            break
        start = bank.base + align_up(used, layout.ext_align)
        last = min(limit, bank.last)
        if last < start or last - start + 1 < layout.ext_min_size:
            continue
        for cut in cuts:
            if len(regions) >= layout.ext_max:
                break
            cut_start = cut.guest_frame * page
            cut_last = (cut.guest_frame + cut.pages) * page - 1
            if cut_last < start or cut_start > last:
                continue
            if cut_start > start:
                keep(start, cut_start - 1)
            start = cut_last + 1
            if start > last:
                break
        if len(regions) < layout.ext_max:
            keep(start, last)
    return tuple(regions)

