"""The domains Xen gives extended regions to, as the host DT and the
command line describe them: dom0, and dom0less domains under /chosen.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from xendt.errors import ConfigError, DtbError
from xendt.fdt.tree import ROOT_CELLS_DEFAULT, Node, Tree
from xendt.guest import memory
from xendt.host import bootinfo, modules, xen_dt
from xendt.host.bootinfo import ShmBank
from xendt.host.rangeset import PAGE_SIZE
from xendt.host.refusals import Failure, HostFailure
from xendt.ranges import Range
from xendt.xen.layout import HostRules, Layout

if TYPE_CHECKING:
    from xendt.host.firmware import Firmware

#: Whether a default build has the SCMI-over-SMC mediator: the "ARM SCI
#: driver type" choice defaults to SCMI_SMC (xen/arch/arm/firmware/Kconfig @
#: RELEASE-4.21.2), so xen,sci_type = "scmi_smc" is never refused there.
DEFAULT_BUILD_SCMI_SMC = True

#: The hardware bit of a dom0less domain's `capabilities`
#: (xen/include/public/bootfdt.h @ RELEASE-4.21.0).
DOMAIN_CAPS_HARDWARE = 1 << 1


@dataclass(frozen=True)
class Domain:
    """A domain as make_hypervisor_node sees it.

    name:
      "dom0" or the dom0less node's name ("domU1").
    path:
      "/chosen" for dom0 (its static shared memory lives there), else the
      domain node.
    host_layout:
      whether it uses the host layout (dom0, direct-map) rather than the
      guest one.
    ram:
      its RAM banks (kinfo->mem): host addresses for host-layout domains.
    grant_table:
      reg[0] of its /hypervisor node, or None where not known (dom0's lies
      in Xen's own text, at Xen's load address).
    shm:
      its own static shared memory.
    xen_reg:
      guest ranges its passthrough DT maps with xen,reg.
    iommu:
      whether the domain has an IOMMU (is_iommu_enabled).
    bits:
      32 or 64: Xen gives 32-bit domains no extended regions.
    hypervisor_node:
      whether Xen gives it a /hypervisor node at all (dom0: always; domUs:
      with xen,enhanced, 4.17+).
    hardware:
      whether it is the hardware domain (dom0, or from 4.21 a dom0less
      domain with the hardware capability): its DT is the host's, so its
      /hypervisor node uses the host's cells, GIC and a free PPI.
    """

    name: str
    path: str
    host_layout: bool
    ram: tuple[Range, ...]
    grant_table: Range | None
    shm: tuple[ShmBank, ...] = ()
    xen_reg: tuple[Range, ...] = ()
    iommu: bool = False
    bits: int = 64
    hypervisor_node: bool = True
    hardware: bool = False


@dataclass(frozen=True)
class DomainOptions:
    """What the host DT cannot tell about the domain.

    domain:
      a dom0less domain's node name, or None for dom0.
    iommu:
      --iommu/--no-iommu: whether Xen enables an IOMMU; None: as Xen decides
      (xendt.host.iommu).
    dom0_ram:
      dom0's RAM banks (Xen allocates them at boot; needed without IOMMU).
    grant_table:
      the hardware domain's grant table (at Xen's load address,
      __pa(_stext)).
    bits:
      32 for a 32-bit kernel, else 64.
    passthrough, passthrough_name:
      a dom0less domain's partial device tree, for its xen,reg ranges.
    cmdline:
      Xen's command line (--xen-cmdline); None: /chosen xen,xen-bootargs.
    firmware:
      how the host boots Xen (RAM firmware adds, UEFI); None: from the DT.
    """

    domain: str | None = None
    iommu: bool | None = None
    dom0_ram: tuple[Range, ...] = ()
    grant_table: Range | None = None
    bits: int = 64
    passthrough: bytes | None = None
    passthrough_name: str = ""
    cmdline: str | None = None
    firmware: Firmware | None = None


def dom0(tree: Tree, layout: Layout, *, ram: tuple[Range, ...] = (),
         grant_table: Range | None = None, iommu: bool | None = None, bits: int = 64) -> Domain:
    """Dom0 on this host: always direct-mapped (host layout). Its RAM and
    grant table are placed by Xen at boot, so they come from the caller (the
    grant table sits at Xen's load address, __pa(_stext)). `iommu` None
    means: as Xen decides (xendt.host.iommu.decide)."""
    rules = layout.host
    info = bootinfo.boot_info(tree, rules)
    shm = tuple(s for s in info.shm if s.owner == "/chosen") if rules.static_shm != "none" else ()
    if grant_table is not None and grant_table.size <= 0:
        raise ConfigError(f"grant table {grant_table}: expected a size above 0")
    return Domain(name="dom0", path="/chosen", host_layout=True, ram=_sorted(ram),
                  grant_table=grant_table, shm=shm,
                  iommu=host_has_iommu(tree, layout) if iommu is None else iommu, bits=bits,
                  hardware=True)


def dom0less_domains(tree: Tree) -> tuple[Node, ...]:
    """The dom0less domain nodes: children of /chosen compatible with
    "xen,domain" (create_domUs)."""
    chosen = tree.node("/chosen")
    if chosen is None:
        return ()
    return tuple(n for n in chosen.children if n.is_compatible(xen_dt.DOMAIN_COMPATIBLE))


def dom0less(tree: Tree, layout: Layout, name: str, *, iommu: bool | None = None,
             bits: int = 64, passthrough: bytes | None = None, passthrough_name: str = "",
             grant_table: Range | None = None) -> Domain:
    """The dom0less domain `name` (a /chosen child compatible with
    "xen,domain") as Xen builds it (create_domUs and construct_domU,
    xen/arch/arm/domain_build.c @ RELEASE-4.17.0, RELEASE-4.18.0,
    xen/arch/arm/dom0less-build.c @ RELEASE-4.19.0, RELEASE-4.20.0,
    xen/common/device-tree/dom0less-build.c and dom0less-bindings.c @
    RELEASE-4.21.0, RELEASE-4.22.0): its RAM from `memory` (KiB, 64 bits),
    direct-mapped onto its xen,static-mem banks with `direct-map`, a
    /hypervisor node with xen,enhanced. From 4.21 a domain with the hardware
    capability is built like dom0 instead (construct_hwdom).

    iommu: whether Xen enables an IOMMU (None: as Xen decides); the
    domain gets one with a multiboot,device-tree module, passthrough =
    "enabled" (4.19+) or as the hardware domain.
    passthrough: the domain's partial device tree, for its xen,reg ranges.
    grant_table: the hardware domain's (it sits at Xen's load address).
    """
    rules = layout.host
    nodes = dom0less_domains(tree)
    node = next((n for n in nodes if n.name == name), None)
    if node is None:
        known = ", ".join(n.name for n in nodes) or "none"
        raise ConfigError(f"{tree.file}: no dom0less domain {name!r} under /chosen"
                          f" (compatible \"xen,domain\"); found: {known}")
    where = f"{node.path} in {tree.file}"
    ram_size = _memory(tree, node)
    static: tuple[Range, ...] = ()
    if node.get("xen,static-mem") is not None and rules.static_mem != "none":
        static = tuple(r for r in xen_dt.meminfo(tree, node, "xen,static-mem",
                                           bootinfo.static_mem_cells(tree, node, rules)) if r.size)
        if sum(r.size for r in static) != ram_size:
            raise DtbError(f"{where}: 'memory' ({ram_size // 1024} KiB) differs from the sum of"
                           f" its xen,static-mem banks ({sum(r.size for r in static) // 1024} KiB);"
                           f" Xen panics")
    direct = node.get("direct-map") is not None and rules.domu_holes != "none"
    if direct and not static:
        raise DtbError(f"{where}: direct-map without xen,static-mem (Xen panics: direct-map"
                       f" needs static allocation)")
    hardware = rules.hardware_domain and bool(_u32(node, "capabilities") & DOMAIN_CAPS_HARDWARE)
    has_dtb = _has_partial_dt_after(tree, node)
    wants_iommu = rules.passthrough_iommu and node.string("passthrough") == "enabled"
    host_iommu = host_has_iommu(tree, layout) if iommu is None else iommu
    if hardware:
        if has_dtb or node.get("passthrough") is not None:
            raise DtbError(f"{where}: the hardware domain takes no passthrough and no"
                           f" multiboot,device-tree module at or after its node (Xen panics)")
        if not (direct or host_iommu):
            raise DtbError(f"{where}: a hardware domain that is not direct-mapped needs an"
                           f" IOMMU (Xen panics)")
    elif grant_table is not None:
        raise ConfigError(f"--gnttab: {name}'s grant table is the guest one at a fixed place;"
                          f" only dom0 or a hardware domain needs it")
    if node.string("xen,sci_type") == "scmi_smc" and rules.sci_type == "refused-if-absent" \
            and not DEFAULT_BUILD_SCMI_SMC:
        raise HostFailure(Failure(node.path, "domain_sci_init", "\"xen,sci_type=scmi_smc requested,"
                                  " but CONFIG_SCMI_SMC not set\"", "ignored before 4.21.2"))
    missing = modules.ignored_kernel(tree, node, rules.max_modules)
    if missing:
        raise HostFailure(Failure(node.path, "kernel_probe", missing))
    gnttab = layout.region("grant-table")
    return Domain(
        name=node.name, path=node.path, host_layout=direct or hardware,
        ram=_sorted(static) if direct else () if hardware else guest_banks(layout, ram_size),
        grant_table=grant_table if hardware else Range(gnttab.base, gnttab.size),
        shm=tuple(s for s in bootinfo.boot_info(tree, rules).shm if s.owner == node.path),
        xen_reg=passthrough_xen_reg(passthrough, passthrough_name, rules, node.name)
        if passthrough else (),
        iommu=host_iommu and (has_dtb or wants_iommu or hardware), bits=bits,
        hypervisor_node=hardware or _enhanced(node, rules), hardware=hardware)


def _memory(tree: Tree, node: Node) -> int:
    """A domain node's `memory`: KiB in 64 bits (dt_property_read_u64)."""
    value = node.get("memory")
    if value is None or len(value) < 8:
        raise DtbError(f"expected property 'memory' on {node.path} in {tree.file} to hold a"
                       f" 64-bit KiB count (2 cells), got {value!r}")
    size = xen_dt.read_number(xen_dt.cells_of(value[:8])) * 1024
    if size <= 0 or size % PAGE_SIZE:
        raise DtbError(f"expected property 'memory' on {node.path} in {tree.file} to be a"
                       f" positive multiple of 4 KiB, got {size // 1024} KiB")
    return size


