"""A host device tree as the Xen hypervisor reads it.

Xen reads the host DTB twice, and xendt keeps both views apart:

- The early scan (early_scan_node and boot_fdt_info in
  ``xen/arch/arm/bootfdt.c`` @ RELEASE-4.16.0 … RELEASE-4.19.0,
  ``xen/common/device-tree/bootfdt.c`` @ RELEASE-4.20.0,
  ``xen/common/device-tree/bootinfo-fdt.c`` @ RELEASE-4.21.0, RELEASE-4.22.0)
  finds host RAM, reserved memory, static memory and static shared memory,
  with rules that changed between releases. `boot_info()` applies one
  version's rules (a layout's HostRules).
- The unflattened tree (``xen/common/device_tree.c`` @ RELEASE-4.16.0 …
  RELEASE-4.19.0, ``xen/common/device-tree/device-tree.c`` @ RELEASE-4.20.0
  … RELEASE-4.22.0, the same translation code throughout) turns every node's
  ``reg`` into a CPU address through the ``ranges`` of its buses, with a
  default bus and a PCI bus. `device_addresses()` and `pci_apertures()`
  answer as it does.

Cell counts follow Xen, not the DT specification: a node without
``#address-cells``/``#size-cells`` inherits them from its nearest ancestor,
and the root defaults to 2 and 1 (DT_ROOT_NODE_ADDR/SIZE_CELLS_DEFAULT).

Every problem is a DtbError naming the file, the node path, the property and
what was expected.
"""

from __future__ import annotations

from dataclasses import dataclass

from xendt.errors import DtbError
from xendt.model import HostRules, Range

#: DT_ROOT_NODE_ADDR_CELLS_DEFAULT, DT_ROOT_NODE_SIZE_CELLS_DEFAULT.
ROOT_CELLS_DEFAULT = (2, 1)
#: DT_MAX_ADDR_CELLS: Xen's address translation handles at most 4 cells.
MAX_ADDR_CELLS = 4
#: The compatible of dom0less domain nodes and of static shared memory nodes.
DOMAIN_COMPATIBLE = "xen,domain"
SHM_COMPATIBLE = "xen,domain-shared-memory-v1"
_U64 = (1 << 64) - 1


@dataclass(frozen=True)
class HostNode:
    """One node of a host DT.

    path:
      the full path, "/" for the root.
    depth:
      0 for the root, 1 for its children, …
    parent:
      index of the parent in HostTree.nodes (-1 for the root).
    children:
      indexes of the children, in blob order.
    props:
      (name, value) pairs in blob order.
    """

    path: str
    depth: int
    parent: int
    children: tuple[int, ...]
    props: tuple[tuple[str, bytes], ...]

    @property
    def name(self) -> str:
        """The node name with its unit address ("" for the root)."""
        return self.path.rsplit("/", 1)[1]

    @property
    def base_name(self) -> str:
        """The node name without its unit address (Xen's np->name)."""
        return self.name.split("@", 1)[0]

    def get(self, name: str) -> bytes | None:
        """The value of property `name`, or None."""
        for key, value in self.props:
            if key == name:
                return value
        return None

    def string(self, name: str) -> str | None:
        """Property `name` as a string (up to its first NUL), or None."""
        value = self.get(name)
        return None if value is None else value.split(b"\0", 1)[0].decode("utf-8", "replace")

    def compatible(self, value: str) -> bool:
        """Whether `value` is one of the node's compatible strings."""
        raw = self.get("compatible")
        return raw is not None and value.encode() in raw.split(b"\0")


