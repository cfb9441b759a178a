"""A domU's partial device tree, as domain_handle_dtb_bootmodule reads it.

Of the partial DT's top-level nodes Xen looks at three, in the blob's
order: ``gic`` gives the phandle the domU's GIC node gets (and everything
that points at it), ``aliases`` and ``passthrough`` are copied into the
domU's tree under the same names. Under /passthrough, xen,reg, xen,path
and xen,force-assign-without-iommu are consumed, not copied: they map the
device's MMIO and interrupts (handle_passthrough_prop). Properties after a
subnode are invisible to libfdt's property iterator and are not copied.

Sources: domain_handle_dtb_bootmodule, scan_pfdt_node, handle_prop_pfdt,
handle_passthrough_prop, check_partial_fdt in ``xen/arch/arm/domain_build.c``
@ RELEASE-4.14.0 … RELEASE-4.18.0, ``xen/arch/arm/dom0less-build.c`` @
RELEASE-4.19.0, RELEASE-4.20.0, ``xen/common/device-tree/dom0less-build.c``
@ RELEASE-4.21.0, RELEASE-4.22.0.
"""

from __future__ import annotations

from dataclasses import dataclass

from xendt.domu.facts import Facts
from xendt.errors import DtbError, XenFailure
from xendt.fdt.node import Node as WriteNode
from xendt.fdt.tree import Node, Tree
from xendt.host import xen_dt
from xendt.ranges import Range

#: The properties Xen consumes under /passthrough instead of copying.
PASSTHROUGH_PROPS = ("xen,reg", "xen,path", "xen,force-assign-without-iommu")
#: DT_ROOT_NODE_ADDR_CELLS_DEFAULT, DT_ROOT_NODE_SIZE_CELLS_DEFAULT: the
#: cells scan_pfdt_node starts with, and uses where a node has none.
DEFAULT_CELLS = (2, 1)
PAGE_SIZE = 0x1000

@dataclass(frozen=True)
class Partial:
    """What the partial DT gives the domU.

    nodes:
      the top-level nodes to copy (aliases, passthrough), in blob order.
    gic_phandle:
      the phandle from /gic, or None when the GIC keeps GUEST_PHANDLE_GIC.
    devices:
      the passthrough nodes with xen,reg, as (path, xen,path or "").
    mapped:
      the host MMIO ranges xen,reg maps into the domain.
    guest:
      where each is mapped in the domain, as (node path, entry, guest range).
    notes:
      what Xen leaves out without a word (warnings for the build).
    """

    nodes: tuple[WriteNode, ...]
    gic_phandle: int | None
    devices: tuple[tuple[str, str], ...]
    mapped: tuple[Range, ...]
    guest: tuple[tuple[str, int, Range], ...] = ()
    notes: tuple[str, ...] = ()


@dataclass
class _Found:
    """What scanning /passthrough collects."""

    devices: list[tuple[str, str]]
    mapped: list[Range]
    guest: list[tuple[str, int, Range]]
    notes: list[str]


def read(partial: Tree, size: int, host: Tree, facts: Facts) -> Partial:
    """The partial DT `partial` (a module of `size` bytes in the host DT
    `host`) as Xen `facts.version` reads it; XenFailure where Xen gives up."""
    nodes = []
    gic_phandle = None
    found = _Found([], [], [], [])
    for node in partial.root.children:
        if node.name == "gic":
            phandle = _phandle(node)
            if phandle or facts.gic_phandle_zero:
                gic_phandle = phandle
        elif node.name == "aliases":
            nodes.append(_copy(partial, node, DEFAULT_CELLS, False, host, found))
        elif node.name == "passthrough":
            nodes.append(_copy(partial, node, DEFAULT_CELLS, True, host, found))
    if facts.max_partial_phandle:  # 0: this version does not check
        highest = max((_phandle(n) for n in partial.nodes()), default=0)
        if highest + 1 >= facts.max_partial_phandle:
            raise XenFailure(f"{partial.file}: phandle {highest:#x} leaves no room below"
                             f" GUEST_PHANDLE_GIC ({facts.max_partial_phandle}); Xen {facts.version}"
                             f" refuses the partial device tree")
    return Partial(tuple(nodes), gic_phandle, tuple(found.devices), tuple(found.mapped),
                   tuple(found.guest), tuple(found.notes))


def _phandle(node: Node) -> int:
    """fdt_get_phandle: "phandle", else "linux,phandle", of exactly 4 bytes."""
    for name in ("phandle", "linux,phandle"):
        value = node.get(name)
        if value is not None and len(value) == 4:
            return int.from_bytes(value, "big")
    return 0


def _copy(partial: Tree, node: Node, cells: tuple[int, int], scan: bool, host: Tree,
          found: _Found) -> WriteNode:
    """scan_pfdt_node: the node's reachable properties (minus the consumed
    ones when `scan`), then its children with its own cells (or the
    defaults, not the inherited ones)."""
    props = []
    consumed: dict[str, bytes] = {}
    for prop in node.props:
        if not prop.reachable:
            continue
        if scan and prop.name in PASSTHROUGH_PROPS:
            consumed[prop.name] = prop.value
            continue
        try:
            prop.blob_name.encode()
        except UnicodeEncodeError:
            raise DtbError(f"{node.path} in {partial.file}: property name {prop.name!r} is not"
                           f" UTF-8; xendt cannot write it") from None
        props.append((prop.blob_name, prop.value))
    if scan:
        _passthrough_device(partial, node, cells, consumed, host, found)
    own = (_cell(node, "#address-cells", DEFAULT_CELLS[0]),
           _cell(node, "#size-cells", DEFAULT_CELLS[1]))
    children = tuple(_copy(partial, child, own, scan, host, found)
                     for child in node.children)
    return WriteNode(node.blob_name, (*props, *children))


