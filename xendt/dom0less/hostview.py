"""What prepare_dtb_domU takes from the host DT, read as Xen reads it.

- the first /cpus child with device_type "cpu": its compatible and
  clock-frequency (make_cpus_node);
- the first node compatible with arm,armv7-timer or arm,armv8-timer: its
  clock-frequency (make_timer_node, DT_MATCH_TIMER);
- the GIC Xen drives (dt_find_interrupt_controller: the first node with
  `interrupt-controller` matching DT_MATCH_GIC_V2/V3): the domU's vGIC
  version, and for direct-mapped domains its addresses (vgic_v2/v3
  domain_init);
- Xen's console UART (dtuart= in xen,xen-bootargs, else /chosen
  stdout-path): a direct-mapped domain's vpl011 (domain_vpl011_init).

Sources: ``xen/arch/arm/domain_build.c``, ``gic-v2.c``, ``gic-v3.c``,
``vgic-v2.c``, ``vgic-v3.c``, ``vpl011.c``, ``xen/drivers/char/arm-uart.c``
@ RELEASE-4.17.0 (unchanged in what they read up to RELEASE-4.22.0).
"""

from __future__ import annotations

from dataclasses import dataclass

from xendt.errors import DtbError, XenFailure
from xendt.fdt.tree import Node, Tree
from xendt.host import xen_dt
from xendt.ranges import Range, human_size

GIC_V3_COMPATIBLES = ("arm,gic-v3",)
#: DT_MATCH_GIC_V2 (xen/arch/arm/include/asm/gic.h @ RELEASE-4.17.0).
GIC_V2_COMPATIBLES = ("arm,cortex-a15-gic", "arm,cortex-a7-gic", "arm,gic-400")
TIMER_COMPATIBLES = ("arm,armv7-timer", "arm,armv8-timer")
#: GICV3_GICR_SIZE: one redistributor (RD_base + SGI_base frames).
GICV3_GICR_SIZE = 0x20000


@dataclass(frozen=True)
class HostGic:
    """The host GIC as Xen's driver reads it.

    version:
      "v2" or "v3".
    path:
      its node.
    dist:
      the distributor base (reg[0]).
    cpu:
      GICv2: the CPU interface base (reg[1]); GICv3: 0.
    redistributors:
      GICv3: the #redistributor-regions regions after reg[0].
    """

    version: str
    path: str
    dist: int
    cpu: int = 0
    redistributors: tuple[Range, ...] = ()


def cpu(tree: Tree) -> tuple[bytes, int | None]:
    """The compatible bytes and clock-frequency of the first host CPU."""
    cpus = tree.node("/cpus")
    if cpus is None:
        raise DtbError(f"{tree.file}: no /cpus node (Xen cannot build a domU's cpus node)")
    for child in cpus.children:
        if child.string("device_type") == "cpu":
            compatible = child.get("compatible")
            if compatible is None:
                break
            return compatible, child.u32("clock-frequency")
    raise DtbError(f"{tree.file}: no /cpus child with device_type \"cpu\" and a compatible"
                   f" (Xen cannot build a domU's cpus node)")


def timer_frequency(tree: Tree) -> int | None:
    """The host timer's clock-frequency, or None."""
    return tree.cached("hostview.timer_frequency", lambda: _timer_frequency(tree))


def _timer_frequency(tree: Tree) -> int | None:
    for node in tree.nodes():
        if any(node.is_compatible(c) for c in TIMER_COMPATIBLES):
            return node.u32("clock-frequency")
    raise DtbError(f"{tree.file}: no node compatible with \"arm,armv8-timer\" or"
                   f" \"arm,armv7-timer\" (Xen cannot build a domU's timer node)")


def gic(tree: Tree) -> HostGic:
    """The GIC Xen uses, with its translated addresses."""
    return tree.cached("hostview.gic", lambda: _gic(tree))


