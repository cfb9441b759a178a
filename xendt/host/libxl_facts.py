"""The host facts libxl takes from the hypervisor, read from the board's DT.

libxl asks Xen for the GIC version when gic_version is "default"
(XEN_DOMCTL_CONFIG_GIC_NATIVE, replaced by gic_hw_version() in
arch_sanitise_domain_config, xen/arch/arm/domain.c @ RELEASE-4.17.0) and
writes the timer's clock-frequency Xen read at boot (vtimer_init copies
timer_dt_clock_frequency, xen/arch/arm/vtimer.c; libxl_arm.c make_timer_node
writes it only when non-zero). Both come from the host DT the same way in
4.14 … 4.22.
"""

from __future__ import annotations

from xendt.fdt.tree import Tree
from xendt.host import xen_dt

#: The GIC drivers' DT match tables (DT_MATCH_GIC_V2, DT_MATCH_GIC_V3,
#: xen/arch/arm/include/asm/gic.h @ RELEASE-4.19.0; the same 4.14 … 4.22).
GIC_COMPATIBLES = {"arm,cortex-a15-gic": "v2", "arm,cortex-a7-gic": "v2", "arm,gic-400": "v2",
                   "arm,gic-v3": "v3"}
#: DT_MATCH_TIMER (xen/arch/arm/include/asm/time.h @ RELEASE-4.19.0).
TIMER_COMPATIBLES = ("arm,armv7-timer", "arm,armv8-timer")


def gic_node(tree: Tree):
    """The node gic_dt_preinit probes (xen/arch/arm/gic.c @ RELEASE-4.19.0):
    the first node in DT order, not the root, with `interrupt-controller`,
    available and not for passthrough, that a GIC driver matches; None if
    none (Xen panics "Unable to find compatible GIC in the device tree")."""
    for node in tree.nodes():
        if tree.parent(node) is None or node.get("interrupt-controller") is None:
            continue
        if not xen_dt.is_available(node) or node.get("xen,passthrough") is not None:
            continue
        if any(c in GIC_COMPATIBLES for c in node.compatible):
            return node
    return None


def timer_node(tree: Tree):
    """The first node matching DT_MATCH_TIMER (dt_find_matching_node in
    preinit_dt_xen_time, xen/arch/arm/time.c @ RELEASE-4.19.0), or None."""
    return next((n for n in tree.nodes() if any(n.is_compatible(c) for c in TIMER_COMPATIBLES)),
                None)


def host_facts(tree: Tree) -> tuple[str | None, int]:
    """(GIC version "v2" or "v3", or None when no GIC driver matches; the
    timer's clock-frequency, 0 when absent) as Xen finds them on host `tree`.
    device_init tries the drivers in link order (gic-v2.o before gic-v3.o,
    xen/arch/arm/Makefile @ RELEASE-4.19.0), so a node both match is v2."""
    gic = gic_node(tree)
    version = None
    if gic is not None:
        found = {GIC_COMPATIBLES[c] for c in gic.compatible if c in GIC_COMPATIBLES}
        version = "v2" if "v2" in found else "v3"
    timer = timer_node(tree)
    frequency = 0
    if timer is not None:
        value = timer.get("clock-frequency")
        # dt_property_read_u32: only a value of at least 4 bytes is read.
        if value is not None and len(value) >= 4:
            frequency = int.from_bytes(value[:4], "big")
    return version, frequency
