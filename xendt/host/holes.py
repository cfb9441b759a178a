"""Xen's hole finders: where the extended regions of a domain come from.

find_memory_holes, find_unallocated_memory and find_domU_holes, and
add_ext_regions that every range they find goes through. See
xendt.host.regions for which one runs for which domain.
"""

from __future__ import annotations

from xendt.fdt.tree import Tree
from xendt.host import xen_dt
from xendt.host.bootinfo import BootInfo
from xendt.host.domains import Domain
from xendt.host.rangeset import PAGE_SIZE, Failed, Rangeset
from xendt.xen.layout import HostRules, Layout
from xendt.ranges import Range, align_up



class Collector:
    """add_ext_regions (xen/arch/arm/domain_build.c @ RELEASE-4.16.0 …
    RELEASE-4.22.0), called with each free range: start rounded up and size
    rounded down to rules.align, kept if at least rules.min_size, at most
    rules.max of them. With page frames (4.18+) its inclusive end is
    pfn_to_paddr(last frame) until 4.21 (rules.end_bug), the last byte
    after (commit 9b21841fd1)."""

    def __init__(self, rules: HostRules, shift: int) -> None:
        self.rules, self.shift = rules, shift
        self.regions: list[Range] = []

    def __call__(self, s: int, e: int) -> None:
        rules = self.rules
        if len(self.regions) >= rules.max:
            return
        start = s << self.shift
        if self.shift and rules.end_bug:
            last = e << self.shift  # the last frame's start, taken for the last byte
        else:
            last = ((e + 1) << self.shift) - 1
        start = align_up(start, rules.align)
        if start > last:
            return
        size = (last + 1 - start) & ~(rules.align - 1)
        if size >= rules.min_size:
            self.regions.append(Range(start, size))


def report(rangeset: Rangeset, rules: HostRules, limit: int) -> tuple[Range, ...]:
    """rangeset_report_ranges over [0, limit] into add_ext_regions."""
    collect = Collector(rules, rangeset.shift)
    for s, e in rangeset.report(limit):
        collect(s, e)
    return tuple(collect.regions)


def memory_holes(tree: Tree, domain: Domain, rules: HostRules,
                  ipa_bits: int) -> tuple[Range, ...]:
    """find_memory_holes (xen/arch/arm/domain_build.c @ RELEASE-4.16.0 …
    RELEASE-4.22.0): [0, 2^ipa) minus the domain's own static shared memory
    (4.19+), every node's translated reg and every device_type "pci" node's
    ranges, each widened to whole pages, and xen,reg ranges (4.21+). An
    untranslatable address makes Xen give up (4.18+ checks a PCI range's
    width explicitly; before, the arithmetic wraps: both are a failure here).
    """
    holes = Rangeset(rules.rangeset_unit)
    holes.add(0, 1 << ipa_bits)
    if rules.static_shm == "separate":
        for shm in domain.shm:
            holes.remove(shm.guest.base, shm.guest.end, f"{shm.path} xen,shared-mem")
    for node in tree.nodes():
        try:
            for i, r in enumerate(xen_dt.device_addresses(tree, node)):
                holes.remove(r.base & ~(PAGE_SIZE - 1), align_up(r.end, PAGE_SIZE),
                             f"{node.path} reg[{i}]")
            if xen_dt.is_pci_host_bridge(node) and node.get("ranges") is not None:
                for i, r in enumerate(xen_dt.pci_apertures(tree, node)):
                    holes.remove(r.base & ~(PAGE_SIZE - 1), align_up(r.end, PAGE_SIZE),
                                 f"{node.path} ranges[{i}]")
        except xen_dt.Untranslatable as e:
            raise Failed(str(e)) from None
    if rules.xen_reg:
        for r in domain.xen_reg:
            holes.remove(r.base, r.end, "xen,reg")
    return report(holes, rules, (1 << ipa_bits) - 1)


