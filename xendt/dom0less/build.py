"""Build a dom0less domU's device tree as the Xen hypervisor does at boot.

`build()` takes the host DTB Xen boots with, a domain node's name under
/chosen and the Xen version, and returns the blob Xen hands that guest in
x0, byte for byte: construct_domU's view of the domain (xendt.dom0less
.domains), its RAM (.memory), the host facts prepare_dtb_domU copies
(.hostview), the partial DT (.passthrough), the extended regions of its
/hypervisor node (xendt.hostregions.regions, shared with `host-regions`), the
nodes it writes (.nodes) and, after fdt_finish, the initrd
addresses place_modules gives (.modules).

Point releases: every commit between RELEASE-X.Y.0 and the newest X.Y.z
touching prepare_dtb_domU and its helpers was checked; none changes the
domU DT (the real 4.18.6, 4.19.6, 4.20.4 and 4.21.2 gave the .0 blobs, see
tests/data/reference-dom0less/README.md), so "X.Y.Z" builds as "X.Y".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from xendt.dom0less import hostview, modules, passthrough
from xendt.dom0less.nodes import Gic, Plan, fill_initrd, write
from xendt.domu import bootmodules, domains, memory
from xendt.domu.facts import Facts, facts_of, supports
from xendt.errors import ConfigError, XenFailure
from xendt.fdt.tree import Tree
from xendt.ranges import Range, Region
from xendt.xen.context import Xen
from xendt.xen.layout import Layout

#: The largest fdt_create buffer Xen uses.
MAX_BUFFER = 2 << 20


@dataclass(frozen=True)
class Dom0lessDT:
    """A dom0less domU's device tree and what decided it.

    xen, domain:
      the Xen version ("X.Y") and the domain node's name.
    blob:
      the DTB, exactly as Xen builds it.
    bits:
      64 or 32 (from the kernel's format).
    vcpus, ram:
      the vCPU count and RAM banks (guest addresses).
    regions:
      the extended regions in /hypervisor (empty without the node).
    hypervisor:
      whether the tree has a /hypervisor node.
    kernel, dtb, initrd:
      where Xen loads them in guest RAM (initrd None without a ramdisk).
    devices:
      the passthrough devices, as (partial DT path, xen,path).
    static_mem:
      the host memory the domain's RAM comes from (xen,static-mem), if fixed.
    mapped:
      the host MMIO ranges its partial DT's xen,reg maps.
    devices_mmio:
      the emulated devices the tree describes (GIC frames, vpl011), named
      as the layout names them.
    warnings:
      what the user should know (assumptions, what Xen will not give).
    """

    xen: str
    domain: str
    blob: bytes
    bits: int
    vcpus: int
    ram: tuple[Range, ...]
    regions: tuple[Range, ...]
    hypervisor: bool
    kernel: Range
    dtb: Range
    initrd: Range | None
    devices: tuple[tuple[str, str], ...]
    static_mem: tuple[Range, ...]
    mapped: tuple[Range, ...]
    devices_mmio: tuple[Region, ...]
    warnings: tuple[str, ...]


def domain_names(host_dtb: bytes, name: str = "host.dtb") -> tuple[str, ...]:
    """The dom0less domains of a host DTB, in the order Xen builds them."""
    from xendt.host import xen_dt

    return domains.names(xen_dt.read_host(host_dtb, name))


def build(host_dtb: bytes, domain: str, xen: Xen, *,
          host_name: str = "host.dtb",
          partial_dtb: bytes | None = None, partial_name: str = "partial.dtb",
          kernel: bytes | None = None, kernel_name: str = "kernel",
          pa_bits: int | None = None, ipa_bits: int | None = None,
          iommu: bool | None = None) -> Dom0lessDT:
    """The DTB Xen `xen` (resolved at the edge) builds for dom0less domain
    `domain` of `host_dtb`.

    partial_dtb: the domain's multiboot,device-tree module (the host DT has
    only its address). kernel: the kernel module's bytes (its header is
    enough; otherwise an arm64 Image with text_offset 0 is assumed).
    pa_bits/ipa_bits: the host's PA size or the IPA size (default 40-bit
    PA), bounding the extended regions. iommu: whether the host IOMMU is
    on (None: an IOMMU node in the host DT means yes)."""
    from xendt.host import xen_dt

    release = xen  # resolved at the edge
    layout = release.layout  # X.Y.Z: the point release's host-side behaviour
    facts = facts_of(layout)
    tree = xen_dt.read_host(host_dtb, host_name)
    warnings: list[str] = []
    dom, dropped, gic_host = _create_domain(tree, domain, release, facts, warnings)
    partial_dtb = None if "device-tree" in dropped else partial_dtb
    ram, shm = _allocate_memory(dom, layout, facts, warnings)
    image = _kernel(dom, kernel, kernel_name, facts, warnings)
    part = _partial(dom, partial_dtb, partial_name, tree, facts)
    _warn_gic_phandle(dom, part, facts, warnings)
    hypervisor = _wants_hypervisor(dom, facts, tree, warnings)
    regions: tuple[Range, ...] = ()
    if hypervisor:
        regions = _regions(tree, layout, dom, image.bits, partial_dtb if dom.partial else None,
                           partial_name, pa_bits, ipa_bits, iommu, warnings)
    plan = _prepare_dtb_domU(tree, layout, facts, dom, image.bits, ram, shm, part, gic_host,
                             regions if hypervisor else None)
    blob, placed, initrd = _place_modules(write(plan), dom, image, ram, part, layout, facts,
                                          warnings)
    return Dom0lessDT(xen=facts.version, domain=dom.name, blob=blob, bits=image.bits,
                      vcpus=dom.vcpus, ram=ram, regions=regions, hypervisor=hypervisor,
                      kernel=placed.kernel, dtb=Range(placed.dtb, len(blob)), initrd=initrd,
                      devices=part.devices if part else (), static_mem=dom.static_mem,
                      mapped=part.mapped if part else (), devices_mmio=_mmio(plan),
                      warnings=tuple(warnings))


def _create_domain(tree: Tree, domain: str, xen: Xen, facts: Facts,
                   warnings: list[str]) -> tuple[domains.Dom0lessDomain, set[str],
                                                 hostview.HostGic]:
    """create_domUs for one /chosen node: its configuration, the boot
    modules Xen keeps (and which it drops), domain_create's vCPU check
    against the host GIC, and construct_domU's kernel module."""
    layout = xen.layout
    _check_dom0(tree, layout, facts)
    dom = domains.read(tree, domain, xen)
    _refuse_unknown(dom)
    warnings.extend(domains.ignored_warning(dom, feature, xen.asked) for feature in dom.ignored)
    dom, dropped = bootmodules.keep(tree, dom, layout.host, layout.release, warnings)
    gic_host = hostview.gic(tree)
    _check_vcpus(dom, gic_host.version, layout.max_vcpus)
    if dom.kernel is None or not dom.kernel.size:
        raise XenFailure(f"{dom.path}: no multiboot,kernel module (Xen: \"Missing kernel boot"
                         f" module?\")")
    return dom, dropped, gic_host


