"""`xendt check`: the rules a Xen guest's consumers apply to its device
tree, run over any DTB.

Each finding has a level, a rule name, the node and property concerned and
a one-line reason:

- error: a consumer will misread or reject this; the guest loses Xen
  support, a device or memory (Linux finds no Xen, maps foreign pages over
  a device, reads past the IPA space ...).
- warning: works, but something is lost or fragile (no usable extended
  region, an invisible rng-seed, regions a 32-bit guest cannot reach).
- info: worth knowing, harmless (a region too small for Linux to use).

The rules, and whom they come from:

hypervisor-node
  Linux (arch/arm/xen/enlighten.c) looks for a depth-1 node named exactly
  "hypervisor" (strcmp: "hypervisor@38000000" is not found).
hypervisor-compatible
  Linux needs "xen,xen" among the strings and reads Xen's version from a
  first string "xen,xen-X.Y"; without it, it does not enable Xen.
grant-table
  reg[0] of /hypervisor is where Linux maps the grant table; it must be at
  least as large as the layout's (GUEST_GNTTAB_SIZE). Dom0's is where Xen
  was loaded, gnttab_dom0_frames pages: not checked.
extended-regions
  reg[1..N]: Linux's arch_xen_unpopulated_init takes them only if ascending
  and non-overlapping, and maps foreign pages anywhere in them, so none may
  reach past the IPA size or overlap RAM, a device, a PCI window, a module
  or the grant table.
unpopulated-alloc
  Linux's unpopulated-alloc hot-plugs whole memory sections: a region is
  usable only if it holds an aligned section (128 MiB with 4K and 16K
  pages, 512 MiB with 64K pages on arm64). With none, Linux balloons out
  guest RAM for every foreign mapping.
interrupts
  /hypervisor must have the event-channel interrupt, a PPI, the one Xen
  raises (GUEST_EVTCHN_PPI; for dom0 any PPI: evtchn_allocate picks the
  first free one, xen/arch/arm/domain_build.c @ RELEASE-4.14.0); every `interrupts` must decode against its
  interrupt parent.
property-order
  libfdt's lookups stop at a node's first subnode: a property after one
  (libxl's rng-seed after /chosen's ACPI module) is invisible to Linux's
  early scan of /chosen and to U-Boot.
memory
  memory nodes must lie in the layout's RAM banks (GUEST_RAM0/1; dom0's
  are host RAM, and its /memory for the host's reserved memory lies under
  /reserved-memory by design: make_memory_node), clear
  of every device (libxl does not check a passthrough device's address) and
  of each other, and below the IPA size: Xen populates RAM above it, but the
  guest's first access there faults in stage 2 and never completes.
passthrough
  a device copied from the partial device tree (/passthrough) must not
  overlap the grant table, the virtual GIC, the vUART or another device
  libxl writes: Xen maps it where the partial tree says, without a check.
bootargs
  Linux keeps the first COMMAND_LINE_SIZE - 1 bytes of /chosen/bootargs
  (drivers/of/fdt.c) and drops the rest silently: 1024 on arm32, 2048 on
  arm64 (4096 in the newest kernels).
guest-32bit
  a 32-bit guest (cpu compatible "arm,cortex-a15", as libxl writes for a
  zImage) cannot use regions above 4 GiB without LPAE; Xen gives 32-bit
  domains no extended regions at all, libxl does not check.
pci-window
  a PCI window above 4 GiB must say 64-bit memory in its phys.hi (libxl
  4.16-4.18 said 32-bit; Xen commit 232ee07c23 fixed it in 4.19).
phandle
  two nodes with one phandle (a partial device tree's node reusing the
  GIC's GUEST_PHANDLE_GIC, 65000): Linux's of_find_node_by_phandle returns
  the first node in the tree that has it, so references meant for the
  other reach the wrong node.
xen-version
  the root's and /hypervisor's version strings should agree.
decode
  anything the address map could not decode (a `reg` of the wrong size, a
  `ranges` that misses it ...).
"""

from __future__ import annotations

from xendt.errors import Undecodable, XendtError
from xendt.fdt.tree import Node
from xendt.fdt.tree import Tree as DeviceTree
from xendt.guest.images import command_line_cut
from xendt.inspect.addressmap import AddressMap, MapEntry, address_map
from xendt.inspect.check_hypervisor import FOUR_GIB, HypervisorRules, span
from xendt.inspect.findings import Finding, Report
from xendt.inspect.linux import interrupts
from xendt.inspect.origin import DOM0
from xendt.ranges import MiB, by_first, overlapping, overlapping_within
from xendt.xen.address import AddressSize
from xendt.xen.context import Xen