def unallocated_memory(info: BootInfo, domain: Domain, rules: HostRules, ipa_bits: int,
                        warnings: list[str]) -> tuple[Range, ...]:
    """find_unallocated_memory (xen/arch/arm/domain_build.c @
    RELEASE-4.16.0 … RELEASE-4.20.0, xen/common/device-tree/domain-build.c
    @ RELEASE-4.21.0, RELEASE-4.22.0, with find_host_extended_regions
    listing the exclusions from 4.20): host RAM minus the domain's RAM,
    reserved memory, static shared memory host banks (4.19+; before, they
    are reserved memory), the grant table and xen,reg ranges (4.21+).
    Removal order does not matter but for zero-size ranges, never given here
    (4.18 and 4.19 skip a zero-size grant table; xendt refuses one)."""
    free = Rangeset(rules.rangeset_unit)
    for bank in info.ram:
        free.add(bank.base, bank.end)
    taken: list[tuple[Range, str]] = [(r, f"{domain.name} RAM") for r in domain.ram]
    taken += [(b, b.source) for b in info.reserved]
    if rules.static_shm == "separate":
        taken += [(s.host, f"{s.path} xen,shared-mem") for s in info.shm if s.host is not None]
    if domain.grant_table is not None:
        taken.append((domain.grant_table, "grant table"))
    else:
        warnings.append(f"{domain.name}: grant table place unknown (Xen's load address);"
                        f" assuming it lies outside free host RAM")
    if rules.xen_reg:
        taken += [(r, "xen,reg") for r in domain.xen_reg]
    for r, what in taken:
        free.remove(r.base, r.end, what)
    return report(free, rules, (1 << ipa_bits) - 1)


def domu_holes(layout: Layout, domain: Domain, ipa_bits: int) -> tuple[Range, ...]:
    """find_domU_holes (xen/arch/arm/domain_build.c @ RELEASE-4.17.0 …
    RELEASE-4.22.0): the part of each guest RAM bank above the domain's RAM
    (start rounded up to 2 MiB, end at the bank end or the IPA limit), kept
    if at least 64 MiB. rules.domu_holes says what follows: "banks"
    (4.17, 4.18) emits them as they are, shared memory or not;
    "banks-then-shm" (remove_shm_holes_for_domU, xen/arch/arm/static-shmem.c
    @ RELEASE-4.19.0, RELEASE-4.20.0) passes them, minus the domain's shared
    memory, back through add_ext_regions when it has any; "rangeset" (4.21+)
    always does, minus shared memory and xen,reg ranges."""
    rules = layout.host
    limit = (1 << ipa_bits) - 1
    tails = []
    for bank, ram in zip(layout.banks, domain.ram):
        start = align_up(bank.base + ram.size, rules.align)
        last = min(limit, bank.last)
        size = last - start + 1 if last > start else 0
        if size >= rules.min_size:
            tails.append(Range(start, size))
    if rules.domu_holes == "banks":
        return tuple(tails)
    if rules.domu_holes == "banks-then-shm":
        if not tails or not domain.shm:
            return tuple(tails)
        holes = Rangeset(rules.rangeset_unit)
        for r in tails:
            holes.add(r.base, r.end)
        for shm in domain.shm:
            holes.remove(shm.guest.base, shm.guest.end, f"{shm.path} xen,shared-mem")
        # remove_shm_holes_for_domU: back through add_ext_regions, end bug and all.
        return report(holes, rules, tails[-1].last)
    holes = Rangeset(rules.rangeset_unit)
    for r in tails:
        holes.add(r.base, r.end)
    for shm in domain.shm:
        holes.remove(shm.guest.base, shm.guest.end, f"{shm.path} xen,shared-mem")
    if rules.xen_reg:
        for r in domain.xen_reg:
            holes.remove(r.base, r.end, "xen,reg")
    return report(holes, rules, (1 << ipa_bits) - 1)
