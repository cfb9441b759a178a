"""The node makers Xen shares between dom0 (prepare_dtb_hwdom) and its
dom0less domUs (prepare_dtb_domU): make_hypervisor_node, make_psci_node,
make_cpus_node, make_timer_node, and the domU's make_gicv2_domU_node /
make_gicv3_domU_node and make_vpl011_uart_node (``xen/arch/arm/
domain_build.c`` @ RELEASE-4.14.0 … RELEASE-4.18.0, ``dom0less-build.c`` @
RELEASE-4.19.0, RELEASE-4.20.0, ``xen/common/device-tree/dom0less-build.c``
and ``domain-build.c`` @ RELEASE-4.21.0, RELEASE-4.22.0).

Where libxl writes the same node in the same order (psci, timer,
/hypervisor) its builder uses these too. Every input is a plain value:
what the version or the host decides is the caller's.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from xendt.fdt.node import (
    LEVEL_HIGH,
    LEVEL_LOW,
    PSCI_CPU_OFF,
    PSCI_CPU_ON,
    VPL011_BAUD,
    Node,
    affinity,
    cells,
    interrupt,
    interrupts,
    regs,
    string,
    strings,
)

Pairs = Sequence[tuple[int, int]]


@functools.cache
def psci() -> Node:
    """make_psci_node (libxl's make_psci_node writes the same); one frozen
    node for every tree."""
    return (Node("psci")
            .prop("compatible", strings("arm,psci-1.0", "arm,psci-0.2", "arm,psci"))
            .prop("method", string("hvc"))
            .prop("cpu_off", cells(PSCI_CPU_OFF))
            .prop("cpu_on", cells(PSCI_CPU_ON)))


def with_interrupts(node: Node, phandle: int, *specs: tuple[int, int, int]) -> Node:
    """`interrupts` then `interrupt-parent`, as Xen and libxl pair them."""
    return node.prop("interrupts", interrupts(*specs)).prop("interrupt-parent", cells(phandle))


def hypervisor(version: str, reg: bytes, evtchn_ppi: int, phandle: int) -> Node:
    """make_hypervisor_node: "xen,xen-X.Y" (XEN_VERSION_STRING), `reg` (the
    grant table, then the extended regions, in the root's cells), the
    event-channel PPI, level-low."""
    node = (Node("hypervisor").prop("compatible", strings(f"xen,xen-{version}", "xen,xen"))
            .prop("reg", reg))
    return with_interrupts(node, phandle, interrupt(evtchn_ppi, LEVEL_LOW))


def cpus(compatible: bytes, clock: int | None, vcpus: int, bits: int) -> Node:
    """make_cpus_node: every vCPU gets the first host CPU's compatible and
    clock-frequency; enable-method only for 64-bit domains."""
    children = []
    for vcpu in range(vcpus):
        mpidr = affinity(vcpu)
        cpu = (Node(f"cpu@{mpidr:x}").prop("compatible", compatible)
               .prop("device_type", string("cpu")).prop("reg", cells(mpidr)))
        if clock is not None:
            cpu = cpu.prop("clock-frequency", cells(clock))
        if bits == 64:
            cpu = cpu.prop("enable-method", string("psci"))
        children.append(cpu)
    return Node("cpus").prop("#address-cells", cells(1)).prop("#size-cells", cells(0)) \
        .child(*children)


def timer(bits: int, ppis: tuple[int, int, int], phandle: int, clock: int | None) -> Node:
    """make_timer_node: the secure, non-secure and virtual timer PPIs,
    level-low, and the clock-frequency when there is one (libxl's
    make_timer_node writes the same)."""
    node = Node("timer").prop("compatible", strings(
        "arm,armv8-timer" if bits == 64 else "arm,armv7-timer"))
    node = with_interrupts(node, phandle, *(interrupt(p, LEVEL_LOW) for p in ppis))
    return node if clock is None else node.prop("clock-frequency", cells(clock))


def gic_domu(name: str, version: str, frames: Pairs, phandle: int,
             redistributor_regions: int | None) -> Node:
    """make_gicv2_domU_node (`frames`: distributor, CPU interface) or
    make_gicv3_domU_node (distributor, then the redistributors;
    `redistributor_regions` their count where the version writes it)."""
    node = (Node(name).prop("#address-cells", cells(0)).prop("#interrupt-cells", cells(3))
            .prop("interrupt-controller"))
    node = node.prop("compatible", string("arm,gic-400" if version == "v2" else "arm,gic-v3"))
    if redistributor_regions is not None:
        node = node.prop("#redistributor-regions", cells(redistributor_regions))
    return (node.prop("reg", regs(*frames)).prop("linux,phandle", cells(phandle))
            .prop("phandle", cells(phandle)))


def vpl011(name: str, frame: tuple[int, int], irq: int, phandle: int) -> Node:
    """make_vpl011_uart_node: an SBSA UART, its SPI level-high (libxl's
    make_vpl011_uart_node writes the same under another name)."""
    node = Node(name).prop("compatible", strings("arm,sbsa-uart")).prop("reg", regs(frame))
    node = with_interrupts(node, phandle, interrupt(irq, LEVEL_HIGH))
    return node.prop("current-speed", cells(VPL011_BAUD))
