"""A dom0less domU's RAM banks (kinfo->mem) as Xen allocates them.

Three ways, chosen by construct_domU (``xen/arch/arm/domain_build.c`` @
RELEASE-4.14.0 … RELEASE-4.18.0, ``dom0less-build.c`` and
``static-memory.c`` later):

- no xen,static-mem: allocate_memory fills the guest RAM banks in order,
  bank 0 (3 GiB at 1 GiB) first, the rest in bank 1 (GUEST_RAM0/RAM1 of
  arch-arm.h). Where the pages come from in host memory does not show.
- xen,static-mem without direct-map (4.16+): allocate_static_memory maps
  the host banks one after the other into the same guest banks.
- direct-map (4.17+): assign_static_memory_11 gives the domain each host
  bank at its host address, one guest bank per host bank, in DT order.

The banks are what /memory reg lists, what place_modules uses (bank 0) and
what find_domU_holes leaves out.
"""

from __future__ import annotations

from xendt.domu.domains import Dom0lessDomain
from xendt.domu.facts import Facts
from xendt.errors import XenFailure
from xendt.ranges import Range
from xendt.xen.layout import Layout

PAGE_SIZE = 0x1000


def ram_banks(domain: Dom0lessDomain, layout: Layout, facts: Facts) -> tuple[Range, ...]:
    """kinfo->mem for `domain`: the guest RAM banks in order (direct-map:
    the host banks); XenFailure where Xen panics allocating them. `build`
    and `host-regions --domain` both take the banks from here."""
    if domain.static_mem:
        if domain.direct_map:
            return _direct_map(domain, layout)
        return _static(domain, layout, facts)
    return _allocate(domain, layout, facts)


def _allocate(domain: Dom0lessDomain, layout: Layout, facts: Facts) -> tuple[Range, ...]:
    """allocate_memory: min(bank size, what is left) into each guest bank.
    4.14 and 4.15 record the second bank even when nothing is left for it
    (allocate_bank_memory @ RELEASE-4.14.0), so it shows as a zero-size
    range in /memory reg."""
    left = domain.memory
    banks = []
    for bank in layout.banks:
        size = min(bank.size, left)
        if size or facts.zero_ram1_bank:
            banks.append(Range(bank.base, size))
        left -= size
    if left:
        raise XenFailure(f"{domain.path}: 'memory' is {left // 1024} KiB more than the guest RAM"
                         f" banks hold (Xen panics: \"Failed to allocate requested domain"
                         f" memory\")")
    return tuple(banks)


def _static(domain: Dom0lessDomain, layout: Layout, facts: Facts) -> tuple[Range, ...]:
    """allocate_static_memory: each host bank is mapped where the previous
    one ended, spilling from guest bank 0 into bank 1. Until 4.21 a host
    bank that spills counts only its remainder towards `memory`, so the
    sizes can never match and Xen panics (fixed in 4.22)."""
    guest = list(layout.banks)
    filled = [0] * len(guest)
    index = 0
    counted = 0
    for host in domain.static_mem:
        _check_aligned(domain, host)
        size = host.size
        counted_here = size
        while True:
            room = guest[index].size - filled[index]
            take = min(size, room)
            filled[index] += take
            if room >= size:
                break
            if index + 1 >= len(guest):
                raise XenFailure(f"{domain.path}: xen,static-mem exceeds the guest RAM banks"
                                 f" (Xen panics: \"Exhausted all possible guest banks\")")
            size -= room
            counted_here = size
            index += 1
        counted += counted_here if facts.static_mem_split_bug else host.size
    if counted != domain.memory:
        why = ""
        if facts.static_mem_split_bug and sum(h.size for h in domain.static_mem) == domain.memory:
            from xendt.xen import layouts

            fixed = layouts.first(lambda layout: not layout.dom0less.static_mem_split_bug)
            why = (f" (Xen {facts.version} counts only the part of a bank that spills into guest"
                   f" RAM bank 1; fixed in {fixed})")
        raise XenFailure(f"{domain.path}: 'memory' ({domain.memory // 1024} KiB) does not match"
                         f" the xen,static-mem Xen counts ({counted // 1024} KiB){why}; Xen panics")
    return tuple(Range(g.base, f) for g, f in zip(guest[:index + 1], filled))


def _direct_map(domain: Dom0lessDomain, layout: Layout) -> tuple[Range, ...]:
    """assign_static_memory_11: guest bank i is host bank i, at most
    NR_MEM_BANKS of them (the layout's [host] max)."""
    limit = layout.host.max
    if len(domain.static_mem) > limit:
        raise XenFailure(f"{domain.path}: {len(domain.static_mem)} xen,static-mem banks, over"
                         f" Xen's {limit} (NR_MEM_BANKS); Xen panics")
    for host in domain.static_mem:
        _check_aligned(domain, host)
    total = sum(h.size for h in domain.static_mem)
    if total != domain.memory:
        raise XenFailure(f"{domain.path}: 'memory' ({domain.memory // 1024} KiB) does not match"
                         f" the sum of xen,static-mem ({total // 1024} KiB); Xen panics")
    return domain.static_mem


def _check_aligned(domain: Dom0lessDomain, host: Range) -> None:
    """acquire_static_memory_bank refuses banks not aligned to pages."""
    if host.base % PAGE_SIZE or host.size % PAGE_SIZE:
        raise XenFailure(f"{domain.path}: xen,static-mem bank {host} is not page-aligned"
                         f" (Xen panics)")


def shm_banks(domain: Dom0lessDomain) -> tuple[Range, ...]:
    """kinfo->shm_mem: each shared memory node's guest range, in DT order
    (process_shm → append_shm_bank_to_domain)."""
    for shm in domain.shm:
        if shm.guest.base % PAGE_SIZE or shm.guest.size % PAGE_SIZE:
            raise XenFailure(f"{shm.path}: xen,shared-mem {shm.guest} is not page-aligned"
                             f" (Xen refuses the domain)")
    return tuple(s.guest for s in domain.shm)
