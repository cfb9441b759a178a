"""Build dom0's device tree as the Xen hypervisor writes it at boot.

prepare_dtb_hwdom (``xen/arch/arm/domain_build.c`` @ RELEASE-4.14.0 …
RELEASE-4.22.0) opens libfdt's sequential writer on a buffer of the host
blob's totalsize plus DOM0_FDT_EXTRA_SIZE, writes an empty reserve map
(the host's /memreserve/ entries are not passed on), copies the host tree
through handle_node (xendt.dom0.copy), ending the root with /hypervisor,
/psci, /cpus, dom0's /memory and a /memory for the host's reserved memory,
then packs it with fdt_finish. After place_modules, initrd_load fills the
/chosen initrd placeholders in place (``xen/arch/arm/kernel.c``).

What Xen learns from hardware or from the bootloader cannot come from the
DT and is given: dom0's RAM banks (Xen's allocator, printed "BANK[n]"), the
grant table (Xen's own load address, "Grant table range"), and GICv2m SPI
ranges the frames' registers hold.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from xendt.dom0 import copy, inputs, memory
from xendt.dom0 import gic as gic_node
from xendt.dom0less import hostview, modules
from xendt.dom0less.nodes import Gic, Plan, fill_initrd, nodes
from xendt.domu.facts import Facts as Dom0lessFacts
from xendt.domu.facts import facts_of as dom0less_facts
from xendt.errors import ConfigError, XenFailure
from xendt.fdt.tree import Tree
from xendt.fdt.write import Writer
from xendt.host import bootinfo, firmware, iommu, xen_dt
from xendt.host import libxl_facts as facts
from xendt.hostregions import regions
from xendt.hostregions.domains import DomainOptions
from xendt.ranges import Range
from xendt.xen import address
from xendt.xen.context import Xen
from xendt.xen.layout import Layout
from xendt.xen.rules import Dom0Rules


@dataclass(frozen=True)
class Dom0DT:
    """dom0's device tree and what decided it.

    xen:
      the release ("4.17.7").
    blob:
      the DTB, exactly as Xen writes it.
    ram, grant_table, regions:
      dom0's banks, grant table and extended regions (/hypervisor reg).
    ipa_bits, vcpus, bits:
      the IPA size, vCPU count and 64/32-bit dom0.
    kernel, dtb, initrd:
      where Xen loads them (initrd None without a ramdisk).
    bootargs:
      dom0's /chosen bootargs, or None.
    warnings:
      what Xen warns about, and what xendt assumed.
    """

    xen: str
    blob: bytes
    ram: tuple[Range, ...]
    grant_table: Range
    regions: tuple[Range, ...]
    ipa_bits: int
    vcpus: int
    bits: int
    kernel: Range
    dtb: Range
    initrd: Range | None
    bootargs: str | None
    warnings: tuple[str, ...] = ()


def build(host_dtb: bytes, xen: Xen, *, dom0_mem: tuple[Range, ...], gnttab: Range,
          pa_bits: int | None = None, ipa_bits: int | None = None,
          xen_cmdline: str | None = None, kernel: bytes | None = None,
          v2m_spis: tuple[tuple[int, int], ...] = (), host_name: str = "host.dtb",
          boot: memory.Boot | None = None) -> Dom0DT:
    """dom0's DTB as Xen `xen` writes it from `host_dtb`, with dom0's RAM
    banks and grant table as that boot's console printed them. XenFailure
    where Xen fails to build dom0, with Xen's message."""
    layout = xen.layout
    rules = layout.dom0
    if rules is None:
        raise ConfigError(f"xendt has no [dom0] rules for Xen {layout.version}")
    dom0_mem = tuple(sorted(dom0_mem, key=lambda r: r.base))
    if not dom0_mem and boot is None:
        raise ConfigError("dom0's RAM banks are needed (--dom0-mem BASE:SIZE[,...]: Xen's"
                          " console prints them as BANK[n]), or where the bootloader put"
                          " Xen and the host DTB to predict them")
    tree = firmware.prepare(host_dtb, host_name, firmware.Firmware(), layout.host)
    ipa = address.ipa_bits(layout, address.AddressSize.of(pa_bits, ipa_bits))
    cmdline = _xen_cmdline(tree, xen_cmdline, layout)
    predicted: tuple[str, ...] = ()
    given = inputs.read(tree, cmdline, rules.uart_compatibles)
    dfacts = dom0less_facts(layout)
    image = (modules.probe(kernel, given.kernel.reg.size, given.kernel.reg.base, dfacts,
                           "the kernel") if kernel is not None
             else modules.assumed_kernel(given.kernel.reg.size))
    if not dom0_mem:
        assert boot is not None
        dom0_mem, predicted = _allocate_memory(tree, layout, cmdline, boot, image.bits)
    found = regions.compute(tree, layout, ipa, DomainOptions(
        dom0_ram=dom0_mem, grant_table=gnttab, cmdline=_regions_cmdline(cmdline, xen_cmdline),
        bits=image.bits))
    if found.failure is not None:
        raise XenFailure(f"{tree.file}: Xen {layout.release} fails: {found.failure}")
    info = bootinfo.boot_info(tree, layout.host)
    _refuse_unwritten(tree, layout, info, cmdline)
    plan = _plan(tree, layout, given, image.bits, dom0_mem, gnttab, found)
    size = (int.from_bytes(host_dtb[4:8], "big") + rules.fdt_extra_size
            + rules.fdt_extra_per_bank * layout.host.max)
    warnings: list[str] = [*predicted, *found.warnings]
    blob = _write(tree, rules, plan, given, v2m_spis, _reserved(info, rules), layout, size,
                  warnings)
    blob, place, initrd = _place_modules(blob, image, dom0_mem[0], given, dfacts)
    if image.assumed:
        warnings.append("no --kernel given: an arm64 Image with text_offset 0 was assumed for"
                        " the kernel and initrd placement")
    return Dom0DT(xen=layout.release, blob=blob, ram=dom0_mem, grant_table=gnttab,
                  regions=found.regions, ipa_bits=ipa, vcpus=plan.vcpus, bits=image.bits,
                  kernel=place.kernel, dtb=Range(place.dtb, len(blob)), initrd=initrd,
                  bootargs=_chosen_bootargs(blob), warnings=tuple(warnings))