def _u32(node: Node, prop: str, default: int = 0) -> int:
    """A one-cell property, or `default` when absent or shorter (Xen's
    device_tree_get_u32 and dt_property_read_u32)."""
    value = node.get(prop)
    return int.from_bytes(value[:4], "big") if value and len(value) >= 4 else default


def guest_banks(layout: Layout, ram_size: int) -> tuple[Range, ...]:
    """The guest RAM banks of a dom0less domU with `ram_size` bytes, as
    allocate_memory (xen/arch/arm/domain_build.c @ RELEASE-4.17.0) fills
    them: bank 0 (3 GiB at 1 GiB) first, the rest in bank 1, as libxl does.
    Static memory banks land in the guest banks in the same way."""
    room = sum(bank.size for bank in layout.banks)
    if ram_size > room:
        raise ConfigError(f"memory: {(ram_size - room) // 1024} KiB more than the guest RAM banks hold")
    return tuple(Range(bank.base, size)
                 for bank, size in zip(layout.banks, memory.fill_banks(layout, ram_size)))


def _enhanced(node: Node, rules: HostRules) -> bool:
    """Whether xen,enhanced asks for the /hypervisor node: an empty value
    (or one without a NUL) or one of the version's strings."""
    value = node.get("xen,enhanced")
    if value is None or rules.domu_holes == "none":
        return False
    if not value or b"\0" not in value:
        return True
    return value.split(b"\0", 1)[0].decode("utf-8", "replace") in rules.enhanced


