"""The extended regions the Xen hypervisor itself gives dom0 and dom0less
domains, computed offline from the host DT.

Xen builds these domains' device trees at boot (make_hypervisor_node in
``xen/arch/arm/domain_build.c`` @ RELEASE-4.16.0 … RELEASE-4.22.0), so
nobody sees their /hypervisor node before booting. Which hole finder runs:

- a domain that uses the host layout (dom0; a dom0less domain with
  ``direct-map``, 4.17+) with an IOMMU: ``find_memory_holes``, the host
  address space [0, 2^ipa) minus every node's translated ``reg`` (widened to
  pages), PCI host bridge apertures, its own static shared memory (4.19+) and
  its xen,reg ranges (4.21+);
- the same without an IOMMU: ``find_unallocated_memory`` (from 4.20 called
  through ``find_host_extended_regions``, from 4.21 in
  ``xen/common/device-tree/domain-build.c``), host RAM minus the domain's
  RAM, reserved memory, the grant table, static shared memory host banks
  (4.19+) and xen,reg ranges (4.21+): foreign mappings must then land on
  real RAM;
- an ordinary dom0less domU with ``xen,enhanced`` (4.17+):
  ``find_domU_holes``, the tails of its two guest RAM banks, with static
  shared memory (4.19+) and xen,reg (4.21+) taken out.

Every range found goes through ``add_ext_regions``: start rounded up to
2 MiB, size rounded down to 2 MiB, at least 64 MiB, at most NR_MEM_BANKS
regions. From 4.18 the rangesets count page frames and, until 4.21,
add_ext_regions takes the last frame's start for the last byte, so a range
whose end is 2 MiB-aligned comes out 2 MiB short. 32-bit domains get none.
The per-version switches are the [host] tables of layouts/*.toml
(xendt.xen.rules.HostRules).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from xendt.errors import ConfigError, XenFailure
from xendt.fdt.node import ROOT_CELLS
from xendt.fdt.tree import Tree
from xendt.host import bootinfo, firmware, iommu, refusals, xen_dt
from xendt.host.refusals import Failure
from xendt.hostregions import holes, validate
from xendt.hostregions.domains import DomainOptions, RegionsDomain, dom0, dom0less
from xendt.hostregions.holes import Candidate, Found
from xendt.hostregions.rangeset import Crash, Failed
from xendt.notices import Notice, notices
from xendt.ranges import Range
from xendt.xen import layouts
from xendt.xen.layout import Layout, Point


@dataclass(frozen=True)
class HostRegions:
    """Xen's extended regions for one domain on one host.

    xen:
      the Xen version as asked ("4.19", "4.17.7").
    release:
      the full release ("4.19.0").
    host:
      the host DT's file name.
    domain:
      the RegionsDomain they were computed for.
    ipa_bits:
      the IPA size (p2m_ipa_bits) bounding them.
    finder:
      the Xen function that found them ("find_memory_holes", …), or "" when
      none ran.
    regions:
      the extended regions, ascending: reg[1..N] of /hypervisor.
    cells:
      (#address-cells, #size-cells) the /hypervisor reg is written in: the
      host root's for dom0, 2 and 2 for dom0less domains.
    interrupt:
      the event-channel PPI in the /hypervisor interrupts.
    gic_phandle:
      the interrupt-parent of the /hypervisor node.
    warnings:
      what Xen would warn about, or why there are no regions (Notice lines).
    failure:
      where Xen fails to boot or to build the domain (then no regions).
    iommu_why:
      why the IOMMU is on or off ("--iommu", the driver found, ...).
    notes:
      what Xen's own arithmetic did to the answer (the rangeset subtraction
      bug, a zero-size reg).
    candidates:
      every free range the finder handed to add_ext_regions (--explain).
    cmdline:
      Xen's command line as followed, and where it came from.
    points:
      the release's point-release commits that change what the hypervisor
      does with a host DT (their layout keys are [host] or [ipa] ones).
    """

    xen: str
    host: str
    domain: RegionsDomain
    ipa_bits: int
    finder: str
    regions: tuple[Range, ...]
    cells: tuple[int, int]
    interrupt: int
    gic_phandle: int
    warnings: tuple[Notice, ...] = ()
    release: str = ""
    failure: Failure | None = None
    iommu_why: str = ""
    notes: tuple[str, ...] = ()
    candidates: tuple[Candidate, ...] = ()
    cmdline: str = ""
    points: tuple[Point, ...] = ()

    @property
    def extended_regions(self) -> tuple[Range, ...]:
        """`regions`, by the name a GuestDT's memory map gives them."""
        return self.regions

    def text(self, explain: bool = False) -> str:
        """The table `xendt host-regions` prints (`explain`: --explain)."""
        from xendt.hostregions.fleet import HostFleet

        return HostFleet((self,), None).text(explain)

    def to_dict(self, explain: bool = False) -> dict[str, Any]:
        """The "xendt.host-regions/1" document of this one board: what
        `xendt host-regions --format json` prints (`explain`: --explain)."""
        from xendt.hostregions.fleet import HostFleet

        return HostFleet((self,), None).to_dict(explain)

    def to_json(self, explain: bool = False) -> str:
        from xendt.documents import document

        return document(self.to_dict(explain))


