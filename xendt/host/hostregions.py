"""The extended regions the Xen hypervisor itself gives dom0 and dom0less
domains, computed offline from the host DT.

Xen builds these domains' device trees at boot (make_hypervisor_node in
``xen/arch/arm/domain_build.c`` @ RELEASE-4.16.0 … RELEASE-4.22.0), so
nobody sees their /hypervisor node before booting. Which hole finder runs:

- a domain that uses the host layout (dom0; a dom0less domain with
  ``direct-map``, 4.17+) with an IOMMU: ``find_memory_holes``, the host
  address space [0, 2^ipa) minus every node's translated ``reg`` (widened to
  pages), PCI host bridge apertures, its own static shared memory (4.19+) and
  its xen,reg ranges (4.21+);
- the same without an IOMMU: ``find_unallocated_memory`` (from 4.20 called
  through ``find_host_extended_regions``, from 4.21 in
  ``xen/common/device-tree/domain-build.c``), host RAM minus the domain's
  RAM, reserved memory, the grant table, static shared memory host banks
  (4.19+) and xen,reg ranges (4.21+): foreign mappings must then land on
  real RAM;
- an ordinary dom0less domU with ``xen,enhanced`` (4.17+):
  ``find_domU_holes``, the tails of its two guest RAM banks, with static
  shared memory (4.19+) and xen,reg (4.21+) taken out.

Every range found goes through ``add_ext_regions``: start rounded up to
2 MiB, size rounded down to 2 MiB, at least 64 MiB, at most NR_MEM_BANKS
regions. From 4.18 the rangesets count page frames and, until 4.21,
add_ext_regions takes the last frame's start for the last byte, so a range
whose end is 2 MiB-aligned comes out 2 MiB short. 32-bit domains get none.
The per-version switches are the [host] tables of layouts/*.toml
(xendt.model.HostRules).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from xendt.host import bootinfo, xen_dt
from xendt.guest import memory
from xendt.errors import ConfigError, DtbError
from xendt.fdt.tree import ROOT_CELLS_DEFAULT, Node, Tree
from xendt.host.bootinfo import BootInfo, ShmBank
from xendt.model import HostRules, Layout, Range, align_up

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
#: Host interrupt IDs of the timer PPIs Xen reserves in dom0's vGIC when the
#: host DT does not say (vcpu_vtimer_init, xen/arch/arm/vtimer.c @
#: RELEASE-4.19.0): secure physical, non-secure physical, virtual.
_TIMER_PPIS_DEFAULT = (29, 30, 27)
#: The PPI Xen gives a dom0less domU's event channel (GUEST_EVTCHN_PPI).
GUEST_EVTCHN_PPI = 31
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
      whether the host has an enabled IOMMU; None: look for #iommu-cells.
    dom0_ram:
      dom0's RAM banks (Xen allocates them at boot; needed without IOMMU).
    grant_table:
      the hardware domain's grant table (at Xen's load address,
      __pa(_stext)).
    bits:
      32 for a 32-bit kernel, else 64.
    passthrough, passthrough_name:
      a dom0less domain's partial device tree, for its xen,reg ranges.
    """

    domain: str | None = None
    iommu: bool | None = None
    dom0_ram: tuple[Range, ...] = ()
    grant_table: Range | None = None
    bits: int = 64
    passthrough: bytes | None = None
    passthrough_name: str = ""


@dataclass(frozen=True)
class HostRegions:
    """Xen's extended regions for one domain on one host.

    xen:
      the Xen version.
    host:
      the host DT's file name.
    domain:
      the Domain they were computed for.
    ipa_bits:
      the IPA size (p2m_ipa_bits) bounding them.
    finder:
      the Xen function that found them ("find_memory_holes", …), or "" when
      none ran.
    regions:
      the extended regions, ascending: reg[1..N] of /hypervisor.
    cells:
      (#address-cells, #size-cells) the /hypervisor reg is written in: the
      host root's for dom0, 2 and 2 for dom0less domains.
    interrupt:
      the event-channel PPI in the /hypervisor interrupts.
    gic_phandle:
      the interrupt-parent of the /hypervisor node.
    warnings:
      what Xen would warn about, or why there are no regions.
    """

    xen: str
    host: str
    domain: Domain
    ipa_bits: int
    finder: str
    regions: tuple[Range, ...]
    cells: tuple[int, int]
    interrupt: int
    gic_phandle: int
    warnings: tuple[str, ...] = ()


