"""NR_MEM_BANKS: how many RAM and reserved-memory banks Xen's early scan
keeps, and what it does with more.

bootinfo.mem and bootinfo.reserved_mem hold NR_MEM_BANKS banks each (the
layout's [host] max: 128 before 4.17, 256 after; xen/include/asm-arm/setup.h
@ RELEASE-4.14.0, xen/arch/arm/include/asm/setup.h @ RELEASE-4.17.0,
xen/include/xen/bootfdt.h @ RELEASE-4.20.0). device_tree_get_meminfo
(process_memory_node in 4.14 and 4.15) stores banks until the array is full
and returns -ENOSPC if any are left (xen/arch/arm/bootfdt.c @ RELEASE-4.14.0
… RELEASE-4.19.0, xen/common/device-tree/bootfdt.c @ RELEASE-4.20.0,
bootinfo-fdt.c @ RELEASE-4.21.0):

- a /reserved-memory child: process_reserved_memory_node panics "Max number
  of supported reserved-memory regions reached." (every version);
- a memory node, xen,static-mem or xen,static-heap: early_scan_node prints
  "fdt: node `...': parsing failed" (after "Warning: Max number of supported
  memory regions reached." from 4.16) and device_tree_for_each_node returns the
  error, ending the scan there. Until 4.18 boot_fdt_info ignores it: Xen
  boots with the banks stored so far and never reads the nodes after that
  one (HostRules.bank_overflow "stop-scan"); from 4.19 it panics "Early FDT
  parsing failed (-28)" ("panic");
- /memreserve/ entries (reserved memory from 4.19): boot_fdt_info panics
  "Cannot allocate reserved memory bank" past the last slot; it stores
  every entry, empty or not, where the scan skips empty banks.

Xen stores banks until full and then fails on the first one left over; xendt
counts the non-empty banks (a full array followed only by empty entries
also fails in Xen; xendt does not tell those apart).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xendt.fdt.tree import Tree
    from xendt.host.bootinfo import Bank, BootInfo
    from xendt.xen.rules import HostRules

ENOSPC = -28


@dataclass(frozen=True)
class Overflow:
    """More banks than NR_MEM_BANKS.

    node, function, message:
      as a refusals.Failure: the node whose bank did not fit, the Xen function
      that fails and what Xen prints.
    panic:
      whether Xen stops booting; else it boots without the nodes from `node`
      on (message says so).
    """

    node: str
    function: str
    message: str
    panic: bool


def capped(tree: Tree, rules: HostRules, info: BootInfo) -> BootInfo:
    """`info` as Xen keeps it with NR_MEM_BANKS (rules.max) banks per array:
    unchanged if they fit; else with `overflow` set and, where Xen goes on
    booting, the banks and shared memory of the nodes its scan never reached
    dropped."""
    limit = rules.max
    if rules.memreserve and len(tree.reservations) > limit:
        return replace(info, overflow=Overflow(
            "/memreserve/", "boot_fdt_info",
            f"{len(tree.reservations)} /memreserve/ entries, more than the {limit} reserved-memory"
            f" banks Xen holds (NR_MEM_BANKS): panic \"Cannot allocate reserved memory bank\"",
            True))
    from_dt = not any(b.source.startswith("EFI") for b in info.ram[:1])
    ram = _first_over(info.ram, limit, 0) if from_dt else None
    scanned = tuple(b for b in info.reserved if not b.source.startswith("/memreserve/"))
    reserved = _first_over(scanned, limit, len(tree.reservations) if rules.memreserve else 0)
    if ram is None and reserved is None:
        return info
    order = {node.path: i for i, node in enumerate(tree.nodes())}
    over = min((b for b in (ram, reserved) if b is not None), key=lambda b: order[_node(b)])
    node, prop = _node(over), over.source.split(" ")[-1].split("[")[0]
    if over is reserved and prop == "reg":
        return replace(info, overflow=Overflow(
            node, "process_reserved_memory_node",
            f"more than the {limit} reserved-memory banks Xen holds (NR_MEM_BANKS): panic \"Max"
            " number of supported reserved-memory regions reached.\"", True))
    said = (f"its {prop} goes past the {limit} {'RAM' if over is ram else 'reserved-memory'}"
            f" banks Xen holds (NR_MEM_BANKS): -ENOSPC, \"fdt: node"
            f" `{node.rsplit('/', 1)[-1]}': parsing failed\"")
    if rules.bank_overflow == "panic":
        return replace(info, overflow=Overflow(
            node, "boot_fdt_info", f"{said} and panic \"Early FDT parsing failed ({ENOSPC})\"",
            True))
    cut = order[node]

    def read(banks: tuple[Bank, ...], first_unread: Bank | None) -> tuple[Bank, ...]:
        if first_unread is not None:  # in scan order: those before it were stored
            return banks[:next(i for i, b in enumerate(banks) if b is first_unread)]
        return tuple(b for b in banks if order.get(_node(b), -1) < cut)

    return replace(
        info, ram=read(info.ram, over if over is ram else None),
        reserved=read(info.reserved, over if over is reserved else None),
        shm=tuple(s for s in info.shm if order[s.path] < cut),
        overflow=Overflow(node, "device_tree_for_each_node",
                          f"{said}; the early scan stops there, so Xen boots with the banks read"
                          f" so far and never reads the nodes after it", False))


def _first_over(banks: tuple[Bank, ...], limit: int, used: int) -> Bank | None:
    """The first of `banks` that finds the array full (`used` slots taken
    before them), or None."""
    return banks[limit - used] if len(banks) + used > limit else None


def _node(bank: Bank) -> str:
    """The node a bank comes from ("/memreserve/" for those entries)."""
    return bank.source.split(" ")[0]