def compute(tree: Tree, layout: Layout, ipa_bits: int, options: DomainOptions) -> HostRegions:
    """The extended regions Xen `layout.release` gives the domain `options`
    name (dom0 by default) on host `tree` with IPA size `ipa_bits`, or the
    Failure where that Xen stops first."""
    fw = options.firmware or firmware.Firmware()
    rules = firmware.efi_rules(layout.host, fw)
    if rules is not layout.host:
        layout = replace(layout, host=rules)
    info = bootinfo.boot_info(tree, rules, firmware.efi_ram(rules, fw))
    if not info.ram:
        raise ConfigError(f"{tree.file}: no RAM bank in the DT (firmware usually writes /memory):"
                          f" give --host-ram BASE:SIZE[,…] (the banks U-Boot writes) or --uefi"
                          f" --host-ram BASE:SIZE[,…] (the EFI memory map's RAM)")
    cmdline = iommu.from_host(tree, options.cmdline, uefi=fw.uefi,
                              efi_dt_bootargs=rules.efi_dt_bootargs)
    decision = iommu.decide(tree, layout, options.iommu, cmdline)
    failure = refusals.boot(tree, rules, info)
    if failure is not None:  # Xen stops before any domain exists
        return _failed(tree, layout, ipa_bits, options, failure)
    try:
        domain = _domain(tree, layout, decision, options)
    except refusals.HostFailure as e:
        return _failed(tree, layout, ipa_bits, options, e.failure)
    except XenFailure as e:  # the domain model's refusals: what `build` says, word for word
        return _failed(tree, layout, ipa_bits, options, Failure("", "", str(e)))
    if failure is None and decision.panic:
        failure = Failure("", "iommu_setup", f"panic \"{decision.panic}\" ({decision.why})")
    if failure is None and domain.hardware:
        known = {c for d in layout.iommu_drivers if d.default or options.iommu for c in d.compatibles}
        failure = refusals.dom0(tree, layout, known)
    why = decision.why if domain.iommu == decision.on or not domain.host_layout else (
        f"{decision.why}, but {domain.name} has no partial DT or passthrough = \"enabled\"")
    base = _empty(tree, layout, domain, ipa_bits, cmdline, why)
    base = replace(base, notes=refusals.scan_notes(rules, info))
    if failure is not None:
        return replace(base, failure=failure)
    if cmdline.ext_regions is False:
        return replace(base, warnings=notices(
            (f"{domain.name}: extended regions support is disabled (ext_regions= on"
             f" {cmdline.source})",), "xen", (domain.name,)))
    if fw.uefi and rules.efi_memory_nodes == "deleted" and domain.host_layout and domain.iommu:
        base = replace(base, notes=(
            *base.notes, "UEFI boot: Xen's EFI loader deleted the memory nodes"
            " (fdt_add_uefi_nodes), so find_memory_holes sees host RAM as a hole"))
    if domain.name == "dom0" or domain.hardware:
        validate.dom0(domain, info.ram, ipa_bits)
    return _found(tree, layout, domain, ipa_bits, base, info)


def _found(tree: Tree, layout: Layout, domain: RegionsDomain, ipa_bits: int, base: HostRegions,
           info: bootinfo.BootInfo) -> HostRegions:
    """compute's last step: the hole finders' regions with every note and
    warning, or find_memory_holes' crash."""
    try:
        result = extended_regions(tree, layout, domain, ipa_bits, base, info)
        return replace(result, notes=base.notes + result.notes,
                       warnings=(*notices(_overflowed(info), "xen", (domain.name,)),
                                 *result.warnings,
                                 *notices(validate.grant_in_regions(domain, result.regions), "xen",
                                          (domain.name,))))
    except Crash as e:
        what = str(e)
        return replace(base, finder="find_memory_holes", failure=Failure(
            what.split(" ", maxsplit=1)[0], "find_memory_holes",
            f"{what} has size 0 at the first byte of a free range: rangeset_remove_range(s, s - 1)"
            f" walks off its list and Xen dereferences NULL while building {domain.name}"
            f" (a debug build stops at \"Assertion 's <= e' failed\")",
            "no release guards it: every version from 4.16 crashes"))


