"""Why dom0's device tree differs from the host's: the Xen function that
makes each change (prepare_dtb_hwdom and its helpers in
``xen/arch/arm/domain_build.c`` @ RELEASE-4.14.0 … RELEASE-4.22.0; the
rules are xendt.dom0's).

`why(change, host, dom0)` is asked for each change `xendt diff` finds
between a host DT and the dom0 tree Xen wrote from it; it looks at the host
node to say which of handle_node's rules left a node out.
"""

from __future__ import annotations

import fnmatch

from xendt.fdt.tree import Node, Tree

_SKIP = ("xen,xen", "xen,multiboot-module", "multiboot,module", "arm,psci", "arm,psci-0.2",
         "arm,psci-1.0", "arm,cortex-a7-pmu", "arm,cortex-a15-pmu", "arm,cortex-a53-edac",
         "arm,armv8-pmuv3", "arm,armv7-timer-mem")
_TIMER = ("arm,armv7-timer", "arm,armv8-timer")

#: (change kind, node pattern, property pattern) -> why, for changes whose
#: reason does not depend on the host node.
_RULES: tuple[tuple[str, str, str, str], ...] = (
    ("node-added", "/hypervisor", "",
     "make_hypervisor_node: compatible \"xen,xen-X.Y\", the grant table and the extended"
     " regions in reg, the event channel PPI"),
    ("property-*", "/psci", "*",
     "handle_node skips the host's /psci (skip_matches) and make_psci_node writes Xen's"
     " virtual PSCI at the end of the root: method \"hvc\", Xen's own cpu_on and cpu_off"
     " function IDs, no migrate or cpu_suspend"),
    ("node-added", "/psci", "",
     "make_psci_node: Xen's virtual PSCI, called with HVC"),
    ("property-*", "/timer", "*",
     "make_timer_node writes the timer anew: compatible \"arm,armv8-timer\" (armv7 for a"
     " 32-bit dom0), the host's secure, non-secure and virtual PPIs as level-low for every"
     " CPU (no hypervisor PPI), the host's clock-frequency if it has one, the GIC as"
     " interrupt-parent"),
    ("property-*", "/timer@*", "*",
     "make_timer_node writes the timer anew (see /timer)"),
    ("property-removed", "/chosen", "xen,xen-bootargs",
     "write_properties drops Xen's own command line"),
    ("property-removed", "/chosen", "xen,dom0-bootargs",
     "write_properties writes it as dom0's bootargs instead"),
    ("property-*", "/chosen", "bootargs",
     "write_properties: dom0's command line is xen,dom0-bootargs, else the kernel module's"
     " bootargs, else the host's /chosen bootargs"),
    ("property-removed", "/chosen", "stdout-path",
     "write_properties drops stdout-path: the console UART is Xen's (dom0 has hvc0)"),
    ("property-*", "/chosen", "linux,initrd-*",
     "write_properties leaves placeholders that initrd_load fills with where Xen put the"
     " ramdisk (place_modules, xen/arch/arm/kernel.c)"),
    ("property-removed", "/chosen", "linux,uefi-*",
     "write_properties drops the UEFI properties: dom0 boots without EFI services"),
    ("property-removed", "/cpus/cpu@*", "phandle",
     "make_cpus_node writes every cpu node anew, without phandle"),
    ("property-added", "/cpus/cpu@*", "clock-frequency",
     "make_cpus_node gives every vCPU the clock-frequency of the host's first cpu node"),
    ("property-*", "/cpus/cpu@*", "*",
     "make_cpus_node writes every cpu node anew from the host's first: its compatible,"
     " clock-frequency, enable-method \"psci\" and the vCPU's MPIDR in reg"),
    ("node-removed", "/cpus/cpu-map*", "",
     "make_cpus_node writes only cpu nodes: no cpu-map"),
    ("property-removed", "*", "iommus",
     "write_properties drops iommus from a device behind an IOMMU Xen drives: dom0 sees no"
     " IOMMU, Xen translates for it"),
    ("property-removed", "*", "iommu-map*",
     "write_properties drops iommu-map and iommu-map-mask when they name an IOMMU Xen drives"),
    ("property-*", "*", "status",
     "write_properties: a node marked xen,passthrough gets status = \"disabled\" (its device"
     " is kept for a domU)"),
    ("property-removed", "*", "xen,passthrough",
     "write_properties never passes xen,passthrough on"),
    ("property-added", "*", "linux,pci-domain",
     "handle_linux_pci_domain: with pci-passthrough, each host bridge gets its PCI segment"),
    ("children-reordered", "/", "",
     "handle_node copies the host's nodes in order, then writes its own at the end of the"
     " root: /hypervisor, /psci and /cpus (the host's are skipped), /memory"),
)


