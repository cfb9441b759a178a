"""prepare_dtb_domU: the nodes Xen writes for a dom0less domU, in order.

Xen writes a domU's tree in one pass with libfdt's sequential-write API
into a buffer of DOMU_DTB_SIZE bytes and packs it with fdt_finish; xendt
writes the same nodes with xendt.fdt.write on a fixed buffer of the same
size, so the header, the string table and totalsize come out as Xen's, and
a tree Xen could not fit fails here too. The nodes Xen shares with dom0
come from xendt.fdt.xen_nodes; dom0 (xendt.dom0) takes them from here.

What each node holds, and in which order the nodes come for each version,
is in /work/scratch/dom0less/SPEC.md; the sources are
``xen/arch/arm/domain_build.c`` @ RELEASE-4.14.0 … RELEASE-4.18.0,
``xen/arch/arm/dom0less-build.c`` @ RELEASE-4.19.0, RELEASE-4.20.0 and
``xen/common/device-tree/dom0less-build.c``, ``domain-build.c``,
``static-shmem.c`` @ RELEASE-4.21.0, RELEASE-4.22.0.
"""

from __future__ import annotations

from dataclasses import dataclass

from xendt.domu.facts import Facts
from xendt.errors import XenFailure
from xendt.fdt import write as fdt_write
from xendt.fdt import xen_nodes
from xendt.fdt.node import ROOT_CELLS, Node, cells, regs, string, strings
from xendt.ranges import Range


@dataclass(frozen=True)
class Gic:
    """The domU's vGIC node: version "v2"/"v3", distributor frame, CPU
    interface frame (v2), redistributor regions (v3) and phandle."""

    version: str
    dist: Range
    cpu: Range
    redistributors: tuple[Range, ...]
    phandle: int


@dataclass(frozen=True)
class Plan:
    """Everything prepare_dtb_domU writes, decided beforehand.

    bootargs:
      /chosen bootargs, or None.
    initrd_placeholders:
      whether /chosen gets linux,initrd-start/-end.
    cpu_compatible, cpu_clock, vcpus, bits:
      make_cpus_node's inputs (host cpu compatible bytes and clock-frequency,
      vCPU count, 32/64-bit domain).
    ram, shm:
      the /memory banks and the static shared memory (guest range, id).
    partial:
      the partial DT's top-level nodes to copy, in order.
    gic, timer_clock:
      the vGIC node and the host timer's clock-frequency (or None).
    vpl011:
      (frame, interrupt ID) of the vpl011, or None.
    hypervisor:
      (grant table, extended regions), or None for no /hypervisor node.
    evtchn_ppi:
      GUEST_EVTCHN_PPI.
    timer_ppis:
      the secure, non-secure and virtual timer PPIs.
    buffer:
      the fdt_create size.
    cells:
      the root's (#address-cells, #size-cells) the /hypervisor reg is
      written in: the guest's 2 and 2, or the host root's for dom0.
    """

    facts: Facts
    bootargs: str | None
    initrd_placeholders: bool
    cpu_compatible: bytes
    cpu_clock: int | None
    vcpus: int
    bits: int
    ram: tuple[Range, ...]
    shm: tuple[tuple[Range, str], ...]
    partial: tuple[Node, ...]
    gic: Gic
    timer_clock: int | None
    vpl011: tuple[Range, int] | None
    hypervisor: tuple[Range, tuple[Range, ...]] | None
    evtchn_ppi: int
    timer_ppis: tuple[int, int, int]
    buffer: int
    cells: tuple[int, int] = ROOT_CELLS


def write(plan: Plan) -> bytes:
    """The packed blob prepare_dtb_domU ends with (initrd values still 0),
    on Xen's fixed buffer of `plan.buffer` bytes."""
    overflow = XenFailure(f"the domU device tree does not fit Xen's {plan.buffer}-byte buffer"
                          f" (DOMU_DTB_SIZE): \"Device tree generation failed\", Xen panics")
    root = Node("").prop("#address-cells", cells(ROOT_CELLS[0])) \
        .prop("#size-cells", cells(ROOT_CELLS[1]))
    root = root.child(*(n for part in plan.facts.order for n in nodes(plan, part)))
    return bytes(fdt_write.write(root, fdt_write.Buffer.fixed(plan.buffer, overflow)))


def nodes(plan: Plan, part: str) -> tuple[Node, ...]:
    """The nodes the maker `part` (a name of Dom0lessRules.order) writes."""
    return _NODES[part](plan)


def _reg(*ranges: Range, root_cells: tuple[int, int] = ROOT_CELLS) -> bytes:
    """dt_child_set_range in the guest root's 2+2 cells (or `root_cells`)."""
    return regs(*((r.base, r.size) for r in ranges), address_cells=root_cells[0],
                size_cells=root_cells[1])