@dataclass(frozen=True)
class HostTree:
    """A host DTB, read whole.

    name:
      the file name, for messages.
    nodes:
      every node, depth first in blob order; nodes[0] is the root.
    reservations:
      the /memreserve/ entries.
    """

    name: str
    nodes: tuple[HostNode, ...]
    reservations: tuple[Range, ...]

    @property
    def root(self) -> HostNode:
        return self.nodes[0]

    def find(self, path: str) -> HostNode | None:
        """The node at `path`, or None."""
        for node in self.nodes:
            if node.path == path:
                return node
        return None

    def parent(self, node: HostNode) -> HostNode | None:
        return self.nodes[node.parent] if node.parent >= 0 else None

    def children(self, node: HostNode) -> tuple[HostNode, ...]:
        return tuple(self.nodes[i] for i in node.children)

    def subtree(self, node: HostNode) -> tuple[HostNode, ...]:
        """`node`'s descendants, depth first (not `node` itself)."""
        out: list[HostNode] = []
        stack = list(reversed(self.children(node)))
        while stack:
            n = stack.pop()
            out.append(n)
            stack.extend(reversed(self.children(n)))
        return tuple(out)

    def error(self, message: str) -> DtbError:
        return DtbError(f"{self.name}: {message}")

    def cells(self, node: HostNode) -> tuple[int, int]:
        """The (#address-cells, #size-cells) a node's own reg is written in:
        its parent's, inherited from further up when absent (Xen's
        dt_n_addr_cells/dt_n_size_cells; bootfdt passes the same)."""
        start = self.parent(node) or node
        return self._inherited(start, "#address-cells", 0), self._inherited(start, "#size-cells", 1)

    def child_cells(self, node: HostNode) -> tuple[int, int]:
        """The cells `node`'s children are written in (dt_child_n_*_cells)."""
        return self._inherited(node, "#address-cells", 0), self._inherited(node, "#size-cells", 1)

    def _inherited(self, node: HostNode | None, prop: str, which: int) -> int:
        while node is not None:
            value = node.get(prop)
            if value is not None and len(value) >= 4:
                return int.from_bytes(value[:4], "big")
            node = self.parent(node)
        return ROOT_CELLS_DEFAULT[which]

    def reg(self, node: HostNode, prop: str, cells: tuple[int, int]) -> tuple[Range, ...]:
        """`prop` of `node` read as (address, size) pairs in `cells`, as
        bootfdt's device_tree_get_meminfo reads it; DtbError when the cell
        counts are not 1 or 2 or the length is not whole pairs."""
        address_cells, size_cells = cells
        where = f"{prop!r} on {node.path} in {self.name}"
        if address_cells not in (1, 2) or size_cells not in (1, 2):
            raise self.error(f"expected #address-cells and #size-cells of 1 or 2 for {where},"
                             f" got {address_cells} and {size_cells}")
        value = node.get(prop) or b""
        pair = 4 * (address_cells + size_cells)
        if len(value) % pair:
            raise DtbError(f"expected property {where} to hold pairs of"
                           f" {address_cells}+{size_cells} cells, got {len(value) // 4} cells")
        out = []
        for offset in range(0, len(value), pair):
            cells_ = cells_of(value[offset:offset + pair])
            out.append(Range(read_number(cells_[:address_cells]), read_number(cells_[address_cells:])))
        return tuple(out)


def read(data: bytes, name: str) -> HostTree:
    """The host DTB `data` (file `name`), checked by libfdt first: a
    truncated or corrupt blob is a DtbError. Also refuses a root whose
    #address-cells or #size-cells is not 1 or 2, which makes Xen panic
    ("Cannot cope with this size") when it builds dom0's /hypervisor."""
    import libfdt

    from xendt.fdt.blob import check_blob

    fdt = check_blob(data, name)
    nodes: list[list] = []  # [path, depth, parent, children, props]
    stack = [(0, "/", 0, -1)]  # depth first, without recursion: any nesting is fine
    while stack:
        offset, path, depth, parent = stack.pop()
        index = len(nodes)
        nodes.append([path, depth, parent, [], _props(fdt, offset, libfdt, name, path)])
        if parent >= 0:
            nodes[parent][3].append(index)
        children = []
        child = fdt.first_subnode(offset, libfdt.QUIET_NOTFOUND)
        while child >= 0:
            children.append((child, ("" if path == "/" else path) + "/" + fdt.get_name(child),
                             depth + 1, index))
            child = fdt.next_subnode(child, libfdt.QUIET_NOTFOUND)
        stack.extend(reversed(children))
    reservations = []
    for i in range(fdt.num_mem_rsv()):
        address, size = fdt.get_mem_rsv(i)[-2:]
        reservations.append(Range(address, size))
    tree = HostTree(name, tuple(HostNode(p, d, par, tuple(ch), props)
                                for p, d, par, ch, props in nodes), tuple(reservations))
    cells = tree.child_cells(tree.root)
    if cells[0] not in (1, 2) or cells[1] not in (1, 2):
        raise tree.error(f"expected / #address-cells and #size-cells of 1 or 2, got {cells[0]}"
                         f" and {cells[1]} (Xen panics: it writes dom0's /hypervisor reg in them)")
    return tree