def _has_partial_dt_after(tree: Tree, node: Node) -> bool:
    """create_domUs asks dt_find_compatible_node(node, NULL,
    "multiboot,device-tree"), which searches every node after `node` in the
    whole tree, not only its children: a later domain's module counts too."""
    later = itertools.dropwhile(lambda n: n is not node, tree.nodes())
    next(later, None)
    return any(n.is_compatible("multiboot,device-tree") for n in later)


def host_has_iommu(tree: Tree, layout: Layout) -> bool:
    """Whether Xen `layout.release` enables an IOMMU on this host when the
    command line does not say: an available node a default build's IOMMU
    driver matches (xendt.host.iommu.decide)."""
    from xendt.host import iommu

    return iommu.decide(tree, layout, None, iommu.Cmdline()).on


def passthrough_xen_reg(data: bytes, name: str, rules: HostRules | None = None,
                        domain: str = "") -> tuple[Range, ...]:
    """The guest ranges a dom0less partial device tree maps with xen,reg
    (<mstart size gstart> entries) in its /passthrough subtree, as
    scan_pfdt_node and handle_passthrough_prop read them
    (xen/arch/arm/dom0less-build.c @ RELEASE-4.19.0,
    xen/common/device-tree/dom0less-build.c @ RELEASE-4.21.0): /passthrough's
    own in 2 and 1 cells, every other node's in its parent's #address-cells
    and #size-cells, which default to 2 and 1 rather than being inherited.
    Each must be page-aligned. Cells outside 1..2 are refused from 4.20.4,
    4.21.2, 4.22.0 (rules.passthrough_cells); before, 0 and 0 divide by
    zero in handle_passthrough_prop."""
    tree = xen_dt.read_host(data, name)
    passthrough = tree.node("/passthrough")
    if passthrough is None:
        return ()
    out = []
    stack = [(passthrough, ROOT_CELLS_DEFAULT)]
    while stack:
        node, (address_cells, size_cells) = stack.pop()
        value = node.get("xen,reg")
        if value is not None and rules is not None:
            _check_cells(node.path, address_cells, size_cells, rules, domain)
        for i, (host, size, guest) in enumerate(xen_dt.xen_reg(value or b"", address_cells,
                                                                size_cells)):
            if (host | size | guest) % PAGE_SIZE:
                raise DtbError(f"expected 'xen,reg' entry {i} on {node.path} in {name} to be"
                               f" page-aligned, got <{host:#x} {size:#x} {guest:#x}>")
            out.append(Range(guest, size))
        own = (_u32(node, "#address-cells", ROOT_CELLS_DEFAULT[0]),
               _u32(node, "#size-cells", ROOT_CELLS_DEFAULT[1]))
        stack.extend((child, own) for child in reversed(node.children))
    return tuple(out)


