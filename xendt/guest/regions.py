"""The guest IPA size and the extended regions libxl puts in /hypervisor.

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

from xendt.errors import ConfigError
from xendt.model import Iomem, Layout, Range, align_up

#: The PA sizes an Arm64 CPU can report (ID_AA64MMFR0_EL1.PARange 0..6).
PA_BITS = (32, 36, 40, 42, 44, 48, 52)
#: The IPA sizes Xen's stage-2 tables can have (its p2m PARange table).
IPA_BITS = (32, 36, 40, 42, 44, 48)
#: What xendt assumes when neither is given.
DEFAULT_PA_BITS = 40


def ipa_bits(layout: Layout, pa_bits: int | None = None, ipa_bits: int | None = None) -> int:
    """The guest IPA size (libxl's gpaddr_bits) Xen `layout.version` gives
    its guests on a host whose CPUs have `pa_bits` physical-address bits.

    `ipa_bits` states it directly, for hosts whose IOMMU lowers it. Xen
    starts from `ipa_start_bits` (48 since the PADDR_BITS cap, 64 before)
    and lowers it to the host PA size.
    """
    if pa_bits is not None and ipa_bits is not None:
        raise ConfigError("--pa-bits and --ipa-bits are mutually exclusive: give one")
    if ipa_bits is not None:
        if ipa_bits not in IPA_BITS:
            raise ConfigError(f"IPA bits {ipa_bits!r} is not a size Xen's stage-2 tables have;"
                              f" valid: {', '.join(map(str, IPA_BITS))}")
        return ipa_bits
    if pa_bits is None:
        pa_bits = DEFAULT_PA_BITS
    if pa_bits not in PA_BITS:
        raise ConfigError(f"PA bits {pa_bits!r} is not an Arm PARange size;"
                          f" valid: {', '.join(map(str, PA_BITS))}")
    if pa_bits not in layout.pa_bits:
        raise ConfigError(f"Xen {layout.version} does not boot on a host with {pa_bits}-bit"
                          f" physical addresses (its p2m setup panics; 4.16.2 and 4.17+ cap the"
                          f" IPA at 48 bits); use --ipa-bits if an IOMMU lowers it")
    return min(pa_bits, layout.ipa_start_bits)


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

