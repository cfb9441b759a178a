"""The device tree xendt reads: one immutable tree for every blob.

`xendt.fdt.read` builds it from any blob libfdt accepts; `str(tree)` is the
source text `dtc -I dtb -O dts` prints for that blob. Everything that reads
a tree (show, check, diff, Xen's view of a host DT, a partial DT copied into
a guest, a dom0less host) reads this one.

Typed reading, as Zephyr's dtlib does it: Property.u32/u64/string/strings/
cells/reg and Node.need/u64/cells/strings/reg read a value as one kind and
fail through Property.fail, one line naming the property, the node and the
file. Node.u32 and Node.string stay Xen's lenient readings.

Cell counts are found once, here, as both Linux (of_n_addr_cells) and Xen
(dt_n_addr_cells) find them: a bus without #address-cells or #size-cells
inherits each from its nearest ancestor that has it, and the root defaults
to 2 and 1. How an address then reaches the CPU differs between the two and
is theirs to say (xendt.inspect.linux, xendt.host.xen_dt).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from xendt.errors import Undecodable
from xendt.fdt.cells import U32, cells, pairs, quoted, strings
from xendt.ranges import Range

_T = TypeVar("_T")

#: Most cells in an address or a size (Linux's OF_MAX_ADDR_CELLS, Xen's
#: DT_MAX_ADDR_CELLS).
MAX_CELLS = 4
#: The cell counts of the root when it does not give them.
ROOT_CELLS_DEFAULT = (2, 1)


@dataclass(frozen=True, slots=True)
class Property:
    """A property as the blob holds it.

    name, value:
      its name (bytes outside printable ASCII as \\xNN escapes) and raw bytes.
    reachable:
      False when it follows a subnode in the blob: libfdt's lookups (Linux's
      early scan of /chosen, U-Boot, Xen) stop at the first subnode and never
      find it, though dtc prints it.
    raw:
      the name exactly as the blob holds it, when that differs from `name`
      (as a str with surrogate escapes); "" otherwise.
    """

    name: str
    value: bytes
    reachable: bool = True
    raw: str = ""
    #: The node holding it, once Node.prop has found it there (for messages).
    node: Node = field(init=False, compare=False, repr=False)  # unset until then

    def __getstate__(self) -> tuple[object, ...]:  # copies and pickles leave `node` out
        return self.name, self.value, self.reachable, self.raw

    def __setstate__(self, state: tuple[object, ...]) -> None:
        _set_state(self, ("name", "value", "reachable", "raw"), state)

    def __repr__(self) -> str:
        node = getattr(self, "node", None)
        return f"<Property {self.name} of {_where(node)}>" if node else f"<Property {self.name}>"

    @property
    def blob_name(self) -> str:
        """The name as the blob holds it. See the class docstring."""
        return self.raw or self.name

    def fail(self, problem: str) -> Undecodable:
        """The one error of every accessor: "property 'reg' of
        /memory@0 in board.dtb: <problem>" (to raise)."""
        node = getattr(self, "node", None)
        return Undecodable(f"property '{self.name}'{f' of {_where(node)}' if node else ''}:"
                           f" {problem}")

    def cells(self) -> tuple[int, ...]:
        """The value as 32-bit cells; fails unless a multiple of 4 bytes."""
        out = cells(self.value)
        if out is None:
            raise self.fail(f"expected a multiple of 4 bytes, got {quoted(self.value)}")
        return out

    def u32(self) -> int:
        """The value as one cell; fails unless exactly 4 bytes."""
        if len(self.value) != 4:
            raise self.fail(f"expected one cell (4 bytes), got {quoted(self.value)}")
        return int(U32.unpack(self.value)[0])

    def u64(self) -> int:
        """The value as one 64-bit number of two cells; fails unless
        exactly 8 bytes."""
        if len(self.value) != 8:
            raise self.fail(f"expected two cells (8 bytes), got {quoted(self.value)}")
        return int.from_bytes(self.value, "big")

    def string(self) -> str:
        """The value as one printable ASCII string ending in its NUL."""
        found = strings(self.value)
        if found is None or len(found) != 1:
            raise self.fail(f"expected one string, got {quoted(self.value)}")
        return found[0]

    def strings(self) -> tuple[str, ...]:
        """The value as a list of printable ASCII strings, each ending in
        its NUL."""
        found = strings(self.value)
        if found is None:
            raise self.fail(f"expected a list of strings, got {quoted(self.value)}")
        return found

    def reg(self) -> tuple[tuple[int, int], ...]:
        """The value as (address, size) pairs in the cells of its node's
        bus (see Tree.bus_cells), untranslated."""
        node = getattr(self, "node", None)
        tree = node.tree if node is not None else None
        if node is None or tree is None:
            raise self.fail("has no tree to give its cell counts")
        na, ns = tree.bus_cells(tree.parent(node))
        if na == 0 or ns == 0:
            raise self.fail(f"expected addresses and sizes, but its bus has #address-cells {na}"
                            f" and #size-cells {ns}")
        width = 4 * (na + ns)
        if len(self.value) % width:
            raise self.fail(f"expected a multiple of {width} bytes ({na} address + {ns} size"
                            f" cells), got {len(self.value)}")
        return pairs(self.value, na, ns) or ()


