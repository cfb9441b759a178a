"""The guest device tree as libxl_arm.c builds it, node by node.

`guest_tree()` returns the tree libxl writes at domain creation, before any
address is known: memory `reg`s, initrd addresses and the /hypervisor `reg`
are placeholders that the builder fills in afterwards with xendt.fdt.write's
in-place edits, as libxl's finalisation does. Nodes and properties come in
libxl's order for the chosen Xen version; property values are the exact
bytes libxl writes. Nodes are frozen (xendt.fdt.node): those made once per
layout and kept cannot change under a later build.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable
from typing import Any, TypeVar, cast

from xendt.fdt import xen_nodes
from xendt.fdt.node import (
    EDGE_RISING,
    ROOT_CELLS,
    Node,
    affinity,
    cells,
    interrupt,
    regs,
    string,
    strings,
    u64,
)
from xendt.guest.model import GuestConfig, VirtioSlot
from xendt.xen.layout import Layout

__all__ = ["Node", "cells", "guest_tree", "regs", "string", "strings", "u64"]

_N = TypeVar("_N")


def with_interrupts(node: Node, layout: Layout, *specs: tuple[int, int, int]) -> Node:
    """`interrupts` then `interrupt-parent`, as libxl always pairs them."""
    return xen_nodes.with_interrupts(node, layout.gic_phandle, *specs)


def guest_tree(layout: Layout, guest: GuestConfig, *, gic: str, clock_frequency: int,
               rng_seed: bytes, virtio: tuple[VirtioSlot, ...],
               partial: tuple[Node, ...] = ()) -> Node:
    """The whole tree, placeholders included.

    gic: the vGIC Xen granted ("v2"/"v3"); rng_seed: the /chosen seed (b""
    for none); virtio: the allocated virtio-mmio slots, disks first;
    partial: /passthrough and /aliases from device_tree=, already read.
    """
    major, minor = layout.major_minor
    arm32 = guest.kernel.arch == "arm32"
    head = (("model", string(f"XENVM-{major}.{minor}")),
            ("compatible", strings(f"xen,xenvm-{major}.{minor}", "xen,xenvm")),
            ("interrupt-parent", cells(layout.gic_phandle)),
            ("#address-cells", cells(ROOT_CELLS[0])),
            ("#size-cells", cells(ROOT_CELLS[1])))
    children = [chosen_node(layout, guest, rng_seed), cpus_node(guest.max_vcpus, arm32),
                xen_nodes.psci()]
    children += _shared(layout, "banks", lambda: tuple(
        Node(f"memory@{bank.base:x}").prop("device_type", string("memory"))
        .prop("reg", regs((0, 0))) for bank in layout.banks))
    children.append(_shared(layout, ("gic", gic), lambda: gic_node(layout, gic)))
    children.append(_shared(layout, ("timer", arm32, clock_frequency),
                            lambda: timer_node(layout, arm32, clock_frequency)))
    children.append(_shared(layout, "hypervisor", lambda: hypervisor_node(layout)))
    if guest.vuart:
        children.append(_shared(layout, "vpl011", lambda: vpl011_node(layout)))
    if guest.tee == "optee":
        children.append(_OPTEE)
    if guest.pci_devices and layout.vpci:
        children.append(_shared(layout, "vpci", lambda: vpci_node(layout)))
    children += virtio_nodes(layout, guest, virtio)
    return Node("", (*head, *children, *partial))


def vpl011_node(layout: Layout) -> Node:
    uart = layout.region("vpl011")
    return xen_nodes.vpl011("sbsa-pl011", (uart.base, uart.size), layout.irqs.vpl011,
                            layout.gic_phandle)


#: OP-TEE's node (tee = "optee"), the same in every version.
_OPTEE = Node("firmware").child(Node("optee").prop("compatible", strings("linaro,optee-tz"))
                                .prop("method", string("hvc")))


def chosen_node(layout: Layout, guest: GuestConfig, rng_seed: bytes) -> Node:
    entries: list[tuple[str, bytes] | Node] = []
    if guest.cmdline is not None:
        entries.append(("bootargs", string(guest.cmdline)))
    if guest.ramdisk_size is not None:
        # filled in by finalisation
        entries += [("linux,initrd-start", bytes(8)), ("linux,initrd-end", bytes(8))]
    if guest.acpi:
        acpi = layout.region("acpi")
        entries.append(Node(f"module@{acpi.base:x}")
                       .prop("compatible", strings("xen,guest-acpi", "multiboot,module"))
                       .prop("reg", regs((0, 0))))
    if layout.rng_seed and rng_seed:
        # With ACPI this lands after the module subnode, as in libxl.
        entries.append(("rng-seed", rng_seed))
    return Node("chosen", tuple(entries))


def _shared(layout: Layout, key: Hashable, make: Callable[[], _N]) -> _N:
    """A node (or nodes) that depends only on `layout` and `key`, made once
    per layout: image builders build many guests in one process. Nodes are
    frozen, so whoever holds one cannot change it for the next build. Kept
    in the layout object's own __dict__ (as functools.cached_property keeps
    its values; Layout is frozen)."""
    cache: dict[Hashable, Any] = layout.__dict__.setdefault("_guest_nodes", {})
    if key not in cache:
        cache[key] = make()
    return cast(_N, cache[key])


@functools.lru_cache(maxsize=256)
def cpus_node(count: int, arm32: bool) -> Node:
    """libxl's make_cpus_node (its own order, not Xen's)."""
    compatible = strings("arm,cortex-a15" if arm32 else "arm,armv8")
    return Node("cpus").prop("#address-cells", cells(1)).prop("#size-cells", cells(0)).child(*(
        Node(f"cpu@{affinity(vcpu):x}")
        .prop("device_type", string("cpu"))
        .prop("compatible", compatible)
        .prop("enable-method", string("psci"))
        .prop("reg", cells(affinity(vcpu))) for vcpu in range(count)))


def gic_node(layout: Layout, gic: str) -> Node:
    if gic == "v2":
        dist, second = layout.region("gicv2-distributor"), layout.region("gicv2-cpu-interface")
        compatible = strings("arm,cortex-a15-gic", "arm,cortex-a9-gic")
    else:
        dist, second = layout.region("gicv3-distributor"), layout.region("gicv3-redistributor")
        compatible = strings("arm,gic-v3")
    return (Node(f"interrupt-controller@{dist.base:x}")
            .prop("compatible", compatible)
            .prop("#interrupt-cells", cells(3))
            .prop("#address-cells", cells(0))
            .prop("interrupt-controller", b"")
            .prop("reg", regs((dist.base, dist.size), (second.base, second.size)))
            .prop("linux,phandle", cells(layout.gic_phandle))
            .prop("phandle", cells(layout.gic_phandle)))


def timer_node(layout: Layout, arm32: bool, clock_frequency: int) -> Node:
    irqs = layout.irqs
    return xen_nodes.timer(32 if arm32 else 64, (irqs.timer_phys_secure,
                           irqs.timer_phys_nonsecure, irqs.timer_virt), layout.gic_phandle,
                           clock_frequency or None)


def hypervisor_node(layout: Layout) -> Node:
    major, minor = layout.major_minor
    if layout.ext_scheme == "none":
        grant = layout.region("grant-table")
        reg = regs((grant.base, grant.size))
    else:
        # Zero pairs for the grant table and extended regions, written at finalisation.
        reg = bytes(4 * sum(ROOT_CELLS) * layout.hypervisor_reg_pairs)
    return xen_nodes.hypervisor(f"{major}.{minor}", reg, layout.irqs.event_channel,
                                layout.gic_phandle)


def vpci_node(layout: Layout) -> Node:
    ecam = layout.region("vpci-ecam")
    ranges = b""
    for kind, window in ((layout.vpci_mem_type, layout.region("vpci-mem")),
                         (layout.vpci_prefetch_type, layout.region("vpci-prefetch-mem"))):
        # phys.hi cell, then PCI address, CPU address (the same) and size, 2 cells each
        ranges += cells(kind) + u64(window.base, window.base, window.size)
    return (Node(f"pcie@{ecam.base:x}")
            .prop("compatible", strings("pci-host-ecam-generic"))
            .prop("device_type", string("pci"))
            .prop("reg", regs((ecam.base, ecam.size)))
            .prop("bus-range", cells(0, 255))
            .prop("#address-cells", cells(3))
            .prop("#size-cells", cells(2))
            .prop("status", string("okay"))
            .prop("ranges", ranges))


def disk_uses_grants(layout: Layout, backend_domid: int, grant_usage: bool | None) -> bool:
    """Whether a virtio disk's node gets `iommus` (see Layout.disk_grants)."""
    if layout.disk_grants == "grant-usage" and grant_usage is not None:
        return grant_usage
    return backend_domid != 0


