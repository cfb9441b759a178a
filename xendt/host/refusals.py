"""Hosts Xen does not boot, or builds no dom0 on, as Xen reports them.

Each check answers with a Failure (the node, the Xen function and what Xen
prints or does) for the command to report as an error (exit status 1)
rather than regions Xen never hands out. The switches are layout keys
(HostRules); the functions cited are in xen/arch/arm/bootfdt.c
(xen/common/device-tree/ from 4.20), domain_build.c and device.c (4.18+).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from xendt.fdt.tree import Node, Tree
from xendt.host import bootinfo, libxl_facts, xen_dt
from xendt.host.bootinfo import ENOENT, BootInfo
from xendt.xen import layouts
from xendt.xen.layout import Layout
from xendt.xen.rules import HostRules

#: DEVICE_TREE_MAX_DEPTH (xen/include/xen/device_tree.h @ RELEASE-4.19.0).
MAX_DEPTH = 16
#: -EINVAL, what dt_device_get_address returns for DT_BAD_ADDR.
EINVAL = -22


@dataclass(frozen=True)
class Failure:
    """Xen stops here.

    node:
      the host DT node at fault ("" if none).
    function:
      the Xen function that fails.
    message:
      what Xen prints or does.
    fixed:
      which releases behave otherwise, or that none does.
    """

    node: str
    function: str
    message: str
    fixed: str = ""

    def __str__(self) -> str:
        where = f"{self.node}: " if self.node else ""
        function = f"{self.function}: " if self.function else ""
        tail = f" ({self.fixed})" if self.fixed else ""
        return f"{where}{function}{self.message}{tail}"


class HostFailure(Exception):
    """Raised with a Failure where computing further makes no sense."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(str(failure))
        self.failure = failure


def boot(tree: Tree, rules: HostRules, info: BootInfo) -> Failure | None:
    """Failures of the early boot, before any domain exists: the early
    FDT scan (boot_fdt_info), then mapping RAM (xendt.host.setupmm)."""
    if info.overflow is not None and info.overflow.panic:
        over = info.overflow
        return Failure(over.node, over.function, over.message)
    deep = next((n for n in tree.nodes() if n.depth >= MAX_DEPTH), None)
    if deep is not None and rules.deep_nodes == "hang":
        return Failure(deep.path, "device_tree_for_each_node",
                       f"\"Warning: device tree node `{deep.name}' is nested too deep\", printed"
                       f" forever: Xen hangs in the early FDT scan",
                       "fixed by \"bootfdt: Fix infinite loop in device_tree_for_each_node()\" in"
                       " 4.20.4, 4.21.2, 4.22.0")
    failure = _overlap(rules, info) or _stopped(tree, rules, info)
    if failure is not None:
        return failure
    from xendt.host import setupmm

    return setupmm.setup_mm(tree, rules, info)


def _stopped(tree: Tree, rules: HostRules, info: BootInfo) -> Failure | None:
    """An early_scan_node error: from 4.19 boot_fdt_info panics (before, the
    scan just ends there: HostRules.scan_error)."""
    if info.stop is None or rules.scan_error != "panic":
        return None
    path, rc = info.stop
    node = tree.node(path)
    name = node.name if node is not None else path
    why = "a memory node without reg" if rc == ENOENT else "a zero-size RAM bank"
    fixed = ""
    if rules.memory_nodes == "name" and node is not None and not bootinfo.is_ram_node(
            node, replace(rules, memory_nodes="name-depth-1-device-type")):
        releases = ", ".join(layouts.first_releases("host", "memory-nodes",
                                                    "name-depth-1-device-type"))
        fixed = (f"not a memory node from {releases} (\"xen/arm: bootfdt: Fix device tree memory"
                 f" node probing\"): it is not a top-level node with device_type \"memory\"")
    return Failure(path, "boot_fdt_info", f"{why}: \"fdt: node `{name}': parsing failed\", then"
                                          f" {_scan_failed(rules, rc)}", fixed)


def _scan_failed(rules: HostRules, rc: int) -> str:
    """What follows an early_scan_node error."""
    if rules.scan_error == "panic":
        return f"panic \"Early FDT parsing failed ({rc})\""
    panics = ", ".join(layouts.first_releases("host", "scan-error", "panic"))
    return ("the early scan ends there and Xen boots on without the nodes after it (their"
            " reserved memory is taken for free RAM, their boot modules are missing); from"
            f" {panics} Xen panics instead")


