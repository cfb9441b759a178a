"""`xendt diff`: what differs between two device trees, by meaning.

Nodes are matched by path and properties by name, so the byte layout does
not count: FDT_NOP tokens, the stale tail below totalsize, the order of the
strings block and of properties within a node. What counts: nodes added or
removed (with their properties), properties added, removed or changed, and
the order of a node's children (libxl's order changed between versions,
e.g. xen_iommu in 4.18). Values print decoded (see values.describe): `reg`
as named address ranges, interrupts by kind, number and trigger, string
lists as strings, phandles as the paths they point to; a property whose
bytes differ only in phandle numbers that resolve to the same nodes is the
same. /chosen/rng-seed is random in every libxl build, so its value is not
compared unless asked.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar

from xendt.fdt.tree import Node, Property
from xendt.fdt.tree import Tree as DeviceTree
from xendt.inspect.addressmap import AddressMap, address_map
from xendt.inspect.origin import DOM0, Origin
from xendt.inspect.values import PHANDLE_LISTS, PHANDLE_PROPERTIES, Value, describe

#: A child's or property's key: its name, or (name, n) for the n-th repeat of a name.
_Key: TypeAlias = str | tuple[str, int]
_Named = TypeVar("_Named", Node, Property)


@dataclass(frozen=True)
class Change:
    """One difference.

    kind:
      "node-added", "node-removed", "property-added", "property-removed",
      "property-changed" or "children-reordered".
    node:
      the node's path.
    prop:
      the property's name ("" for node changes).
    old, new:
      the decoded values (None where absent). For an added or removed node
      its properties are in `props`; for children-reordered, old and new
      hold the child names in order.
    props:
      (name, Value) of an added or removed node.
    why:
      when the trees come from different builders (libxl, Xen's dom0less
      builder), why they differ here; "" otherwise.
    """

    kind: str
    node: str
    prop: str = ""
    old: Value | None = None
    new: Value | None = None
    props: tuple[tuple[str, Value], ...] = ()
    why: str = ""


@dataclass(frozen=True)
class Diff:
    """The differences between trees `a` and `b` (their file names, or what
    built them), in tree order; `origins` says who built each when that
    differs (see xendt.inspect.origin), else is empty."""

    a: str
    b: str
    changes: tuple[Change, ...]
    origins: tuple[str, ...] = ()

    @property
    def same(self) -> bool:
        return not self.changes

    def text(self) -> str:
        lines = [f"--- {self.a}", f"+++ {self.b}"]
        if self.origins:
            lines += [f"(a: {self.origins[0]}; b: {self.origins[1]})"]
        current = None
        said: tuple[str, str] = ("", "")  # the last why printed, and where
        for c in self.changes:
            # A reason already given for this node or an ancestor is not repeated.
            why = c.why if c.why and not (c.why == said[0] and (
                c.node == said[1] or c.node.startswith(said[1].rstrip("/") + "/"))) else ""
            if why:
                said = (why, c.node)
            if c.kind in ("node-added", "node-removed"):
                sign = "+" if c.kind == "node-added" else "-"
                lines.append(f"{sign} {c.node}")
                lines += [f"    {sign} {name}: {value.text}" for name, value in c.props]
                lines += [f"    why: {why}"] if why else []
                current = None
                continue
            if c.node != current:
                lines.append(c.node)
                current = c.node
            if c.kind == "property-added":
                assert c.new is not None
                lines.append(f"  + {c.prop}: {c.new.text}")
            elif c.kind == "property-removed":
                assert c.old is not None
                lines.append(f"  - {c.prop}: {c.old.text}")
            else:  # children-reordered and property-changed carry both values
                assert c.old is not None and c.new is not None
                if c.kind == "children-reordered":
                    lines.append(f"  ~ order of subnodes: {_reordered(c.old.items, c.new.items)}")
                elif len(c.old.items) <= 1 and len(c.new.items) <= 1:
                    lines.append(f"  ~ {c.prop}: {c.old.text} -> {c.new.text}")
                else:
                    lines.append(f"  ~ {c.prop}:")
                    lines += _item_lines(c.old.items, c.new.items)
            lines += [f"    why: {why}"] if why else []
        if self.same:
            lines.append("(no differences)")
        return "\n".join(lines) + "\n"

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.a, self.b)

    def to_dict(self) -> dict[str, Any]:
        """The "xendt.diff/1" document: what `xendt diff --format json` prints
        (values decoded, with their DTS text beside them)."""
        from xendt.documents import envelope

        def data(value: Value | None) -> object:
            return None if value is None else value.data

        def text(value: Value | None) -> str | None:
            return None if value is None else value.text

        changes = [{"kind": c.kind, "node": c.node, "prop": c.prop, "old": data(c.old),
                    "new": data(c.new), "old_text": text(c.old), "new_text": text(c.new),
                    "props": [{"name": n, "value": v.data, "text": v.text} for n, v in c.props],
                    "why": c.why} for c in self.changes]
        return envelope("diff", None, self.inputs, (), "diff",
                        {"same": self.same, "origins": list(self.origins), "changes": changes})

    def to_json(self) -> str:
        """to_dict() as the text `xendt diff --format json` prints."""
        from xendt.documents import document

        return document(self.to_dict())

    json = to_json


def _reordered(old: tuple[str, ...], new: tuple[str, ...]) -> str:
    """A change of child order: both orders when short, else the children
    that moved (those off the longest common order) and where they are now."""
    if len(new) <= 8:
        return f"{', '.join(old)} -> {', '.join(new)}"
    kept: set[int] = set()
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for block in matcher.get_matching_blocks():
        kept.update(range(block.b, block.b + block.size))
    moved = [f"{name} (now {'after ' + new[i - 1] if i else 'first'})"
             for i, name in enumerate(new) if i not in kept]
    return "moved " + ", ".join(moved)


def _item_lines(old: tuple[str, ...], new: tuple[str, ...]) -> list[str]:
    out = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            out += [f"      {item}" for item in old[i1:i2]]
        else:
            out += [f"    - {item}" for item in old[i1:i2]]
            out += [f"    + {item}" for item in new[j1:j2]]
    return out


def diff(a: DeviceTree, b: DeviceTree, *, include_rng_seed: bool = False) -> Diff:
    """The differences from tree `a` to tree `b`, each decoded with the
    address map of its own Xen version."""
    return _Differ(a, b, include_rng_seed).run()


class _Differ:
    def __init__(self, a: DeviceTree, b: DeviceTree, include_rng_seed: bool) -> None:
        self.a, self.b = a, b
        self.map_a: AddressMap = address_map(a)
        self.map_b: AddressMap = address_map(b)
        self.include_rng_seed = include_rng_seed
        self.changes: list[Change] = []

    def run(self) -> Diff:
        from dataclasses import replace

        from xendt.inspect.origin import origin, why

        self.node(self.a.root, self.b.root)
        changes = tuple(self.changes)
        a, b = origin(self.a), origin(self.b)
        if {a.builder, b.builder} == {"", DOM0}:
            return self.dom0(changes, a, b)
        if a.builder == b.builder or not (a.builder and b.builder):
            return Diff(self.a.file, self.b.file, changes)
        explained = tuple(replace(c, why=why(c.kind, c.node, c.prop)) for c in changes)
        return Diff(self.a.file, self.b.file, explained, (str(a), str(b)))

    def dom0(self, changes: tuple[Change, ...], a: Origin, b: Origin) -> Diff:
        """A host DT against the dom0 tree Xen wrote from it (either way
        round): each change with the Xen function that makes it."""
        from dataclasses import replace

        from xendt.inspect.dom0why import why

        host_first = b.builder == DOM0
        host, dom0 = (self.a, self.b) if host_first else (self.b, self.a)
        flip = {"node-added": "node-removed", "node-removed": "node-added",
                "property-added": "property-removed", "property-removed": "property-added"}
        explained = tuple(replace(c, why=why(c.kind if host_first else flip.get(c.kind, c.kind),
                                             c.node, c.prop, host, dom0)) for c in changes)
        return Diff(self.a.file, self.b.file, explained, (str(a), str(b)))

    def node(self, old: Node, new: Node) -> None:
        self.properties(old, new)
        old_children, new_children = _keyed(old.children), _keyed(new.children)
        for key, child in old_children.items():
            if key in new_children:
                self.node(child, new_children[key])
            else:
                self.subtree("node-removed", self.a, self.map_a, child)
        for key, child in new_children.items():
            if key not in old_children:
                self.subtree("node-added", self.b, self.map_b, child)
        common_old = [k for k in old_children if k in new_children]
        common_new = [k for k in new_children if k in old_children]
        if common_old != common_new:
            self.changes.append(Change("children-reordered", new.path,
                                       old=_names(common_old), new=_names(common_new)))

    def properties(self, old: Node, new: Node) -> None:
        old_props, new_props = _keyed(old.props), _keyed(new.props)
        for key, prop in old_props.items():
            other = new_props.get(key)
            if other is None:
                self.changes.append(Change("property-removed", new.path, prop.name,
                                           old=describe(self.a, self.map_a, old, prop)))
            elif prop.value != other.value and not self.ignored(new, prop):
                before = describe(self.a, self.map_a, old, prop)
                after = describe(self.b, self.map_b, new, other)
                if before.data != after.data or not _resolves(prop.name):
                    self.changes.append(Change("property-changed", new.path, prop.name,
                                               old=before, new=after))
        for key, prop in new_props.items():
            if key not in old_props:
                self.changes.append(Change("property-added", new.path, prop.name,
                                           new=describe(self.b, self.map_b, new, prop)))

    def ignored(self, node: Node, prop: Property) -> bool:
        return prop.name == "rng-seed" and node.path == "/chosen" and not self.include_rng_seed

    def subtree(self, kind: str, tree: DeviceTree, amap: AddressMap, node: Node) -> None:
        stack = [node]
        while stack:
            current = stack.pop()
            props = tuple((p.name, describe(tree, amap, current, p)) for p in current.props)
            self.changes.append(Change(kind, current.path, props=props))
            stack.extend(reversed(current.children))


def _keyed(items: Iterable[_Named]) -> dict[_Key, _Named]:
    """`items` (nodes or properties) keyed by name, a repeated name keyed
    (name, n) for its n-th repeat so that nothing is lost."""
    out: dict[_Key, _Named] = {}
    repeats: dict[str, int] = {}  # how often each name came so far, less one
    for item in items:
        key: _Key = item.name
        if key in out:
            n = repeats.get(item.name, 1)
            while key in out:  # a child literally named like a repeat key: go on counting
                key, n = (item.name, n), n + 1
            repeats[item.name] = n
        out[key] = item
    return out


def _names(keys: list[_Key]) -> Value:
    names = tuple(k if isinstance(k, str) else f"{k[0]}#{k[1]}" for k in keys)
    return Value(", ".join(names), names, list(names))


def _resolves(name: str) -> bool:
    """Whether `name`'s decoded value replaces phandle numbers by paths, so
    that equal decoded values mean the same property."""
    return name in PHANDLE_PROPERTIES or name in PHANDLE_LISTS