class _Failed(Exception):
    """A hole finder returned an error: Xen then gives no regions."""


def compute(tree: Tree, layout: Layout, ipa_bits: int, options: DomainOptions) -> HostRegions:
    """The extended regions Xen `layout.version` gives the domain `options`
    name (dom0 by default) on host `tree` with IPA size `ipa_bits`."""
    if options.domain is None:
        if options.passthrough is not None:
            raise ConfigError("a partial device tree (xen,reg) belongs to a dom0less domain:"
                              " name it with --domain")
        domain = dom0(tree, layout, ram=options.dom0_ram, grant_table=options.grant_table,
                      iommu=options.iommu, bits=options.bits)
        if not (domain.iommu or domain.ram) and layout.host.dom0_regions and domain.bits == 64:
            raise ConfigError("without an IOMMU Xen gives dom0 the host RAM it does not use:"
                              " give dom0's banks with --dom0-mem BASE:SIZE[,…] or --dom0-dtb")
    else:
        if options.dom0_ram:
            raise ConfigError(f"--dom0-mem and --dom0-dtb describe dom0, not {options.domain}")
        domain = dom0less(tree, layout, options.domain, iommu=options.iommu, bits=options.bits,
                          passthrough=options.passthrough,
                          passthrough_name=options.passthrough_name,
                          grant_table=options.grant_table)
    return extended_regions(tree, layout, domain, ipa_bits)


# ---------------------------------------------------------------------------
# The domains: dom0, dom0less domains, and what the command line tells of dom0.


