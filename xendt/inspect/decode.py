"""Reading any device tree blob back: an immutable tree, property values
decoded by what they mean, and the guest address map.

The address map lists every range the tree describes, as a guest's
consumers read it: memory banks, the /hypervisor `reg` (grant table, then
extended regions 1..N), GIC parts, UARTs, virtio-mmio devices, the vPCI
ECAM and the windows of a PCI bus's `ranges`, the initrd and boot modules in
/chosen, /memreserve/ entries, and any other node whose `reg` reaches the
root through `ranges` (passthrough devices). Each range gets the name the
Xen layout gives the part of the address space it lies in. The Xen version
comes from the tree's compatible strings unless the caller names one.

Cells are read as Linux reads them: a bus without #address-cells or
#size-cells inherits its parent's (default 2 and 1 at the root), a `reg`
reaches the CPU only through ancestors that all have `ranges`, and an
interrupt's parent is found by walking `interrupt-parent` and parents up to
a node with #interrupt-cells.

What cannot be decoded (a `reg` of the wrong length, a `ranges` that does
not cover an address, an interrupt-parent chain that loops) is never fatal
here: it becomes a Note, which `xendt show` prints and `xendt check`
reports as an error. Only an unreadable blob raises DtbError.
"""

from __future__ import annotations

import functools
import re
import struct
from dataclasses import dataclass, field

from xendt.errors import DtbError, Undecodable
from xendt.fdt.cells import cells, number as join_cells, quoted, strings  # noqa: F401
from xendt.fdt.read import MAX_BLOB_SIZE, parse, read_blob, read_dtb  # noqa: F401
from xendt.fdt.tree import MAX_CELLS, Node, Property, Tree, cell_count  # noqa: F401
from xendt.model import Layout, MiB, Range, human_size  # noqa: F401 (human_size re-exported)

#: GIC interrupt specifier (arm,gic and arm,gic-v3 bindings).
GIC_SPI, GIC_PPI = 0, 1
TRIGGERS = {1: "edge-rising", 2: "edge-falling", 4: "level-high", 8: "level-low"}
#: PCI phys.hi: address-space code (bits 24-25) and prefetchable bit.
PCI_SPACE = {0: "configuration", 1: "I/O", 2: "32-bit memory", 3: "64-bit memory"}
PCI_PREFETCHABLE = 0x4000_0000
#: Properties whose value is a u64 address (libxl writes 8 bytes).
U64_PROPERTIES = ("linux,initrd-start", "linux,initrd-end")
#: Properties holding phandle + specifier lists, and the cells-property of
#: the phandle's node that gives each specifier's length.
PHANDLE_LISTS = {"iommus": "#iommu-cells", "clocks": "#clock-cells",
                 "interrupts-extended": "#interrupt-cells", "msi-parent": "#msi-cells",
                 "resets": "#reset-cells", "power-domains": "#power-domain-cells"}
#: Properties holding a single phandle.
PHANDLE_PROPERTIES = ("interrupt-parent",)

_U32 = struct.Struct(">I")
_VERSION = re.compile(r"(\d+)\.(\d+)")


DeviceTree = Tree  # the name the inspection code grew up with


def load(path: str) -> Tree:
    """The Tree in the file at `path` ("-" for standard input)."""
    return read_dtb(path)


def parse_with_dts(blob: bytes, name: str = "<blob>", *,
                   dts_text: bool = True) -> tuple[Tree, str | None]:
    """The Tree of `blob` and its DTS text as dtc prints it, reading the
    blob once."""
    tree = parse(blob, name)
    return tree, str(tree) if dts_text else None


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


def ranges(tree: DeviceTree, bus: Node) -> tuple[Window, ...] | None:
    """`bus`'s `ranges` entries; () for an empty `ranges` (an identity
    mapping), None without one (its children are not memory-mapped)."""
    key = ("ranges", bus.path)
    if key not in tree._memo:
        tree._memo[key] = _ranges(tree, bus)
    return tree._memo[key]


def _ranges(tree: DeviceTree, bus: Node) -> tuple[Window, ...] | None:
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


def cpu_ranges(tree: DeviceTree, node: Node) -> tuple[Range, ...] | None:
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


def interrupt_parent(tree: DeviceTree, node: Node) -> Node:
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