def _cell(node: Node, name: str, default: int) -> int:
    """device_tree_get_u32: the first cell, or the default."""
    value = node.get(name)
    return int.from_bytes(value[:4], "big") if value is not None and len(value) >= 4 else default


def _passthrough_device(partial: Tree, node: Node, cells: tuple[int, int],
                        consumed: dict[str, bytes], host: Tree, found: _Found) -> None:
    """handle_prop_pfdt's checks: xen,reg with xen,path (or with
    xen,force-assign-without-iommu), page-aligned triples <host guest-size>
    … in the parent's cells, xen,path present in the host DT."""
    reg, path = consumed.get("xen,reg"), consumed.get("xen,path")
    force = "xen,force-assign-without-iommu" in consumed
    where = f"{node.path} in {partial.file}"
    if reg is None:
        if path is not None:
            raise XenFailure(f"{where}: xen,path without xen,reg (Xen: \"xen,reg or xen,path"
                             f" missing\", the domain is not built)")
        return
    if path is None and not force:
        raise XenFailure(f"{where}: xen,reg without xen,path or xen,force-assign-without-iommu"
                         f" (Xen: \"xen,reg or xen,path missing\")")
    na, ns = cells
    if na not in (1, 2) or ns not in (1, 2):
        # e16e18e312 "dom0less: Prevent division by zero in
        # handle_passthrough_prop()" (4.20.4, 4.21.1, 4.22): refused; before,
        # cells of 0 and 0 divide by zero and Xen crashes.
        raise XenFailure(f"{where}: xen,reg is read in its parent's #address-cells {na} and"
                         f" #size-cells {ns}; Xen needs 1 or 2 (it refuses the domain or"
                         f" crashes)")
    entries = xen_dt.xen_reg(reg, na, ns)
    rest = len(reg) - len(entries) * 4 * (2 * na + ns)
    if rest:
        found.notes.append(f"{where}: xen,reg is {len(reg)} bytes, not whole entries of"
                           f" {4 * (2 * na + ns)} (2 x #address-cells {na} + #size-cells {ns},"
                           f" in 4-byte cells): Xen maps {len(entries)} and ignores the last"
                           f" {rest} bytes")
    for i, (mstart, size, gstart) in enumerate(entries):
        if (mstart | size | gstart) % PAGE_SIZE:
            raise XenFailure(f"{where}: xen,reg entry {i} is not page-aligned (Xen: \"DomU"
                             f" passthrough config has not page aligned addresses/sizes\")")
        found.mapped.append(Range(mstart, size))
        found.guest.append((where, i, Range(gstart, size)))
    text = ""
    if path is not None:
        text = path.split(b"\0", 1)[0].decode("utf-8", "replace")
        if host.node(text) is None:
            raise XenFailure(f"{where}: xen,path {text!r} is not in the host DT {host.file}"
                             f" (Xen: \"Couldn't find node\")")
    found.devices.append((node.path, text))


def over_ram(part: Partial, ram: tuple[Range, ...], loads: tuple[Range | None, ...],
             panics: tuple[str, ...], domain: str) -> list[str]:
    """handle_passthrough_prop maps each xen,reg range with map_regions_p2mt
    after allocate_memory and before the kernel, initrd and DTB are copied
    in (construct_domU), and no version compares it with the domain's RAM:
    the device replaces those RAM pages. A copy then meeting it fails
    (copy_to_guest_phys finds no RAM page) and Xen panics: XenFailure for
    the first of `loads` (kernel, initrd, DTB; None: none) it meets, the
    message from `panics`; otherwise a warning per range over RAM."""
    what = ("kernel", "initrd", "DTB")
    for kind, load, panic in zip(what, loads, panics):
        if load is None:
            continue
        hit = next(((w, i, g) for w, i, g in part.guest if g.overlaps(load)), None)
        if hit is not None:
            where, i, guest = hit
            left = load.size - max(0, guest.base - load.base)
            text = panic.format(domain="d<id>", left=left)
            raise XenFailure(f"{where}: xen,reg entry {i} maps the device at guest [{guest.base:#x},"
                             f" {guest.end:#x}), over the {kind} Xen loads at [{load.base:#x},"
                             f" {load.end:#x}) in {domain}'s RAM; mapped first, it leaves no RAM"
                             f" to copy the {kind} into (Xen panics: \"{text}\")")
    notes = []
    for where, i, guest in part.guest:
        bank = next((b for b in ram if b.overlaps(guest)), None)
        if bank is not None:
            notes.append(f"{where}: xen,reg entry {i} maps the device at guest"
                         f" [{guest.base:#x}, {guest.end:#x}), inside RAM [{bank.base:#x},"
                         f" {bank.end:#x}): Xen maps it over those RAM pages unchecked; the"
                         f" memory node still lists them and the guest reaches the device there")
    return notes


def check_module(data: bytes, name: str, size: int) -> None:
    """check_partial_fdt: a valid header and a totalsize within the module."""
    if len(data) < 8 or int.from_bytes(data[:4], "big") != 0xD00DFEED:
        raise DtbError(f"{name}: not a flattened device tree (Xen: \"Partial FDT is not a valid"
                       f" Flat Device Tree\")")
    total = int.from_bytes(data[4:8], "big")
    if total > size:
        raise DtbError(f"{name}: totalsize {total} is larger than its module in the host DT"
                       f" ({size} bytes): Xen refuses it")