def _allocate_memory(tree: Tree, layout: Layout, cmdline: iommu.Cmdline, boot: memory.Boot,
                     bits: int) -> tuple[tuple[Range, ...], tuple[str, ...]]:
    """dom0's RAM banks as allocate_memory(_11) gives them on this boot
    (none given), with what the prediction assumed."""
    guess = memory.predict(tree, layout, cmdline.text, cmdline.source or "Xen's command"
                           " line", boot, bits)
    return guess.banks, guess.warnings


def _refuse_unwritten(tree: Tree, layout: Layout, info: bootinfo.BootInfo,
                      cmdline: iommu.Cmdline) -> None:
    """What Xen adds to dom0's tree that xendt does not write."""
    if any(s.owner == "/chosen" for s in info.shm):
        raise ConfigError(f"{tree.file}: dom0 has static shared memory, which Xen"
                          f" {layout.release} maps and describes in dom0's /reserved-memory"
                          f" (process_shm, make_resv_memory_node); xendt does not write that"
                          f" yet")
    if inputs.option(cmdline.text, "pci-passthrough") in ("", "1", "on", "yes", "true",
                                                         "enable"):
        raise ConfigError(f"pci-passthrough on Xen's command line ({cmdline.source}): xendt"
                          f" does not write the linux,pci-domain Xen then adds to host bridges")


def _place_modules(blob: bytes, image: modules.Kernel, bank0: Range, given: inputs.Inputs,
                   dfacts: Dom0lessFacts) -> tuple[bytes, modules.Placement, Range | None]:
    """place_modules: kernel, initrd and DTB in dom0's first bank, the
    initrd's addresses filled into /chosen."""
    initrd_size = given.ramdisk.reg.size if given.ramdisk else 0
    place = modules.place(image, bank0, len(blob), initrd_size, dfacts)
    initrd = Range(place.initrd, initrd_size) if given.ramdisk and initrd_size else None
    if initrd is not None:
        blob = fill_initrd(blob, initrd.base, initrd.end)
    return blob, place, initrd


def _xen_cmdline(tree: Tree, given: str | None, layout: Layout) -> iommu.Cmdline:
    """Xen's command line (boot_fdt_cmdline, xen/arch/arm/bootfdt.c @
    RELEASE-4.17.0): --xen-cmdline, else /chosen xen,xen-bootargs, else
    /chosen bootargs when dom0 has its own (xen,dom0-bootargs, or the kernel
    module's bootargs)."""
    found = iommu.from_host(tree, given, uefi=False, efi_dt_bootargs=layout.host.efi_dt_bootargs)
    chosen = tree.node("/chosen")
    if found.source or chosen is None or chosen.get("bootargs") is None:
        return found
    kernel, _ = inputs.modules(tree)
    if chosen.get("xen,dom0-bootargs") is not None or kernel.bootargs:
        return iommu.parse(chosen.string("bootargs") or "", f"{tree.file}: /chosen bootargs")
    return found


def _regions_cmdline(cmdline: iommu.Cmdline, given: str | None) -> str | None:
    """The command line the extended-region search is given: None where it
    is /chosen xen,xen-bootargs, which it reads (and names) itself."""
    if given is None and cmdline.source.endswith("/chosen xen,xen-bootargs"):
        return None
    return cmdline.text if cmdline.source else None


