"""The guest address map of a device tree, named from a Xen layout.

It lists every range the tree describes, as a guest's consumers read it
(xendt.inspect.linux): memory banks, the /hypervisor `reg` (grant table,
then extended regions 1..N), GIC parts, UARTs, virtio-mmio devices, the vPCI
ECAM and the windows of a PCI bus's `ranges`, the initrd and boot modules in
/chosen, /memreserve/ entries, and any other node whose `reg` reaches the
root through `ranges` (passthrough devices). Each range gets the name the
Xen layout gives the part of the address space it lies in. The Xen version
comes from the tree's compatible strings unless the caller names one. What
does not decode becomes a Note; only an unreadable blob raises DtbError.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from xendt.errors import Undecodable
from xendt.fdt.cells import cells, strings
from xendt.fdt.cells import number as join_cells
from xendt.fdt.tree import Node, Tree
from xendt.inspect.linux import (
    PCI_PREFETCHABLE,
    PCI_SPACE,
    Note,
    _is_pci,
    cpu_ranges,
    ranges,
)
from xendt.inspect.origin import DOM0, DOM0LESS, Origin, origin
from xendt.ranges import Range
from xendt.xen.context import Xen
from xendt.xen.layout import Layout

_VERSION = re.compile(r"(\d+)\.(\d+)")


@dataclass(frozen=True)
class XenVersion:
    """The Xen version a tree reports.

    version:
      "4.21", or None if the tree names none.
    source:
      where it was read: '/hypervisor compatible "xen,xen-4.21"', or
      "--xen" when given by the user.
    conflicts:
      other version strings in the tree that disagree, as
      (node, property, value) triples.
    """

    version: str | None
    source: str
    conflicts: tuple[tuple[str, str, str], ...] = ()


#: Where libxl writes the running hypervisor's version, most telling first.
_VERSION_SOURCES = (("/hypervisor", "compatible", "xen,xen-"),
                    ("/", "compatible", "xen,xenvm-"),
                    ("/", "model", "XENVM-"))


def xen_version(tree: Tree) -> XenVersion:
    """The Xen version in `tree`'s compatible strings and model."""
    found = []
    for path, prop, prefix in _VERSION_SOURCES:
        node = tree.node(path)
        texts = (strings(node.get(prop) or b"") or ()) if node is not None else ()
        for text in texts:
            match = _VERSION.fullmatch(text[len(prefix):]) if text.startswith(prefix) else None
            if match:
                found.append((path, prop, text, f"{int(match[1])}.{int(match[2])}"))
                break
    if not found:
        return XenVersion(None, "no xen,xen-X.Y or xen,xenvm-X.Y compatible")
    path, prop, text, version = found[0]
    conflicts = tuple((p, n, t) for p, n, t, v in found[1:] if v != version)
    return XenVersion(version, f'{path} {prop} "{text}"', conflicts)


@dataclass(frozen=True)
class MapEntry(Range):
    """A range of the guest address map.

    what:
      what it is: "RAM", "grant table", "extended region 1", "GICv3
      distributor", "initrd", "vPCI 64-bit memory window (prefetchable)", a
      passthrough node's compatible ...
    kind:
      "ram", "grant-table", "extended-region", "device", "pci-window",
      "module" (initrd, ACPI tables, boot modules) or "memreserve".
    node, prop, index:
      where it comes from: node path, property and entry number.
    layout:
      the name of the layout region it lies in ("" if none, or no layout).
    """

    what: str = ""
    kind: str = ""
    node: str = ""
    prop: str = "reg"
    index: int = 0
    layout: str = ""

    @property
    def source(self) -> str:
        if self.prop in ("reg", "ranges"):
            return f"{self.node} {self.prop}[{self.index}]"
        if not self.prop:
            return f"{self.node}[{self.index}]"
        return f"{self.node} {self.prop}"


_NOBODY = Origin("", "")