def _chosen(plan: Plan) -> tuple[Node, ...]:
    """make_chosen_node: bootargs, then 8-byte initrd placeholders that
    initrd_load fills in after fdt_finish."""
    node = Node("chosen")
    if plan.bootargs:
        node = node.prop("bootargs", string(plan.bootargs))
    if plan.initrd_placeholders:
        node = node.prop("linux,initrd-start", bytes(8)).prop("linux,initrd-end", bytes(8))
    return (node,)


def _psci(plan: Plan) -> tuple[Node, ...]:
    return (xen_nodes.psci(),)


def _cpus(plan: Plan) -> tuple[Node, ...]:
    return (xen_nodes.cpus(plan.cpu_compatible, plan.cpu_clock, plan.vcpus, plan.bits),)


def _memory(plan: Plan) -> tuple[Node, ...]:
    """make_memory_node: one node for all banks, named after the first;
    from 4.19 the static shared memory follows in the same reg."""
    banks = plan.ram + (tuple(r for r, _ in plan.shm) if plan.facts.shm_in_memory else ())
    return (Node(f"memory@{plan.ram[0].base:x}").prop("device_type", string("memory"))
            .prop("reg", _reg(*banks, root_cells=plan.cells)),)


def _reserved_memory(plan: Plan) -> tuple[Node, ...]:
    """make_resv_memory_node: only with static shared memory."""
    if not plan.shm:
        return ()
    node = (Node("reserved-memory").prop("ranges").prop("#address-cells", cells(ROOT_CELLS[0]))
            .prop("#size-cells", cells(ROOT_CELLS[1])))
    return (node.child(*(
        Node(f"xen-shmem@{guest.base:x}").prop("compatible", strings("xen,shared-memory-v1"))
        .prop("reg", _reg(guest)).prop("xen,id", string(shm_id)).prop("xen,offset", bytes(8))
        for guest, shm_id in plan.shm)),)


def _passthrough(plan: Plan) -> tuple[Node, ...]:
    """scan_pfdt_node: the partial DT's nodes as passthrough read them."""
    return plan.partial


def _gic(plan: Plan) -> tuple[Node, ...]:
    """make_gicv2_domU_node / make_gicv3_domU_node (named by the layout up
    to 4.16, after the distributor base from 4.17)."""
    gic = plan.gic
    frames = (gic.dist, gic.cpu) if gic.version == "v2" else (gic.dist, *gic.redistributors)
    regions = (len(gic.redistributors) if gic.version == "v3"
               and plan.facts.redistributor_regions else None)
    return (xen_nodes.gic_domu(plan.facts.gic_node_name or f"interrupt-controller@{gic.dist.base:x}",
                               gic.version, [(r.base, r.size) for r in frames], gic.phandle,
                               regions),)


def _timer(plan: Plan) -> tuple[Node, ...]:
    return (xen_nodes.timer(plan.bits, plan.timer_ppis, plan.gic.phandle, plan.timer_clock),)


def _vpl011(plan: Plan) -> tuple[Node, ...]:
    """make_vpl011_uart_node (named by the layout up to 4.16, after its
    base from 4.17)."""
    if plan.vpl011 is None:
        return ()
    frame, irq = plan.vpl011
    return (xen_nodes.vpl011(plan.facts.vpl011_node_name or f"sbsa-uart@{frame.base:x}",
                             (frame.base, frame.size), irq, plan.gic.phandle),)


def _hypervisor(plan: Plan) -> tuple[Node, ...]:
    if plan.hypervisor is None:
        return ()
    grant, regions = plan.hypervisor
    reg = _reg(grant, *regions, root_cells=plan.cells)
    return (xen_nodes.hypervisor(plan.facts.version, reg, plan.evtchn_ppi, plan.gic.phandle),)


_NODES = {
    "chosen": _chosen,
    "psci": _psci,
    "cpus": _cpus,
    "memory": _memory,
    "reserved-memory": _reserved_memory,
    "passthrough": _passthrough,
    "gic": _gic,
    "timer": _timer,
    "vpl011": _vpl011,
    "hypervisor": _hypervisor,
}


def fill_initrd(blob: bytes, start: int, end: int) -> bytes:
    """initrd_load: fdt_setprop_inplace of the two 64-bit values in /chosen."""
    buf = bytearray(blob)
    fdt_write.set_inplace_u64(buf, "/chosen", "linux,initrd-start", start)
    fdt_write.set_inplace_u64(buf, "/chosen", "linux,initrd-end", end)
    return bytes(buf)
