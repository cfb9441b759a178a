"""Host RAM, reserved memory and static (shared) memory, as Xen's early
scan of the host DTB finds them.

The early scan (early_scan_node and boot_fdt_info in
``xen/arch/arm/bootfdt.c`` @ RELEASE-4.16.0 … RELEASE-4.19.0,
``xen/common/device-tree/bootfdt.c`` @ RELEASE-4.20.0,
``xen/common/device-tree/bootinfo-fdt.c`` @ RELEASE-4.21.0, RELEASE-4.22.0)
finds them with rules that changed between releases; `boot_info()` applies
one version's rules (a layout's HostRules). Every problem is a DtbError
naming the file, the node path, the property and what was expected.
"""

from __future__ import annotations

from dataclasses import dataclass

from xendt.fdt.tree import Node, Tree
from xendt.host.banks import Overflow, capped
from xendt.host.xen_dt import (
    DOMAIN_COMPATIBLE,
    SHM_COMPATIBLE,
    _error,
    cells_of,
    is_available,
    meminfo,
    read_number,
)
from xendt.host.xen_dt import cells as xen_cells
from xendt.ranges import Range
from xendt.xen.rules import HostRules

#: The error codes early_scan_node returns (negated).
ENOENT = -2
EINVAL = -22


@dataclass(frozen=True)
class Bank(Range):
    """A host memory range and where the DT states it.

    source:
      e.g. "/memory@40000000 reg[0]", "/memreserve/ 0", "/chosen/domU1
      xen,static-mem[0]".
    """

    source: str = ""


@dataclass(frozen=True)
class ShmBank:
    """One static shared memory node (compatible xen,domain-shared-memory-v1).

    owner:
      the node of the domain it belongs to ("/chosen" for dom0).
    path:
      the shared memory node itself.
    shm_id:
      xen,shm-id.
    host:
      the host physical range, or None where the DT leaves the host address
      to Xen (4.19+ allows xen,shared-mem = <gbase size>).
    guest:
      where the domain sees it.
    """

    owner: str
    path: str
    shm_id: str
    host: Range | None
    guest: Range


@dataclass(frozen=True)
class BootInfo:
    """What one Xen version's early scan finds in a host DT.

    ram:
      host RAM banks (bootinfo.mem).
    reserved:
      reserved memory (bootinfo.reserved_mem): /reserved-memory children,
      /memreserve/ entries (4.19+), static memory and heap, and before 4.19
      static shared memory host banks.
    shm:
      static shared memory nodes (4.17+).
    stop:
      (node path, error code) where an early_scan_node error ended the
      scan, or None: a memory node without reg (-ENOENT), in 4.14.0 a
      zero-size bank (-EINVAL). Nodes after it were never read.
    """

    ram: tuple[Bank, ...]
    reserved: tuple[Bank, ...]
    shm: tuple[ShmBank, ...]
    stop: tuple[str, int] | None = None
    #: more banks than Xen holds (NR_MEM_BANKS), as xendt.host.banks finds them.
    overflow: Overflow | None = None


def boot_info(tree: Tree, rules: HostRules,
              efi_ram: tuple[Range, ...] | None = None) -> BootInfo:
    """RAM, reserved memory and static shared memory as the early scan of a
    Xen following `rules` finds them:

    - RAM: nodes named memory or memory@… at any depth, from 4.20 top-level
      ones with device_type "memory", their reg in the parent's cells;
    - reserved: every node under the top-level /reserved-memory (reg in its
      parent's cells), /memreserve/ entries (4.19+), xen,static-mem of
      /chosen/* xen,domain nodes (4.16+), /chosen xen,static-heap (4.17+),
      static shared memory host banks in 4.17 and 4.18;
    - static shared memory: xen,domain-shared-memory-v1 nodes at depth 3 or
      less (4.17+).

    From 4.19 nodes whose status is not "okay" hold no RAM or reserved
    memory; zero-size banks never count, and in 4.14.0 one ends the scan
    (HostRules.empty_memory_bank). Under UEFI (`efi_ram` given) RAM is the
    EFI map's; from 4.17 memory nodes hold none; before, the EFI loader
    has deleted those with device_type "memory" and the scan takes the rest.
    RAM banks keep the scan's order and may overlap (a /reserved-memory
    child named memory@… before 4.20): refusals.boot says what Xen does
    with them. A memory node without reg ends the scan (BootInfo.stop).
    No RAM at all is the caller's to judge (firmware may add it)."""
    ram: list[Bank] = []
    reserved: list[Bank] = []
    shm: list[ShmBank] = []
    if rules.memreserve:
        reserved += [Bank(r.base, r.size, source=f"/memreserve/ {i}")
                     for i, r in enumerate(tree.reservations) if r.size]
    if efi_ram is not None:
        ram += [Bank(r.base, r.size, source=f"EFI memory map [{i}]") for i, r in enumerate(efi_ram)]
    stop: tuple[str, int] | None = None
    for node in tree.descendants(tree.root):
        if is_ram_node(node, rules):
            if efi_ram is not None and rules.efi_memory_nodes == "kept-not-ram":
                continue
            if node.get("reg") is None and (is_available(node) or not rules.status_check):
                stop = (node.path, ENOENT)  # device_tree_get_meminfo: no reg
                break
            banks = _banks(tree, node, "reg", xen_cells(tree, node), rules)
            ram += banks
            if rules.empty_memory_bank == "abort-scan" and len(banks) < len(
                    meminfo(tree, node, "reg", xen_cells(tree, node))):
                stop = (node.path, EINVAL)  # process_memory_node: a zero-size bank
                break
        else:
            reserved += _reserved(tree, node, rules)
        if node.depth <= 3 and node.is_compatible(SHM_COMPATIBLE) and rules.static_shm != "none":
            bank = _shm_bank(tree, node, rules)
            shm.append(bank)
            if rules.static_shm == "reserved" and bank.host is not None:
                reserved.append(Bank(bank.host.base, bank.host.size,
                                     source=f"{node.path} xen,shared-mem"))
    return capped(tree, rules, BootInfo(tuple(ram), tuple(reserved), tuple(shm), stop))


