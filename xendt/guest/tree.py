"""The guest device tree as libxl_arm.c builds it, node by node.

`guest_tree()` returns the tree libxl writes at domain creation, before any
address is known: memory `reg`s, initrd addresses and the /hypervisor `reg`
are placeholders that xendt.fdt.blob fills in afterwards, as libxl's
finalisation does. Nodes and properties come in libxl's order for the
chosen Xen version; property values are the exact bytes libxl writes.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from xendt.guest.model import GuestConfig, VirtioSlot
from xendt.xen.layout import Layout

_N = TypeVar("_N")

#: Interrupt trigger types (device_tree_defs.h).
EDGE_RISING = 1
LEVEL_HIGH = 4
LEVEL_LOW = 8
#: libxl routes every interrupt to all CPUs in the GICv2 sense.
CPU_MASK = 0xF
#: The address and size cells of the guest's root node.
ROOT_CELLS = (2, 2)
#: The fixed baud rate libxl gives the vpl011 UART.
VPL011_BAUD = 115200


@dataclass
class Node:
    """A device-tree node under construction.

    name:
      the node name with unit address ("" for the root).
    entries:
      properties, as (name, value bytes) pairs, and child Nodes, in emission
      order. libxl normally writes all properties first, but not always:
      with ACPI, /chosen's rng-seed follows the module subnode.
    """

    name: str
    entries: list[tuple[str, bytes] | Node] = field(default_factory=list)

    @property
    def props(self) -> list[tuple[str, bytes]]:
        return [e for e in self.entries if isinstance(e, tuple)]

    @property
    def children(self) -> list[Node]:
        return [e for e in self.entries if isinstance(e, Node)]

    def prop(self, name: str, value: bytes) -> Node:
        self.entries.append((name, value))
        return self

    def child(self, node: Node) -> Node:
        self.entries.append(node)
        return node


def cells(*values: int) -> bytes:
    """Big-endian 32-bit cells."""
    return struct.pack(f">{len(values)}I", *values)


def u64(*values: int) -> bytes:
    """64-bit values, two big-endian cells each."""
    return struct.pack(f">{len(values)}Q", *values)


def string(value: str) -> bytes:
    """A NUL-terminated string property value."""
    return value.encode() + b"\0"


def strings(*values: str) -> bytes:
    """A string-list property value (compatible and friends)."""
    return b"".join(string(v) for v in values)


def regs(*pairs: tuple[int, int], address_cells: int = 2, size_cells: int = 2) -> bytes:
    """A `reg` value of (base, size) pairs, each written in its cells,
    most significant cell first."""
    a, s = 4 * address_cells, 4 * size_cells
    return b"".join(base.to_bytes(a, "big") + size.to_bytes(s, "big") for base, size in pairs)


def interrupt(irq: int, trigger: int) -> tuple[int, int, int]:
    """The 3-cell GIC specifier libxl writes for interrupt ID `irq`."""
    if irq < 32:
        return (1, irq - 16, CPU_MASK << 8 | trigger)
    return (0, irq - 32, CPU_MASK << 8 | trigger)


def with_interrupts(node: Node, layout: Layout, *specs: tuple[int, int, int]) -> Node:
    """`interrupts` then `interrupt-parent`, as libxl always pairs them."""
    node.prop("interrupts", cells(*(c for spec in specs for c in spec)))
    return node.prop("interrupt-parent", cells(layout.gic_phandle))


def mpidr(vcpu: int) -> int:
    """The MPIDR affinity Xen gives vCPU `vcpu`: 16 per Aff1 cluster."""
    return (vcpu & 0xF) | ((vcpu >> 4) & 0xFF) << 8


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
    root = Node("")
    root.prop("model", string(f"XENVM-{major}.{minor}"))
    root.prop("compatible", strings(f"xen,xenvm-{major}.{minor}", "xen,xenvm"))
    root.prop("interrupt-parent", cells(layout.gic_phandle))
    root.prop("#address-cells", cells(ROOT_CELLS[0]))
    root.prop("#size-cells", cells(ROOT_CELLS[1]))

    root.child(chosen_node(layout, guest, rng_seed))
    root.child(cpus_node(guest.max_vcpus, arm32))
    root.child(_PSCI)
    for bank in _shared(layout, "banks", lambda: tuple(
            Node(f"memory@{bank.base:x}").prop("device_type", string("memory"))
            .prop("reg", regs((0, 0))) for bank in layout.banks)):
        root.child(bank)
    root.child(_shared(layout, ("gic", gic), lambda: gic_node(layout, gic)))
    root.child(_shared(layout, ("timer", arm32, clock_frequency),
                       lambda: timer_node(layout, arm32, clock_frequency)))
    root.child(_shared(layout, "hypervisor", lambda: hypervisor_node(layout)))
    if guest.vuart:
        root.child(_shared(layout, "vpl011", lambda: vpl011_node(layout)))
    if guest.tee == "optee":
        root.child(_OPTEE)
    if guest.pci_devices and layout.vpci:
        root.child(_shared(layout, "vpci", lambda: vpci_node(layout)))
    add_virtio_nodes(root, layout, guest, virtio)
    root.entries.extend(partial)
    return root


def vpl011_node(layout: Layout) -> Node:
    uart = layout.region("vpl011")
    node = Node("sbsa-pl011").prop("compatible", strings("arm,sbsa-uart"))
    node.prop("reg", regs((uart.base, uart.size)))
    with_interrupts(node, layout, interrupt(layout.irqs.vpl011, LEVEL_HIGH))
    return node.prop("current-speed", cells(VPL011_BAUD))


#: OP-TEE's node (tee = "optee"), the same in every version.
_OPTEE = Node("firmware", [Node("optee").prop("compatible", strings("linaro,optee-tz"))
                           .prop("method", string("hvc"))])


def chosen_node(layout: Layout, guest: GuestConfig, rng_seed: bytes) -> Node:
    node = Node("chosen")
    if guest.cmdline is not None:
        node.prop("bootargs", string(guest.cmdline))
    if guest.ramdisk_size is not None:
        node.prop("linux,initrd-start", bytes(8))   # filled in by finalisation
        node.prop("linux,initrd-end", bytes(8))
    if guest.acpi:
        acpi = layout.region("acpi")
        node.child(Node(f"module@{acpi.base:x}")
                   .prop("compatible", strings("xen,guest-acpi", "multiboot,module"))
                   .prop("reg", regs((0, 0))))
    if layout.rng_seed and rng_seed:
        # With ACPI this lands after the module subnode, as in libxl.
        node.prop("rng-seed", rng_seed)
    return node


#: The psci node, the same in every guest of every version.
_PSCI = (Node("psci")
         .prop("compatible", strings("arm,psci-1.0", "arm,psci-0.2", "arm,psci"))
         .prop("method", string("hvc"))
         .prop("cpu_off", cells(1))      # PSCI function IDs (arch-arm.h)
         .prop("cpu_on", cells(2)))


def _shared(layout: Layout, key: Hashable, make: Callable[[], _N]) -> _N:
    """A node (or nodes) that depends only on `layout` and `key`, made once
    per layout: image builders build many guests in one process, and the
    writer never changes a node. Kept in the layout object's own __dict__
    (as functools.cached_property keeps its values; Layout is frozen)."""
    cache: dict[Hashable, Any] = layout.__dict__.setdefault("_guest_nodes", {})
    if key not in cache:
        cache[key] = make()
    return cast(_N, cache[key])


@functools.lru_cache(maxsize=256)
def cpus_node(count: int, arm32: bool) -> Node:
    node = Node("cpus").prop("#address-cells", cells(1)).prop("#size-cells", cells(0))
    compatible = strings("arm,cortex-a15" if arm32 else "arm,armv8")
    for vcpu in range(count):
        affinity = mpidr(vcpu)
        node.child(Node(f"cpu@{affinity:x}")
                   .prop("device_type", string("cpu"))
                   .prop("compatible", compatible)
                   .prop("enable-method", string("psci"))
                   .prop("reg", cells(affinity)))
    return node


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
    node = Node("timer").prop("compatible", strings("arm,armv7-timer" if arm32 else "arm,armv8-timer"))
    irqs = layout.irqs
    with_interrupts(node, layout,
                    interrupt(irqs.timer_phys_secure, LEVEL_LOW),
                    interrupt(irqs.timer_phys_nonsecure, LEVEL_LOW),
                    interrupt(irqs.timer_virt, LEVEL_LOW))
    if clock_frequency:
        node.prop("clock-frequency", cells(clock_frequency))
    return node


def hypervisor_node(layout: Layout) -> Node:
    major, minor = layout.major_minor
    node = Node("hypervisor").prop("compatible", strings(f"xen,xen-{major}.{minor}", "xen,xen"))
    if layout.ext_scheme == "none":
        grant = layout.region("grant-table")
        node.prop("reg", regs((grant.base, grant.size)))
    else:
        # Zero pairs for the grant table and extended regions, written at finalisation.
        node.prop("reg", bytes(4 * sum(ROOT_CELLS) * layout.hypervisor_reg_pairs))
    return with_interrupts(node, layout, interrupt(layout.irqs.event_channel, LEVEL_LOW))


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


def add_virtio_nodes(root: Node, layout: Layout, guest: GuestConfig,
                     slots: tuple[VirtioSlot, ...]) -> None:
    """virtio-mmio nodes (disks, then virtio= devices) and the xen_iommu
    node where this version puts it."""
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
            root.child(xen_iommu_node(layout))
            iommu_added = True
        any_grants |= grants
        node = Node(f"virtio@{slot.base:x}").prop("compatible", strings("virtio,mmio"))
        node.prop("reg", regs((slot.base, slot.size)))
        with_interrupts(node, layout, interrupt(slot.spi, EDGE_RISING))
        node.prop("dma-coherent", b"")
        if grants:
            node.prop("iommus", cells(layout.iommu_phandle, backend))
        if device_type == "virtio,device22":
            node.child(Node("i2c").prop("compatible", strings(device_type)))
        elif device_type == "virtio,device29":
            node.child(Node("gpio")
                       .prop("compatible", strings(device_type))
                       .prop("gpio-controller", b"")
                       .prop("#gpio-cells", cells(2))
                       .prop("interrupt-controller", b"")
                       .prop("#interrupt-cells", cells(2)))
        root.child(node)
    if any_grants and layout.xen_iommu == "after-virtio":
        root.child(xen_iommu_node(layout))


def xen_iommu_node(layout: Layout) -> Node:
    return (Node("xen_iommu")
            .prop("compatible", strings("xen,grant-dma"))
            .prop("#iommu-cells", cells(1))
            .prop("phandle", cells(layout.iommu_phandle)))
