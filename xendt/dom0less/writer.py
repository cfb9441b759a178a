"""prepare_dtb_domU: the libfdt sequential-write calls Xen makes, in order.

Xen writes a domU's tree in one pass with libfdt's sequential-write API
into a buffer of DOMU_DTB_SIZE bytes and packs it with fdt_finish. xendt
makes the same calls through pylibfdt on a buffer of the same size, so the
header, the string table (names in reverse order of first use, suffixes
shared) and totalsize come out as Xen's, and a tree Xen could not fit
fails here too. Every fdt_property_cell/_string/_u64 of Xen is an
fdt_property of the encoded value, so one call suffices.

What each node holds, and in which order the nodes come for each version,
is in /work/scratch/dom0less/SPEC.md; the sources are
``xen/arch/arm/domain_build.c`` @ RELEASE-4.14.0 … RELEASE-4.18.0,
``xen/arch/arm/dom0less-build.c`` @ RELEASE-4.19.0, RELEASE-4.20.0 and
``xen/common/device-tree/dom0less-build.c``, ``domain-build.c``,
``static-shmem.c`` @ RELEASE-4.21.0, RELEASE-4.22.0.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from xendt.dom0less.facts import Facts
from xendt.dom0less.passthrough import PartialNode
from xendt.errors import XenFailure
from xendt.ranges import Range

#: GUEST_ROOT_ADDRESS_CELLS, GUEST_ROOT_SIZE_CELLS (device_tree_defs.h).
ROOT_CELLS = (2, 2)
#: DT_IRQ_TYPE_LEVEL_LOW / _HIGH, and the GICv2-style "all CPUs" mask.
LEVEL_LOW, LEVEL_HIGH, CPU_MASK = 8, 4, 0xF
#: The PSCI function IDs make_psci_node writes (PSCI_cpu_off, PSCI_cpu_on).
PSCI_CPU_OFF, PSCI_CPU_ON = 1, 2
VPL011_BAUD = 115200
#: fdt_size is capped at 2 MiB ("The max size for DT is 2MB").
MAX_DTB_SIZE = 2 << 20


@dataclass(frozen=True)
class Gic:
    """The domU's vGIC node: version "v2"/"v3", distributor base, CPU
    interface base (v2), redistributor regions (v3) and phandle."""

    version: str
    dist: int
    cpu: int
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
      (base, interrupt ID) of the vpl011, or None.
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
    partial: tuple[PartialNode, ...]
    gic: Gic
    timer_clock: int | None
    vpl011: tuple[int, int] | None
    hypervisor: tuple[Range, tuple[Range, ...]] | None
    evtchn_ppi: int
    timer_ppis: tuple[int, int, int]
    buffer: int
    cells: tuple[int, int] = ROOT_CELLS


class _Writer:
    """libfdt's sequential-write calls on a fixed buffer."""

    def __init__(self, size: int, overflow: XenFailure | None = None) -> None:
        import libfdt

        self._fdt = libfdt
        self._overflow = overflow
        self.buf = bytearray(size)
        self._check(libfdt.fdt_create(self.buf, size), "fdt_create")
        self._check(libfdt.fdt_finish_reservemap(self.buf), "fdt_finish_reservemap")

    def _check(self, err: int, what: str) -> None:
        if err == -self._fdt.NOSPACE and self._overflow is not None:
            raise self._overflow
        if err == -self._fdt.NOSPACE:
            raise XenFailure(f"the domU device tree does not fit Xen's {len(self.buf)}-byte"
                             f" buffer (DOMU_DTB_SIZE): \"Device tree generation failed\","
                             f" Xen panics")
        if err < 0:
            raise RuntimeError(f"libfdt {what}: {self._fdt.fdt_strerror(err)}")

    def begin(self, name: str) -> None:
        self._check(self._fdt.fdt_begin_node(self.buf, name), f"begin {name!r}")

    def end(self) -> None:
        self._check(self._fdt.fdt_end_node(self.buf), "end node")

    def prop(self, name: str, value: bytes = b"") -> None:
        self._check(self._fdt.fdt_property_stub(self.buf, name, value, len(value)), name)

    def cell(self, name: str, *values: int) -> None:
        self.prop(name, struct.pack(f">{len(values)}I", *values))

    def string(self, name: str, value: str) -> None:
        self.prop(name, value.encode() + b"\0")

    def finish(self) -> bytes:
        self._check(self._fdt.fdt_finish(self.buf), "fdt_finish")
        return bytes(self.buf[:self._fdt.fdt_totalsize(self.buf)])