def _reserved(tree: Tree, node: Node, rules: HostRules) -> list[Bank]:
    """The reserved banks the early scan takes from `node`, not a memory
    node: /reserved-memory's children, /chosen xen,static-heap, a domain's
    xen,static-mem (boot_info says from which version)."""
    if node.depth == 1 and node.name.lower() == "reserved-memory":
        return [bank for child in tree.descendants(node) if child.get("reg") is not None
                for bank in _banks(tree, child, "reg", xen_cells(tree, child), rules)]
    if node.depth == 1 and node.base_name == "chosen":
        if rules.static_heap and node.get("xen,static-heap") is not None:
            return _banks(tree, node, "xen,static-heap", xen_cells(tree, node), rules)
        return []
    if (node.depth == 2 and node.is_compatible(DOMAIN_COMPATIBLE)
            and rules.static_mem != "none" and node.get("xen,static-mem") is not None):
        return _banks(tree, node, "xen,static-mem", static_mem_cells(tree, node, rules), rules)
    return []


def is_ram_node(node: Node, rules: HostRules) -> bool:
    """Whether the early scan takes `node`'s reg for RAM (early_scan_node:
    device_tree_node_matches(node, "memory") before 4.20,
    device_tree_is_memory_node from 47d4d3cdc5, in 4.20.0)."""
    if node.base_name != "memory":
        return False
    if rules.memory_nodes == "name":
        return True
    return node.depth == 1 and node.string("device_type") == "memory"


def _banks(tree: Tree, node: Node, prop: str, cells: tuple[int, int],
           rules: HostRules) -> list[Bank]:
    """A reg-like property as banks, skipping empty ones (as Xen does) and,
    with the status check, nodes that are not "okay"."""
    if rules.status_check and not is_available(node):
        return []
    return [Bank(r.base, r.size, source=f"{node.path} {prop}[{i}]")
            for i, r in enumerate(meminfo(tree, node, prop, cells)) if r.size]


def static_mem_cells(tree: Tree, node: Node, rules: HostRules) -> tuple[int, int]:
    """The cells of a domain node's xen,static-mem: its own
    #xen,static-mem-address-cells/-size-cells in 4.16, /chosen's later."""
    if rules.static_mem == "own-cells":
        own = []
        for prop in ("#xen,static-mem-address-cells", "#xen,static-mem-size-cells"):
            value = node.get(prop)
            if value is None or len(value) != 4:
                raise _error(tree, f"expected property {prop!r} on {node.path} to hold one cell"
                                 f" (Xen reads xen,static-mem with it), got {value!r}")
            own.append(int.from_bytes(value, "big"))
        return own[0], own[1]
    return xen_cells(tree, node)


def _shm_bank(tree: Tree, node: Node, rules: HostRules) -> ShmBank:
    """A static shared memory node: xen,shared-mem = <pbase gbase size>, or
    (4.19+) <gbase size> leaving the host address to Xen."""
    shm_id = node.string("xen,shm-id")
    if shm_id is None:
        raise _error(tree, f"expected property 'xen,shm-id' on {node.path}")
    value = node.get("xen,shared-mem")
    address_cells, size_cells = xen_cells(tree, node)
    if address_cells not in (1, 2) or size_cells not in (1, 2):
        raise _error(tree, f"expected #address-cells and #size-cells of 1 or 2 for"
                         f" 'xen,shared-mem' on {node.path}, got {address_cells} and {size_cells}")
    full = 2 * address_cells + size_cells
    short = address_cells + size_cells
    cells = cells_of(value or b"")
    parent = tree.parent(node)
    assert parent is not None  # a descendant of the root (bootinfo's walk), never the root
    owner = parent.path
    if value is not None and len(value) == 4 * full:
        host = read_number(cells[:address_cells])
        guest = read_number(cells[address_cells:2 * address_cells])
        size = read_number(cells[2 * address_cells:])
        return ShmBank(owner, node.path, shm_id, Range(host, size), Range(guest, size))
    if value is not None and len(value) == 4 * short and rules.static_shm == "separate":
        guest = read_number(cells[:address_cells])
        size = read_number(cells[address_cells:])
        return ShmBank(owner, node.path, shm_id, None, Range(guest, size))
    forms = f"<pbase gbase size> ({full} cells)"
    if rules.static_shm == "separate":
        forms += f" or <gbase size> ({short} cells)"
    got = "none" if value is None else f"{len(value)} bytes"
    raise _error(tree, f"expected property 'xen,shared-mem' on {node.path} to hold {forms}, got {got}")