def why(kind: str, node: str, prop: str, host: Tree, dom0: Tree) -> str:
    """Why the host DT `host` and dom0's `dom0` differ at this change."""
    if kind == "node-removed":
        removed = _removed(host, node, dom0)
        if removed:
            return removed
    if kind == "node-added":
        added = _added(node, host, dom0)
        if added:
            return added
    if kind.startswith("property-") and _is_gic(host.node(node)):
        return ("make_gic_node writes the GIC anew: distributor and dom0's redistributor regions"
                " (GICv3) or distributor and CPU interface (GICv2) in reg, no maintenance"
                " interrupt, only the cells and compatible of the host's")
    for kinds, nodes, props, reason in _RULES:
        if (fnmatch.fnmatchcase(kind, kinds) and fnmatch.fnmatchcase(node, nodes)
                and fnmatch.fnmatchcase(prop, props)):
            return reason
    return ""


def _removed(host: Tree, path: str, dom0: Tree) -> str:
    """Which of handle_node's rules left the host node at `path` out."""
    node = host.node(path)
    if node is None:
        return ""
    parent = path.rsplit("/", 1)[0] or "/"
    skipped = next((c for c in node.compatible if c in _SKIP), None)
    if node.is_compatible("arm,gic-v2m-frame"):
        return ("make_gic_node writes each GICv2m frame anew as \"v2m\", with arm,msi-base-spi"
                " and arm,msi-num-spis from the frame's MSI_TYPER register")
    if parent != "/" and host.node(parent) is not None and _is_gic(host.node(parent)):
        return ("make_gic_node copies none of the GIC's children but GICv2m frames (an ITS"
                " needs CONFIG_HAS_ITS, not in a default build)")
    if skipped:
        return f"handle_node skips nodes compatible with \"{skipped}\" (skip_matches)"
    if node.string("device_type") == "memory":
        return ("handle_node skips memory nodes: dom0's RAM is the /memory make_memory_node"
                " writes from its own banks")
    if path.startswith("/cpus/cpu@"):
        cpus = dom0.node("/cpus")
        count = sum(1 for c in cpus.children if c.string("device_type") == "cpu") if cpus else 0
        return f"make_cpus_node writes one cpu node per dom0 vCPU: dom0 has {count}"
    if _is_gic(node):
        return ("handle_node hands the GIC to make_gic_node, which writes it anew as"
                " /interrupt-controller (before 4.21; the host's name from 4.21)")
    if any(node.is_compatible(c) for c in _TIMER):
        return "make_timer_node writes the timer anew as /timer"
    if node.get("#iommu-cells") is not None:
        return ("handle_node skips IOMMUs: Xen drives the one it has a driver for, and passes"
                " none to dom0")
    if _is_console(host, path):
        return ("handle_node skips the UART Xen keeps for its console (dtuart= or"
                " stdout-path: dt_device_used_by is DOMID_XEN)")
    if _uses_ppi(host, node):
        return "handle_node skips nodes using PPIs: the vGIC cannot route a hardware PPI"
    return ""


def _added(path: str, host: Tree, dom0: Tree) -> str:
    if path.startswith("/memory"):
        node = dom0.node(path)
        reserved = host.node("/reserved-memory")
        base = path.partition("@")[2]
        if reserved is not None and any(c.name.partition("@")[2] == base
                                        for c in reserved.children):
            return ("make_memory_node over the host's reserved memory (bootinfo.reserved_mem):"
                    " dom0 knows it as RAM, reserved under /reserved-memory")
        if node is not None:
            return ("make_memory_node: dom0's RAM banks, where allocate_memory_11 put them"
                    " (1:1, so guest address = host address)")
    if _is_gic(dom0.node(path)):
        return ("make_gic_node: the GIC Xen drives, with dom0's redistributor regions (GICv3) or"
                " distributor and CPU interface (GICv2)")
    if path.rsplit("/", 1)[-1] == "v2m":
        return ("make_gic_node writes each GICv2m frame as \"v2m\", with arm,msi-base-spi and"
                " arm,msi-num-spis from the frame's MSI_TYPER register")
    if path == "/cpus" or path.startswith("/cpus/"):
        return "make_cpus_node: one cpu node per dom0 vCPU"
    return ""


def _is_gic(node: Node | None) -> bool:
    return node is not None and node.get("interrupt-controller") is not None and any(
        c.startswith("arm,gic") or c.startswith("arm,cortex-a") for c in node.compatible)


def _is_console(host: Tree, path: str) -> bool:
    chosen = host.node("/chosen")
    if chosen is None:
        return False
    for word in (chosen.string("xen,xen-bootargs") or "").split():
        if word.startswith("dtuart="):
            given = word[7:].split(":", 1)[0]
            aliases = host.node("/aliases")
            if not given.startswith("/") and aliases is not None:
                given = aliases.string(given) or given
            return given == path
    stdout = (chosen.string("stdout-path") or "").split(":", 1)[0]
    aliases = host.node("/aliases")
    if stdout and not stdout.startswith("/") and aliases is not None:
        stdout = aliases.string(stdout) or stdout
    return stdout == path


def _uses_ppi(host: Tree, node: Node) -> bool:
    from xendt.host import xen_dt

    cells = xen_dt.cells_of(node.get("interrupts") or b"")
    return any(cells[i] == 1 for i in range(0, len(cells) - 2, 3))