def _overflowed(info: bootinfo.BootInfo) -> tuple[str, ...]:
    """Xen's warning when its early scan stopped at a full bank array."""
    over = info.overflow
    return (f"{over.node}: {over.function}: {over.message}",) if over and not over.panic else ()


def _failed(tree: Tree, layout: Layout, ipa_bits: int, options: DomainOptions,
            failure: Failure) -> HostRegions:
    """The answer when Xen stops before the domain exists."""
    name = options.domain or "dom0"
    stub = RegionsDomain(name=name, path=failure.node, host_layout=False, ram=(), grant_table=None)
    return replace(_empty(tree, layout, stub, ipa_bits, iommu.Cmdline(), ""), failure=failure)


def _domain(tree: Tree, layout: Layout, decision: iommu.Decision,
            options: DomainOptions) -> RegionsDomain:
    iommu_on = decision.on
    if options.domain is None:
        if options.passthrough is not None:
            raise ConfigError("a partial device tree (xen,reg) belongs to a dom0less domain:"
                              " name it with --domain")
        domain = dom0(tree, layout, ram=options.dom0_ram, grant_table=options.grant_table,
                      iommu=iommu_on, bits=options.bits)
        if not (domain.iommu or domain.ram) and layout.host.dom0_regions and domain.bits == 64:
            raise ConfigError(f"without an IOMMU ({decision.why}) Xen gives dom0 the host RAM it"
                              f" does not use: give dom0's banks with --dom0-mem BASE:SIZE[,…] or"
                              f" --dom0-dtb")
        return domain
    if options.dom0_ram:
        raise ConfigError(f"--dom0-mem and --dom0-dtb describe dom0, not {options.domain}")
    return dom0less(tree, layout, options.domain, iommu=iommu_on, bits=options.bits,
                    passthrough=options.passthrough, passthrough_name=options.passthrough_name,
                    grant_table=options.grant_table)


def _empty(tree: Tree, layout: Layout, domain: RegionsDomain, ipa_bits: int, cmdline: iommu.Cmdline,
           why: str) -> HostRegions:
    hardware = domain.hardware
    return HostRegions(
        xen=layout.release, release=layout.release, host=tree.file, domain=domain,
        ipa_bits=ipa_bits, finder="", regions=(),
        cells=xen_dt.child_cells(tree, tree.root) if hardware else ROOT_CELLS,
        interrupt=_dom0_evtchn_ppi(tree, layout) if hardware else layout.irqs.event_channel,
        gic_phandle=_gic_phandle(tree) if hardware else layout.gic_phandle,
        iommu_why=why, cmdline=f"{cmdline.text} ({cmdline.source})" if cmdline.source else "",
        points=tuple(p for p in layout.points
                     if any(table in ("host", "ipa") for table, _, _ in p.changes)))


def extended_regions(tree: Tree, layout: Layout, domain: RegionsDomain, ipa_bits: int,
                     base: HostRegions | None = None,
                     info: bootinfo.BootInfo | None = None) -> HostRegions:
    """What Xen `layout.release` puts in `domain`'s /hypervisor reg after
    the grant table, on the host `tree`, with guest IPA size `ipa_bits`
    (make_hypervisor_node, xen/arch/arm/domain_build.c @ RELEASE-4.16.0 …
    RELEASE-4.22.0). A finder's failure is a warning, as in Xen. Crash
    when Xen's rangeset walk dereferences NULL."""
    rules = layout.host
    v = layout.version
    if base is None:
        base = _empty(tree, layout, domain, ipa_bits, iommu.Cmdline(), "")
    warnings: list[str] = []
    finder, found = "", Found(())
    notes: list[str] = []
    if not domain.hypervisor_node:
        warnings.append(_no_node_reason(layout, domain))
    elif not rules.dom0_regions:
        came = layouts.first(lambda layout: layout.host.dom0_regions)
        warnings.append(f"Xen {v} gives no extended regions (they came in {came})")
    elif domain.bits == 32:
        warnings.append(f"{domain.name}: extended regions not supported for 32-bit guests"
                        f" (Xen {v} gives none)")
    else:
        info = info or bootinfo.boot_info(tree, rules)
        finder = ("find_memory_holes" if domain.host_layout and domain.iommu else
                  "find_unallocated_memory" if domain.host_layout else "find_domU_holes")
        try:
            found = _run(finder, tree, layout, domain, ipa_bits, info, warnings)
            if rules.rangeset_subtract == "buggy":
                fixed = replace(layout, host=replace(rules, rangeset_subtract="fixed"))
                notes += _bug_notes(found, _run(finder, tree, fixed, domain, ipa_bits, info, []))
        except Failed as e:
            warnings.append(f"{domain.name}: failed to allocate extended regions: {e}")
        notes[:0] = found.notes
        if not found.regions and not warnings:
            reason = found.notes[0] if found.notes else (
                f"no free range of {rules.min_size >> 20} MiB or more")
            warnings.append(f"{domain.name}: failed to allocate extended regions: {reason}")
    return replace(base, finder=finder, regions=found.regions,
                   warnings=notices(warnings, "xen", (domain.name,)),
                   notes=tuple(notes), candidates=found.candidates)