def _allocate_memory(dom: domains.Dom0lessDomain, layout: Layout, facts: Facts,
                     warnings: list[str]) -> tuple[tuple[Range, ...], tuple[Range, ...]]:
    """allocate_memory's RAM banks and the static shared memory banks, with
    what each needs of Xen's build configuration."""
    ram = memory.ram_banks(dom, layout, facts)
    shm = memory.shm_banks(dom)
    if dom.static_mem:
        warnings.append(f"{dom.name}: xen,static-mem needs a Xen built with CONFIG_STATIC_MEMORY"
                        f" (UNSUPPORTED, off in the default build)")
    if shm:
        warnings.append(f"{dom.name}: static shared memory needs a Xen built with"
                        f" CONFIG_STATIC_SHM (UNSUPPORTED, off in the default build)")
    return ram, shm


def _warn_gic_phandle(dom: domains.Dom0lessDomain, part: passthrough.Partial | None,
                      facts: Facts, warnings: list[str]) -> None:
    """A partial DT whose /gic has no phandle: the versions that give the
    GIC phandle 0 then."""
    if part is not None and part.gic_phandle == 0:
        from xendt.xen import layouts

        fixed = layouts.first(lambda layout: not layout.dom0less.gic_phandle_zero)
        warnings.append(f"{dom.name}: the partial device tree's /gic has no phandle, so Xen"
                        f" {facts.version} gives the GIC phandle 0: the guest finds no interrupt"
                        f" controller (fixed in {fixed})")


