"""Property values described by what they mean: `reg` as named ranges,
interrupts as `PPI 15 (ID 31) level-low`, string lists as strings,
phandles as the paths they point to. `xendt show --format json` and
`xendt diff` print them."""

from __future__ import annotations

from dataclasses import dataclass

from xendt.errors import Undecodable
from xendt.fdt.cells import cells, strings
from xendt.fdt.tree import Node, Property, Tree, cell_count
from xendt.inspect.addressmap import AddressMap, MapEntry
from xendt.inspect.linux import Interrupt, interrupts, ranges, reg
from xendt.ranges import human_size

#: Properties whose value is a u64 address (libxl writes 8 bytes).
U64_PROPERTIES = ("linux,initrd-start", "linux,initrd-end")
#: Properties holding phandle + specifier lists, and the cells-property of
#: the phandle's node that gives each specifier's length.
PHANDLE_LISTS = {"iommus": "#iommu-cells", "clocks": "#clock-cells",
                 "interrupts-extended": "#interrupt-cells", "msi-parent": "#msi-cells",
                 "resets": "#reset-cells", "power-domains": "#power-domain-cells"}
#: Properties holding a single phandle.
PHANDLE_PROPERTIES = ("interrupt-parent",)


@dataclass(frozen=True)
class Value:
    """A property value decoded by what it means.

    text:
      one line for people: '"xen,xen-4.21", "xen,xen"', 'PPI 15 (ID 31)
      level-low, cpus 0xf', 'grant table 0x38000000 +16 MiB'.
    items:
      the same as a tuple of one-line strings, one per list element (one
      range, one interrupt, one string), for per-element diffs.
    data:
      the same as plain data (str, int, bool, lists, dicts) for JSON.
    """

    text: str
    items: tuple[str, ...]
    data: object


def describe(tree: Tree, amap: AddressMap | None, node: Node, prop: Property) -> Value:
    """`prop` of `node` decoded: ranges named from `amap`, interrupts by
    kind and trigger, phandles as paths, strings as strings; raw cells or
    bytes when nothing more is known or the value does not decode."""
    try:
        decoded = _describe(tree, amap, node, prop)
    except Undecodable:
        decoded = None
    return decoded or _generic(prop)


def _describe(tree, amap, node, prop) -> Value | None:
    name, value = prop.name, prop.value
    if name == "reg" and amap is not None and amap.at(node.path, "reg", 0) is not None:
        entries = [amap.at(node.path, "reg", i) for i in range(len(reg(tree, node)))]
        items = tuple(_range_text(e) for e in entries)
        data = [_range_data(e) for e in entries]
        return Value("; ".join(items), items, data)
    if name == "ranges" and amap is not None and amap.at(node.path, "ranges", 0) is not None:
        entries = [amap.at(node.path, "ranges", i) for i in range(len(ranges(tree, node) or ()))]
        items = tuple(_range_text(e) for e in entries)
        return Value("; ".join(items), items, [_range_data(e) for e in entries])
    if name == "interrupts":
        found = interrupts(tree, node)
        items = tuple(str(i) for i in found)
        return Value("; ".join(items), items, [_interrupt_data(i) for i in found])
    if name in PHANDLE_PROPERTIES and len(value) == 4:
        target = tree.by_phandle(prop.u32())
        if target is not None:
            return Value(f"&{target.path}", (f"&{target.path}",), {"phandle": target.path})
    if name in PHANDLE_LISTS:
        return _phandle_list(tree, value, PHANDLE_LISTS[name])
    if name in U64_PROPERTIES and len(value) == 8:
        number = prop.u64()
        return Value(f"{number:#x}", (f"{number:#x}",), number)
    if name == "rng-seed":
        text = f"{len(value)} random bytes"
        return Value(text, (text,), {"bytes": value.hex()})
    return None


def _generic(prop: Property) -> Value:
    value = prop.value
    if not value:
        return Value("(empty)", ("(empty)",), True)
    texts = strings(value)
    if texts is not None:
        items = tuple(f'"{t}"' for t in texts)
        return Value(", ".join(items), items, list(texts))
    numbers = cells(value)
    if numbers is not None:
        items = tuple(f"{n:#x}" for n in numbers)
        return Value("<" + " ".join(items) + ">", items, list(numbers))
    return Value(f"[{value.hex(' ')}]", (value.hex(" "),), {"bytes": value.hex()})


def _phandle_list(tree: Tree, value: bytes, cells_name: str) -> Value | None:
    c = cells(value)
    if c is None:
        return None
    items, data, i = [], [], 0
    while i < len(c):
        target = tree.by_phandle(c[i])
        if target is None:
            return None
        count = cell_count(target, cells_name) or 0
        args = c[i + 1:i + 1 + count]
        if len(args) != count:
            return None
        items.append(" ".join([f"&{target.path}", *(f"{a:#x}" for a in args)]))
        data.append({"phandle": target.path, "args": list(args)})
        i += 1 + count
    return Value("; ".join(items), tuple(items), data)


def _range_text(e: MapEntry | None) -> str:
    if e is None:
        return "?"
    named = f" in {e.layout}" if e.layout else ""
    return f"{e.what} {e.base:#x} +{human_size(e.size)}{named}"


def _range_data(e: MapEntry | None) -> dict | None:
    if e is None:
        return None
    return {"what": e.what, "base": e.base, "size": e.size, "layout": e.layout or None}


def _interrupt_data(i: Interrupt) -> dict:
    if i.kind:
        return {"controller": i.controller, "type": i.kind, "number": i.number,
                "intid": i.intid, "trigger": i.trigger, "cpus": i.cpus}
    return {"controller": i.controller, "cells": list(i.cells)}