def _check_cells(path: str, address_cells: int, size_cells: int, rules: HostRules,
                 domain: str) -> None:
    """handle_passthrough_prop's cell check (dom0less-build.c @
    RELEASE-4.22.0) or, before it, its division by 2 * #address-cells +
    #size-cells."""
    if 1 <= address_cells <= 2 and 1 <= size_cells <= 2:
        return
    if rules.passthrough_cells == "1-2":
        raise HostFailure(Failure(path, "handle_passthrough_prop",
                                  f"\"Invalid address_cells {address_cells} or size_cells"
                                  f" {size_cells}\", then panic \"Could not set up domain {domain}"
                                  f" (rc = -22)\""))
    if 2 * address_cells + size_cells == 0:
        raise HostFailure(Failure(path, "handle_passthrough_prop",
                                  "xen,reg length divided by 2 * 0 + 0: Xen crashes (division by"
                                  " zero)", "refused cleanly from 4.20.4, 4.21.2, 4.22.0"))


def _sorted(ranges) -> tuple[Range, ...]:
    return tuple(sorted((Range(r.base, r.size) for r in ranges), key=lambda r: r.base))


def parse_banks(text: str, what: str) -> tuple[Range, ...]:
    """"BASE:SIZE[,BASE:SIZE…]", numbers in C syntax (0x…), sizes may end
    in K, M or G; ConfigError naming `what` otherwise."""
    banks = []
    for item in text.split(","):
        base, sep, size = item.strip().partition(":")
        try:
            bank = Range(int(base, 0), _size(size))
        except ValueError:
            raise ConfigError(f"{what}: {item.strip()!r} is not BASE:SIZE (e.g. 0x40000000:512M)")\
                from None
        if not sep or bank.size <= 0 or bank.base < 0:
            raise ConfigError(f"{what}: {item.strip()!r} is not BASE:SIZE with a size above 0")
        if bank.end > 1 << 64:
            raise ConfigError(f"{what}: {item.strip()!r} ends at {bank.end:#x}, beyond 64 bits")
        banks.append(bank)
    ordered = sorted(banks, key=lambda r: r.base)
    for a, b in itertools.pairwise(ordered):
        if a.overlaps(b):
            raise ConfigError(f"{what}: banks {a} and {b} overlap")
    return tuple(ordered)


def _size(text: str) -> int:
    text = text.strip()
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:].upper(), 1)
    return int(text[:-1] if scale > 1 else text, 0) * scale


def dom0_facts(data: bytes, name: str) -> tuple[tuple[Range, ...], Range | None]:
    """Dom0's RAM banks and grant table read from dom0's own device tree
    (e.g. `dtc -I fs -O dtb /proc/device-tree` in dom0): its memory nodes
    (the one Xen adds for reserved memory too, which is excluded anyway) and
    reg[0] of its /hypervisor node."""
    tree = xen_dt.read_host(data, name)
    ram = []
    for node in tree.descendants(tree.root):
        if node.base_name == "memory" and node.get("reg") is not None:
            ram += [r for r in xen_dt.meminfo(tree, node, "reg", xen_dt.cells(tree, node)) if r.size]
    if not ram:
        raise DtbError(f"{name}: no memory node with a reg: is this dom0's device tree?")
    hypervisor = tree.node("/hypervisor")
    grant = None
    if hypervisor is not None and hypervisor.get("reg") is not None:
        grant = next(iter(xen_dt.meminfo(tree, hypervisor, "reg", xen_dt.cells(tree, hypervisor))), None)
    return _sorted(ram), grant