def virtio_nodes(layout: Layout, guest: GuestConfig,
                 slots: tuple[VirtioSlot, ...]) -> list[Node]:
    """virtio-mmio nodes (disks, then virtio= devices) and the xen_iommu
    node where this version puts it."""
    out: list[Node] = []
    iommu_added = False
    any_grants = False
    for slot in slots:
        if slot.kind == "disk":
            disk = guest.disks[slot.index]
            backend, grants = disk.backend_domid, disk_uses_grants(layout, disk.backend_domid,
                                                                   disk.grant_usage)
            device_type = None
        else:
            device = guest.virtio[slot.index]
            backend, device_type = device.backend_domid, device.type
            grants = device.grant_usage if device.grant_usage is not None else backend != 0
        if grants and layout.xen_iommu == "before-first-granted-disk" and not iommu_added:
            out.append(xen_iommu_node(layout))
            iommu_added = True
        any_grants |= grants
        node = Node(f"virtio@{slot.base:x}").prop("compatible", strings("virtio,mmio"))
        node = with_interrupts(node.prop("reg", regs((slot.base, slot.size))), layout,
                               interrupt(slot.spi, EDGE_RISING)).prop("dma-coherent", b"")
        if grants:
            node = node.prop("iommus", cells(layout.iommu_phandle, backend))
        out.append(node.child(*_virtio_children(device_type)))
    if any_grants and layout.xen_iommu == "after-virtio":
        out.append(xen_iommu_node(layout))
    return out


def _virtio_children(device_type: str | None) -> tuple[Node, ...]:
    if device_type == "virtio,device22":
        return (Node("i2c").prop("compatible", strings(device_type)),)
    if device_type == "virtio,device29":
        return (Node("gpio")
                .prop("compatible", strings(device_type))
                .prop("gpio-controller", b"")
                .prop("#gpio-cells", cells(2))
                .prop("interrupt-controller", b"")
                .prop("#interrupt-cells", cells(2)),)
    return ()


def xen_iommu_node(layout: Layout) -> Node:
    return (Node("xen_iommu")
            .prop("compatible", strings("xen,grant-dma"))
            .prop("#iommu-cells", cells(1))
            .prop("phandle", cells(layout.iommu_phandle)))