def scan_notes(rules: HostRules, info: BootInfo) -> tuple[str, ...]:
    """Where an early_scan_node error quietly ended the scan (before 4.19):
    the nodes after it were never read."""
    if info.stop is None or rules.scan_error != "ends-scan":
        return ()
    path, rc = info.stop
    why = "a memory node without reg" if rc == ENOENT else "a zero-size RAM bank"
    return (f"Xen's early scan ends at {path} ({why}, error {rc}): the nodes after it were"
            f" never read",)


def _overlap(rules: HostRules, info: BootInfo) -> Failure | None:
    """check_reserved_regions_overlap (4.18+): a reserved-memory region,
    static memory or heap overlapping one already recorded makes the early
    scan fail (4.18: it ends there, HostRules.scan_error); /memreserve/
    entries (reserved_mem from 4.19) count too, except (4.19.2+) for a
    region wholly inside one."""
    if rules.reserved_overlap != "panic":
        return None
    seen = [b for b in info.reserved if b.source.startswith("/memreserve/")] \
        if rules.memreserve_overlap != "no-conflict" else []
    for bank in info.reserved:
        if bank.source.startswith("/memreserve/") or bank.source.endswith("xen,shared-mem"):
            continue
        for other in seen:
            if not bank.overlaps(other):
                continue
            inside = other.base <= bank.base and bank.end <= other.end
            if other.source.startswith("/memreserve/") and inside \
                    and rules.memreserve_overlap == "allow-inside":
                continue
            fixed = ""
            if other.source.startswith("/memreserve/") and inside:
                fixed = ("allowed from 4.19.2 by \"xen/device-tree: Allow region overlapping"
                         " with /memreserve/ ranges\"")
            return Failure(bank.source.split(" ")[0], "check_reserved_regions_overlap",
                           f"\"Region: [{bank.base:#x}, {bank.end:#x}) overlapping with"
                           f" {other.source} [{other.base:#x}, {other.end:#x})\", then"
                           f" {_scan_failed(rules, EINVAL)}", fixed)
        seen.append(bank)
    return None


def dom0(tree: Tree, layout: Layout, iommu_compatibles: set[str]) -> Failure | None:
    """Failures building the hardware domain from the host DT: handle_node
    over the whole tree (domain_build.c @ RELEASE-4.19.0), and
    make_memory_node's bound."""
    walk = _Walk(tree, layout, iommu_compatibles, xen_console(tree), libxl_facts.gic_node(tree))
    failure = walk.node(tree.root)
    if failure is not None:
        return failure
    return _memory_node(tree, layout.host)


#: handle_node's skip_matches: compatibles (subtree skipped).
_SKIP = ("xen,domain", "xen,domain-shared-memory-v1", "xen,evtchn-v1", "xen,xen",
         "xen,multiboot-module", "multiboot,module", "arm,psci", "arm,psci-0.2", "arm,psci-1.0",
         "arm,cortex-a7-pmu", "arm,cortex-a15-pmu", "arm,cortex-a53-edac", "arm,armv8-pmuv3",
         "arm,armv7-timer-mem")


@dataclass(frozen=True)
class _Walk:
    """handle_node over the tree: skipped subtrees, the GIC and timer
    (rewritten), the node Xen uses (its console), IOMMUs a compiled-in
    driver claims and nodes with a PPI get no handle_device; every other
    node does, before its children. Disabled nodes are handled too (no
    status check)."""

    tree: Tree
    layout: Layout
    iommus: set[str]
    console: str | None
    gic: Node | None

    def node(self, node: Node) -> Failure | None:
        if any(node.is_compatible(c) for c in _SKIP) or node.path == "/cpus" \
                or node.string("device_type") == "memory":
            return None
        if node is self.gic or any(node.is_compatible(c) for c in libxl_facts.TIMER_COMPATIBLES):
            return None
        if node.path == self.console or any(c in self.iommus for c in node.compatible) \
                or uses_ppi(self.tree, node, self.gic):
            return None
        failure = _handle_device(self.tree, node, self.layout)
        for child in node.children:
            if failure is not None:
                break
            failure = self.node(child)
        return failure


