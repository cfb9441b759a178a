"""What the user tells host-regions about dom0, checked against the host
before anything is computed: each problem is one line (ConfigError, exit 2)
naming the bank or the region, never a wrong answer.

Xen places dom0's RAM in host RAM (allocate_memory_11) and its grant table
in Xen's own image (the hardware domain's /hypervisor reg[0] is
__pa(_stext): make_hypervisor_node, xen/arch/arm/domain_build.c @
RELEASE-4.16.0 … RELEASE-4.22.0), which is in host RAM too and outside
dom0's banks; so neither can lie beyond the IPA size, and the grant table
can be neither in dom0's RAM nor in an extended region.
"""

from __future__ import annotations

from xendt.errors import ConfigError
from xendt.hostregions.domains import RegionsDomain
from xendt.ranges import Range


def dom0(domain: RegionsDomain, host_ram: tuple[Range, ...], ipa_bits: int) -> None:
    """dom0's banks inside host RAM and the IPA size; its grant table in
    host RAM and outside its banks."""
    limit = 1 << ipa_bits
    for bank in domain.ram:
        if bank.end > limit:
            raise ConfigError(f"dom0 RAM bank {bank} lies beyond the {ipa_bits}-bit IPA size"
                              f" ({limit:#x})")
        if not any(r.base <= bank.base and bank.end <= r.end for r in host_ram):
            raise ConfigError(f"dom0 RAM bank {bank} is not inside host RAM"
                              f" ({_ranges(host_ram)}): Xen allocates dom0's RAM from it")
    grant = domain.grant_table
    if grant is None:
        return
    if grant.end > limit:
        raise ConfigError(f"grant table {grant} lies beyond the {ipa_bits}-bit IPA size"
                          f" ({limit:#x})")
    if not any(r.base <= grant.base and grant.end <= r.end for r in host_ram):
        raise ConfigError(f"grant table {grant} is not inside host RAM ({_ranges(host_ram)}):"
                          f" dom0's grant table is Xen's own image, which lies in RAM")
    for bank in domain.ram:
        if grant.overlaps(bank):
            raise ConfigError(f"grant table {grant} overlaps dom0 RAM bank {bank}: it is Xen's"
                              f" own image, outside dom0's RAM")


def grant_in_regions(domain: RegionsDomain, regions: tuple[Range, ...]) -> tuple[str, ...]:
    """Warnings for extended regions over the grant table. With dom0's
    facts checked above, only a hole finder that sees host RAM as a hole
    gives one (find_memory_holes after Xen 4.14-4.16's EFI loader deleted
    the memory nodes): Xen then hands dom0 a region over its own image."""
    grant = domain.grant_table
    if grant is None:
        return ()
    return tuple(f"{domain.name}: extended region {i} {region} covers the grant table {grant}"
                 f" (Xen's own image): foreign mappings there would overwrite Xen"
                 for i, region in enumerate(regions, 1) if grant.overlaps(region))


def _ranges(ranges: tuple[Range, ...]) -> str:
    return ", ".join(str(r) for r in ranges) or "none"
