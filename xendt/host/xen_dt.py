"""A host device tree as the Xen hypervisor reads it: cells and addresses.

Xen reads the host DTB twice. This module answers as its unflattened tree
does (``xen/common/device_tree.c`` @ RELEASE-4.16.0 … RELEASE-4.19.0,
``xen/common/device-tree/device-tree.c`` @ RELEASE-4.20.0 … RELEASE-4.22.0,
the same translation code throughout): every node's ``reg`` becomes a CPU
address through the ``ranges`` of its buses, with a default bus and a PCI
bus (dt_translate_address and its bus matchers). xendt.host.bootinfo answers
as the early scan does.

The tree is xendt.fdt's one Tree; what differs from Linux's reading (which
xendt.inspect.linux gives) is only policy: cell counts read leniently (the
first cell of a longer value), Xen's bus matchers, and 64-bit wrapping.
"""

from __future__ import annotations

from xendt.errors import DtbError
from xendt.fdt.cells import U64_MASK as _U64
from xendt.fdt.cells import cells as _cells
from xendt.fdt.cells import number as read_number
from xendt.fdt.read import parse
from xendt.fdt.tree import Node, Tree
from xendt.ranges import Range

#: Xen's address translation handles at most 4 cells (DT_MAX_ADDR_CELLS).
MAX_ADDR_CELLS = 4
#: The compatible of dom0less domain nodes and of static shared memory nodes.
DOMAIN_COMPATIBLE = "xen,domain"
SHM_COMPATIBLE = "xen,domain-shared-memory-v1"


def read_host(data: bytes, name: str) -> Tree:
    """The host DTB `data` (file `name`) read by xendt's one reader. Also
    refuses a root whose #address-cells or #size-cells is not 1 or 2, which
    makes Xen panic ("Cannot cope with this size") when it builds dom0's
    /hypervisor."""
    if _last and _last[0][0] is data and _last[0][1] == name:
        return _last[0][2]  # the same blob again (each domain of a dom0less build)
    tree = parse(data, name)
    address, size = child_cells(tree, tree.root)
    if address not in (1, 2) or size not in (1, 2):
        raise _error(tree, f"expected / #address-cells and #size-cells of 1 or 2, got {address}"
                           f" and {size} (Xen panics: it writes dom0's /hypervisor reg in them)")
    if isinstance(data, bytes):  # immutable: the same object holds the same blob
        _last[:] = [(data, name, tree)]
    return tree


#: The last host blob read_host parsed, with its name and tree.
_last: list[tuple[bytes, str, Tree]] = []


def cells(tree: Tree, node: Node) -> tuple[int, int]:
    """The (#address-cells, #size-cells) a node's own reg is written in:
    its parent's, inherited from further up when absent (Xen's
    dt_n_addr_cells/dt_n_size_cells; bootfdt passes the same)."""
    return tree.bus_cells(tree.parent(node) or node, lenient=True)


def child_cells(tree: Tree, node: Node) -> tuple[int, int]:
    """The cells `node`'s children are written in (dt_child_n_*_cells)."""
    return tree.bus_cells(node, lenient=True)


def cells_of(value: bytes) -> list[int]:
    """A property value as big-endian 32-bit cells (a partial cell dropped)."""
    return list(_cells(value[:len(value) - len(value) % 4]) or ())


def meminfo(tree: Tree, node: Node, prop: str, cells: tuple[int, int]) -> tuple[Range, ...]:
    """`prop` of `node` read as (address, size) pairs in `cells`, as
    bootfdt's device_tree_get_meminfo reads it; DtbError when the cell
    counts are not 1 or 2 or the length is not whole pairs."""
    address_cells, size_cells = cells
    where = f"{prop!r} on {node.path} in {tree.file}"
    if address_cells not in (1, 2) or size_cells not in (1, 2):
        raise _error(tree, f"expected #address-cells and #size-cells of 1 or 2 for {where},"
                           f" got {address_cells} and {size_cells}")
    value = node.get(prop) or b""
    pair = 4 * (address_cells + size_cells)
    if len(value) % pair:
        raise DtbError(f"expected property {where} to hold pairs of"
                       f" {address_cells}+{size_cells} cells, got {len(value) // 4} cells")
    out = []
    for offset in range(0, len(value), pair):
        c = cells_of(value[offset:offset + pair])
        out.append(Range(read_number(c[:address_cells]), read_number(c[address_cells:])))
    return tuple(out)