def write(plan: Plan) -> bytes:
    """The packed blob prepare_dtb_domU ends with (initrd values still 0)."""
    w = _Writer(plan.buffer)
    w.begin("")
    w.cell("#address-cells", ROOT_CELLS[0])
    w.cell("#size-cells", ROOT_CELLS[1])
    for part in plan.facts.order:
        _NODES[part](w, plan)
    w.end()
    return w.finish()


def _reg(*ranges: Range, cells: tuple[int, int] = ROOT_CELLS) -> bytes:
    """dt_child_set_range in the guest root's 2+2 cells (or `cells`, 1 or
    2 each: a value is cut to its low 32 bits in one cell)."""
    if cells == ROOT_CELLS:
        return b"".join(struct.pack(">QQ", r.base, r.size) for r in ranges)
    fmt = ">" + "".join("I" if n == 1 else "Q" for n in cells)
    masks = [(1 << (32 * n)) - 1 for n in cells]
    return b"".join(struct.pack(fmt, r.base & masks[0], r.size & masks[1]) for r in ranges)


def _irq(ppi_or_spi: int, trigger: int) -> bytes:
    """set_interrupt: <type number flags>, type 1 for a PPI (16–31), 0 for
    an SPI, the CPU mask in bits 8–15 of the flags."""
    kind, number = (1, ppi_or_spi - 16) if ppi_or_spi < 32 else (0, ppi_or_spi - 32)
    return struct.pack(">III", kind, number, (CPU_MASK << 8) | trigger)


def _chosen(w: _Writer, plan: Plan) -> None:
    """make_chosen_node: bootargs, then 8-byte initrd placeholders that
    initrd_load fills in after fdt_finish."""
    w.begin("chosen")
    if plan.bootargs:
        w.string("bootargs", plan.bootargs)
    if plan.initrd_placeholders:
        w.prop("linux,initrd-start", bytes(8))
        w.prop("linux,initrd-end", bytes(8))
    w.end()


def _psci(w: _Writer, plan: Plan) -> None:
    w.begin("psci")
    w.prop("compatible", b"arm,psci-1.0\0arm,psci-0.2\0arm,psci\0")
    w.string("method", "hvc")
    w.cell("cpu_off", PSCI_CPU_OFF)
    w.cell("cpu_on", PSCI_CPU_ON)
    w.end()


def vcpu_affinity(vcpu: int) -> int:
    """vcpuid_to_vaffinity: AFF0 holds 4 bits (GICv3's limit), AFF1 the rest."""
    return (vcpu & 0xF) | (((vcpu >> 4) & 0xFF) << 8)


def _cpus(w: _Writer, plan: Plan) -> None:
    """make_cpus_node: every vCPU gets the first host CPU's compatible and
    clock-frequency; enable-method only for 64-bit domains."""
    w.begin("cpus")
    w.cell("#address-cells", 1)
    w.cell("#size-cells", 0)
    for vcpu in range(plan.vcpus):
        affinity = vcpu_affinity(vcpu)
        w.begin(f"cpu@{affinity:x}")
        w.prop("compatible", plan.cpu_compatible)
        w.string("device_type", "cpu")
        w.cell("reg", affinity)
        if plan.cpu_clock is not None:
            w.cell("clock-frequency", plan.cpu_clock)
        if plan.bits == 64:
            w.string("enable-method", "psci")
        w.end()
    w.end()


def _memory(w: _Writer, plan: Plan) -> None:
    """make_memory_node: one node for all banks, named after the first;
    from 4.19 the static shared memory follows in the same reg."""
    w.begin(f"memory@{plan.ram[0].base:x}")
    w.string("device_type", "memory")
    banks = plan.ram + (tuple(r for r, _ in plan.shm) if plan.facts.shm_in_memory else ())
    w.prop("reg", _reg(*banks, cells=plan.cells))
    w.end()


def _reserved_memory(w: _Writer, plan: Plan) -> None:
    """make_resv_memory_node: only with static shared memory."""
    if not plan.shm:
        return
    w.begin("reserved-memory")
    w.prop("ranges")
    w.cell("#address-cells", ROOT_CELLS[0])
    w.cell("#size-cells", ROOT_CELLS[1])
    for guest, shm_id in plan.shm:
        w.begin(f"xen-shmem@{guest.base:x}")
        w.prop("compatible", b"xen,shared-memory-v1\0")
        w.prop("reg", _reg(guest))
        w.string("xen,id", shm_id)
        w.prop("xen,offset", bytes(8))
        w.end()
    w.end()


