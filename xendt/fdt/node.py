"""Device-tree nodes to write, and the encoders of their property values.

A Node is frozen: `prop` and `child` return a new Node, so a node made
once (and kept, as the guest builder keeps what depends only on the
layout) cannot be changed under a later build by whoever holds it.

The encoders are the ones libxl and Xen share: big-endian cells, strings,
`reg` pairs in a bus's cell counts, the GIC's 3-cell interrupt specifier
(device_tree_defs.h's trigger types, the GICv2-style CPU mask both write)
and the MPIDR affinity of a vCPU (vcpuid_to_vaffinity).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

#: Interrupt trigger types (xen/include/public/device_tree_defs.h).
EDGE_RISING = 1
LEVEL_HIGH = 4
LEVEL_LOW = 8
#: The CPU mask Xen and libxl put in bits 8-15 of an interrupt's flags.
CPU_MASK = 0xF
#: GUEST_ROOT_ADDRESS_CELLS, GUEST_ROOT_SIZE_CELLS (device_tree_defs.h).
ROOT_CELLS = (2, 2)
#: The baud rate Xen and libxl give the vpl011 UART.
VPL011_BAUD = 115200
#: The PSCI function IDs of the psci node (PSCI_cpu_off, PSCI_cpu_on).
PSCI_CPU_OFF, PSCI_CPU_ON = 1, 2


@dataclass(frozen=True, slots=True)
class Node:
    """A node to write: its name with unit address ("" for the root) and
    its entries, properties as (name, value bytes) and child Nodes, in the
    order they are written (usually properties first, but not always)."""

    name: str
    entries: tuple[tuple[str, bytes] | Node, ...] = ()

    @property
    def props(self) -> tuple[tuple[str, bytes], ...]:
        return tuple(e for e in self.entries if isinstance(e, tuple))

    @property
    def children(self) -> tuple[Node, ...]:
        return tuple(e for e in self.entries if isinstance(e, Node))

    def prop(self, name: str, value: bytes = b"") -> Node:
        """This node with property `name` appended."""
        return Node(self.name, (*self.entries, (name, value)))

    def child(self, *nodes: Node) -> Node:
        """This node with `nodes` appended."""
        return Node(self.name, self.entries + nodes)

    def extend(self, entries: Iterable[tuple[str, bytes] | Node]) -> Node:
        return Node(self.name, self.entries + tuple(entries))


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


def cell_value(value: int, count: int) -> bytes:
    """`value` in `count` cells as dt_set_cell writes it: what does not fit
    falls off the top (neither Xen nor libxl checks)."""
    return (value & ((1 << (32 * count)) - 1)).to_bytes(4 * count, "big")


def regs(*pairs: tuple[int, int], address_cells: int = 2, size_cells: int = 2) -> bytes:
    """A `reg` value of (base, size) pairs, each in its cells, most
    significant cell first (dt_child_set_range, fdt_property_reg)."""
    return b"".join(cell_value(base, address_cells) + cell_value(size, size_cells)
                    for base, size in pairs)


def interrupt(irq: int, trigger: int) -> tuple[int, int, int]:
    """The 3-cell GIC specifier of interrupt ID `irq` (set_interrupt):
    type 1 and the PPI number for 16-31, type 0 and the SPI number above."""
    if irq < 32:
        return (1, irq - 16, CPU_MASK << 8 | trigger)
    return (0, irq - 32, CPU_MASK << 8 | trigger)


def interrupts(*specs: tuple[int, int, int]) -> bytes:
    """An `interrupts` value of 3-cell specifiers."""
    return cells(*(c for spec in specs for c in spec))


def affinity(vcpu: int) -> int:
    """The MPIDR affinity of vCPU `vcpu` (vcpuid_to_vaffinity): AFF0 holds
    4 bits (GICv3's limit), AFF1 the rest."""
    return (vcpu & 0xF) | ((vcpu >> 4) & 0xFF) << 8
