"""`xendt host-regions --format`: the table or JSON document
(xendt.hostregions.report), or the /hypervisor node itself as DTS or DTB, the way
make_hypervisor_node writes it."""

from __future__ import annotations

from xendt.documents import document
from xendt.errors import ConfigError
from xendt.hostregions.fleet import HostFleet
from xendt.hostregions.report import table, to_json


def failures(result: HostFleet) -> list[str]:
    """One line per host where Xen fails (the command then exits 1)."""
    return [f"{r.host}: Xen {r.xen} fails: {r.failure}" for r in result.each if r.failure]


def render(result: HostFleet, fmt: str, explain: bool = False) -> tuple[bytes, list[str]]:
    """The output bytes for format `fmt` ("table", "json", "dts", "dtb") and
    the lines that belong on stderr (Xen's warnings, and the fleet's
    constraints where the format has no room for them). With `explain`,
    the table and JSON say where every region comes from."""
    notes = [f"{r.host}: {w}" if result.fleet else w for r in result.each for w in r.warnings]
    if fmt == "table":
        return table(result, explain).encode(), notes
    if fmt == "json":
        return document(to_json(result, explain)).encode(), notes
    if any(r.failure for r in result.each):
        return b"", notes
    if result.fleet is not None:
        notes += [f"fleet: {c}" for c in result.fleet.constraints]
    notes += _truncated(result)
    blob = hypervisor_blob(result)
    if fmt == "dtb":
        return blob, notes
    from xendt.fdt.dts import to_dts

    return to_dts(blob).encode(), notes




def hypervisor_blob(result: HostFleet) -> bytes:
    """A DTB holding the root's cell counts and the /hypervisor node Xen
    writes for the domain: compatible, reg (grant table, then the regions),
    interrupts, interrupt-parent. For a fleet, the common regions; the hosts
    must agree on everything else."""
    from xendt.fdt import write, xen_nodes
    from xendt.fdt.node import Node, cells, regs

    first = result.each[0]
    if not first.domain.hypervisor_node:
        raise ConfigError(f"{first.domain.name}: Xen gives it no /hypervisor node"
                          f" ({'; '.join(first.warnings)})")
    for r in result.each[1:]:
        for what, a, b in (("root cells", r.cells, first.cells),
                           ("grant table", r.domain.grant_table, first.domain.grant_table),
                           ("event-channel PPI", r.interrupt, first.interrupt),
                           ("GIC phandle", r.gic_phandle, first.gic_phandle)):
            if a != b:
                raise ConfigError(f"{r.host} and {first.host} differ in {what} ({a} and {b}):"
                                  f" no single /hypervisor node serves both")
    grant = first.domain.grant_table
    if grant is None:
        raise ConfigError(f"the /hypervisor reg starts with {first.domain.name}'s grant table, at"
                          f" Xen's load address: give it with --gnttab BASE:SIZE or --dom0-dtb")
    regions = result.fleet.regions if result.fleet is not None else first.regions
    major, minor = first.release.split(".")[:2]
    reg = regs(*((r.base, r.size) for r in (grant, *regions)), address_cells=first.cells[0],
               size_cells=first.cells[1])
    root = (Node("").prop("#address-cells", cells(first.cells[0]))
            .prop("#size-cells", cells(first.cells[1]))
            .child(xen_nodes.hypervisor(f"{major}.{minor}", reg, first.interrupt,
                                        first.gic_phandle)))
    return bytes(write.write(root, write.Buffer(1 << 12, 1 << 20, ConfigError(
        "the /hypervisor node does not fit 1 MiB"))))


def _truncated(result: HostFleet) -> list[str]:
    """Values the host's cell counts cannot hold (Xen writes them cut)."""
    first = result.each[0]
    regions = result.fleet.regions if result.fleet is not None else first.regions
    out = []
    for r in regions:
        for what, value, count in (("base", r.base, first.cells[0]), ("size", r.size, first.cells[1])):
            if value >> (32 * count):
                out.append(f"region {r}: its {what} {value:#x} does not fit {count} cell(s);"
                           f" Xen {first.xen} writes it truncated")
    return out