@dataclass(frozen=True)
class AddressMap:
    """The guest address map of a tree.

    file:
      the tree's file name.
    xen:
      the XenVersion used.
    layout:
      the Layout ranges are named from, or None.
    layout_note:
      why the layout is not the version's own ("" if it is).
    entries:
      every range, sorted by base (larger first on a tie).
    notes:
      what could not be decoded.
    origin:
      who built the tree (libxl, Xen's dom0less builder; see
      xendt.inspect.origin).
    """

    file: str
    xen: XenVersion
    layout: Layout | None
    layout_note: str
    entries: tuple[MapEntry, ...]
    notes: tuple[Note, ...] = ()
    origin: Origin = _NOBODY
    _index: dict[tuple[str, str, int], MapEntry] = field(default_factory=dict, init=False,
                                                         repr=False, compare=False)

    def __post_init__(self) -> None:
        for e in self.entries:
            self._index.setdefault((e.node, e.prop, e.index), e)

    def of_kind(self, kind: str) -> tuple[MapEntry, ...]:
        return self._kinds.get(kind, ())

    @functools.cached_property
    def _kinds(self) -> dict[str, tuple[MapEntry, ...]]:
        out: dict[str, list[MapEntry]] = {}
        for e in self.entries:
            out.setdefault(e.kind, []).append(e)
        return {kind: tuple(found) for kind, found in out.items()}

    def at(self, node: str, prop: str, index: int) -> MapEntry | None:
        """The entry made from entry `index` of `node`'s `prop`, if any."""
        return self._index.get((node, prop, index))

    @functools.cached_property
    def top_level(self) -> tuple[tuple[MapEntry, tuple[MapEntry, ...]], ...]:
        """The entries no other entry contains, each with those it contains."""
        out: list[tuple[MapEntry, list[MapEntry]]] = []
        for e in self.entries:
            if out and out[-1][0].base <= e.base and e.end <= out[-1][0].end and out[-1][0].size:
                out[-1][1].append(e)
            else:
                out.append((e, []))
        return tuple((e, tuple(inner)) for e, inner in out)

    @functools.cached_property
    def gaps(self) -> tuple[Range, ...]:
        """The unused spans between the top-level entries."""
        out, end = [], None
        for e, _ in self.top_level:
            if end is not None and e.base > end:
                out.append(Range(end, e.base - end))
            end = e.end if end is None else max(end, e.end)
        return tuple(out)

    def layout_regions_in(self, gap: Range) -> tuple[str, ...]:
        """The layout regions lying wholly inside `gap`: parts of the
        layout this tree does not describe."""
        if self.layout is None or self.origin.builder == DOM0:
            return ()
        gic = self.gic
        return tuple(r.name for r in self.layout.regions
                     if gap.base <= r.base and r.end <= gap.end and r.gic in ("", gic))

    @functools.cached_property
    def gic(self) -> str:
        """"v2" or "v3" from the GIC entries; "" if none."""
        for e in self.of_kind("device"):
            if e.what.startswith("GICv"):
                return e.what[3:5]
        return ""


_GIC_PARTS = {"v3": ("distributor", "redistributors", "CPU interface", "hypervisor interface",
                     "virtual CPU interface"),
              "v2": ("distributor", "CPU interface", "hypervisor interface",
                     "virtual CPU interface")}
_GICV3 = ("arm,gic-v3",)
_GICV2 = ("arm,cortex-a15-gic", "arm,cortex-a9-gic", "arm,gic-400", "arm,cortex-a7-gic",
          "arm,arm11mp-gic", "arm,pl390")


def address_map(tree: Tree, xen: Xen | None = None) -> AddressMap:
    """The guest address map of `tree`; `xen` (resolved at the edge)
    overrides the version the tree reports."""
    from xendt.xen import layouts

    layout: Layout | None
    if xen is not None:
        version = XenVersion(xen.asked, "--xen")
        layout, note = xen.layout, ""
    else:
        version = xen_version(tree)
        layout, note = layouts.naming(version.version)
    built_by = origin(tree)
    if layout is None and version.version is None and built_by.builder == DOM0LESS:
        # Without xen,enhanced a dom0less guest has no /hypervisor to name its
        # Xen; its regions (GIC, vpl011, RAM) are the same in every layout.
        layout = layouts.newest_layout()
        note = (f"a dom0less guest without /hypervisor names no Xen version; names from the"
                f" Xen {layout.version} layout")
    entries: list[MapEntry] = []
    notes: list[Note] = []
    for i, r in enumerate(tree.reservations):
        entries.append(MapEntry(r.base, r.size, what="/memreserve/ entry", kind="memreserve",
                                node="/memreserve/", prop="", index=i))
    for node in tree.nodes():
        try:
            entries += _node_entries(tree, node)
        except Undecodable as e:
            notes.append(Note(node.path, "reg", str(e)))
        if _is_pci(node):
            try:
                entries += _pci_windows(tree, node)
            except Undecodable as e:
                notes.append(Note(node.path, "ranges", str(e)))
        if node.path == "/chosen":
            initrd, note_ = _initrd(node)
            entries += initrd
            notes += note_
    gic = next((e.what[3:5] for e in entries if e.what.startswith("GICv")), "")
    if layout is not None and built_by.builder != DOM0:  # dom0's addresses are the host's
        smallest_first = [(r.base, r.end, r.name) for r in sorted(layout.regions,
                                                                  key=lambda r: r.size)
                          if r.gic in ("", gic)]
        entries = [_named(e, smallest_first) for e in entries]
    entries.sort(key=lambda e: (e.base, -e.size, e.node, e.index))
    return AddressMap(tree.file, version, layout, note, tuple(entries), tuple(notes),
                      built_by)


