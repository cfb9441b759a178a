"""What `xendt show` prints: the tree as dtc prints it, then the guest
address map, as text for people or as JSON.

The map lists the top-level ranges in address order (a range inside
another, such as the initrd in RAM or a passthrough device in an extended
region, is indented under it), the gaps between them with the layout
regions that lie unused in each, and the notes on what could not be decoded.
Addresses print as /proc/iomem does: first and last byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xendt.documents import document
from xendt.fdt.tree import Tree as DeviceTree
from xendt.inspect.addressmap import AddressMap, MapEntry
from xendt.inspect.values import describe
from xendt.ranges import human_size


def text(amap: AddressMap, dts: str) -> str:
    """The DTS text followed by the address map."""
    return dts + "\n" + map_text(amap)


def map_text(amap: AddressMap) -> str:
    lines = [f"Guest address map of {amap.file}", _version_line(amap)]
    rows: list[tuple[str, ...]] = []
    gaps, next_gap = amap.gaps, 0  # both in address order
    for entry, inner in amap.top_level:
        while next_gap < len(gaps) and gaps[next_gap].base < entry.base:
            rows.append(_gap_row(amap, gaps[next_gap]))
            next_gap += 1
        rows.append(_row(entry, ""))
        rows += [_row(e, "  ") for e in inner]
    if rows:
        width = max(8, *(len(r[1]) for r in rows))
        header = ("first", "last", "size", "what", "from", "layout")
        table = [header] + [(_hex(r[0], width), _hex(r[1], width), *r[2:]) for r in rows]
        widths = [max(len(r[i]) for r in table) for i in range(len(header))]
        lines.append("")
        for r in table:
            cells = [r[0].ljust(widths[0]), r[1].ljust(widths[1]), r[2].rjust(widths[2]),
                     r[3].ljust(widths[3]), r[4].ljust(widths[4]), r[5]]
            lines.append("  " + "  ".join(cells).rstrip())
    else:
        lines.append("")
        lines.append("  (no addressed nodes)")
    if amap.notes:
        lines.append("")
        lines += [f"note: {n}" for n in amap.notes]
    return "\n".join(lines) + "\n"


def _version_line(amap: AddressMap) -> str:
    xen = amap.xen
    if xen.version is None:
        line = f"Xen version unknown ({xen.source}; give --xen)"
    elif amap.origin.builder == "dom0":
        line = f"Xen {xen.version} ({xen.source}); dom0 is mapped 1:1: host addresses, no layout"
    elif amap.layout is not None and not amap.layout_note:
        line = f"Xen {xen.version} ({xen.source}); names from the Xen {amap.layout.version} layout"
    else:
        line = f"Xen {xen.version} ({xen.source}); {amap.layout_note}"
    for node, prop, value in xen.conflicts:
        line += f"; but {node} {prop} says {value!r}"
    if xen.version is None and amap.layout is not None:
        line += f"; {amap.layout_note}"
    if amap.origin.builder:
        line += f"\nBuilt by {_BUILDERS[amap.origin.builder]}: {amap.origin.reason}"
    return line


_BUILDERS = {"libxl": "libxl (xl create)", "dom0less": "the Xen hypervisor (a dom0less domU)",
             "dom0": "the Xen hypervisor (dom0, from the host DT)"}


def _row(e: MapEntry, indent: str) -> tuple[str, ...]:
    last = e.end - 1 if e.size else e.base
    return (f"{e.base:x}", f"{last:x}", human_size(e.size), indent + e.what, e.source, e.layout)


def _gap_row(amap: AddressMap, gap) -> tuple[str, ...]:
    unused = amap.layout_regions_in(gap)
    note = f"({', '.join(unused)}: not in this tree)" if unused else ""
    return (f"{gap.base:x}", f"{gap.end - 1:x}", human_size(gap.size), "(gap)", "", note)


def _hex(digits: str, width: int) -> str:
    return "0x" + digits.rjust(width, "0")


@dataclass(frozen=True)
class Shown:
    """What `xendt show` prints about a tree: the tree and its address map."""

    tree: DeviceTree
    address_map: AddressMap

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.address_map.file,)

    def text(self) -> str:
        """The DTS, then the map, as `xendt show` prints them."""
        return text(self.address_map, str(self.tree))

    def to_dict(self) -> dict[str, Any]:
        """The "xendt.show/1" document: what `xendt show --format json` prints."""
        from xendt.documents import envelope

        amap, tree = self.address_map, self.tree
        containers = {}
        for entry, inner in amap.top_level:
            for e in inner:
                containers[(e.node, e.prop, e.index)] = entry.source
        return envelope("show", amap.xen.version, self.inputs, (), "show", {
            "xen_source": amap.xen.source,
            "xen_conflicts": [{"node": n, "prop": p, "value": v} for n, p, v in amap.xen.conflicts],
            "layout": amap.layout.version if amap.layout else None,
            "layout_note": amap.layout_note,
            "entries": [{"base": e.base, "size": e.size, "what": e.what, "kind": e.kind,
                         "node": e.node, "prop": e.prop, "index": e.index, "layout": e.layout,
                         "inside": containers.get((e.node, e.prop, e.index))}
                        for e in amap.entries],
            "gaps": [{"base": g.base, "size": g.size,
                      "unused_layout_regions": list(amap.layout_regions_in(g))} for g in amap.gaps],
            "notes": [{"node": n.node, "prop": n.prop, "message": n.message} for n in amap.notes],
            "reservations": [{"base": r.base, "size": r.size} for r in tree.reservations],
            "tree": _node_data(tree, amap, tree.root),
        })

    def to_json(self) -> str:
        """to_dict() as the text `xendt show --format json` prints."""
        return document(self.to_dict())


def json_text(tree: DeviceTree, amap: AddressMap) -> str:
    """The tree with decoded values, and the address map, as JSON."""
    return Shown(tree, amap).to_json()


def _node_data(tree: DeviceTree, amap: AddressMap, node) -> dict:
    props = []
    for p in node.props:
        value = describe(tree, amap, node, p)
        props.append({"name": p.name, "value": value.data, "text": value.text,
                      "reachable": p.reachable})
    return {"name": node.name, "path": node.path, "properties": props,
            "children": [_node_data(tree, amap, child) for child in node.children]}