def _props(fdt, offset: int, libfdt, name: str, path: str) -> tuple[tuple[str, bytes], ...]:
    out = []
    prop = fdt.first_property_offset(offset, libfdt.QUIET_NOTFOUND)
    while prop >= 0:
        try:
            p = fdt.get_property_by_offset(prop)
        except SystemError as e:  # pylibfdt's way of failing to decode the name
            if not isinstance(e.__context__, UnicodeDecodeError):
                raise
            raise DtbError(f"{name}: property {len(out)} of {path} has a name that is not"
                           f" UTF-8 text: {e.__context__.object!r}") from None
        out.append((p.name, bytes(p)))
        prop = fdt.next_property_offset(prop, libfdt.QUIET_NOTFOUND)
    return tuple(out)


def cells_of(value: bytes) -> list[int]:
    """A property value as big-endian 32-bit cells (a partial cell dropped)."""
    return [int.from_bytes(value[i:i + 4], "big") for i in range(0, len(value) - 3, 4)]


def read_number(cells: list[int] | tuple[int, ...]) -> int:
    """Cells read into a 64-bit number, as Xen's dt_read_number (higher
    cells beyond 64 bits fall off)."""
    value = 0
    for cell in cells:
        value = ((value << 32) | cell) & _U64
    return value


# ---------------------------------------------------------------------------
# The early scan: RAM, reserved memory, static (shared) memory.


@dataclass(frozen=True)
class Bank(Range):
    """A host memory range and where the DT states it.

    source:
      e.g. "/memory@40000000 reg[0]", "/memreserve/ 0", "/chosen/domU1
      xen,static-mem[0]".
    """

    source: str = ""


@dataclass(frozen=True)
class ShmBank:
    """One static shared memory node (compatible xen,domain-shared-memory-v1).

    owner:
      the node of the domain it belongs to ("/chosen" for dom0).
    path:
      the shared memory node itself.
    shm_id:
      xen,shm-id.
    host:
      the host physical range, or None where the DT leaves the host address
      to Xen (4.19+ allows xen,shared-mem = <gbase size>).
    guest:
      where the domain sees it.
    """

    owner: str
    path: str
    shm_id: str
    host: Range | None
    guest: Range


@dataclass(frozen=True)
class BootInfo:
    """What one Xen version's early scan finds in a host DT.

    ram:
      host RAM banks (bootinfo.mem).
    reserved:
      reserved memory (bootinfo.reserved_mem): /reserved-memory children,
      /memreserve/ entries (4.19+), static memory and heap, and before 4.19
      static shared memory host banks.
    shm:
      static shared memory nodes (4.17+).
    """

    ram: tuple[Bank, ...]
    reserved: tuple[Bank, ...]
    shm: tuple[ShmBank, ...]