def _passthrough(w: _Writer, plan: Plan) -> None:
    """scan_pfdt_node: same names, the properties in blob order (xen,reg,
    xen,path and xen,force-assign-without-iommu dropped under /passthrough),
    children depth first."""
    stack: list[PartialNode | None] = list(reversed(plan.partial))
    while stack:
        node = stack.pop()
        if node is None:
            w.end()
            continue
        w.begin(node.name)
        for name, value in node.props:
            w.prop(name, value)
        stack.append(None)
        stack.extend(reversed(node.children))


def _gic(w: _Writer, plan: Plan) -> None:
    """make_gicv2_domU_node / make_gicv3_domU_node (named by the layout up
    to 4.16, after the distributor base from 4.17)."""
    gic = plan.gic
    w.begin(plan.facts.gic_node_name or f"interrupt-controller@{gic.dist:x}")
    w.cell("#address-cells", 0)
    w.cell("#interrupt-cells", 3)
    w.prop("interrupt-controller")
    if gic.version == "v2":
        w.string("compatible", "arm,gic-400")
        # GUEST_GICD_SIZE, GUEST_GICC_SIZE (arch-arm.h)
        w.prop("reg", _reg(Range(gic.dist, 0x1000), Range(gic.cpu, 0x2000)))
    else:
        w.string("compatible", "arm,gic-v3")
        if plan.facts.redistributor_regions:
            w.cell("#redistributor-regions", len(gic.redistributors))
        # GUEST_GICV3_GICD_SIZE (arch-arm.h)
        w.prop("reg", _reg(Range(gic.dist, 0x10000), *gic.redistributors))
    w.cell("linux,phandle", gic.phandle)
    w.cell("phandle", gic.phandle)
    w.end()


def _timer(w: _Writer, plan: Plan) -> None:
    """make_timer_node: the guest timer PPIs, level-low, all CPUs."""
    w.begin("timer")
    w.string("compatible", "arm,armv8-timer" if plan.bits == 64 else "arm,armv7-timer")
    w.prop("interrupts", b"".join(_irq(p, LEVEL_LOW) for p in plan.timer_ppis))
    w.cell("interrupt-parent", plan.gic.phandle)
    if plan.timer_clock is not None:
        w.cell("clock-frequency", plan.timer_clock)
    w.end()


def _vpl011(w: _Writer, plan: Plan) -> None:
    """make_vpl011_uart_node: an SBSA UART, level-high SPI (named by the
    layout up to 4.16, after its base from 4.17)."""
    if plan.vpl011 is None:
        return
    base, irq = plan.vpl011
    w.begin(plan.facts.vpl011_node_name or f"sbsa-uart@{base:x}")
    w.string("compatible", "arm,sbsa-uart")
    w.prop("reg", _reg(Range(base, 0x1000)))  # GUEST_PL011_SIZE
    w.prop("interrupts", _irq(irq, LEVEL_HIGH))
    w.cell("interrupt-parent", plan.gic.phandle)
    w.cell("current-speed", VPL011_BAUD)
    w.end()


def _hypervisor(w: _Writer, plan: Plan) -> None:
    """make_hypervisor_node: "xen,xen-X.Y" (XEN_VERSION_STRING), the grant
    table and extended regions, the event-channel PPI."""
    if plan.hypervisor is None:
        return
    grant, regions = plan.hypervisor
    w.begin("hypervisor")
    w.prop("compatible", f"xen,xen-{plan.facts.version}\0xen,xen\0".encode())
    w.prop("reg", _reg(grant, *regions, cells=plan.cells))
    w.prop("interrupts", _irq(plan.evtchn_ppi, LEVEL_LOW))
    w.cell("interrupt-parent", plan.gic.phandle)
    w.end()


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


#: The sequential writer and the node makers prepare_dtb_hwdom shares with
#: prepare_dtb_domU (make_hypervisor_node, make_psci_node, make_cpus_node,
#: make_timer_node): xendt.dom0 writes dom0's tree with them.
Writer = _Writer


def write_node(w: _Writer, plan: Plan, part: str) -> None:
    """The node maker `part` (a name of Dom0lessRules.order) on `w`."""
    _NODES[part](w, plan)


def fill_initrd(blob: bytes, start: int, end: int) -> bytes:
    """initrd_load: fdt_setprop_inplace of the two 64-bit values in /chosen."""
    import libfdt

    buf = bytearray(blob)
    node = libfdt.fdt_path_offset(buf, "/chosen")
    for name, value in (("linux,initrd-start", start), ("linux,initrd-end", end)):
        err = libfdt.fdt_setprop_inplace_u64(buf, node, name, value)
        if err < 0:
            raise RuntimeError(f"libfdt setprop_inplace {name}: {libfdt.fdt_strerror(err)}")
    return bytes(buf)