def _prepare_dtb_domU(tree: Tree, layout: Layout, facts: Facts, dom: domains.Dom0lessDomain,
                      bits: int, ram: tuple[Range, ...], shm: tuple[Range, ...],
                      part: passthrough.Partial | None, gic_host: hostview.HostGic,
                      regions: tuple[Range, ...] | None) -> Plan:
    """What prepare_dtb_domU writes, from the domain, the host facts it
    copies and the layout (regions None: no /hypervisor node)."""
    direct = dom.direct_map and bool(dom.static_mem)
    cpu_compatible, cpu_clock = hostview.cpu(tree)
    grant = layout.region("grant-table")
    return Plan(
        facts=facts,
        bootargs=dom.bootargs,
        initrd_placeholders=facts.initrd_from_kernel or bool(dom.ramdisk and dom.ramdisk.size),
        cpu_compatible=cpu_compatible, cpu_clock=cpu_clock, vcpus=dom.vcpus, bits=bits,
        ram=ram, shm=tuple(zip(shm, (s.shm_id for s in dom.shm))),
        partial=part.nodes if part else (),
        gic=_gic(gic_host, layout, direct, dom.vcpus,
                 part.gic_phandle if part and part.gic_phandle is not None
                 else layout.gic_phandle),
        timer_clock=hostview.timer_frequency(tree),
        vpl011=_vpl011(dom, tree, layout, direct) if dom.vpl011 else None,
        hypervisor=(Range(grant.base, grant.size), regions) if regions is not None else None,
        evtchn_ppi=layout.irqs.event_channel,
        timer_ppis=(layout.irqs.timer_phys_secure, layout.irqs.timer_phys_nonsecure,
                    layout.irqs.timer_virt),
        buffer=_buffer(facts, dom))


def _place_modules(blob: bytes, dom: domains.Dom0lessDomain, image: modules.Kernel,
                   ram: tuple[Range, ...], part: passthrough.Partial | None, layout: Layout,
                   facts: Facts, warnings: list[str]
                   ) -> tuple[bytes, modules.Placement, Range | None]:
    """place_modules after fdt_finish: the kernel, initrd and DTB in the
    first bank, the initrd's addresses filled into /chosen, and what the
    partial DT's mappings overlap of them."""
    ramdisk = dom.ramdisk.size if dom.ramdisk else 0
    placed = modules.place(image, ram[0], len(blob), ramdisk, facts)
    initrd = None
    if ramdisk:
        initrd = Range(placed.initrd, ramdisk)
        blob = fill_initrd(blob, initrd.base, initrd.end)
    if part is not None:
        loads = (placed.kernel, initrd, Range(placed.dtb, len(blob)))
        notes = passthrough.over_ram(part, ram, loads, layout.host.load_panics, dom.name)
        warnings.extend(f"{dom.name}: {note}" for note in (*part.notes, *notes))
    return blob, placed, initrd


def _refuse_unknown(dom: domains.Dom0lessDomain) -> None:
    """What Xen refuses in the domain node as a whole (domains.read leaves
    out what the version does not read, and refuses what Xen fails on)."""
    if dom.hardware:
        raise ConfigError(f"{dom.path}: a hardware domain (capabilities) gets the host's tree as"
                          f" dom0 does, not prepare_dtb_domU's: xendt does not build it")


