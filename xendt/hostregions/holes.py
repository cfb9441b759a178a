"""Xen's hole finders: where the extended regions of a domain come from.

find_memory_holes, find_unallocated_memory and find_domU_holes, and
add_ext_regions that every range they find goes through. See
xendt.hostregions.regions for which one runs for which domain.
"""

from __future__ import annotations

from dataclasses import dataclass

from xendt.fdt.tree import Tree
from xendt.host import xen_dt
from xendt.host.bootinfo import BootInfo
from xendt.hostregions.domains import RegionsDomain
from xendt.hostregions.rangeset import PAGE_SIZE, Failed, Rangeset
from xendt.ranges import Range, align_up
from xendt.xen.layout import Layout
from xendt.xen.rules import HostRules


@dataclass(frozen=True)
class Candidate:
    """One free range a hole finder handed to add_ext_regions, and what
    became of it (for --explain).

    free:
      the range as add_ext_regions sees it, in bytes.
    start_by, end_by:
      what cut the free range there (a node's reg, reserved memory, the
      IPA size, a RAM bank's end, ...).
    region:
      the extended region made of it, or None.
    cuts:
      what add_ext_regions took off (alignment, the 4.18-4.20 shortfall).
    dropped:
      why no region came of it, or "".
    """

    free: Range
    start_by: str
    end_by: str
    region: Range | None
    cuts: tuple[str, ...] = ()
    dropped: str = ""


@dataclass(frozen=True)
class Found:
    """A hole finder's answer.

    regions:
      the extended regions.
    candidates:
      every free range, kept or dropped.
    notes:
      what Xen's arithmetic did on the way (zero-size reg, ...).
    reopened:
      (gap, the removals inside it): gaps the rangeset subtraction bug put
      back, in bytes.
    """

    regions: tuple[Range, ...]
    candidates: tuple[Candidate, ...] = ()
    notes: tuple[str, ...] = ()
    reopened: tuple[tuple[Range, tuple[tuple[Range, str], ...]], ...] = ()


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
        self.candidates: list[Candidate] = []

    def __call__(self, s: int, e: int, start_by: str = "", end_by: str = "") -> None:
        rules = self.rules
        first = s << self.shift
        true_last = ((e + 1) << self.shift) - 1
        free = Range(first, true_last + 1 - first)

        def note(**kw: object) -> None:
            self.candidates.append(Candidate(free, start_by, end_by, **kw))  # type: ignore[arg-type]

        if len(self.regions) >= rules.max:
            note(region=None, dropped=f"Xen keeps at most {rules.max} regions (NR_MEM_BANKS)")
            return
        last = e << self.shift if self.shift and rules.end_bug else true_last
        start = align_up(first, rules.align)
        mib = rules.align >> 20
        cuts = [f"start rounded up to {mib} MiB"] if start != first else []
        if start > last:
            note(region=None, dropped=f"nothing left after rounding its start up to {mib} MiB")
            return
        size = (last + 1 - start) & ~(rules.align - 1)
        full = (true_last + 1 - start) & ~(rules.align - 1)
        if size != full:
            cuts.append(f"{(full - size) >> 20} MiB short: add_ext_regions takes the last page's"
                        f" start for the last byte (4.18-4.20)")
        elif size != true_last + 1 - start:
            cuts.append(f"size rounded down to {mib} MiB")
        if size < rules.min_size:
            note(region=None, cuts=tuple(cuts),
                 dropped=f"{size >> 20} MiB after alignment, below the"
                         f" {rules.min_size >> 20} MiB minimum")
            return
        region = Range(start, size)
        self.regions.append(region)
        note(region=region, cuts=tuple(cuts))


def report(rangeset: Rangeset, rules: HostRules, limit: int, top: str = "the IPA size",
           notes: tuple[str, ...] = ()) -> Found:
    """rangeset_report_ranges over [0, limit] into add_ext_regions."""
    collect = Collector(rules, rangeset.shift)
    history = rangeset.history
    ends = {r[0]: r[1] for r in rangeset.ranges}
    for s, e in rangeset.report(limit):
        clipped = e != ends[s]
        collect(s, e, history.starts.get(s, "?"), top if clipped else history.ends.get(e, "?"))
    return Found(tuple(collect.regions), tuple(collect.candidates), notes, _reopened(rangeset))


def _reopened(rangeset: Rangeset) -> tuple[tuple[Range, tuple[tuple[Range, str], ...]], ...]:
    out = []
    for gap in rangeset.history.reopened:
        start, end = rangeset.bytes(gap.first, gap.last)
        inside = tuple((Range(a, b - a), what) for a, b, what in
                       ((*rangeset.bytes(s, e), w) for s, e, w in rangeset.history.removed)
                       if a < end and b > start and b > a)
        out.append((Range(start, end - start), inside))
    return tuple(out)