def _named(entry: MapEntry, regions: list[tuple[int, int, str]]) -> MapEntry:
    """`entry` with the name of the smallest layout region holding it;
    `regions` are the layout's for the tree's GIC as (base, end, name),
    smallest first."""
    base, end = entry.base, entry.base + entry.size
    for first, last, name in regions:
        if first <= base and end <= last:
            return MapEntry(entry.base, entry.size, what=entry.what, kind=entry.kind,
                            node=entry.node, prop=entry.prop, index=entry.index, layout=name)
    return entry


def _node_entries(tree: Tree, node: Node) -> list[MapEntry]:
    if node.get("reg") is None:
        return []
    found = cpu_ranges(tree, node)
    if found is None:
        return []
    compatible = node.compatible
    out = []
    for i, r in enumerate(found):
        what, kind = _what(tree, node, compatible, i)
        out.append(MapEntry(r.base, r.size, what=what, kind=kind, node=node.path, index=i))
    return out


def _what(tree: Tree, node: Node, compatible: tuple[str, ...], index: int) -> tuple[str, str]:
    """What the `index`-th `reg` range of `node` is, and its kind."""
    if node.get("device_type") == b"memory\0":
        return "RAM", "ram"
    if (tree.parent(node) is tree.root and node.name == "hypervisor") or "xen,xen" in compatible:
        return ("grant table", "grant-table") if index == 0 else (f"extended region {index}",
                                                                  "extended-region")
    for flavour, names in (("v3", _GICV3), ("v2", _GICV2)):
        if any(c in names for c in compatible):
            parts = _GIC_PARTS[flavour]
            return f"GIC{flavour} {parts[min(index, len(parts) - 1)]}", "device"
    if "arm,sbsa-uart" in compatible:
        return "vpl011 UART (SBSA)", "device"
    if "virtio,mmio" in compatible:
        return "virtio-mmio device", "device"
    if _is_pci(node):
        return "vPCI ECAM (configuration space)", "device"
    if "xen,guest-acpi" in compatible:
        return "ACPI tables", "module"
    if "multiboot,module" in compatible:
        return "boot module", "module"
    return (compatible[0] if compatible else node.base_name), "device"


def _pci_windows(tree: Tree, node: Node) -> list[MapEntry]:
    windows = ranges(tree, node) or ()
    out = []
    for i, w in enumerate(windows):
        space = PCI_SPACE[(w.space >> 24) & 3]
        prefetch = " (prefetchable)" if w.space & PCI_PREFETCHABLE else ""
        out.append(MapEntry(w.parent, w.size, what=f"vPCI {space} window{prefetch}",
                            kind="pci-window", node=node.path, prop="ranges", index=i))
    return out


def _initrd(chosen: Node) -> tuple[list[MapEntry], list[Note]]:
    start, end = chosen.get("linux,initrd-start"), chosen.get("linux,initrd-end")
    if start is None and end is None:
        return [], []
    values = []
    for name, value in (("linux,initrd-start", start), ("linux,initrd-end", end)):
        if value is None or len(value) not in (4, 8):
            return [], [Note(chosen.path, name, f"expected a 4- or 8-byte address, got"
                                                f" {None if value is None else value.hex()!r}")]
        found = cells(value)
        assert found is not None  # 4 or 8 bytes: whole cells
        values.append(join_cells(found))
    if values[1] < values[0]:
        return [], [Note(chosen.path, "linux,initrd-end",
                         f"{values[1]:#x} is below linux,initrd-start {values[0]:#x}")]
    return [MapEntry(values[0], values[1] - values[0], what="initrd", kind="module",
                     node=chosen.path, prop="linux,initrd-start")], []
