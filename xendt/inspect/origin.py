"""Who built a guest device tree, and why two builders' trees differ.

A guest DT comes from libxl (`xl create`) or from the Xen hypervisor itself
(a dom0less domU, prepare_dtb_domU). They describe the same virtual
machine from the same guest memory map (arch-arm.h) but are written by
different code, so `xendt diff` between the two explains each difference
that comes from the builder rather than the guest.

libxl always writes a root `compatible` of "xen,xenvm-X.Y" and a model
(make_root_properties, tools/libs/light/libxl_arm.c @ RELEASE-4.14.0 …
RELEASE-4.22.0); Xen's dom0less builder writes neither, only the root's
cells, then /chosen, /cpus, /psci, /memory, the GIC and /timer
(prepare_dtb_domU: xen/arch/arm/domain_build.c @ RELEASE-4.14.0 …
RELEASE-4.18.0, xen/arch/arm/dom0less-build.c @ RELEASE-4.19.0 …
RELEASE-4.21.0, xen/common/device-tree/dom0less-build.c @ RELEASE-4.22.0).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from xendt.fdt.tree import Tree

LIBXL = "libxl"
DOM0LESS = "dom0less"
DOM0 = "dom0"


@dataclass(frozen=True)
class Origin:
    """What built a tree.

    builder:
      "libxl", "dom0less" (the hypervisor's prepare_dtb_domU), "dom0" (the
      hypervisor's prepare_dtb_hwdom: the host DT rewritten for dom0) or ""
      when the tree is none of these (a host DT, a hand-written one).
    reason:
      what in the tree says so, for messages.
    """

    builder: str
    reason: str

    def __str__(self) -> str:
        names = {LIBXL: "libxl (xl create)", DOM0LESS: "the Xen hypervisor (a dom0less domU)",
                 DOM0: "the Xen hypervisor (dom0, from the host DT)"}
        return f"built by {names[self.builder]}: {self.reason}" if self.builder else self.reason


def origin(tree: Tree) -> Origin:
    """Who built `tree`, from the root properties each builder writes."""
    root = tree.root
    if any(c.startswith("xen,xenvm") for c in root.compatible):
        return Origin(LIBXL, 'root compatible "xen,xenvm"')
    names = {child.name for child in root.children}
    if (root.get("compatible") is None and root.get("model") is None
            and {"chosen", "cpus", "psci", "timer"} <= names):
        return Origin(DOM0LESS, "no root compatible or model, and /chosen, /cpus, /psci, /timer")
    hypervisor = tree.node("/hypervisor")
    chosen = tree.node("/chosen")
    if (hypervisor is not None and hypervisor.is_compatible("xen,xen")
            and root.get("compatible") is not None
            and (chosen is None or chosen.get("xen,xen-bootargs") is None)):
        return Origin(DOM0, "the host's root compatible with a /hypervisor \"xen,xen\" node and"
                            " no xen,xen-bootargs")
    return Origin("", "no guest builder's tree (a host DT, or hand-written)")


#: Why a libxl guest's tree and a dom0less guest's differ where they do:
#: (change kind, node path pattern, property pattern) -> the reason.
_WHY: tuple[tuple[str, str, str, str], ...] = (
    ("property-*", "/", "model",
     "libxl names the guest XENVM-X.Y (make_root_properties); Xen's dom0less builder writes no model"),
    ("property-*", "/", "compatible",
     'libxl writes "xen,xenvm-X.Y", "xen,xenvm"; Xen\'s dom0less builder writes no root compatible'),
    ("property-*", "/", "interrupt-parent",
     "libxl makes the GIC the root's interrupt-parent; Xen's dom0less builder gives each device"
     " node its own"),
    ("property-*", "/chosen", "rng-seed",
     "libxl adds 128 random bytes for the guest's RNG; Xen's dom0less builder adds none"),
    ("property-*", "/chosen", "bootargs",
     "libxl takes xl.cfg's cmdline (or root and extra); Xen takes the kernel module's bootargs,"
     " else the domain node's"),
    ("property-*", "/chosen", "linux,initrd-*",
     "libxenguest places the ramdisk 128 MiB into RAM when it fits (xg_dom_arm.c meminit); Xen"
     " places it after the kernel (place_modules, xen/arch/arm/kernel.c); libxl's end was"
     " page-rounded before Xen 4.19 (xc_dom_alloc_segment)"),
    ("property-*", "/cpus/cpu@*", "compatible",
     'libxl writes "arm,armv8" ("arm,cortex-a15" for a 32-bit guest); Xen copies the host CPU'
     " node's compatible (make_cpus_node)"),
    ("property-*", "/interrupt-controller@*", "#redistributor-regions",
     "Xen's dom0less GICv3 node states it from 4.20 (make_gicv3_domU_node); libxl never writes it"),
    ("node-*", "/sbsa-pl011", "",
     'libxl names the vpl011 node "sbsa-pl011" (make_vpl011_uart_node, libxl_arm.c); Xen names it'
     ' "sbsa-uart@<base>"'),
    ("node-*", "/sbsa-uart@*", "",
     'Xen names the vpl011 node "sbsa-uart@<base>" (make_vpl011_uart_node, dom0less); libxl'
     ' names it "sbsa-pl011"'),
    ("children-reordered", "/", "",
     "each builder writes the nodes in its own order: libxl psci after /cpus; Xen 4.21+ psci and"
     " vpl011 after /hypervisor, 4.22 the passthrough nodes before /cpus"),
    ("property-*", "/hypervisor", "reg",
     "libxl cuts the extended regions from the guest's RAM banks and the IPA size (libxl__arch_"
     "domain_finalise_hw_description); Xen's find_domU_holes does the same with its own rules"
     " (2 MiB-aligned, 64 MiB at least, shared memory and xen,reg cut out from 4.19/4.21)"),
)


def why(kind: str, node: str, prop: str) -> str:
    """Why a libxl tree and a dom0less tree differ at this change, or ""."""
    for kinds, nodes, props, reason in _WHY:
        if (fnmatch.fnmatchcase(kind, kinds) and fnmatch.fnmatchcase(node, nodes)
                and fnmatch.fnmatchcase(prop, props)):
            return reason
    return ""