def _run(finder: str, tree: Tree, layout: Layout, domain: RegionsDomain, ipa_bits: int,
         info: bootinfo.BootInfo, warnings: list[str]) -> Found:
    if finder == "find_memory_holes":
        return holes.memory_holes(tree, domain, layout.host, ipa_bits)
    if finder == "find_unallocated_memory":
        return holes.unallocated_memory(info, domain, layout.host, ipa_bits, warnings)
    return holes.domu_holes(layout, domain, ipa_bits)


def _bug_notes(buggy: Found, fixed: Found) -> list[str]:
    """Where the rangeset subtraction bug changed the answer: each region
    that differs from the fixed code's, the gap put back and the device
    ranges inside it."""

    if buggy.regions == fixed.regions:
        return []
    releases = ", ".join(layouts.first_releases("host", "rangeset-subtract", "fixed"))
    out = []
    for region in buggy.regions:
        if region in fixed.regions:
            continue
        for gap, inside in buggy.reopened:
            if not region.overlaps(gap):
                continue
            mmio = "; ".join(f"{what} {r}" for r, what in inside if r.overlaps(region))
            instead = [r for r in fixed.regions if r.overlaps(region)]
            out.append(f"rangeset subtraction bug: region {region} reaches into {gap}, which"
                       f" rangeset_remove_range put back as a hole; it overlaps device MMIO"
                       f" ({mmio or 'already removed ranges'}). \"xen/rangeset: fix incorrect"
                       f" subtraction\" ({releases}) gives"
                       f" {', '.join(map(str, instead)) or 'no region'} here")
    return out


def _no_node_reason(layout: Layout, domain: RegionsDomain) -> str:
    rules = layout.host
    if rules.domu_holes == "none":
        came = layouts.first(lambda other: other.host.domu_holes != "none")
        return (f"{domain.name}: Xen {layout.version} gives dom0less domains no /hypervisor"
                f" node (extended regions for them came in {came})")
    accepted = ", ".join(repr(v) for v in rules.enhanced)
    return (f"{domain.name}: no /hypervisor node and so no extended regions: {domain.path}"
            f" needs xen,enhanced (empty or {accepted})")


def _dom0_evtchn_ppi(tree: Tree, layout: Layout) -> int:
    """The PPI Xen allocates for dom0's event channel: the lowest of 16–31
    not taken by the host timer's secure, non-secure and virtual PPIs, which
    it reserves in dom0's vGIC first (evtchn_allocate, xen/arch/arm/
    domain_build.c, and vcpu_vtimer_init, vtimer.c @ RELEASE-4.19.0). A
    host DT without a timer gives the architected PPIs, the numbers of the
    layout's [irqs] (29, 30, 27)."""
    irqs = layout.irqs
    taken = {irqs.timer_phys_secure, irqs.timer_phys_nonsecure, irqs.timer_virt}
    for node in tree.nodes():
        if node.is_compatible("arm,armv8-timer") or node.is_compatible("arm,armv7-timer"):
            cells = xen_dt.cells_of(node.get("interrupts") or b"")
            specs = [cells[i:i + 3] for i in range(0, len(cells) - 2, 3)][:3]
            if len(specs) == 3 and all(s[0] == 1 for s in specs):
                taken = {s[1] + 16 for s in specs}
            break
    return min(set(range(16, 32)) - taken)


def _gic_phandle(tree: Tree) -> int:
    """dom0's GIC phandle (kinfo->phandle_gic): taken here from the root's
    interrupt-parent, 0 when absent."""
    value = tree.root.get("interrupt-parent")
    return int.from_bytes(value[:4], "big") if value and len(value) >= 4 else 0