def _plan(tree: Tree, layout: Layout, given: inputs.Inputs, bits: int,
          ram: tuple[Range, ...], gnttab: Range, found: regions.HostRegions) -> Plan:
    """The shared node makers' inputs for dom0: the host CPU, timer PPIs and
    frequency (make_timer_node takes timer_get_irq's host PPIs for the
    hardware domain), the GIC's phandle, /hypervisor in the root's cells."""
    gic = facts.gic_node(tree)
    if gic is None:
        raise XenFailure(f"{tree.file}: Xen panics \"Unable to find compatible GIC in the"
                         f" device tree\"")
    compatible, clock = hostview.cpu(tree)
    version = hostview.gic(tree).version
    if given.vcpus > layout.max_vcpus[version]:
        raise XenFailure(f"{tree.file}: dom0 would have {given.vcpus} vCPUs, over the GIC{version}"
                         f" vGIC's {layout.max_vcpus[version]}: Xen panics \"Error creating"
                         f" domain 0\"")
    handle = gic_node.phandle(gic)
    return Plan(
        facts=dom0less_facts(layout), bootargs=None, initrd_placeholders=False,
        cpu_compatible=compatible, cpu_clock=clock, vcpus=given.vcpus, bits=bits, ram=ram,
        shm=(), partial=(), gic=Gic(version, Range(0, 0), Range(0, 0), (), handle),
        timer_clock=hostview.timer_frequency(tree), vpl011=None,
        hypervisor=(gnttab, found.regions), evtchn_ppi=found.interrupt,
        timer_ppis=_timer_ppis(tree), buffer=0, cells=xen_dt.child_cells(tree, tree.root))


def _timer_ppis(tree: Tree) -> tuple[int, int, int]:
    """timer_get_irq: the host timer's secure, non-secure and virtual
    interrupts (its first three `interrupts` specifiers)."""
    node = facts.timer_node(tree)
    cells = xen_dt.cells_of(node.get("interrupts") or b"") if node is not None else []
    ids = [cells[i + 1] + (16 if cells[i] == 1 else 32) for i in range(0, len(cells) - 2, 3)]
    if len(ids) < 3:
        raise XenFailure(f"{tree.file}: the timer node has fewer than 3 interrupts (Xen panics"
                         f" \"Timer: Unable to retrieve IRQ\")")
    return ids[0], ids[1], ids[2]


def _write(tree: Tree, rules: Dom0Rules, plan: Plan, given: inputs.Inputs,
           v2m_spis: tuple[tuple[int, int], ...], reserved: tuple[Range, ...],
           layout: Layout, size: int, warnings: list[str]) -> bytes:
    """prepare_dtb_hwdom's sequential writes on a `size`-byte buffer, packed
    (Xen's warnings added to `warnings`)."""
    w = Writer(size, overflow=XenFailure(
        f"{tree.file}: dom0's device tree does not fit Xen's {size}-byte buffer (the host DT's"
        f" totalsize + DOM0_FDT_EXTRA_SIZE): Xen prints \"Device tree generation failed\" and"
        f" panics \"Could not set up DOM0 guest OS\""))

    def tail(w: Writer) -> None:
        for part in ("hypervisor", "psci", "cpus", "memory"):
            w.node(*nodes(plan, part))
        if reserved:
            w.node(*nodes(replace(plan, ram=reserved), "memory"))

    gic = facts.gic_node(tree)
    assert gic is not None  # _plan refused a host without one
    known = frozenset(c for d in layout.iommu_drivers if d.default for c in d.compatibles)
    walk = copy.Copy(tree, rules, plan, gic, given.console, known, given.kernel.bootargs,
                     given.ramdisk is not None and given.ramdisk.reg.size > 0, v2m_spis, tail,
                     blacklist(tree, rules))
    walk.node(w, tree.root)
    warnings.extend(walk.warnings)
    return bytes(w.finish())


def blacklist(tree: Tree, rules: Dom0Rules) -> frozenset[str]:
    """The blacklist of the first platform whose compatibles the root's
    match (platform_init, dt_machine_is_compatible)."""
    for platforms, names in rules.blacklists:
        if any(tree.root.is_compatible(p) for p in platforms):
            return frozenset(names)
    return frozenset()


def _reserved(info: bootinfo.BootInfo, rules: Dom0Rules) -> tuple[Range, ...]:
    """make_memory_node over bootinfo.reserved_mem: named after the first
    bank [dom0] memory-first picks, then every later bank but the kinds of
    [dom0] memory-skip."""
    kinds = [_kind(bank) for bank in info.reserved]
    first = {"any": lambda k: True, "not-static-domain": lambda k: k != "static-domain",
             "default": lambda k: k == "default"}[rules.memory_first]
    start = next((i for i, k in enumerate(kinds) if first(k)), None)
    if start is None:
        return ()
    return tuple(Range(b.base, b.size) for b, k in zip(info.reserved[start:], kinds[start:])
                 if k not in rules.memory_skip)


def _kind(bank: bootinfo.Bank) -> str:
    """The membank type Xen gives a reserved bank, from where it came."""
    if bank.source.startswith("/memreserve/"):
        return "fdt-resvmem"
    if " xen,static-mem[" in bank.source or " xen,shared-mem" in bank.source:
        return "static-domain"
    if " xen,static-heap[" in bank.source:
        return "static-heap"
    return "default"


def _chosen_bootargs(blob: bytes) -> str | None:
    from xendt.fdt.read import parse

    chosen = parse(blob).node("/chosen")
    return chosen.string("bootargs") if chosen is not None else None