def xen_reg(value: bytes, address_cells: int, size_cells: int) -> list[tuple[int, int, int]]:
    """A partial DT's xen,reg as (host address, size, guest address)
    triples in the given cells (handle_passthrough_prop; a partial triple
    at the end is ignored, as Xen's loop over whole entries does)."""
    step = 2 * address_cells + size_cells
    values = cells_of(value)
    out = []
    for i in range(len(values) // step if step else 0):
        entry = values[i * step:(i + 1) * step]
        out.append((read_number(entry[:address_cells]),
                    read_number(entry[address_cells:address_cells + size_cells]),
                    read_number(entry[address_cells + size_cells:])))
    return out


def is_available(node: Node) -> bool:
    """Xen's device_tree_node_is_available: no status, "okay" or "ok"."""
    status = node.get("status")
    return status is None or status.split(b"\0", 1)[0] in (b"okay", b"ok")


def _error(tree: Tree, message: str) -> DtbError:
    return DtbError(f"{tree.file}: {message}")


# ---------------------------------------------------------------------------
# The unflattened tree: translated addresses (xen/common/device_tree.c).


class Untranslatable(Exception):
    """Xen cannot turn a node's reg (or a bus range) into a CPU address; its
    hole finder then fails and the domain gets no extended regions."""


def device_addresses(tree: Tree, node: Node) -> tuple[Range, ...]:
    """Every address of `node` as a CPU physical range, as Xen's
    dt_number_of_address and dt_device_get_address give them: nothing for a
    node whose parent is not a bus (no `ranges`, not the root, not PCI) or
    whose cells count no size; the parent's `reg` (default bus) or
    `assigned-addresses` (PCI bus) otherwise. Untranslatable when an address
    does not map through some bus on the way up."""
    parent = tree.parent(node)
    bus = _bus(tree, parent) if parent is not None else None
    if bus is None:
        return ()
    na, ns = _count_cells(tree, bus, node)
    if not 0 < na <= MAX_ADDR_CELLS or ns <= 0:
        return ()
    value = node.get("assigned-addresses" if bus == "pci" else "reg")
    if value is None:
        return ()
    cells = cells_of(value)
    one = na + ns
    out = []
    for i in range(len(cells) // one):
        entry = cells[i * one:(i + 1) * one]
        address = _translate(tree, node, entry[:na])
        if address is None:
            raise Untranslatable(f"{node.path} address {i} ({_hex_cells(entry[:na])}) does not"
                                 f" translate to a CPU address through its parents' ranges")
        out.append(Range(address, read_number(entry[na:])))
    return tuple(out)


def pci_apertures(tree: Tree, node: Node) -> tuple[Range, ...]:
    """The CPU ranges of a PCI host bridge's `ranges` (Xen's
    dt_for_each_range), empty for `ranges;`. Untranslatable as above, or when
    the node's parent is no bus."""
    bus = _bus(tree, node)
    value = node.get("ranges")
    if bus is None or not value:
        return ()
    parent = tree.parent(node)
    pbus = _bus(tree, parent) if parent is not None else None
    na, ns = _count_cells(tree, bus, node)
    if pbus is None or not 0 < na <= MAX_ADDR_CELLS or ns <= 0:
        raise Untranslatable(f"{node.path} ranges cannot be enumerated (its parent is no bus)")
    pna, pns = _count_cells(tree, pbus, node)
    if not 0 < pna <= MAX_ADDR_CELLS or pns <= 0:
        raise Untranslatable(f"{node.path} ranges: bad parent cell counts {pna} and {pns}")
    cells = cells_of(value)
    one = na + pna + ns
    out = []
    for i in range(len(cells) // one):
        entry = cells[i * one:(i + 1) * one]
        address = _translate(tree, node, entry[na:na + pna])
        if address is None:
            raise Untranslatable(f"{node.path} ranges entry {i} ({_hex_cells(entry[na:na + pna])})"
                                 f" does not translate to a CPU address")
        out.append(Range(address, read_number(entry[na + pna:])))
    return tuple(out)


def is_pci_host_bridge(node: Node) -> bool:
    """find_memory_holes' test: device_type "pci" (case-insensitive)."""
    kind = node.string("device_type")
    return kind is not None and kind.lower() == "pci"


def _bus(tree: Tree, node: Node) -> str | None:
    """"pci", "default" or None: the bus Xen's dt_match_bus finds `node` to be."""
    kind = node.string("device_type")
    if kind in ("pci", "pciex", "vci", "ht") or node.base_name in ("pci", "pcie"):
        return "pci"
    if tree.parent(node) is None or node.get("ranges") is not None:
        return "default"
    return None


def _count_cells(tree: Tree, bus: str, node: Node) -> tuple[int, int]:
    return (3, 2) if bus == "pci" else cells(tree, node)


def _translate(tree: Tree, node: Node, address: list[int]) -> int | None:
    """Xen's __dt_translate_address: walk up from `node`, mapping `address`
    through each bus's `ranges`; None for DT_BAD_ADDR."""
    parent = tree.parent(node)
    if parent is None:
        return None
    bus = _bus(tree, parent)
    if bus is None:
        return None
    na, ns = _count_cells(tree, bus, node)
    if not 0 < na <= MAX_ADDR_CELLS or ns <= 0:
        return None
    addr = list(address[:na])
    dev = parent
    while True:
        up = tree.parent(dev)
        if up is None:
            return read_number(addr[:na])
        pbus = _bus(tree, up)
        if pbus is None:
            return None
        pna, pns = _count_cells(tree, pbus, dev)
        if not 0 < pna <= MAX_ADDR_CELLS or pns <= 0:
            return None
        up_addr = _translate_one(dev, bus, pbus, addr, na, ns, pna)
        if up_addr is None:
            return None
        dev, bus, addr, na, ns = up, pbus, up_addr, pna, pns


def _translate_one(dev: Node, bus: str, pbus: str, addr: list[int], na: int, ns: int,
                   pna: int) -> list[int] | None:
    """One level up through `dev`'s ranges (Xen's dt_translate_one)."""
    ranges = dev.get("ranges")
    if ranges is None:
        return None
    if not ranges:  # `ranges;`: 1:1
        return _add_offset(pbus, [0] * pna, read_number(addr[:na]), pna)
    cells = cells_of(ranges)
    one = na + pna + ns
    for i in range(len(cells) // one):
        entry = cells[i * one:(i + 1) * one]
        offset = _map(bus, addr, entry, na, ns, pna)
        if offset is not None:
            return _add_offset(pbus, entry[na:na + pna], offset, pna)
    return None


def _map(bus: str, addr: list[int], entry: list[int], na: int, ns: int, pna: int) -> int | None:
    """The offset of `addr` into a ranges entry's child range, or None."""
    size = read_number(entry[na + pna:na + pna + ns])
    if bus == "pci":
        if _pci_space(addr[0]) != _pci_space(entry[0]):
            return None
        child, da = read_number(entry[1:na]), read_number(addr[1:na])
    else:
        if na > 2 and entry[:na] != addr[:na]:
            return None
        child, da = read_number(entry[:na]), read_number(addr[:na])
    return da - child if child <= da < child + size else None


def _pci_space(phys_hi: int) -> str:
    """I/O or memory space of a PCI address (its ss bits), for matching."""
    return {1: "io", 2: "mem", 3: "mem"}.get((phys_hi >> 24) & 3, "")


def _add_offset(bus: str, addr: list[int], offset: int, na: int) -> list[int]:
    """Xen's dt_bus_*_translate: add `offset` to the low 64 bits of the
    address (the PCI bus leaves the phys.hi cell alone); higher cells of the
    default bus are cleared."""
    first = 1 if bus == "pci" else 0
    n = na - first
    value = (read_number(addr[first:na]) + offset) & _U64
    out = list(addr[:first]) + [0] * n
    if n > 1:
        out[first + n - 2] = value >> 32
    out[first + n - 1] = value & 0xFFFF_FFFF
    return out


def _hex_cells(cells: list[int]) -> str:
    return " ".join(f"{c:#x}" for c in cells)