def boot_info(tree: HostTree, rules: HostRules) -> BootInfo:
    """RAM, reserved memory and static shared memory as the early scan of a
    Xen following `rules` finds them:

    - RAM: nodes named memory or memory@… at any depth, from 4.20 top-level
      ones with device_type "memory", their reg in the parent's cells;
    - reserved: every node under the top-level /reserved-memory (reg in its
      parent's cells), /memreserve/ entries (4.19+), xen,static-mem of
      /chosen/* xen,domain nodes (4.16+), /chosen xen,static-heap (4.17+),
      static shared memory host banks in 4.17 and 4.18;
    - static shared memory: xen,domain-shared-memory-v1 nodes at depth 3 or
      less (4.17+).

    From 4.19 nodes whose status is not "okay" hold no RAM or reserved
    memory; zero-size banks never count. DtbError without RAM or with
    overlapping RAM banks (Xen's rangesets would merge them; a board DT with
    them is wrong)."""
    ram: list[Bank] = []
    reserved: list[Bank] = []
    shm: list[ShmBank] = []
    if rules.memreserve:
        reserved += [Bank(r.base, r.size, source=f"/memreserve/ {i}")
                     for i, r in enumerate(tree.reservations) if r.size]
    for node in tree.nodes[1:]:
        if _is_memory_node(node, rules):
            ram += _banks(tree, node, "reg", tree.cells(node), rules)
        elif node.depth == 1 and node.name.lower() == "reserved-memory":
            for child in tree.subtree(node):
                if child.get("reg") is not None:
                    reserved += _banks(tree, child, "reg", tree.cells(child), rules)
        elif node.depth == 1 and node.base_name == "chosen":
            if rules.static_heap and node.get("xen,static-heap") is not None:
                reserved += _banks(tree, node, "xen,static-heap", tree.cells(node), rules)
        elif node.depth == 2 and node.compatible(DOMAIN_COMPATIBLE):
            if rules.static_mem != "none" and node.get("xen,static-mem") is not None:
                reserved += _banks(tree, node, "xen,static-mem", static_mem_cells(tree, node, rules),
                                   rules)
        if node.depth <= 3 and node.compatible(SHM_COMPATIBLE) and rules.static_shm != "none":
            bank = _shm_bank(tree, node, rules)
            shm.append(bank)
            if rules.static_shm == "reserved" and bank.host is not None:
                reserved.append(Bank(bank.host.base, bank.host.size,
                                     source=f"{node.path} xen,shared-mem"))
    if not ram:
        what = ("a top-level memory@… node with device_type = \"memory\""
                if rules.memory_nodes == "name-depth-1-device-type" else "a memory@… node")
        raise tree.error(f"no host RAM: expected {what} with a reg")
    ordered = sorted(ram, key=lambda b: b.base)
    for a, b in zip(ordered, ordered[1:]):
        if a.overlaps(b):
            raise tree.error(f"memory banks overlap: {a.source} {a} and {b.source} {b}")
    return BootInfo(tuple(ram), tuple(reserved), tuple(shm))


def _is_memory_node(node: HostNode, rules: HostRules) -> bool:
    if node.base_name != "memory":
        return False
    if rules.memory_nodes == "name":
        return True
    return node.depth == 1 and node.string("device_type") == "memory"


def is_available(node: HostNode) -> bool:
    """Xen's device_tree_node_is_available: no status, "okay" or "ok"."""
    status = node.get("status")
    return status is None or status.split(b"\0", 1)[0] in (b"okay", b"ok")


def _banks(tree: HostTree, node: HostNode, prop: str, cells: tuple[int, int],
           rules: HostRules) -> list[Bank]:
    """A reg-like property as banks, skipping empty ones (as Xen does) and,
    with the status check, nodes that are not "okay"."""
    if rules.status_check and not is_available(node):
        return []
    return [Bank(r.base, r.size, source=f"{node.path} {prop}[{i}]")
            for i, r in enumerate(tree.reg(node, prop, cells)) if r.size]


def static_mem_cells(tree: HostTree, node: HostNode, rules: HostRules) -> tuple[int, int]:
    """The cells of a domain node's xen,static-mem: its own
    #xen,static-mem-address-cells/-size-cells in 4.16, /chosen's later."""
    if rules.static_mem == "own-cells":
        own = []
        for prop in ("#xen,static-mem-address-cells", "#xen,static-mem-size-cells"):
            value = node.get(prop)
            if value is None or len(value) != 4:
                raise tree.error(f"expected property {prop!r} on {node.path} to hold one cell"
                                 f" (Xen reads xen,static-mem with it), got {value!r}")
            own.append(int.from_bytes(value, "big"))
        return own[0], own[1]
    return tree.cells(node)