def _check_dom0(tree: Tree, layout, facts: Facts) -> None:
    """Up to 4.15 start_xen builds dom0 before any dom0less domain: without
    a dom0 kernel kernel_probe fails and Xen panics."""
    if facts.dom0_required and not domains.has_dom0_kernel(tree):
        from xendt.xen import layouts

        since = layouts.first(lambda later: not later.dom0less.dom0_required)
        raise XenFailure(f"{tree.file}: no dom0 kernel module under /chosen, and Xen"
                         f" {layout.release} builds dom0 before the dom0less domains (Xen:"
                         f" \"Missing kernel boot module?\", then panics"
                         f" \"{layout.host.dom0_panic.format(rc=-2)}\"); a boot without dom0"
                         f" came in {since}")


def _check_vcpus(dom: domains.Dom0lessDomain, gic: str, limits: Mapping[str, int]) -> None:
    """domain_create: 1 ≤ cpus ≤ the vGIC's limit (vgic_max_vcpus)."""
    limit = limits[gic]
    if not 1 <= dom.vcpus <= limit:
        raise XenFailure(f"{dom.path}: cpus = {dom.vcpus}; a GIC{gic} domain has 1 to {limit}"
                         f" vCPUs (Xen panics: \"Error creating domain\")")


def _kernel(dom: domains.Dom0lessDomain, data: bytes | None, name: str, facts: Facts,
            warnings: list[str]) -> modules.Kernel:
    assert dom.kernel is not None
    if data is None:
        warnings.append(f"{dom.name}: no kernel file given: assumed an arm64 Image with"
                        f" text_offset 0 of {dom.kernel.size} bytes (the module's reg)")
        return modules.assumed_kernel(dom.kernel.size)
    return modules.probe(data, dom.kernel.size, dom.kernel.address, facts, name)


def _partial(dom: domains.Dom0lessDomain, data: bytes | None, name: str, host: Tree,
             facts: Facts) -> passthrough.Partial | None:
    from xendt.fdt.read import parse

    if dom.partial is None:
        if data is not None:
            raise ConfigError(f"{dom.path} has no multiboot,device-tree module, so Xen would not"
                              f" read the partial device tree {name}")
        return None
    if data is None:
        raise ConfigError(f"{dom.path} has a partial device tree at {dom.partial.address:#x}"
                          f" ({dom.partial.size} bytes): give the file (--partial-dtb)")
    passthrough.check_module(data, name, dom.partial.size)
    return passthrough.read(parse(data, name), dom.partial.size, host, facts)


def _wants_hypervisor(dom: domains.Dom0lessDomain, facts: Facts, tree: Tree,
                      warnings: list[str]) -> bool:
    """construct_domU's reading of xen,enhanced: empty, "enabled",
    "no-xenstore" (4.21+ "legacy") give /hypervisor; those that need
    xenstore panic without a xenstore domain (dom0 until 4.20)."""
    if not facts.enhanced:
        return False
    if dom.enhanced is None:
        warnings.append(f"{dom.name}: no xen,enhanced: the domain gets no /hypervisor node"
                        f" (no grant table, event channels or extended regions)")
        return False
    value = dom.enhanced or "enabled"
    if value not in facts.enhanced:
        if value != "disabled":
            warnings.append(f"{dom.name}: xen,enhanced = {value!r} is not one Xen {facts.version}"
                            f" knows ({', '.join(facts.enhanced)}): no /hypervisor node")
        return False
    if value in facts.enhanced_needs_xenstore and not domains.has_xenstore_domain(tree, facts.version):
        needs = "dom0" if not supports(facts.version, "capabilities") else "a xenstore domain"
        raise XenFailure(f"{dom.path}: xen,enhanced = {value!r} needs {needs} for xenstore, and"
                         f" the host DT has none (Xen panics); use \"no-xenstore\"")
    return True