def _gic(tree: Tree) -> HostGic:
    for node in tree.nodes():
        if node.get("interrupt-controller") is None:
            continue
        if any(node.is_compatible(c) for c in GIC_V3_COMPATIBLES):
            return _gicv3(tree, node)
        if any(node.is_compatible(c) for c in GIC_V2_COMPATIBLES):
            reg = _addresses(tree, node)
            if len(reg) < 2:
                raise DtbError(f"{node.path} in {tree.file}: a GICv2 needs a distributor and a"
                               f" CPU interface in 'reg'")
            return HostGic("v2", node.path, reg[0].base, cpu=reg[1].base)
    raise DtbError(f"{tree.file}: no GICv2 or GICv3 interrupt controller Xen can drive")


def _gicv3(tree: Tree, node: Node) -> HostGic:
    reg = _addresses(tree, node)
    count = node.u32("#redistributor-regions") or 1
    if len(reg) < 1 + count:
        raise DtbError(f"{node.path} in {tree.file}: #redistributor-regions is {count} but"
                       f" 'reg' holds {len(reg) - 1} after the distributor (Xen panics)")
    return HostGic("v3", node.path, reg[0].base, redistributors=tuple(reg[1:1 + count]))


def direct_mapped_redistributors(host: HostGic, vcpus: int) -> tuple[Range, ...]:
    """vgic_v3_domain_init for a domain on the host layout: the host's
    regions up to the first one that brings room for every vCPU."""
    covered = 0
    for i, region in enumerate(host.redistributors):
        covered += region.size // GICV3_GICR_SIZE
        if covered >= vcpus:
            return host.redistributors[:i + 1]
    raise XenFailure(f"the host's redistributor regions hold {covered} vCPUs, fewer than"
                     f" {vcpus}: Xen would then expose a region past the end of its array")


def console_uart(tree: Tree, window: int) -> tuple[str, Range, int]:
    """Xen's dtuart console: (path, MMIO range, interrupt ID), found as
    dt_uart_init finds it (dtuart= of xen,xen-bootargs, else stdout-path;
    a path or an alias; options after ':' dropped); its MMIO must hold the
    vpl011's `window` (GUEST_PL011_SIZE)."""
    chosen = tree.node("/chosen")
    spec = ""
    bootargs = chosen.string("xen,xen-bootargs") if chosen is not None else None
    for word in (bootargs or "").split():
        if word.startswith("dtuart="):
            spec = word[len("dtuart="):]
    if not spec and chosen is not None:
        spec = chosen.string("stdout-path") or ""
    if not spec:
        raise XenFailure(f"{tree.file}: a direct-mapped domain's vpl011 takes Xen's console"
                         f" UART, but neither dtuart= in xen,xen-bootargs nor /chosen"
                         f" stdout-path names one")
    path = spec.split(":", 1)[0]
    if not path.startswith("/"):
        aliases = tree.node("/aliases")
        alias = aliases.string(path) if aliases is not None else None
        if alias is None:
            raise XenFailure(f"{tree.file}: Xen's console {path!r} is no alias")
        path = alias
    node = tree.node(path)
    if node is None:
        raise XenFailure(f"{tree.file}: Xen's console UART {path!r} is not in the tree")
    reg = _addresses(tree, node)
    interrupts = node.get("interrupts")
    if not reg or interrupts is None or len(interrupts) < 12:
        raise XenFailure(f"{node.path} in {tree.file}: Xen's console UART needs 'reg' and a"
                         f" GIC 'interrupts' entry for a direct-mapped vpl011")
    kind, number = int.from_bytes(interrupts[:4], "big"), int.from_bytes(interrupts[4:8], "big")
    irq = number + (32 if kind == 0 else 16)
    if reg[0].size < window:
        raise XenFailure(f"{node.path} in {tree.file}: Xen's console UART MMIO is"
                         f" {reg[0].size:#x} bytes, under the vpl011's {human_size(window)} (Xen refuses)")
    return node.path, reg[0], irq


def _addresses(tree: Tree, node: Node) -> tuple[Range, ...]:
    try:
        return xen_dt.device_addresses(tree, node)
    except xen_dt.Untranslatable as e:
        raise DtbError(f"{node.path} in {tree.file}: {e}") from None

