"""How Linux reads the addresses and interrupts of a device tree.

What `xendt show` and `xendt check` report is what a guest's consumers see,
and those are Linux's drivers: a `reg` reaches the CPU only through
ancestors that all have `ranges` (of_translate_address), a PCI bus's
`ranges` carries the address space in its phys.hi cell, and an interrupt's
parent is found by walking `interrupt-parent` and parents up to a node with
#interrupt-cells (of_irq_find_parent). Xen's own reading, with its bus
matchers and quirks, is xendt.host.xen_dt.

What cannot be decoded (a `reg` of the wrong length, a `ranges` that does
not cover an address, an interrupt-parent chain that loops) raises
Undecodable, which the address map turns into a Note.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import cast

from xendt.errors import Undecodable
from xendt.fdt.cells import cells, quoted
from xendt.fdt.cells import number as join_cells
from xendt.fdt.tree import Node, Tree, cell_count
from xendt.ranges import Range

#: GIC interrupt specifier (arm,gic and arm,gic-v3 bindings).
GIC_SPI, GIC_PPI = 0, 1
TRIGGERS = {1: "edge-rising", 2: "edge-falling", 4: "level-high", 8: "level-low"}
#: PCI phys.hi: address-space code (bits 24-25) and prefetchable bit.
PCI_SPACE = {0: "configuration", 1: "I/O", 2: "32-bit memory", 3: "64-bit memory"}
PCI_PREFETCHABLE = 0x4000_0000

_U32 = struct.Struct(">I")

@dataclass(frozen=True)
class Note:
    """Something in the tree that could not be decoded.

    node, prop:
      where ("" when the whole node is concerned).
    message:
      what is wrong and what was expected.
    """

    node: str
    prop: str
    message: str

    def __str__(self) -> str:
        where = f"{self.node}:{self.prop}" if self.prop else self.node
        return f"{where}: {self.message}"


def _fail(message: str) -> Undecodable:
    return Undecodable(message)


def bus_cells(tree: Tree, bus: Node | None) -> tuple[int, int]:
    """See Tree.bus_cells."""
    return tree.bus_cells(bus)


def reg(tree: Tree, node: Node, prop: str = "reg") -> tuple[tuple[int, int], ...]:
    """See Tree.reg."""
    return tree.reg(node, prop)


def _is_pci(node: Node) -> bool:
    return node.get("device_type") == b"pci\0"


@dataclass(frozen=True)
class Window:
    """One entry of a `ranges` property: child-bus addresses [child,
    child+size) appear at [parent, parent+size) on the parent bus.

    space:
      on a PCI bus, the phys.hi cell's address-space code and
      prefetchable bit; 0 elsewhere.
    """

    child: int
    parent: int
    size: int
    space: int = 0


def ranges(tree: Tree, bus: Node) -> tuple[Window, ...] | None:
    """`bus`'s `ranges` entries; () for an empty `ranges` (an identity
    mapping), None without one (its children are not memory-mapped)."""
    key = ("ranges", bus.path)
    if key not in tree._memo:
        tree._memo[key] = _ranges(tree, bus)
    return cast("tuple[Window, ...] | None", tree._memo[key])


def _ranges(tree: Tree, bus: Node) -> tuple[Window, ...] | None:
    value = bus.get("ranges")
    if value is None:
        return None
    if not value:
        return ()
    child_na, child_ns = bus_cells(tree, bus)
    parent_na, _ = bus_cells(tree, tree.parent(bus))
    width = child_na + parent_na + child_ns
    c = cells(value)
    if c is None or len(c) % width or child_ns == 0:
        raise _fail(f"expected entries of {child_na}+{parent_na}+{child_ns} cells (child address,"
                    f" parent address, size), got {quoted(value)}")
    pci = _is_pci(bus) and child_na == 3
    out = []
    for i in range(0, len(c), width):
        child = c[i:i + child_na]
        out.append(Window(child=join_cells(child[1:] if pci else child),
                          parent=join_cells(c[i + child_na:i + child_na + parent_na]),
                          size=join_cells(c[i + child_na + parent_na:i + width]),
                          space=child[0] & (0x0300_0000 | PCI_PREFETCHABLE) if pci else 0))
    return tuple(out)


def cpu_ranges(tree: Tree, node: Node) -> tuple[Range, ...] | None:
    """`node`'s `reg` as CPU (root) addresses, translated through every
    ancestor's `ranges`; None if `reg` is not an address: some ancestor has
    no `ranges` (cpus, i2c devices ...), its bus has #size-cells 0, or it is
    a PCI function's (configuration space). /chosen is crossed as if it had
    an empty `ranges`: its boot modules hold CPU addresses."""
    buses = []
    bus = tree.parent(node)
    while bus is not None and bus is not tree.root:
        if bus.path != "/chosen":
            windows = ranges(tree, bus)
            if windows is None:
                return None
            buses.append((bus, windows))
        bus = tree.parent(bus)
    parent = tree.parent(node)
    if parent is None:
        return None
    na, ns = bus_cells(tree, parent)
    if ns == 0 or (_is_pci(parent) and na == 3):
        return None
    out = []
    for address, size in reg(tree, node):
        for bus, windows in buses:
            address = _through(bus, windows, address, size)
        out.append(Range(address, size))
    return tuple(out)


def _through(bus: Node, windows: tuple[Window, ...], address: int, size: int) -> int:
    if not windows:
        return address
    for w in windows:
        if w.child <= address and address + size <= w.child + w.size:
            return w.parent + address - w.child
    raise _fail(f"[{address:#x}, {address + size:#x}) is outside every entry of"
                f" {bus.path}:ranges")


@dataclass(frozen=True)
class Interrupt:
    """An interrupt specifier, decoded for a GIC parent.

    controller:
      the path of the interrupt controller.
    cells:
      the raw specifier.
    kind, number, intid, trigger, cpus:
      for a GIC parent: "SPI" or "PPI", the number in its kind, the GIC
      interrupt ID (SPI n = 32 + n, PPI n = 16 + n), the trigger type and
      the GICv2 CPU mask; "" and 0 otherwise.
    """

    controller: str
    cells: tuple[int, ...]
    kind: str = ""
    number: int = 0
    intid: int = 0
    trigger: str = ""
    cpus: int = 0

    def __str__(self) -> str:
        if self.kind:
            return f"{self.kind} {self.number} (ID {self.intid}) {self.trigger}, cpus {self.cpus:#x}"
        return "<" + " ".join(f"{c:#x}" for c in self.cells) + f"> on {self.controller}"


def interrupt_parent(tree: Tree, node: Node) -> Node:
    """The interrupt controller `node`'s interrupts go to: follow
    `interrupt-parent`, else the parent node, up to a node with
    #interrupt-cells (Linux's of_irq_find_parent). Undecodable if the chain
    breaks or loops."""
    seen = {node.path}
    current = node
    while True:
        ref = current.get("interrupt-parent")
        if ref is not None:
            if len(ref) != 4:
                raise _fail(f"{current.path}:interrupt-parent should be one phandle cell,"
                            f" got {quoted(ref)}")
            target = tree.by_phandle(_U32.unpack(ref)[0])
            if target is None:
                raise _fail(f"{current.path}:interrupt-parent {_U32.unpack(ref)[0]:#x} is no"
                            f" node's phandle")
        else:
            target = tree.parent(current)
            if target is None:
                raise _fail("no interrupt-parent and no ancestor with #interrupt-cells")
        if target.get("#interrupt-cells") is not None:
            return target
        if target.path in seen:
            raise _fail(f"the interrupt-parent chain loops at {target.path}")
        seen.add(target.path)
        current = target


def interrupts(tree: Tree, node: Node) -> tuple[Interrupt, ...]:
    """`node`'s `interrupts`, one Interrupt per specifier."""
    value = node.get("interrupts")
    if value is None:
        return ()
    controller = interrupt_parent(tree, node)
    count = cell_count(controller, "#interrupt-cells")
    c = cells(value)
    if not count or c is None or len(c) % count:
        raise _fail(f"expected specifiers of {count} cells (#interrupt-cells of"
                    f" {controller.path}), got {quoted(value)}")
    gic = count == 3 and any("gic" in compat for compat in controller.compatible)
    out = []
    for i in range(0, len(c), count):
        spec = c[i:i + count]
        if gic and spec[0] in (GIC_SPI, GIC_PPI):
            kind = "SPI" if spec[0] == GIC_SPI else "PPI"
            out.append(Interrupt(controller.path, spec, kind, spec[1],
                                 spec[1] + (32 if kind == "SPI" else 16),
                                 TRIGGERS.get(spec[2] & 0xF, f"type {spec[2] & 0xF:#x}"),
                                 (spec[2] >> 8) & 0xFF))
        else:
            out.append(Interrupt(controller.path, spec))
    return tuple(out)