def _regions(tree: Tree, layout, dom: domains.Dom0lessDomain, bits: int, partial: bytes | None,
             partial_name: str, pa_bits: int | None, ipa_bits: int | None, iommu: bool | None,
             warnings: list[str]) -> tuple[Range, ...]:
    """find_domU_holes (or, direct-mapped, the host hole finders) through
    xendt.hostregions.regions, which `host-regions --domain` uses too."""
    from xendt.hostregions.domains import DomainOptions
    from xendt.hostregions.regions import compute
    from xendt.xen.address import AddressSize
    from xendt.xen.address import ipa_bits as derive_ipa

    ipa = derive_ipa(layout, AddressSize.of(pa_bits, ipa_bits))
    result = compute(tree, layout, ipa, DomainOptions(
        domain=dom.name, iommu=iommu, bits=bits, passthrough=partial,
        passthrough_name=partial_name))
    if result.failure is not None:
        raise XenFailure(f"{tree.file}: Xen {layout.release} stops at boot before building"
                         f" {dom.name}: {result.failure}")
    warnings.extend(w if w.startswith(f"{dom.name}:") else f"{dom.name}: {w}"
                    for w in result.warnings)
    return result.regions


def _gic(host: hostview.HostGic, layout, direct: bool, vcpus: int, phandle: int) -> Gic:
    """The vGIC follows the host's version (XEN_DOMCTL_CONFIG_GIC_NATIVE);
    a direct-mapped domain sits at the host's addresses (4.17+), its frames
    of the guest sizes (GUEST_GICD_SIZE, GUEST_GICC_SIZE)."""
    if host.version == "v2":
        dist, cpu = layout.region("gicv2-distributor"), layout.region("gicv2-cpu-interface")
        if direct:
            return Gic("v2", Range(host.dist, dist.size), Range(host.cpu, cpu.size), (), phandle)
        return Gic("v2", Range(dist.base, dist.size), Range(cpu.base, cpu.size), (), phandle)
    dist = layout.region("gicv3-distributor")
    if direct:
        return Gic("v3", Range(host.dist, dist.size), Range(0, 0),
                   hostview.direct_mapped_redistributors(host, vcpus), phandle)
    rdist = layout.region("gicv3-redistributor")
    return Gic("v3", Range(dist.base, dist.size), Range(0, 0),
               (Range(rdist.base, rdist.size),), phandle)


def _vpl011(dom: domains.Dom0lessDomain, tree: Tree, layout, direct: bool) -> tuple[Range, int]:
    """domain_vpl011_init: GUEST_PL011_BASE and GUEST_VPL011_SPI, or for a
    direct-mapped domain Xen's own console UART (GUEST_PL011_SIZE both)."""
    uart = layout.region("vpl011")
    if direct:
        _, mmio, irq = hostview.console_uart(tree, uart.size)
        return Range(mmio.base, uart.size), irq
    return Range(uart.base, uart.size), layout.irqs.vpl011


def _mmio(plan: Plan) -> tuple[Region, ...]:
    """The GIC frames and the vpl011 as the tree gives them, with the names
    of their layout regions."""
    gic = plan.gic
    if gic.version == "v2":
        out = [Region(gic.dist.base, gic.dist.size, name="gicv2-distributor"),
               Region(gic.cpu.base, gic.cpu.size, name="gicv2-cpu-interface")]
    else:
        out = [Region(gic.dist.base, gic.dist.size, name="gicv3-distributor")]
        out += [Region(r.base, r.size, name="gicv3-redistributor") for r in gic.redistributors]
    if plan.vpl011 is not None:
        frame = plan.vpl011[0]
        out.append(Region(frame.base, frame.size, name="vpl011"))
    return tuple(out)


def _buffer(facts: Facts, dom: domains.Dom0lessDomain) -> int:
    """fdt_create's size: DOMU_DTB_SIZE, from 4.18 plus the partial DT
    module, at most 2 MiB."""
    size = facts.dtb_size
    if facts.dtb_size_adds_module and dom.partial is not None:
        size += dom.partial.size
    return min(size, MAX_BUFFER)