def memory_holes(tree: Tree, domain: RegionsDomain, rules: HostRules,
                  ipa_bits: int) -> Found:
    """find_memory_holes (xen/arch/arm/domain_build.c @ RELEASE-4.16.0 …
    RELEASE-4.22.0): [0, 2^ipa) minus the domain's own static shared memory
    (4.19+), every node's translated reg and every device_type "pci" node's
    ranges, each widened to whole pages, and xen,reg ranges (4.21+). An
    untranslatable address makes Xen give up (4.18+ checks a PCI range's
    width explicitly; before, the arithmetic wraps: both are a failure here).
    A zero-size reg at a page boundary is removed as [A, A - 1] (see
    xendt.hostregions.rangeset); Crash when that walks off the list.
    """
    holes = Rangeset(rules.rangeset_unit, rules.rangeset_subtract)
    holes.add(0, 1 << ipa_bits, "the start of the address space")
    notes: list[str] = []
    if rules.static_shm == "separate":
        for shm in domain.shm:
            holes.remove(shm.guest.base, shm.guest.end, f"{shm.path} xen,shared-mem")
    for node in tree.nodes():
        try:
            for i, r in enumerate(xen_dt.device_addresses(tree, node)):
                what = f"{node.path} reg[{i}]"
                empty = r.size == 0 and r.base % PAGE_SIZE == 0
                before = [list(x) for x in holes.ranges] if empty else []
                holes.remove(r.base & ~(PAGE_SIZE - 1), align_up(r.end, PAGE_SIZE), what)
                if empty:
                    notes += _zero_size(what, r.base, before, holes)
            if xen_dt.is_pci_host_bridge(node) and node.get("ranges") is not None:
                for i, r in enumerate(xen_dt.pci_apertures(tree, node)):
                    holes.remove(r.base & ~(PAGE_SIZE - 1), align_up(r.end, PAGE_SIZE),
                                 f"{node.path} ranges[{i}]")
        except xen_dt.Untranslatable as e:
            raise Failed(str(e)) from None
    if rules.xen_reg:
        for r in domain.xen_reg:
            holes.remove(r.base, r.end, "xen,reg")
    return report(holes, rules, (1 << ipa_bits) - 1, notes=tuple(notes))


def _zero_size(what: str, base: int, before: list[list[int]], after: Rangeset) -> list[str]:
    """What removing an empty reg at page boundary `base` did."""
    if after.ranges == before:
        return []
    if base == 0 and not after.ranges:
        return [(f"{what} has size 0 at address 0: Xen computes its last byte as 0 - 1, which"
                f" wraps to the top, and removes every hole")]
    if base == 0:
        return [(f"{what} has size 0 at address 0: Xen computes its last byte as 0 - 1, which"
                f" wraps; the byte rangeset drops every hole but the last and regrows it from 0,"
                f" undoing every removal before this node")]
    return [(f"{what} has size 0 at {base:#x}: Xen removes [{base:#x}, {base - 1:#x}], which"
            f" splits the free range there; its halves are aligned and sized apart")]


def unallocated_memory(info: BootInfo, domain: RegionsDomain, rules: HostRules, ipa_bits: int,
                        warnings: list[str]) -> Found:
    """find_unallocated_memory (xen/arch/arm/domain_build.c @
    RELEASE-4.16.0 … RELEASE-4.20.0, xen/common/device-tree/domain-build.c
    @ RELEASE-4.21.0, RELEASE-4.22.0, with find_host_extended_regions
    listing the exclusions from 4.20): host RAM minus the domain's RAM,
    reserved memory, static shared memory host banks (4.19+; before, they
    are reserved memory), the grant table and xen,reg ranges (4.21+).
    Removal order matters only for the subtraction bug and zero-size
    ranges, never given here (4.18 and 4.19 skip a zero-size grant table;
    xendt refuses one)."""
    free = Rangeset(rules.rangeset_unit, rules.rangeset_subtract)
    for bank in info.ram:
        free.add(bank.base, bank.end, f"RAM {bank.source}")
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


def domu_holes(layout: Layout, domain: RegionsDomain, ipa_bits: int) -> Found:
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
    candidates = []
    for n, (bank, ram) in enumerate(zip(layout.banks, domain.ram)):
        start = align_up(bank.base + ram.size, rules.align)
        last = min(limit, bank.last)
        size = last - start + 1 if last > start else 0
        end_by = "the IPA size" if last < bank.last else f"the end of guest RAM bank {n}"
        free = Range(bank.base + ram.size, max(0, last + 1 - bank.base - ram.size))
        tail = Range(start, size)
        if size >= rules.min_size:
            tails.append(tail)
            candidates.append(Candidate(free, f"{domain.name}'s RAM in guest bank {n}", end_by,
                                        tail, ("start rounded up to 2 MiB",)
                                        if start != free.base else ()))
        else:
            candidates.append(Candidate(free, f"{domain.name}'s RAM in guest bank {n}", end_by,
                                        None, dropped=f"{size >> 20} MiB, below the"
                                                      f" {rules.min_size >> 20} MiB minimum"))
    if rules.domu_holes == "banks" or (rules.domu_holes == "banks-then-shm"
                                       and (not tails or not domain.shm)):
        return Found(tuple(tails), tuple(candidates))
    holes = Rangeset(rules.rangeset_unit, rules.rangeset_subtract)
    for n, r in enumerate(tails):
        holes.add(r.base, r.end, f"the tail of guest RAM bank {n}")
    for shm in domain.shm:
        holes.remove(shm.guest.base, shm.guest.end, f"{shm.path} xen,shared-mem")
    if rules.domu_holes == "banks-then-shm":
        # remove_shm_holes_for_domU: back through add_ext_regions, end bug and all.
        return report(holes, rules, tails[-1].last, top="the last bank tail")
    if rules.xen_reg:
        for r in domain.xen_reg:
            holes.remove(r.base, r.end, "xen,reg")
    return report(holes, rules, (1 << ipa_bits) - 1)