def _handle_device(tree: Tree, node: Node, layout: Layout) -> Failure | None:
    """handle_device (domain_build.c @ RELEASE-4.17.0, device.c @
    RELEASE-4.18.0 …): each address dt_device_get_address(_paddr) cannot
    translate fails dom0's construction; 4.18+ map_range_to_domain refuses
    a range past 64 bits."""
    panic = layout.host.dom0_panic.format(rc=EINVAL)
    try:
        addresses = xen_dt.device_addresses(tree, node)
    except xen_dt.Untranslatable as e:
        index = str(e).split(" address ", 1)[1].split(" ", 1)[0] if " address " in str(e) else "0"
        return Failure(node.path, "handle_device",
                       f"\"Unable to retrieve address {index} for {node.path}\" ({e}), then panic"
                       f" \"{panic}\"", "no release builds dom0 on this DT")
    for r in addresses:
        if r.end > 1 << 64 and layout.host.rangeset_unit == "page":
            return Failure(node.path, "map_range_to_domain",
                           f"\"{node.path}: [{r.base:#x}, {(r.end) & ((1 << 64) - 1):#x}] exceeds"
                           f" the maximum allowed PA width (48 bits)\", then panic"
                           f" \"{layout.host.dom0_panic.format(rc=-34)}\"")
    return None


def uses_ppi(tree: Tree, node: Node, gic: Node | None) -> bool:
    """Whether one of the node's interrupts is a GIC PPI (IDs 16-31): the
    vGIC cannot route those, so handle_node skips the node."""
    value = node.get("interrupts")
    if value is None:
        return False
    parent = _interrupt_parent(tree, node)
    if parent is None or parent is not gic:
        return False
    cells = xen_dt.cells_of(value)
    per = xen_dt.cells_of(parent.get("#interrupt-cells") or b"\0\0\0\3")[0]
    return per >= 3 and any(cells[i] == 1 for i in range(0, len(cells) - per + 1, per))


def _interrupt_parent(tree: Tree, node: Node) -> Node | None:
    at: Node | None = node
    while at is not None:
        value = at.get("interrupt-parent")
        if value is not None and len(value) >= 4:
            return tree.by_phandle(int.from_bytes(value[:4], "big"))
        at = tree.parent(at)
    return None


def xen_console(tree: Tree) -> str | None:
    """The node Xen takes for its console (/chosen stdout-path, through
    /aliases), which dom0 does not get."""
    chosen = tree.node("/chosen")
    path = chosen.string("stdout-path") if chosen is not None else None
    if not path:
        return None
    path = path.split(":", 1)[0]
    if not path.startswith("/"):
        aliases = tree.node("/aliases")
        path = (aliases.string(path) if aliases is not None else None) or ""
    return path or None


def _memory_node(tree: Tree, rules: HostRules) -> Failure | None:
    """make_memory_node for the reserved memory of the hardware domain:
    BUG_ON(nr_cells >= ARRAY_SIZE(reg)) with reg[] of NR_MEM_BANKS * 4
    cells (STATIC_SHM is off in a default build), hit when the
    /reserved-memory banks fill it exactly (256 banks in 2+2 cells)."""
    address, size = xen_dt.child_cells(tree, tree.root)
    reserved = tree.node("/reserved-memory")
    if reserved is None:
        return None
    count = 0
    for child in tree.descendants(reserved):
        if child.get("reg") is not None:
            count += sum(1 for r in xen_dt.meminfo(tree, child, "reg", xen_dt.cells(tree, child))
                         if r.size)
    full = count * (address + size) >= rules.max * 4
    if count and full and rules.memory_node_full == "bug":
        return Failure("/reserved-memory", "make_memory_node",
                       f"{count} reserved-memory banks in {address}+{size} cells fill reg[]"
                       f" exactly: \"Xen BUG at domain_build.c\" (BUG_ON(nr_cells >="
                       f" ARRAY_SIZE(reg)))",
                       "fixed by \"xen/device-tree: Fix off-by-one bounds check in"
                       " make_memory_node()\" in 4.20.4, 4.21.2, 4.22.0")
    return None