@dataclass(frozen=True, slots=True)
class Node:
    """A node, its properties and subnodes in blob order (NOPs dropped).

    name:
      the name with unit address ("" for the root), escaped as Property's.
    path:
      the full path ("/" for the root).
    props, children:
      tuples of Property and Node.
    raw:
      the name exactly as the blob holds it, when that differs; "" otherwise.
    """

    name: str
    path: str
    props: tuple[Property, ...] = ()
    children: tuple[Node, ...] = ()
    raw: str = ""
    #: A weak reference to the tree holding it, once one does (weak: a
    #: cycle would leave every tree read to the garbage collector).
    _tree: Callable[[], Tree | None] = field(init=False, compare=False, repr=False)

    def __getstate__(self) -> tuple[object, ...]:  # copies and pickles leave the tree out
        return self.name, self.path, self.props, self.children, self.raw

    def __setstate__(self, state: tuple[object, ...]) -> None:
        _set_state(self, ("name", "path", "props", "children", "raw"), state)

    def __repr__(self) -> str:
        return f"<Node {_where(self)}>"

    @property
    def blob_name(self) -> str:
        """The name as the blob holds it. See the class docstring."""
        return self.raw or self.name

    @property
    def tree(self) -> Tree | None:
        """The Tree holding the node (for messages and cell counts), or None."""
        ref = getattr(self, "_tree", None)
        return ref() if ref is not None else None

    def prop(self, name: str) -> Property | None:
        """Property `name` (the first, if repeated), or None. It knows its
        node from then on (Tree does not tell every property: reading a
        blob stays as fast)."""
        for p in self.props:
            if p.name == name:
                if not hasattr(p, "node"):
                    object.__setattr__(p, "node", self)
                return p
        return None

    def need(self, name: str) -> Property:
        """Property `name`; fails, naming it, when the node lacks it."""
        found = self.prop(name)
        if found is None:
            raise _missing(self, name)
        return found

    def u64(self, name: str, default: int | None = None) -> int:
        """Property `name` as Property.u64 reads it; `default` when
        absent, else that fails."""
        found = self.prop(name)
        return _default(self, name, default) if found is None else found.u64()

    def cells(self, name: str, default: tuple[int, ...] | None = None) -> tuple[int, ...]:
        """Property `name` as Property.cells reads it; `default` when
        absent, else that fails."""
        found = self.prop(name)
        return _default(self, name, default) if found is None else found.cells()

    def strings(self, name: str, default: tuple[str, ...] | None = None) -> tuple[str, ...]:
        """Property `name` as Property.strings reads it; `default` when
        absent, else that fails."""
        found = self.prop(name)
        return _default(self, name, default) if found is None else found.strings()

    def reg(self, name: str = "reg") -> tuple[tuple[int, int], ...]:
        """Property `name` as Property.reg reads it; () when absent."""
        found = self.prop(name)
        return () if found is None else found.reg()

    def get(self, name: str) -> bytes | None:
        """The value of property `name`, or None (the first, if repeated)."""
        for p in self.props:
            if p.name == name:
                return p.value
        return None

    def u32(self, name: str) -> int | None:
        """Property `name`'s first cell, or None when absent or shorter
        (Xen's dt_property_read_u32 and device_tree_get_u32): Xen's lenient
        reading. The strict one is self.need(name).u32()."""
        value = self.get(name)
        return int.from_bytes(value[:4], "big") if value is not None and len(value) >= 4 else None

    def string(self, name: str) -> str | None:
        """Property `name` up to its first NUL, as text, or None (as Xen
        and Linux read it). The strict one is self.need(name).string()."""
        value = self.get(name)
        return None if value is None else value.split(b"\0", 1)[0].decode("utf-8", "replace")

    @property
    def phandle(self) -> tuple[str, int | None]:
        """The property giving the node's phandle (phandle, else
        linux,phandle; one cell) and its value, or ("", None)."""
        for prop in ("phandle", "linux,phandle"):
            value = self.get(prop)
            if value is not None and len(value) == 4:
                return prop, int(U32.unpack(value)[0])
        return "", None

    @property
    def base_name(self) -> str:
        """The name without its unit address."""
        return self.name.partition("@")[0]

    @property
    def depth(self) -> int:
        """0 for the root, 1 for its children, and so on."""
        return 0 if self.path == "/" else self.path.count("/")

    @property
    def compatible(self) -> tuple[str, ...]:
        """The compatible strings (none if the value is not a string list)."""
        return strings(self.get("compatible") or b"") or ()

    def is_compatible(self, value: str) -> bool:
        """Whether `value` is one of the compatible strings, compared as Xen
        and Linux compare them: byte for byte, entry by entry, whatever the
        rest of the list holds."""
        raw = self.get("compatible")
        return raw is not None and value.encode() in raw.split(b"\0")


