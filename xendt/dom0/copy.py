"""handle_node and write_properties: the host DT copied node by node into
dom0's, as ``xen/arch/arm/domain_build.c`` @ RELEASE-4.14.0 …
RELEASE-4.22.0 does.

Each node in DT order (Xen's unflattened tree: a property after a subnode
is not in it):

1. skipped with its subtree when a skip_matches compatible matches
   ([dom0] skip-compatibles), it is /cpus, or its device_type is "memory";
2. a node a GIC driver matches becomes make_gic_node's (xendt.dom0.gic),
   once: a secondary GIC is dropped; a timer node becomes make_timer_node's;
3. skipped: the UART Xen keeps (dt_device_used_by == DOMID_XEN: the node
   dtuart= or stdout-path names, when a serial driver matches it), a node an
   IOMMU driver of a default build matches, a node with a GIC PPI;
4. otherwise copied under its own name: every property in order except, in
   /chosen, [dom0] chosen-drop and bootargs / xen,dom0-bootargs;
   xen,passthrough; status, which comes last (as "disabled" for a
   xen,passthrough node); iommus and iommu-map(-mask) of a node behind an
   IOMMU Xen drives (its iommus, from 4.19 also its iommu-map, names one).
   /chosen then gets dom0's bootargs and, with a ramdisk, 8-byte
   linux,initrd-start/-end placeholders. Children follow; the root ends
   with Xen's own nodes (xendt.dom0.tail).

A node a platform blacklist names is skipped too (platform_device_is_blacklisted,
[dom0] blacklists: the board's root compatible picks the platform). A host
node at /psci, /memory or /hypervisor is copied, with Xen's warning that it
reuses the path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from xendt.dom0 import gic as gic_node
from xendt.dom0less.nodes import Plan, nodes
from xendt.fdt.tree import Node, Tree
from xendt.fdt.write import Writer
from xendt.host import libxl_facts as facts
from xendt.host import refusals
from xendt.xen.rules import Dom0Rules

_IOMMU_PROPERTIES = ("iommus", "iommu-map", "iommu-map-mask")
#: handle_node's reserved_matches: paths Xen writes itself.
_RESERVED_PATHS = ("/psci", "/memory", "/hypervisor")


@dataclass(frozen=True)
class Copy:
    """One handle_node walk.

    tree, rules:
      the host DT and the version's [dom0] rules.
    plan:
      the shared makers' inputs (timer, and the tail's /hypervisor, /psci,
      /cpus).
    gic:
      the GIC Xen drives (dt_interrupt_controller).
    console:
      the UART Xen keeps, or None.
    iommus:
      compatibles of the IOMMU drivers a default build has.
    bootargs:
      the kernel module's command line (kinfo->cmdline), or None.
    initrd:
      whether dom0 has a ramdisk (the /chosen placeholders).
    v2m_spis:
      GICv2m frames' (SPI base, count) as read from their registers.
    tail:
      writes the root's closing nodes.
    blacklist:
      compatibles of the nodes the board's platform blacklists.
    warnings:
      Xen's warnings, filled by the walk.
    """

    tree: Tree
    rules: Dom0Rules
    plan: Plan
    gic: Node
    console: str | None
    iommus: frozenset[str]
    bootargs: bytes | None
    initrd: bool
    v2m_spis: tuple[tuple[int, int], ...]
    tail: Callable[[Writer], None]
    blacklist: frozenset[str] = frozenset()
    warnings: list[str] = field(default_factory=list)

    def node(self, w: Writer, node: Node) -> None:
        """handle_node."""
        if self._skipped(node) or any(c in self.blacklist for c in node.compatible):
            return
        if any(c in facts.GIC_COMPATIBLES for c in node.compatible):
            if node is self.gic:
                name = node.blob_name if self.rules.gic_name == "host" else "interrupt-controller"
                gic_node.write(w, self.tree, node, name, self.plan.vcpus, self.v2m_spis)
            return
        if any(node.is_compatible(c) for c in facts.TIMER_COMPATIBLES):
            w.node(*nodes(self.plan, "timer"))
            return
        if node.path == self.console or self._is_iommu(node) \
                or refusals.uses_ppi(self.tree, node, self.gic):
            return
        if node.path in _RESERVED_PATHS:
            self.warnings.append(f"WARNING: Path {node.path} is reserved, skip the node as we"
                                 f" may re-use the path. (Xen copies it: dom0 gets two)")
        w.begin(node.blob_name)
        self._properties(w, node)
        for child in node.children:
            self.node(w, child)
        if node.path == "/":
            self.tail(w)
        w.end()

    def _skipped(self, node: Node) -> bool:
        return (any(node.is_compatible(c) for c in self.rules.skip_compatibles)
                or node.path == "/cpus" or node.string("device_type") == "memory")

    def _is_iommu(self, node: Node) -> bool:
        return any(c in self.iommus for c in node.compatible)

    def _behind_iommu(self, node: Node) -> bool:
        """write_properties' iommu_node: the IOMMU named by the first cell
        of iommus (4.19+: else the second of iommu-map) is one Xen drives."""
        candidates = [(node.get("iommus"), 0)]
        if self.rules.iommu_map_master:
            candidates.append((node.get("iommu-map"), 1))
        for value, index in candidates:
            if value is None or len(value) < 4 * (index + 1):
                continue
            handle = int.from_bytes(value[4 * index:4 * index + 4], "big")
            target = self.tree.by_phandle(handle)
            if target is not None and self._is_iommu(target):
                return True
        return False

    def _properties(self, w: Writer, node: Node) -> None:
        """write_properties."""
        chosen = node.path == "/chosen"
        bootargs = self.bootargs or None
        had_dom0_bootargs = False
        status: bytes | None = None
        strip = self._behind_iommu(node)
        for prop in node.props:
            if not prop.reachable:
                continue
            name = prop.blob_name
            if chosen and name in self.rules.chosen_drop:
                continue
            if chosen and name == "xen,dom0-bootargs":
                had_dom0_bootargs, bootargs = True, _c_string(prop.value)
                continue
            if chosen and name == "bootargs":
                if bootargs is None and not had_dom0_bootargs:
                    bootargs = _c_string(prop.value)
                continue
            if name == "xen,passthrough":
                continue
            if name == "status":
                status = prop.value
                continue
            if strip and name in _IOMMU_PROPERTIES:
                continue
            w.prop(name, prop.value)
        if node.get("xen,passthrough") is not None:
            w.string("status", "disabled")
        elif status is not None:
            w.prop("status", status)
        if chosen:
            if bootargs is not None:
                w.prop("bootargs", bootargs + b"\0")
            if self.initrd:
                w.prop("linux,initrd-start", bytes(8))
                w.prop("linux,initrd-end", bytes(8))


def _c_string(value: bytes) -> bytes:
    """A property value as Xen's C string: up to its first NUL."""
    return value.split(b"\0", 1)[0]