def dom0(tree: Tree, layout: Layout, *, ram: tuple[Range, ...] = (),
         grant_table: Range | None = None, iommu: bool | None = None, bits: int = 64) -> Domain:
    """Dom0 on this host: always direct-mapped (host layout). Its RAM and
    grant table are placed by Xen at boot, so they come from the caller (the
    grant table sits at Xen's load address, __pa(_stext)). `iommu` None
    means: on when the host DT has an IOMMU (a node with #iommu-cells)."""
    rules = layout.host
    info = bootinfo.boot_info(tree, rules)
    shm = tuple(s for s in info.shm if s.owner == "/chosen") if rules.static_shm != "none" else ()
    if grant_table is not None and grant_table.size <= 0:
        raise ConfigError(f"grant table {grant_table}: expected a size above 0")
    return Domain(name="dom0", path="/chosen", host_layout=True, ram=_sorted(ram),
                  grant_table=grant_table, shm=shm,
                  iommu=host_has_iommu(tree) if iommu is None else iommu, bits=bits,
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

    iommu: whether the host has an IOMMU (None: look for #iommu-cells); the
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
    static = ()
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
    host_iommu = host_has_iommu(tree) if iommu is None else iommu
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
    gnttab = layout.region("grant-table")
    return Domain(
        name=node.name, path=node.path, host_layout=direct or hardware,
        ram=_sorted(static) if direct else () if hardware else guest_banks(layout, ram_size),
        grant_table=grant_table if hardware else Range(gnttab.base, gnttab.size),
        shm=tuple(s for s in bootinfo.boot_info(tree, rules).shm if s.owner == node.path),
        xen_reg=passthrough_xen_reg(passthrough, passthrough_name) if passthrough else (),
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


def host_has_iommu(tree: Tree) -> bool:
    """Whether the host DT describes an IOMMU: an enabled node with
    #iommu-cells (Xen enables one when its driver probes such a node)."""
    return any(n.get("#iommu-cells") is not None and xen_dt.is_available(n) for n in tree.nodes())


def passthrough_xen_reg(data: bytes, name: str) -> tuple[Range, ...]:
    """The guest ranges a dom0less partial device tree maps with xen,reg
    (<mstart size gstart> entries) in its /passthrough subtree, as
    scan_pfdt_node and handle_passthrough_prop read them
    (xen/arch/arm/dom0less-build.c @ RELEASE-4.19.0,
    xen/common/device-tree/dom0less-build.c @ RELEASE-4.21.0): /passthrough's
    own in 2 and 1 cells, every other node's in its parent's #address-cells
    and #size-cells, which default to 2 and 1 rather than being inherited.
    Each must be page-aligned."""
    tree = xen_dt.read_host(data, name)
    passthrough = tree.node("/passthrough")
    if passthrough is None:
        return ()
    out = []
    stack = [(passthrough, ROOT_CELLS_DEFAULT)]
    while stack:
        node, (address_cells, size_cells) = stack.pop()
        value = node.get("xen,reg")
        one = 2 * address_cells + size_cells
        cells = xen_dt.cells_of(value or b"")
        for i in range(len(cells) // one):
            entry = cells[i * one:(i + 1) * one]
            host = xen_dt.read_number(entry[:address_cells])
            size = xen_dt.read_number(entry[address_cells:address_cells + size_cells])
            guest = xen_dt.read_number(entry[address_cells + size_cells:])
            if (host | size | guest) % PAGE_SIZE:
                raise DtbError(f"expected 'xen,reg' entry {i} on {node.path} in {name} to be"
                               f" page-aligned, got <{host:#x} {size:#x} {guest:#x}>")
            out.append(Range(guest, size))
        own = (_u32(node, "#address-cells", ROOT_CELLS_DEFAULT[0]),
               _u32(node, "#size-cells", ROOT_CELLS_DEFAULT[1]))
        stack.extend((child, own) for child in reversed(node.children))
    return tuple(out)


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
        banks.append(bank)
    ordered = sorted(banks, key=lambda r: r.base)
    for a, b in zip(ordered, ordered[1:]):
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


# ---------------------------------------------------------------------------
# make_hypervisor_node


def extended_regions(tree: Tree, layout: Layout, domain: Domain, ipa_bits: int) -> HostRegions:
    """What Xen `layout.version` puts in `domain`'s /hypervisor reg after
    the grant table, on the host `tree`, with guest IPA size `ipa_bits`
    (make_hypervisor_node, xen/arch/arm/domain_build.c @ RELEASE-4.16.0 …
    RELEASE-4.22.0). A finder's failure is a warning, as in Xen."""
    rules = layout.host
    v = layout.version
    warnings: list[str] = []
    finder, regions = "", ()
    hardware = domain.hardware
    if not domain.hypervisor_node:
        warnings.append(_no_node_reason(layout, domain))
    elif not rules.dom0_regions:
        warnings.append(f"Xen {v} gives no extended regions (they came in 4.16)")
    elif domain.bits == 32:
        warnings.append(f"{domain.name}: extended regions not supported for 32-bit guests"
                        f" (Xen {v} gives none)")
    else:
        info = bootinfo.boot_info(tree, rules)
        if domain.host_layout and domain.iommu:
            finder = "find_memory_holes"
            run = lambda: _memory_holes(tree, domain, rules, ipa_bits)
        elif domain.host_layout:
            finder = "find_unallocated_memory"
            run = lambda: _unallocated_memory(info, domain, rules, ipa_bits, warnings)
        else:
            finder = "find_domU_holes"
            run = lambda: _domu_holes(layout, domain, ipa_bits)
        try:
            regions = run()
        except _Failed as e:
            warnings.append(f"{domain.name}: failed to allocate extended regions: {e}")
        if not regions and not warnings:
            warnings.append(f"{domain.name}: failed to allocate extended regions: no free range"
                            f" of {rules.min_size >> 20} MiB or more")
    cells = xen_dt.child_cells(tree, tree.root) if hardware else (2, 2)
    return HostRegions(xen=v, host=tree.file, domain=domain, ipa_bits=ipa_bits, finder=finder,
                       regions=tuple(regions), cells=cells,
                       interrupt=_dom0_evtchn_ppi(tree) if hardware else GUEST_EVTCHN_PPI,
                       gic_phandle=_gic_phandle(tree) if hardware else layout.gic_phandle,
                       warnings=tuple(warnings))


def _no_node_reason(layout: Layout, domain: Domain) -> str:
    rules = layout.host
    if rules.domu_holes == "none":
        return (f"{domain.name}: Xen {layout.version} gives dom0less domains no /hypervisor"
                f" node (extended regions for them came in 4.17)")
    accepted = ", ".join(repr(v) for v in rules.enhanced)
    return (f"{domain.name}: no /hypervisor node and so no extended regions: {domain.path}"
            f" needs xen,enhanced (empty or {accepted})")


class _Rangeset:
    """Xen's rangeset (xen/common/rangeset.c @ RELEASE-4.19.0, unchanged
    4.16 … 4.22 where used here), as far as the hole finders use it: sorted,
    inclusive ranges in `unit`s ("byte", or "page" frames from 4.18);
    adding merges overlapping and adjacent ranges."""

    def __init__(self, unit: str) -> None:
        self.shift = PAGE_SHIFT if unit == "page" else 0
        self.ranges: list[list[int]] = []

    def _units(self, start: int, end: int) -> tuple[int, int]:
        """[start, end) in bytes as Xen's callers pass it: PFN_DOWN(start),
        PFN_DOWN(end - 1) with page frames."""
        return start >> self.shift, (end - 1) >> self.shift

    def add(self, start: int, end: int) -> None:
        s, e = self._units(start, end)
        if e < s:
            return
        kept = []
        for r in self.ranges:
            if r[1] + 1 < s or r[0] > e + 1:
                kept.append(r)
            else:  # overlapping or adjacent: merge
                s, e = min(s, r[0]), max(e, r[1])
        kept.append([s, e])
        self.ranges = sorted(kept)

    def remove(self, start: int, end: int, what: str) -> None:
        s, e = self._units(start, end)
        if e < s:
            self._remove_nothing(s, what)
            return
        kept = []
        for r in self.ranges:
            if r[1] < s or r[0] > e:
                kept.append(r)
                continue
            if r[0] < s:
                kept.append([r[0], s - 1])
            if r[1] > e:
                kept.append([e + 1, r[1]])
        self.ranges = kept

    def _remove_nothing(self, s: int, what: str) -> None:
        """rangeset_remove_range(s, s - 1), from a zero-size range: a release
        build splits a range holding s in two (later reported separately);
        at a range's very start it walks off its list."""
        for i, r in enumerate(self.ranges):
            if r[0] < s <= r[1]:
                self.ranges[i:i + 1] = [[r[0], s - 1], [s, r[1]]]
                return
            if r[0] == s:
                raise _Failed(f"{what} is empty at the start of a free range, where Xen's"
                              f" rangeset_remove_range misbehaves")

    def report(self, limit: int):
        """(first, last) unit pairs inside [0, limit] bytes, as
        rangeset_report_ranges clips them."""
        top = limit >> self.shift
        for s, e in self.ranges:
            if s > top:
                break
            yield s, min(e, top)


class _Collector:
    """add_ext_regions (xen/arch/arm/domain_build.c @ RELEASE-4.16.0 …
    RELEASE-4.22.0), called with each free range: start rounded up and size
    rounded down to rules.align, kept if at least rules.min_size, at most
    rules.max of them. With page frames (4.18+) its inclusive end is
    pfn_to_paddr(last frame) until 4.21 (rules.end_bug), the last byte
    after (commit 9b21841fd1)."""

    def __init__(self, rules: HostRules, shift: int) -> None:
        self.rules, self.shift = rules, shift
        self.regions: list[Range] = []

    def __call__(self, s: int, e: int) -> None:
        rules = self.rules
        if len(self.regions) >= rules.max:
            return
        start = s << self.shift
        if self.shift and rules.end_bug:
            last = e << self.shift  # the last frame's start, taken for the last byte
        else:
            last = ((e + 1) << self.shift) - 1
        start = align_up(start, rules.align)
        if start > last:
            return
        size = (last + 1 - start) & ~(rules.align - 1)
        if size >= rules.min_size:
            self.regions.append(Range(start, size))


def _report(rangeset: _Rangeset, rules: HostRules, limit: int) -> tuple[Range, ...]:
    """rangeset_report_ranges over [0, limit] into add_ext_regions."""
    collect = _Collector(rules, rangeset.shift)
    for s, e in rangeset.report(limit):
        collect(s, e)
    return tuple(collect.regions)


def _memory_holes(tree: Tree, domain: Domain, rules: HostRules,
                  ipa_bits: int) -> tuple[Range, ...]:
    """find_memory_holes (xen/arch/arm/domain_build.c @ RELEASE-4.16.0 …
    RELEASE-4.22.0): [0, 2^ipa) minus the domain's own static shared memory
    (4.19+), every node's translated reg and every device_type "pci" node's
    ranges, each widened to whole pages, and xen,reg ranges (4.21+). An
    untranslatable address makes Xen give up (4.18+ checks a PCI range's
    width explicitly; before, the arithmetic wraps: both are a failure here).
    """
    holes = _Rangeset(rules.rangeset_unit)
    holes.add(0, 1 << ipa_bits)
    if rules.static_shm == "separate":
        for shm in domain.shm:
            holes.remove(shm.guest.base, shm.guest.end, f"{shm.path} xen,shared-mem")
    for node in tree.nodes():
        try:
            for i, r in enumerate(xen_dt.device_addresses(tree, node)):
                holes.remove(r.base & ~(PAGE_SIZE - 1), align_up(r.end, PAGE_SIZE),
                             f"{node.path} reg[{i}]")
            if xen_dt.is_pci_host_bridge(node) and node.get("ranges") is not None:
                for i, r in enumerate(xen_dt.pci_apertures(tree, node)):
                    holes.remove(r.base & ~(PAGE_SIZE - 1), align_up(r.end, PAGE_SIZE),
                                 f"{node.path} ranges[{i}]")
        except xen_dt.Untranslatable as e:
            raise _Failed(str(e)) from None
    if rules.xen_reg:
        for r in domain.xen_reg:
            holes.remove(r.base, r.end, "xen,reg")
    return _report(holes, rules, (1 << ipa_bits) - 1)


def _unallocated_memory(info: BootInfo, domain: Domain, rules: HostRules, ipa_bits: int,
                        warnings: list[str]) -> tuple[Range, ...]:
    """find_unallocated_memory (xen/arch/arm/domain_build.c @
    RELEASE-4.16.0 … RELEASE-4.20.0, xen/common/device-tree/domain-build.c
    @ RELEASE-4.21.0, RELEASE-4.22.0, with find_host_extended_regions
    listing the exclusions from 4.20): host RAM minus the domain's RAM,
    reserved memory, static shared memory host banks (4.19+; before, they
    are reserved memory), the grant table and xen,reg ranges (4.21+).
    Removal order does not matter but for zero-size ranges, never given here
    (4.18 and 4.19 skip a zero-size grant table; xendt refuses one)."""
    free = _Rangeset(rules.rangeset_unit)
    for bank in info.ram:
        free.add(bank.base, bank.end)
    taken: list[tuple[Range, str]] = [(r, f"{domain.name} RAM") for r in domain.ram]
    taken += [(b, b.source) for b in info.reserved]
    if rules.static_shm == "separate":
        taken += [(s.host, f"{s.path} xen,shared-mem") for s in info.shm if s.host is not None]
    if domain.grant_table is not None:
        taken.append((domain.grant_table, "grant table"))
    else:
        warnings.append(f"{domain.name}: grant table place unknown (Xen's load address);"
                        f" assuming it lies outside free host RAM")
    if rules.xen_reg:
        taken += [(r, "xen,reg") for r in domain.xen_reg]
    for r, what in taken:
        free.remove(r.base, r.end, what)
    return _report(free, rules, (1 << ipa_bits) - 1)


def _domu_holes(layout: Layout, domain: Domain, ipa_bits: int) -> tuple[Range, ...]:
    """find_domU_holes (xen/arch/arm/domain_build.c @ RELEASE-4.17.0 …
    RELEASE-4.22.0): the part of each guest RAM bank above the domain's RAM
    (start rounded up to 2 MiB, end at the bank end or the IPA limit), kept
    if at least 64 MiB. rules.domu_holes says what follows: "banks"
    (4.17, 4.18) emits them as they are, shared memory or not;
    "banks-then-shm" (remove_shm_holes_for_domU, xen/arch/arm/static-shmem.c
    @ RELEASE-4.19.0, RELEASE-4.20.0) passes them, minus the domain's shared
    memory, back through add_ext_regions when it has any; "rangeset" (4.21+)
    always does, minus shared memory and xen,reg ranges."""
    rules = layout.host
    limit = (1 << ipa_bits) - 1
    tails = []
    for bank, ram in zip(layout.banks, domain.ram):
        start = align_up(bank.base + ram.size, rules.align)
        last = min(limit, bank.last)
        size = last - start + 1 if last > start else 0
        if size >= rules.min_size:
            tails.append(Range(start, size))
    if rules.domu_holes == "banks":
        return tuple(tails)
    if rules.domu_holes == "banks-then-shm":
        if not tails or not domain.shm:
            return tuple(tails)
        holes = _Rangeset(rules.rangeset_unit)
        for r in tails:
            holes.add(r.base, r.end)
        for shm in domain.shm:
            holes.remove(shm.guest.base, shm.guest.end, f"{shm.path} xen,shared-mem")
        # remove_shm_holes_for_domU: back through add_ext_regions, end bug and all.
        return _report(holes, rules, tails[-1].last)
    holes = _Rangeset(rules.rangeset_unit)
    for r in tails:
        holes.add(r.base, r.end)
    for shm in domain.shm:
        holes.remove(shm.guest.base, shm.guest.end, f"{shm.path} xen,shared-mem")
    if rules.xen_reg:
        for r in domain.xen_reg:
            holes.remove(r.base, r.end, "xen,reg")
    return _report(holes, rules, (1 << ipa_bits) - 1)


def _dom0_evtchn_ppi(tree: Tree) -> int:
    """The PPI Xen allocates for dom0's event channel: the lowest of 16–31
    not taken by the host timer's secure, non-secure and virtual PPIs, which
    it reserves in dom0's vGIC first (evtchn_allocate, xen/arch/arm/
    domain_build.c, and vcpu_vtimer_init, vtimer.c @ RELEASE-4.19.0)."""
    taken = set(_TIMER_PPIS_DEFAULT)
    for node in tree.nodes():
        if node.is_compatible("arm,armv8-timer") or node.is_compatible("arm,armv7-timer"):
            cells = xen_dt.cells_of(node.get("interrupts") or b"")
            specs = [cells[i:i + 3] for i in range(0, len(cells) - 2, 3)][:3]
            if len(specs) == 3 and all(s[0] == 1 for s in specs):
                taken = {s[1] + 16 for s in specs}
            break
    return min(set(range(16, 32)) - taken)


def _gic_phandle(tree: Tree) -> int:
    """dom0's GIC phandle (kinfo->phandle_gic): taken here from the root's
    interrupt-parent, 0 when absent."""
    value = tree.root.get("interrupt-parent")
    return int.from_bytes(value[:4], "big") if value and len(value) >= 4 else 0