@dataclass(frozen=True)
class Tree:
    """A device tree read from a blob.

    file:
      the name it was read from, for messages.
    root:
      the root Node.
    reservations:
      the /memreserve/ entries, as Ranges.
    """

    file: str
    root: Node
    reservations: tuple[Range, ...] = ()
    _paths: dict[str, Node] = field(default_factory=dict, init=False, repr=False, compare=False)
    _parents: dict[str, Node] = field(default_factory=dict, init=False, repr=False, compare=False)
    _phandles: dict[int, Node] = field(default_factory=dict, init=False, repr=False, compare=False)
    _memo: dict[object, object] = field(default_factory=dict, init=False, repr=False,
                                        compare=False)

    _order: list[Node] = field(default_factory=list, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        paths, parents, phandles, order = self._paths, self._parents, self._phandles, self._order
        stack: list[tuple[Node | None, Node]] = [(None, self.root)]
        set_attr, ref = object.__setattr__, weakref.ref(self)
        while stack:
            parent, node = stack.pop()
            order.append(node)
            set_attr(node, "_tree", ref)  # read.parse gives each tree its own nodes
            paths.setdefault(node.path, node)
            if parent is not None:
                parents.setdefault(node.path, parent)
            for name in ("phandle", "linux,phandle"):
                value = node.get(name)
                if value is not None and len(value) == 4:
                    phandles.setdefault(U32.unpack(value)[0], node)
            if node.children:
                stack += [(node, child) for child in reversed(node.children)]

    def __repr__(self) -> str:
        return f"<Tree {self.file}: {len(self._order)} nodes>"

    def __str__(self) -> str:
        """The DTS text dtc prints for the blob the tree was read from."""
        from xendt.fdt.dts import source

        return source(self)

    def nodes(self) -> Iterator[Node]:
        """Every node, depth-first in blob order."""
        return iter(self._order)

    def node(self, path: str) -> Node | None:
        """The node at `path`, or None."""
        return self._paths.get(path)

    def parent(self, node: Node) -> Node | None:
        """`node`'s parent (None for the root)."""
        return self._parents.get(node.path)

    def by_phandle(self, phandle: int) -> Node | None:
        """The node whose phandle is `phandle`, or None."""
        return self._phandles.get(phandle)

    def descendants(self, node: Node) -> Iterator[Node]:
        """`node`'s descendants, depth first in blob order (not `node`)."""
        stack = list(reversed(node.children))
        while stack:
            n = stack.pop()
            yield n
            stack.extend(reversed(n.children))

    def cached(self, key: object, make: Callable[[], _T]) -> _T:
        """make(), computed once per tree for `key` (the tree never changes)."""
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]  # type: ignore[return-value]

    def bus_cells(self, bus: Node | None, *, lenient: bool = False) -> tuple[int, int]:
        """The (#address-cells, #size-cells) the children of `bus` are
        written in (the root's defaults for None). Undecodable when a count
        is not one cell or exceeds MAX_CELLS; with `lenient`, as Xen reads
        them instead: the first cell of a longer value, any count, and a
        value shorter than a cell as absent."""
        key = ("cells", bus.path if bus is not None else None, lenient)
        if key not in self._memo:
            self._memo[key] = self._bus_cells(bus, lenient)
        return self._memo[key]  # type: ignore[return-value]

    def _bus_cells(self, bus: Node | None, lenient: bool) -> tuple[int, int]:
        count = _xen_cell_count if lenient else cell_count
        address = size = None
        node = bus
        while node is not None and (address is None or size is None):
            if address is None:
                address = count(node, "#address-cells")
            if size is None:
                size = count(node, "#size-cells")
            node = self.parent(node)
        return (ROOT_CELLS_DEFAULT[0] if address is None else address,
                ROOT_CELLS_DEFAULT[1] if size is None else size)

    def reg(self, node: Node, prop: str = "reg") -> tuple[tuple[int, int], ...]:
        """The (address, size) pairs of `node`'s `prop` in its parent's
        cells, untranslated; () without the property. Undecodable when the
        cells do not divide it evenly."""
        value = node.get(prop)
        if value is None:
            return ()
        na, ns = self.bus_cells(self.parent(node))
        if na == 0 or ns == 0:
            raise Undecodable(f"expected addresses and sizes, but its bus has #address-cells {na}"
                              f" and #size-cells {ns}")
        out = pairs(value, na, ns)
        if not out:
            raise Undecodable(f"expected (address, size) pairs of {na}+{ns} cells (the"
                              f" #address-cells and #size-cells of its bus), got {quoted(value)}")
        return out


def _where(node: Node) -> str:
    """'/path in file' for messages and reprs."""
    tree = node.tree
    return f"{node.path} in {tree.file}" if tree is not None else node.path


def _set_state(obj: object, names: tuple[str, ...], state: tuple[object, ...]) -> None:
    for name, value in zip(names, state, strict=True):
        object.__setattr__(obj, name, value)


def _missing(node: Node, name: str) -> Undecodable:
    prop = Property(name, b"")
    object.__setattr__(prop, "node", node)
    return prop.fail("missing")


def _default(node: Node, name: str, default: _T | None) -> _T:
    if default is None:
        raise _missing(node, name)
    return default


def cell_count(node: Node, name: str) -> int | None:
    """Cell count `name` (#address-cells ...) of `node`, or None when
    absent; Undecodable unless one cell of at most MAX_CELLS."""
    prop = node.prop(name)
    if prop is None:
        return None
    count = prop.u32()
    if count > MAX_CELLS:
        raise prop.fail(f"expected 0 to {MAX_CELLS}, got {count}")
    return count


def _xen_cell_count(node: Node, name: str) -> int | None:
    value = node.get(name)
    return None if value is None or len(value) < 4 else int(U32.unpack_from(value)[0])
