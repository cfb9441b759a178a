"""The rules of `xendt check` about Xen's /hypervisor node and the extended
regions in its reg (see xendt.inspect.check for each rule and whom it comes
from): HypervisorRules, the part of check's rule set that runs them.
"""

from __future__ import annotations

import itertools

from xendt.errors import Undecodable
from xendt.fdt.tree import Node
from xendt.fdt.tree import Tree as DeviceTree
from xendt.inspect.addressmap import AddressMap, MapEntry
from xendt.inspect.findings import Finding
from xendt.inspect.linux import interrupts
from xendt.inspect.origin import DOM0, DOM0LESS
from xendt.ranges import GiB, Range, align_up, by_first, human_size, overlapping
from xendt.xen.layout import Layout

FOUR_GIB = 4 * GiB


class HypervisorRules:
    """The /hypervisor and extended-region rules, one method each, adding to
    `findings`; xendt.inspect.check's checker sets the attributes."""

    tree: DeviceTree
    amap: AddressMap
    layout: Layout
    ipa_bits: int
    ipa_source: str
    section: int
    page_size: int
    findings: list[Finding]
    hypervisor: Node | None
    bits: int

    def add(self, level: str, rule: str, node: str, prop: str, message: str) -> None:
        self.findings.append(Finding(level, rule, node, prop, message))

    # -- /hypervisor ---------------------------------------------------------

    def hypervisor_node(self) -> None:
        root = self.tree.root
        exact = [c for c in root.children if c.name == "hypervisor"]
        near = [c for c in root.children if c.base_name == "hypervisor" and c.name != "hypervisor"]
        if len(exact) > 1:
            self.add("error", "hypervisor-node", "/hypervisor", "",
                     f"{len(exact)} nodes named 'hypervisor': Linux uses the first")
        if exact:
            self.hypervisor = exact[0]
        elif near:
            self.hypervisor = near[0]
            self.add("error", "hypervisor-node", near[0].path, "",
                     f"named {near[0].name!r}: Linux finds Xen's node by the exact name"
                     " 'hypervisor' (strcmp), so this guest will not detect Xen")
        elif self.amap.origin.builder == DOM0LESS:
            # Xen writes none for a dom0less domU without xen,enhanced: by
            # design, a guest without PV interfaces (construct_domU).
            self.add("info", "hypervisor-node", "/", "",
                     "no /hypervisor node: Xen built this dom0less guest without xen,enhanced,"
                     " so it has no grant table, event channels or extended regions")
        else:
            self.add("error", "hypervisor-node", "/", "",
                     "no /hypervisor node: the guest cannot find Xen (grant table, event channel)")

    def hypervisor_compatible(self, node: Node) -> None:
        compatible = node.compatible
        expected = f"expected \"xen,xen-{self.layout.version}\", \"xen,xen\""
        if "xen,xen" not in compatible:
            self.add("error", "hypervisor-compatible", node.path, "compatible",
                     f"{list(compatible)!r} lacks \"xen,xen\", which Linux looks for; {expected}")
        elif not compatible[0].startswith("xen,xen-"):
            self.add("error", "hypervisor-compatible", node.path, "compatible",
                     f"{list(compatible)!r}: Linux reads Xen's version from a first string"
                     f" \"xen,xen-X.Y\" and without it does not enable Xen; {expected}")

    def grant_table(self, node: Node) -> None:
        grant = self.layout.region("grant-table")
        if node.get("reg") is None:
            self.add("error", "grant-table", node.path, "reg",
                     f"missing: reg[0] is the grant table ({human_size(grant.size)} at"
                     f" {grant.base:#x} in the Xen {self.layout.version} layout)")
            return
        entry = self.amap.at(node.path, "reg", 0)
        if self.amap.origin.builder == DOM0:
            return  # Xen's load address, gnttab_dom0_frames pages: not the guest layout's
        if entry is not None and entry.size < grant.size:
            self.add("error", "grant-table", node.path, "reg",
                     f"reg[0] {entry.base:#x} +{human_size(entry.size)} is smaller than the"
                     f" {human_size(grant.size)} grant table of the Xen {self.layout.version}"
                     f" layout ({grant.header})")

    def event_channel(self, node: Node) -> None:
        if node.get("interrupts") is None:
            self.add("error", "interrupts", node.path, "interrupts",
                     "missing: Linux needs the event-channel interrupt and gives up on Xen"
                     f" without it; expected PPI ID {self.layout.irqs.event_channel}")
            return
        try:
            found = interrupts(self.tree, node)
        except Undecodable:
            return  # reported by all_interrupts
        expected = self.layout.irqs.event_channel
        if not found or found[0].kind != "PPI":
            self.add("error", "interrupts", node.path, "interrupts",
                     f"{found[0] if found else 'empty'}: the event channel must be a PPI (Linux"
                     f" requests it per CPU); Xen {self.layout.version} raises ID {expected}")
        elif self.amap.origin.builder == DOM0:
            return  # evtchn_allocate: the first PPI the hardware domain leaves free
        elif found[0].intid != expected:
            self.add("error", "interrupts", node.path, "interrupts",
                     f"{found[0]}: Xen {self.layout.version} raises event channels on PPI ID"
                     f" {expected} (GUEST_EVTCHN_PPI), so the guest would wait on the wrong one")

    def xen_version(self) -> None:
        version = self.amap.xen
        for node, prop, value in version.conflicts:
            self.add("warning", "xen-version", node, prop,
                     f"{value!r} disagrees with {version.source}: libxl writes the running"
                     " hypervisor's version in both")

    # -- extended regions ----------------------------------------------------

    def regions(self) -> list[MapEntry]:
        """The extended regions in reg order."""
        return sorted(self.amap.of_kind("extended-region"), key=lambda e: e.index)

    def extended_regions(self) -> None:
        regions = self.regions()
        if not regions:
            return
        path = regions[0].node
        limit = 1 << self.ipa_bits
        for previous, region in itertools.pairwise(regions):
            if region.base < previous.end:
                how = "overlaps" if region.end > previous.base else "comes before"
                self.add("error", "extended-regions", path, "reg",
                         f"{region_name(region)} {how} {region_name(previous)}: Linux takes extended regions"
                         " only in ascending, non-overlapping order, and otherwise none")
        others = [e for e in self.amap.entries if e.kind != "extended-region"]
        clashes = by_first(overlapping(regions, others))
        for i, region in enumerate(regions):
            if region.end > limit:
                self.add("error", "extended-regions", path, "reg",
                         f"{region_name(region)} ends at {region.end:#x}, beyond the {self.ipa_bits}-bit"
                         f" IPA space ({self.ipa_source}): mappings there fail")
            for j in clashes.get(i, ()):
                other = others[j]
                self.add("error", "extended-regions", path, "reg",
                         f"{region_name(region)} overlaps {other.what} {span(other)}"
                         f" ({other.source}): Linux would map foreign pages over it")

    def unpopulated_alloc(self, node: Node) -> None:
        regions = self.regions()
        hypervisor = node.path
        if self.bits == 32:
            if regions:
                self.add("info", "unpopulated-alloc", hypervisor, "reg",
                         "32-bit guest: Linux has unpopulated-alloc only where ZONE_DEVICE exists"
                         " (arm64), so these regions go unused")
            return
        if not regions:
            if self.layout.ext_scheme == "none":
                self.add("info", "unpopulated-alloc", hypervisor, "reg",
                         "no extended regions (libxl gives none before Xen 4.16): Linux balloons"
                         " out guest RAM for foreign and grant mappings")
            else:
                self.add("warning", "unpopulated-alloc", hypervisor, "reg",
                         "no extended regions (libxl found no room, and warns so): Linux balloons"
                         " out guest RAM for foreign and grant mappings")
            return
        section = self.section
        usable = [r for r in regions if align_up(r.base, section) + section <= r.end]
        for r in regions:
            if r not in usable:
                self.add("info", "unpopulated-alloc", r.node, "reg",
                         f"{region_name(r)} holds no {human_size(section)}-aligned"
                         f" {human_size(section)} memory section ({self.page_size // 1024}K"
                         " pages): Linux's unpopulated-alloc cannot use it")
        if not usable:
            self.add("warning", "unpopulated-alloc", regions[0].node, "reg",
                     f"no extended region holds an aligned {human_size(section)} memory section:"
                     " Linux balloons out guest RAM for foreign and grant mappings")

    def guest_32bit(self) -> None:
        if self.bits != 32:
            return
        for region in self.regions():
            if region.end > FOUR_GIB:
                self.add("warning", "guest-32bit", region.node, "reg",
                         f"{region_name(region)} lies above 4 GiB, which a 32-bit guest reaches only"
                         " with LPAE (Xen gives 32-bit domains no extended regions; libxl does"
                         " not check)")


def span(r: Range) -> str:
    return f"[{r.base:#x}, {r.end:#x})"


def region_name(region: MapEntry) -> str:
    return f"{region.what} {span(region)}"