#: Linux page size → arm64 memory-hotplug section size (SECTION_SIZE_BITS 27 or 29).
SECTION_SIZE = {4096: 128 * MiB, 16384: 128 * MiB, 65536: 512 * MiB}
#: cpu compatibles libxl writes for a 32-bit guest.
CPU_32BIT = ("arm,cortex-a15",)


def check(tree: DeviceTree, *, xen: Xen | None = None, size: AddressSize | None = None,
          page_size: int = 4096) -> Report:
    """Run every rule over `tree`. `xen` (resolved at the edge) overrides
    the version the tree reports; `size` gives the host's PA or the guest's IPA size (else the
    largest IPA that Xen version gives is assumed). XendtError if there is
    no Xen version to check against."""
    from xendt.xen.address import ipa_bits

    amap = address_map(tree, xen)
    layout = amap.layout
    if layout is None:
        reason = (f"it names no Xen version ({amap.xen.source})" if amap.xen.version is None
                  else amap.layout_note)
        raise XendtError(f"{tree.file}: cannot check: {reason}; give --xen VERSION")
    if page_size not in SECTION_SIZE:
        raise XendtError(f"page size {page_size!r}: expected one of"
                         f" {', '.join(str(p) for p in SECTION_SIZE)}")
    if size is not None:
        ipa = ipa_bits(layout, size)
        source = size.flag
    else:
        ipa = max(min(bits, layout.ipa_start_bits) for bits in layout.pa_bits)
        source = f"the most Xen {layout.version} gives (use --pa-bits or --ipa-bits)"
    checker = _Checker(tree, amap, ipa, source, SECTION_SIZE[page_size], page_size)
    return Report(file=tree.file, xen=amap.xen.version or f"unknown (checked as {layout.version})",
                  xen_source=amap.xen.source + (f"; {amap.layout_note}" if amap.layout_note else ""),
                  ipa_bits=ipa, ipa_source=source, page_size=page_size,
                  findings=tuple(checker.run()))