def _shm_bank(tree: HostTree, node: HostNode, rules: HostRules) -> ShmBank:
    """A static shared memory node: xen,shared-mem = <pbase gbase size>, or
    (4.19+) <gbase size> leaving the host address to Xen."""
    shm_id = node.string("xen,shm-id")
    if shm_id is None:
        raise tree.error(f"expected property 'xen,shm-id' on {node.path}")
    value = node.get("xen,shared-mem")
    address_cells, size_cells = tree.cells(node)
    if address_cells not in (1, 2) or size_cells not in (1, 2):
        raise tree.error(f"expected #address-cells and #size-cells of 1 or 2 for"
                         f" 'xen,shared-mem' on {node.path}, got {address_cells} and {size_cells}")
    full = 2 * address_cells + size_cells
    short = address_cells + size_cells
    cells = cells_of(value or b"")
    owner = tree.parent(node).path
    if value is not None and len(value) == 4 * full:
        host = read_number(cells[:address_cells])
        guest = read_number(cells[address_cells:2 * address_cells])
        size = read_number(cells[2 * address_cells:])
        return ShmBank(owner, node.path, shm_id, Range(host, size), Range(guest, size))
    if value is not None and len(value) == 4 * short and rules.static_shm == "separate":
        guest = read_number(cells[:address_cells])
        size = read_number(cells[address_cells:])
        return ShmBank(owner, node.path, shm_id, None, Range(guest, size))
    forms = f"<pbase gbase size> ({full} cells)"
    if rules.static_shm == "separate":
        forms += f" or <gbase size> ({short} cells)"
    got = "none" if value is None else f"{len(value)} bytes"
    raise tree.error(f"expected property 'xen,shared-mem' on {node.path} to hold {forms}, got {got}")


# ---------------------------------------------------------------------------
# The unflattened tree: translated addresses (xen/common/device_tree.c).


class Untranslatable(Exception):
    """Xen cannot turn a node's reg (or a bus range) into a CPU address; its
    hole finder then fails and the domain gets no extended regions."""


def device_addresses(tree: HostTree, node: HostNode) -> tuple[Range, ...]:
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


def pci_apertures(tree: HostTree, node: HostNode) -> tuple[Range, ...]:
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


def is_pci_host_bridge(node: HostNode) -> bool:
    """find_memory_holes' test: device_type "pci" (case-insensitive)."""
    kind = node.string("device_type")
    return kind is not None and kind.lower() == "pci"


def _bus(tree: HostTree, node: HostNode) -> str | None:
    """"pci", "default" or None: the bus Xen's dt_match_bus finds `node` to be."""
    kind = node.string("device_type")
    if kind in ("pci", "pciex", "vci", "ht") or node.base_name in ("pci", "pcie"):
        return "pci"
    if node.parent < 0 or node.get("ranges") is not None:
        return "default"
    return None


def _count_cells(tree: HostTree, bus: str, node: HostNode) -> tuple[int, int]:
    return (3, 2) if bus == "pci" else tree.cells(node)


def _translate(tree: HostTree, node: HostNode, address: list[int]) -> int | None:
    """Xen's __dt_translate_address: walk up from `node`, mapping `address`
    through each bus's `ranges`; None for DT_BAD_ADDR."""
    parent = tree.parent(node)
    bus = _bus(tree, parent) if parent is not None else None
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
        addr = _translate_one(dev, bus, pbus, addr, na, ns, pna)
        if addr is None:
            return None
        dev, bus, na, ns = up, pbus, pna, pns


def _translate_one(dev: HostNode, bus: str, pbus: str, addr: list[int], na: int, ns: int,
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
