"""dom0's interrupt controller node: make_gic_node and the GIC driver's
make_hwdom_dt_node.

make_gic_node (``xen/arch/arm/domain_build.c`` @ RELEASE-4.14.0 …
RELEASE-4.22.0) writes the host GIC's phandle, #address-cells and
#size-cells (copied when present), #interrupt-cells = 3 and
interrupt-controller; the node is called "interrupt-controller" until 4.20
and by the host node's own name from 4.21 (0c4b0e6236, [dom0] gic-name).
Then:

- GICv2 (gicv2_make_hwdom_dt_node, ``xen/arch/arm/gic-v2.c``): the host
  compatible, the first two reg entries (GICD, GICC), and for each GICv2m
  frame (gicv2m_make_dt_node) the GIC's `ranges` and a subnode named as the
  frame without its unit address, with its phandle, reg and the SPI base and
  count Xen read from the frame (its DT overrides, or its MSI_TYPER register);
- GICv3 (gicv3_make_hwdom_dt_node, ``xen/arch/arm/gic-v3.c``): the host
  compatible, #redistributor-regions = the regions dom0's vCPUs need
  (vgic_v3_domain_init, ``vgic-v3.c``), and that many reg entries after the
  distributor. ITS subnodes come only with CONFIG_HAS_ITS, off by default.

Nothing else of the host node, and none of its children, is copied.
"""

from __future__ import annotations

from xendt.dom0less import hostview
from xendt.errors import BuildError, ConfigError, XenFailure
from xendt.fdt.tree import Node, Tree
from xendt.fdt.write import Writer
from xendt.host import xen_dt

V2M_COMPATIBLE = "arm,gic-v2m-frame"
#: V2M_MIN_SPI, V2M_MAX_SPI (xen/arch/arm/gic-v2.c @ RELEASE-4.21.0).
V2M_MIN_SPI, V2M_MAX_SPI = 32, 1019


def phandle(node: Node) -> int:
    """np->phandle: "phandle", else "linux,phandle", else 0."""
    found = node.u32("phandle")
    return found if found is not None else node.u32("linux,phandle") or 0


def v2m_frames(gic: Node) -> tuple[Node, ...]:
    """The GICv2m frames gicv2m_init finds: children of the GIC compatible
    with arm,gic-v2m-frame, in DT order."""
    return tuple(c for c in gic.children if c.is_compatible(V2M_COMPATIBLE))


def write(w: Writer, tree: Tree, gic: Node, name: str, vcpus: int,
          v2m_spis: tuple[tuple[int, int], ...]) -> None:
    """make_gic_node for the GIC Xen drives, as node `name`."""
    w.begin(name)
    handle = phandle(gic)
    if handle:
        w.cell("phandle", handle)
    for cells in ("#address-cells", "#size-cells"):
        value = gic.get(cells)
        if value is not None:
            w.prop(cells, value)
    w.cell("#interrupt-cells", 3)
    w.prop("interrupt-controller")
    host = hostview.gic(tree)
    compatible = gic.get("compatible") or b""
    entry = 4 * sum(xen_dt.cells(tree, gic))
    reg = gic.get("reg") or b""
    if host.version == "v2":
        w.prop("compatible", compatible)
        w.prop("reg", reg[:2 * entry])
        _v2m(w, tree, gic, v2m_spis)
    else:
        try:
            regions = len(hostview.direct_mapped_redistributors(host, vcpus))
        except BuildError as e:
            raise XenFailure(f"{gic.path} in {tree.file}: {e}") from None
        w.prop("compatible", compatible)
        w.cell("#redistributor-regions", regions)
        if len(reg) < (regions + 1) * entry:
            raise BuildError(f"{gic.path} in {tree.file}: 'reg' is shorter than the"
                             f" distributor and {regions} redistributor regions (Xen: -ERANGE,"
                             f" \"Device tree generation failed\")")
        w.prop("reg", reg[:(regions + 1) * entry])
    w.end()


def _v2m(w: Writer, tree: Tree, gic: Node, v2m_spis: tuple[tuple[int, int], ...]) -> None:
    frames = v2m_frames(gic)
    if not frames:
        return
    ranges = gic.get("ranges")
    if ranges is None:
        raise BuildError(f"{gic.path} in {tree.file}: GICv2m frames but no 'ranges' (Xen:"
                         f" \"Can't find ranges property for the gic node\", dom0 is not built)")
    w.prop("ranges", ranges)
    for i, frame in enumerate(frames):
        base, count = spis(tree, frame, v2m_spis[i] if i < len(v2m_spis) else None)
        w.begin(frame.base_name)
        w.string("compatible", V2M_COMPATIBLE)
        w.prop("msi-controller")
        handle = phandle(frame)
        if handle:
            w.cell("phandle", handle)
        w.prop("reg", frame.get("reg") or b"")
        w.cell("arm,msi-base-spi", base)
        w.cell("arm,msi-num-spis", count)
        w.end()


def spis(tree: Tree, frame: Node, given: tuple[int, int] | None) -> tuple[int, int]:
    """A frame's SPI base and count (gicv2m_init and
    gicv2_add_v2m_frame_to_list): arm,msi-base-spi and arm,msi-num-spis
    when the DT has both and neither is 0, else what the frame's MSI_TYPER
    register says, which only --v2m-spis can tell. XenFailure where Xen
    panics on them."""
    cells = [frame.u32(p) or 0 for p in ("arm,msi-base-spi", "arm,msi-num-spis")]
    if all(cells):
        base, count = cells
    elif given is None:
        raise ConfigError(f"{frame.path} in {tree.file} has no arm,msi-base-spi and"
                          f" arm,msi-num-spis: Xen reads them from the frame's MSI_TYPER"
                          f" register (its console prints \"gic_v2m_spi_base\" and"
                          f" \"gic_v2m_num_spis\"): give them with --v2m-spis BASE:COUNT")
    else:
        base, count = given
    if base < V2M_MIN_SPI:
        raise XenFailure(f"{frame.path} in {tree.file}: Xen panics \"GICv2: Invalid v2m base"
                         f" SPI:{base}\"")
    if count == 0 or base + count > V2M_MAX_SPI:
        raise XenFailure(f"{frame.path} in {tree.file}: Xen panics \"GICv2: Number of v2m SPIs"
                         f" ({count}) exceed maximum ({V2M_MAX_SPI - V2M_MIN_SPI + 1})\"")
    return base, count