class _Checker(HypervisorRules):
    """The rules, one method each, adding to `findings` (those about
    /hypervisor and the extended regions in HypervisorRules)."""

    def __init__(self, tree: DeviceTree, amap: AddressMap, ipa_bits: int, ipa_source: str,
                 section: int, page_size: int) -> None:
        self.tree = tree
        self.amap = amap
        assert amap.layout is not None  # check() refuses a tree without one
        self.layout = amap.layout
        self.ipa_bits = ipa_bits
        self.ipa_source = ipa_source
        self.section = section
        self.page_size = page_size
        self.findings: list[Finding] = []
        self.hypervisor: Node | None = None
        self.bits = _guest_bits(tree)

    def run(self) -> list[Finding]:
        self.hypervisor_node()
        if self.hypervisor is not None:
            self.hypervisor_compatible(self.hypervisor)
            self.grant_table(self.hypervisor)
            self.event_channel(self.hypervisor)
        self.xen_version()
        self.extended_regions()
        if self.hypervisor is not None:
            self.unpopulated_alloc(self.hypervisor)
        self.guest_32bit()
        self.memory()
        self.passthrough()
        self.bootargs()
        self.pci_windows()
        self.all_interrupts()
        self.phandles()
        self.property_order()
        for note in self.amap.notes:
            self.add("error", "decode", note.node, note.prop, note.message)
        return self.findings

    # -- the rest of the tree ------------------------------------------------

    def memory(self) -> None:
        banks = self.layout.banks
        others = [e for e in self.amap.entries if e.kind in ("device", "pci-window", "grant-table")]
        dom0 = self.amap.origin.builder == DOM0
        if dom0:  # host RAM, 1:1; Xen gives the host's reserved memory as RAM too
            others = [e for e in others if not e.node.startswith("/reserved-memory/")]
        rams = self.amap.of_kind("ram")
        clashes = by_first(overlapping(rams, others))
        for i, ram in enumerate(rams):
            if not dom0 and not any(b.base <= ram.base and ram.end <= b.end for b in banks):
                where = ", ".join(f"{b.name} {span(b)}" for b in banks)
                self.add("error", "memory", ram.node, "reg",
                         f"RAM {span(ram)} is outside the Xen {self.layout.version} RAM banks"
                         f" ({where})")
            for j in clashes.get(i, ()):
                other = others[j]
                self.add("error", "memory", ram.node, "reg",
                             f"RAM {span(ram)} overlaps {other.what} {span(other)}"
                             f" ({other.source}): the guest would use it as memory")
        self.ram_layout(self.amap.of_kind("ram"))

    def ram_layout(self, rams: tuple[MapEntry, ...]) -> None:
        """RAM nodes overlapping each other, or reaching past the IPA size."""
        clashes = by_first(overlapping_within(rams))
        for i, ram in enumerate(rams):
            for j in clashes.get(i, ()):
                other = rams[j]
                self.add("error", "memory", other.node, "reg",
                         f"RAM {span(other)} overlaps RAM {span(ram)} ({ram.source}):"
                         " libxl writes one node per RAM bank, never overlapping; Linux"
                         " merges them and cannot tell which part Xen populated")
            limit = 1 << self.ipa_bits
            if ram.end > limit:
                self.add("error", "memory", ram.node, "reg",
                         f"RAM {span(ram)} reaches past the {self.ipa_bits}-bit IPA space"
                         f" ({self.ipa_source}): Xen populates it, but the guest's first access"
                         f" above {limit:#x} faults in stage 2 and the vCPU hangs")

    def passthrough(self) -> None:
        devices = [e for e in self.amap.entries if e.node.startswith("/passthrough/")]
        others = [e for e in self.amap.entries if not e.node.startswith("/passthrough/")
                  and e.kind in ("device", "grant-table", "pci-window")]
        for i, j in overlapping(devices, others):
            device, other = devices[i], others[j]
            self.add("error", "passthrough", device.node, "reg",
                     f"{span(device)} overlaps {other.what} {span(other)}"
                     f" ({other.source}): {_clash(other)}")

    def bootargs(self) -> None:
        chosen = self.tree.node("/chosen")
        value = chosen.get("bootargs") if chosen is not None else None
        if value is None:
            return
        length = len(value.split(b"\0", 1)[0])
        arch = "arm32" if self.bits == 32 else "arm64"
        cut = command_line_cut(length, arch)
        if cut is not None:
            self.add("error", "bootargs", "/chosen", "bootargs", f"{length} bytes: {cut}")

    def pci_windows(self) -> None:
        for window in self.amap.of_kind("pci-window"):
            if "32-bit" in window.what and window.end > FOUR_GIB:
                self.add("warning", "pci-window", window.node, "ranges",
                         f"entry {window.index} {span(window)} is above 4 GiB but its phys.hi"
                         " says 32-bit memory; expected 64-bit memory (as Xen 4.19 and later)")

    def all_interrupts(self) -> None:
        for node in self.tree.nodes():
            if node.get("interrupts") is None:
                continue
            try:
                interrupts(self.tree, node)
            except Undecodable as e:
                self.add("error", "interrupts", node.path, "interrupts", str(e))

    def phandles(self) -> None:
        first: dict[int, Node] = {}
        fixed = {self.layout.gic_phandle: "GIC's (GUEST_PHANDLE_GIC)",
                 self.layout.iommu_phandle: "Xen IOMMU's (GUEST_PHANDLE_IOMMU)"}
        for node in self.tree.nodes():
            prop, phandle = node.phandle
            if phandle in (None, 0, 0xFFFFFFFF):  # none, or no valid phandle
                continue
            owner = first.setdefault(phandle, node)
            if owner is node:
                continue
            whose = fixed.get(phandle)
            also = (f"the {whose} phandle in the Xen {self.layout.version} layout, held by"
                    f" {owner.path}") if whose else f"{owner.path}'s"
            self.add("error", "phandle", node.path, prop,
                     f"{phandle} ({phandle:#x}) is also {also}: every reference to it"
                     f" (interrupt-parent, clocks, iommus ...) reaches {owner.path}, the first"
                     " in the tree, never this node")

    def property_order(self) -> None:
        for node in self.tree.nodes():
            late = [p for p in node.props if not p.reachable]
            if not late:
                continue
            first_child = node.children[0].name if node.children else "?"
            for prop in late:
                if node.path == "/chosen" and prop.name == "rng-seed":
                    self.add("warning", "property-order", node.path, prop.name,
                             f"follows the subnode {first_child!r}: libfdt's lookups stop at the"
                             " first subnode, so Linux's early scan of /chosen never sees the"
                             " seed (libxl puts it there when acpi=1)")
                else:
                    self.add("warning", "property-order", node.path, prop.name,
                             f"follows the subnode {first_child!r}: libfdt's lookups stop at the"
                             " first subnode and never find it")


def _guest_bits(tree: DeviceTree) -> int:
    """32 if a cpu node says a 32-bit core (as libxl does for a zImage), else 64."""
    for node in tree.nodes():
        if node.get("device_type") == b"cpu\0" and any(c in CPU_32BIT for c in node.compatible):
            return 32
    return 64


def _clash(other: MapEntry) -> str:
    """What goes wrong when a passthrough device lands on `other`."""
    if other.kind == "grant-table":
        return "the guest maps grant pages there, over the device's registers"
    if other.layout.startswith("gic"):
        return "Xen traps that range for the virtual GIC, so the device's registers are never reached"
    if other.layout == "vpl011":
        return "Xen emulates the SBSA UART there, so the device's registers are never reached"
    return "Xen maps the device over it without a check, and the guest cannot reach both"
