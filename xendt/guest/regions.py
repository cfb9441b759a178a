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
from xendt.ranges import Range, align_up, human_size
from xendt.xen.layout import Layout


def extended_regions(layout: Layout, ram: tuple[int, ...], ipa_bits: int,
                     iomem: tuple[Iomem, ...] = ()) -> tuple[Range, ...]:
    """The extended regions of a guest with `ram[i]` bytes in RAM bank i,
    in the order libxl lists them (bank 0 first, ascending)."""
    return _regions(layout, ram, ipa_bits, iomem, None)


def explain(layout: Layout, ram: tuple[int, ...], ipa_bits: int,
            iomem: tuple[Iomem, ...] = ()) -> tuple[str, ...]:
    """Where each extended region comes from and what cut it, and why each
    candidate that gave none was dropped, one sentence each."""
    notes: list[str] = []
    _regions(layout, ram, ipa_bits, iomem, notes)
    return tuple(notes)


def _regions(layout: Layout, ram: tuple[int, ...], ipa_bits: int, iomem: tuple[Iomem, ...],
             notes: list[str] | None) -> tuple[Range, ...]:
    say = notes.append if notes is not None else (lambda _: None)
    if layout.ext_scheme == "none":
        say(f"Xen {layout.version}'s libxl gives no extended regions (scheme \"none\")")
        return ()
    limit = (1 << ipa_bits) - 1
    cuts = sorted(iomem, key=lambda r: r.guest_frame) if layout.ext_scheme == "banks-minus-iomem" else ()
    page = layout.page_size
    regions: list[Range] = []
    least = human_size(layout.ext_min_size)

    def keep(start: int, last: int, why: str) -> None:
        span = Range(start, last - start + 1) if last >= start else Range(start, 0)
        if span.size >= layout.ext_min_size:
            regions.append(span)
            say(f"region {len(regions)} {span}: {why}")
        else:
            say(f"dropped {span} ({human_size(span.size)}): {why}; under {least}")

    for bank, used in zip(layout.banks, ram):
        if len(regions) >= layout.ext_max:
            say(f"{bank.name}: none, the {layout.ext_max}-region cap is reached")
            break
        start = bank.base + align_up(used, layout.ext_align)
        last = min(limit, bank.last)
        origin = (f"{bank.name} above its {human_size(used)} of RAM, start rounded up to"
                  f" {human_size(layout.ext_align)}" if used else f"{bank.name}, which holds no RAM")
        end = ("the bank's end" if last == bank.last
               else f"the {ipa_bits}-bit IPA limit ({limit + 1:#x})")
        if last < start or last - start + 1 < layout.ext_min_size:
            size = last - start + 1 if last >= start else 0
            say(f"{bank.name}: none: {origin}, to {end}, leaves {human_size(size)}, under {least}")
            continue
        for cut in cuts:
            if len(regions) >= layout.ext_max:
                break
            cut_start = cut.guest_frame * page
            cut_last = (cut.guest_frame + cut.pages) * page - 1
            if cut_last < start or cut_start > last:
                continue
            name = f"iomem {cut.start:x},{cut.pages:x}@{cut.guest_frame:x}"
            if cut_start > start:
                keep(start, cut_start - 1, f"{origin}, up to {name}")
            start = cut_last + 1
            origin = f"{bank.name} after {name} (not re-aligned)"
            if start > last:
                break
        if len(regions) < layout.ext_max:
            keep(start, last, f"{origin}, up to {end}")
        else:
            say(f"{bank.name}: the rest dropped, the {layout.ext_max}-region cap is reached")
    return tuple(regions)
