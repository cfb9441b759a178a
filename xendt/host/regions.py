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
(xendt.xen.layout.HostRules).
"""

from __future__ import annotations

from dataclasses import dataclass

from xendt.errors import ConfigError
from xendt.fdt.tree import Tree
from xendt.host import bootinfo, holes, xen_dt
from xendt.host.domains import Domain, DomainOptions, dom0, dom0less
from xendt.host.rangeset import Failed
from xendt.xen.layout import Layout
from xendt.ranges import Range

#: Host interrupt IDs of the timer PPIs Xen reserves in dom0's vGIC when the
#: host DT does not say (vcpu_vtimer_init, xen/arch/arm/vtimer.c @
#: RELEASE-4.19.0): secure physical, non-secure physical, virtual.
_TIMER_PPIS_DEFAULT = (29, 30, 27)
#: The PPI Xen gives a dom0less domU's event channel (GUEST_EVTCHN_PPI).
GUEST_EVTCHN_PPI = 31


@dataclass(frozen=True)
class HostRegions:
    """Xen's extended regions for one domain on one host.

    xen:
      the Xen version.
    host:
      the host DT's file name.
    domain:
      the Domain they were computed for.
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
      what Xen would warn about, or why there are no regions.
    """

    xen: str
    host: str
    domain: Domain
    ipa_bits: int
    finder: str
    regions: tuple[Range, ...]
    cells: tuple[int, int]
    interrupt: int
    gic_phandle: int
    warnings: tuple[str, ...] = ()


def compute(tree: Tree, layout: Layout, ipa_bits: int, options: DomainOptions) -> HostRegions:
    """The extended regions Xen `layout.version` gives the domain `options`
    name (dom0 by default) on host `tree` with IPA size `ipa_bits`."""
    if options.domain is None:
        if options.passthrough is not None:
            raise ConfigError("a partial device tree (xen,reg) belongs to a dom0less domain:"
                              " name it with --domain")
        domain = dom0(tree, layout, ram=options.dom0_ram, grant_table=options.grant_table,
                      iommu=options.iommu, bits=options.bits)
        if not (domain.iommu or domain.ram) and layout.host.dom0_regions and domain.bits == 64:
            raise ConfigError("without an IOMMU Xen gives dom0 the host RAM it does not use:"
                              " give dom0's banks with --dom0-mem BASE:SIZE[,…] or --dom0-dtb")
    else:
        if options.dom0_ram:
            raise ConfigError(f"--dom0-mem and --dom0-dtb describe dom0, not {options.domain}")
        domain = dom0less(tree, layout, options.domain, iommu=options.iommu, bits=options.bits,
                          passthrough=options.passthrough,
                          passthrough_name=options.passthrough_name,
                          grant_table=options.grant_table)
    return extended_regions(tree, layout, domain, ipa_bits)


def extended_regions(tree: Tree, layout: Layout, domain: Domain, ipa_bits: int) -> HostRegions:
    """What Xen `layout.version` puts in `domain`'s /hypervisor reg after
    the grant table, on the host `tree`, with guest IPA size `ipa_bits`
    (make_hypervisor_node, xen/arch/arm/domain_build.c @ RELEASE-4.16.0 …
    RELEASE-4.22.0). A finder's failure is a warning, as in Xen."""
    rules = layout.host
    v = layout.version
    warnings: list[str] = []
    finder, regions = "", ()
    hardware = domain.hardware
    if not domain.hypervisor_node:
        warnings.append(_no_node_reason(layout, domain))
    elif not rules.dom0_regions:
        warnings.append(f"Xen {v} gives no extended regions (they came in 4.16)")
    elif domain.bits == 32:
        warnings.append(f"{domain.name}: extended regions not supported for 32-bit guests"
                        f" (Xen {v} gives none)")
    else:
        info = bootinfo.boot_info(tree, rules)
        if domain.host_layout and domain.iommu:
            finder = "find_memory_holes"
            run = lambda: holes.memory_holes(tree, domain, rules, ipa_bits)
        elif domain.host_layout:
            finder = "find_unallocated_memory"
            run = lambda: holes.unallocated_memory(info, domain, rules, ipa_bits, warnings)
        else:
            finder = "find_domU_holes"
            run = lambda: holes.domu_holes(layout, domain, ipa_bits)
        try:
            regions = run()
        except Failed as e:
            warnings.append(f"{domain.name}: failed to allocate extended regions: {e}")
        if not regions and not warnings:
            warnings.append(f"{domain.name}: failed to allocate extended regions: no free range"
                            f" of {rules.min_size >> 20} MiB or more")
    cells = xen_dt.child_cells(tree, tree.root) if hardware else (2, 2)
    return HostRegions(xen=v, host=tree.file, domain=domain, ipa_bits=ipa_bits, finder=finder,
                       regions=tuple(regions), cells=cells,
                       interrupt=_dom0_evtchn_ppi(tree) if hardware else GUEST_EVTCHN_PPI,
                       gic_phandle=_gic_phandle(tree) if hardware else layout.gic_phandle,
                       warnings=tuple(warnings))


def _no_node_reason(layout: Layout, domain: Domain) -> str:
    rules = layout.host
    if rules.domu_holes == "none":
        return (f"{domain.name}: Xen {layout.version} gives dom0less domains no /hypervisor"
                f" node (extended regions for them came in 4.17)")
    accepted = ", ".join(repr(v) for v in rules.enhanced)
    return (f"{domain.name}: no /hypervisor node and so no extended regions: {domain.path}"
            f" needs xen,enhanced (empty or {accepted})")


def _dom0_evtchn_ppi(tree: Tree) -> int:
    """The PPI Xen allocates for dom0's event channel: the lowest of 16–31
    not taken by the host timer's secure, non-secure and virtual PPIs, which
    it reserves in dom0's vGIC first (evtchn_allocate, xen/arch/arm/
    domain_build.c, and vcpu_vtimer_init, vtimer.c @ RELEASE-4.19.0)."""
    taken = set(_TIMER_PPIS_DEFAULT)
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