def interrupts(tree: DeviceTree, node: Node) -> tuple[Interrupt, ...]:
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


# ---------------------------------------------------------------------------
# The Xen version and the address map

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


def xen_version(tree: DeviceTree) -> XenVersion:
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


def layout_for(version: str | None) -> tuple[Layout | None, str]:
    """The layout to name ranges with, and a note when it is not the
    version's own: a version newer than xendt knows gets the newest layout,
    an older one none."""
    from xendt.xen import layouts

    if version is None:
        return None, "no Xen version: ranges are not named"
    known = layouts.versions()
    if version in known:
        return layouts.load(version), ""
    key = tuple(int(p) for p in version.split("."))
    newest = known[-1]
    if key > tuple(int(p) for p in newest.split(".")):
        return layouts.load(newest), f"xendt has no layout for Xen {version}; names from {newest}'s"
    return None, f"xendt has no layout for Xen {version} (it knows {known[0]} to {newest})"


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
    """

    file: str
    xen: XenVersion
    layout: Layout | None
    layout_note: str
    entries: tuple[MapEntry, ...]
    notes: tuple[Note, ...] = ()
    _index: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for e in self.entries:
            self._index.setdefault((e.node, e.prop, e.index), e)

    def of_kind(self, kind: str) -> tuple[MapEntry, ...]:
        return tuple(e for e in self.entries if e.kind == kind)

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
        if self.layout is None:
            return ()
        gic = self.gic
        return tuple(r.name for r in self.layout.regions
                     if gap.base <= r.base and r.end <= gap.end and r.gic in ("", gic))

    @property
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


def address_map(tree: DeviceTree, xen: str | None = None) -> AddressMap:
    """The guest address map of `tree`; `xen` overrides the version the
    tree reports (ConfigError if xendt has no layout for it)."""
    if xen is not None:
        from xendt.xen import layouts

        version = XenVersion(xen, "--xen")
        layout, note = layouts.load(xen), ""
    else:
        version = xen_version(tree)
        layout, note = layout_for(version.version)
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
    if layout is not None:
        smallest_first = sorted(layout.regions, key=lambda r: r.size)
        entries = [_named(e, smallest_first, gic) for e in entries]
    entries.sort(key=lambda e: (e.base, -e.size, e.node, e.index))
    return AddressMap(tree.file, version, layout, note, tuple(entries), tuple(notes))


def _named(entry: MapEntry, regions: list, gic: str) -> MapEntry:
    """`entry` with the name of the smallest layout region holding it;
    `regions` are the layout's, smallest first."""
    for r in regions:
        if r.base <= entry.base and entry.end <= r.end and r.gic in ("", gic):
            return MapEntry(entry.base, entry.size, what=entry.what, kind=entry.kind,
                            node=entry.node, prop=entry.prop, index=entry.index, layout=r.name)
    return entry


def _node_entries(tree: DeviceTree, node: Node) -> list[MapEntry]:
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


def _what(tree: DeviceTree, node: Node, compatible: tuple[str, ...], index: int) -> tuple[str, str]:
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


def _pci_windows(tree: DeviceTree, node: Node) -> list[MapEntry]:
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
        values.append(join_cells(cells(value)))
    if values[1] < values[0]:
        return [], [Note(chosen.path, "linux,initrd-end",
                         f"{values[1]:#x} is below linux,initrd-start {values[0]:#x}")]
    return [MapEntry(values[0], values[1] - values[0], what="initrd", kind="module",
                     node=chosen.path, prop="linux,initrd-start")], []


# ---------------------------------------------------------------------------
# Property values, by meaning

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


def describe(tree: DeviceTree, amap: AddressMap | None, node: Node, prop: Property) -> Value:
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
        target = tree.by_phandle(_U32.unpack(value)[0])
        if target is not None:
            return Value(f"&{target.path}", (f"&{target.path}",), {"phandle": target.path})
    if name in PHANDLE_LISTS:
        return _phandle_list(tree, value, PHANDLE_LISTS[name])
    if name in U64_PROPERTIES and len(value) == 8:
        number = struct.unpack(">Q", value)[0]
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


def _phandle_list(tree: DeviceTree, value: bytes, cells_name: str) -> Value | None:
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
