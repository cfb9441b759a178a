"""The domains Xen gives extended regions to, as the host DT and the
command line describe them: dom0, and dom0less domains under /chosen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from xendt.errors import ConfigError, DtbError, XenFailure
from xendt.fdt.tree import ROOT_CELLS_DEFAULT, Tree
from xendt.host import bootinfo, xen_dt
from xendt.host.bootinfo import ShmBank
from xendt.host.refusals import Failure, HostFailure
from xendt.hostregions.rangeset import PAGE_SIZE
from xendt.ranges import Range
from xendt.xen.layout import Layout
from xendt.xen.rules import HostRules

if TYPE_CHECKING:
    from xendt.host.firmware import Firmware

#: Whether a default build has the SCMI-over-SMC mediator: the "ARM SCI
#: driver type" choice defaults to SCMI_SMC (xen/arch/arm/firmware/Kconfig @
#: RELEASE-4.21.2), so xen,sci_type = "scmi_smc" is never refused there.
DEFAULT_BUILD_SCMI_SMC = True


@dataclass(frozen=True)
class RegionsDomain:
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
         grant_table: Range | None = None, iommu: bool | None = None, bits: int = 64) -> RegionsDomain:
    """Dom0 on this host: always direct-mapped (host layout). Its RAM and
    grant table are placed by Xen at boot, so they come from the caller (the
    grant table sits at Xen's load address, __pa(_stext)). `iommu` None
    means: as Xen decides (xendt.host.iommu.decide)."""
    rules = layout.host
    info = bootinfo.boot_info(tree, rules)
    shm = tuple(s for s in info.shm if s.owner == "/chosen") if rules.static_shm != "none" else ()
    if grant_table is not None and grant_table.size <= 0:
        raise ConfigError(f"grant table {grant_table}: expected a size above 0")
    return RegionsDomain(name="dom0", path="/chosen", host_layout=True, ram=_sorted(ram),
                  grant_table=grant_table, shm=shm,
                  iommu=host_has_iommu(tree, layout) if iommu is None else iommu, bits=bits,
                  hardware=True)


def dom0less(tree: Tree, layout: Layout, name: str, *, iommu: bool | None = None,
             bits: int = 64, passthrough: bytes | None = None, passthrough_name: str = "",
             grant_table: Range | None = None) -> RegionsDomain:
    """The dom0less domain `name` as make_hypervisor_node sees it, from the
    one model of /chosen/domU* (xendt.domu.domains.read, whose refusals
    apply here too) and its RAM as construct_domU allocates it
    (xendt.domu.memory.ram_banks): the guest banks, or with direct-map
    its xen,static-mem banks at their host addresses; a /hypervisor node
    with xen,enhanced. From 4.21 a domain with the hardware capability is
    built like dom0 instead (construct_hwdom, dom0less-build.c @
    RELEASE-4.21.0).

    iommu: whether Xen enables an IOMMU (None: as Xen decides); the
    domain gets one with a multiboot,device-tree module, passthrough =
    "enabled" (4.19+) or as the hardware domain.
    passthrough: the domain's partial device tree, for its xen,reg ranges.
    grant_table: the hardware domain's (it sits at Xen's load address).
    XenFailure where Xen fails on the domain node.
    """
    from xendt.domu import bootmodules, memory
    from xendt.domu import domains as model
    from xendt.domu.facts import facts_of
    from xendt.xen.context import Xen

    rules = layout.host
    dom = model.read(tree, name, Xen(layout, layout.release))
    direct = dom.direct_map
    hardware = rules.hardware_domain and dom.hardware
    wants_iommu = rules.passthrough_iommu and dom.passthrough == "enabled"
    host_iommu = host_has_iommu(tree, layout) if iommu is None else iommu
    if hardware:
        if dom.iommu_module or dom.passthrough is not None:
            raise XenFailure(f"{dom.path}: the hardware domain takes no passthrough and no"
                             f" multiboot,device-tree module at or after its node (Xen panics)")
        if not (direct or host_iommu):
            raise XenFailure(f"{dom.path}: a hardware domain that is not direct-mapped needs an"
                             f" IOMMU (Xen panics)")
    elif grant_table is not None:
        raise ConfigError(f"--gnttab: {name}'s grant table is the guest one at a fixed place;"
                          f" only dom0 or a hardware domain needs it")
    if dom.sci_type == "scmi_smc" and rules.sci_type == "refused-if-absent" \
            and not DEFAULT_BUILD_SCMI_SMC:
        raise HostFailure(Failure(dom.path, "domain_sci_init", "\"xen,sci_type=scmi_smc requested,"
                                  " but CONFIG_SCMI_SMC not set\"", "ignored before 4.21.2"))
    # MAX_MODULES and module overlaps: a kernel the early scan drops is Xen's failure.
    dom, _ = bootmodules.keep(tree, dom, rules, layout.release, [])
    ram = memory.ram_banks(dom, layout, facts_of(layout)) if direct or not hardware else ()
    if not direct:  # find_domU_holes takes each guest bank's tail, an empty bank whole
        filled = {r.base: r.size for r in ram}
        ram = tuple(Range(bank.base, filled.get(bank.base, 0)) for bank in layout.banks)
    gnttab = layout.region("grant-table")
    return RegionsDomain(
        name=dom.name, path=dom.path, host_layout=direct or hardware,
        ram=_sorted(r for r in ram if r.size) if direct else () if hardware else ram,
        grant_table=grant_table if hardware else Range(gnttab.base, gnttab.size),
        shm=tuple(s for s in bootinfo.boot_info(tree, rules).shm if s.owner == dom.path),
        xen_reg=passthrough_xen_reg(passthrough, passthrough_name, rules, dom.name)
        if passthrough else (),
        iommu=host_iommu and (dom.iommu_module or wants_iommu or hardware), bits=bits,
        hypervisor_node=hardware or _enhanced(dom.enhanced, rules), hardware=hardware)



def _enhanced(value: str | None, rules: HostRules) -> bool:
    """Whether xen,enhanced asks for the /hypervisor node: an empty value
    (or one Xen cannot read as a string, "") or one of the version's."""
    if value is None or rules.domu_holes == "none":
        return False
    return not value or value in rules.enhanced


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
        own_address, own_size = node.u32("#address-cells"), node.u32("#size-cells")
        own = (ROOT_CELLS_DEFAULT[0] if own_address is None else own_address,
               ROOT_CELLS_DEFAULT[1] if own_size is None else own_size)
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
