"""Building a guest's device tree the way libxl does, start to finish.

The order follows xl create on an Arm host: libxl checks the configuration
and allocates virtio-mmio slots, builds the tree with placeholders, hands
its size to libxenguest (which splits the RAM and places kernel, ramdisk
and DTB), then finalises the blob in place: initrd addresses, the
/hypervisor reg with the extended regions, the memory nodes and the ACPI
module.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from xendt.errors import BuildError, ConfigError
from xendt.fdt import write as fdt_write
from xendt.guest import memory, regions, tree, validate
from xendt.guest.model import GuestConfig, Host, MemoryMap, Segment, VirtioSlot
from xendt.ranges import Range, Region
from xendt.xen import address, layouts
from xendt.xen.context import Xen
from xendt.xen.layout import Layout

if TYPE_CHECKING:
    from xendt.notices import Notice

RNG_SEED_SIZE = validate.RNG_SEED_SIZE
#: The first buffer size tried. libxl starts at 4 KiB and doubles it each
#: time libfdt runs out of room (libxl__prepare_dtb); the size never changes
#: the bytes, only how often the build restarts.
START_SIZE = 16384


@dataclass(frozen=True)
class GuestDT:
    """A built guest device tree.

    dtb:
      the blob exactly as libxl hands it to the guest (totalsize bytes,
      including any stale tail).
    memory_map:
      the computed address map behind it.
    warnings:
      what xl, libxl (or Xen, for dom0less and dom0) would log as warnings
      (e.g. no extended region fits): xendt.Notice lines from the API.
    host:
      the Host it was built for, with its Xen version resolved.
    inputs:
      the names of what it was built from (an xl.cfg's path, a host DTB's).
    explain:
      where each extended region comes from (xendt.build(explain=True)).
    """

    dtb: bytes
    memory_map: MemoryMap
    warnings: tuple[Notice, ...] = ()
    host: Host = field(default_factory=Host)
    inputs: tuple[str, ...] = ()
    explain: tuple[str, ...] = ()

    def text(self) -> str:
        """The tree as DTS, as `xendt build --format dts` prints it."""
        from xendt.fdt.dts import to_dts

        return to_dts(self.dtb)

    def to_dict(self) -> dict[str, Any]:
        """The "xendt.build/1" document: what `xendt build --format json` prints."""
        from dataclasses import asdict

        from xendt.documents import envelope, plain

        return envelope("build", self.memory_map.xen, self.inputs, self.warnings, "libxl",
                        {"memory_map": plain(asdict(self.memory_map)),
                         "explain": list(self.explain)})

    def to_json(self) -> str:
        """to_dict() as the text `xendt build --format json` prints."""
        from xendt.documents import document

        return document(self.to_dict())


def _buffer(layout: Layout) -> fdt_write.Buffer:
    """libxl__prepare_dtb's buffer: doubled on running out of room, up to
    FDT_MAX_SIZE."""
    limit = layout.fdt_max_size
    return fdt_write.Buffer(min(START_SIZE, limit), limit, BuildError(
        f"the device tree does not fit libxl's {limit}-byte limit (FDT_MAX_SIZE)"))


def build(guest: GuestConfig, host: Host | None = None, *, xen: Xen) -> GuestDT:
    """The device tree Xen `host.xen`'s libxl builds for `guest`
    (default host: the newest Xen, a 40-bit PA host). `xen`: host.xen
    resolved at the edge (xendt.xen.context.resolve)."""
    host = host or Host()
    layout = xen.layout
    ipa = address.ipa_bits(layout, host.address)
    gic = host.gic if guest.gic_version == "default" else guest.gic_version
    warnings = check(layout, guest, gic, host)
    if guest.max_vcpus < 1:  # one vCPU: see _check_vcpus (or a negative count refused)
        guest = replace(guest, max_vcpus=1)
    if guest.acpi:
        _check_acpi_size(layout, host.acpi_size)
    slots = virtio_slots(layout, guest, warnings)
    ram = memory.split_ram(layout, guest.memory_mib)
    warnings += memory.beyond_ipa(layout, ram, ipa)
    warnings += _iomem_warnings(layout, guest, gic, ram, ipa)
    root = tree.guest_tree(layout, guest, gic=gic, clock_frequency=host.clock_frequency,
                           rng_seed=rng_seed(host.rng_seed), virtio=slots,
                           partial=_partial(guest))
    dtb = fdt_write.write(root, _buffer(layout))
    segments = memory.place_modules(layout, ram[0], guest.kernel, guest.ramdisk_size, len(dtb))
    extended = regions.extended_regions(layout, ram, ipa, guest.iomem)
    _finalise_hw_description(layout, dtb, segments, ram, extended,
                             (host.acpi_size or 0) if guest.acpi else None)
    grant = layout.region("grant-table")
    if layout.ext_scheme != "none" and not extended:
        warnings.append("the extended regions cannot be allocated, not enough space"
                        " (libxl warns the same; /hypervisor reg holds the grant table only)")
    devices = _described(layout, guest, gic)
    mmap = MemoryMap(
        xen=layout.version, ipa_bits=ipa, guest_bits=guest.kernel.bits,
        ram=tuple(Range(bank.base, size) for bank, size in zip(layout.banks, ram)),
        segments=segments, grant_table=Range(grant.base, grant.size),
        extended_regions=extended, devices=devices, virtio=slots)
    built_for = host if host.xen is not None else _resolved(host, xen.asked)
    if warnings:  # xendt.notices only when there are some: start-up
        from xendt.notices import notices

        return GuestDT(dtb=bytes(dtb), memory_map=mmap, warnings=notices(warnings, "libxl"),
                       host=built_for)
    return GuestDT(dtb=bytes(dtb), memory_map=mmap, host=built_for)


def _partial(guest: GuestConfig) -> tuple[tree.Node, ...]:
    """The nodes of the guest's partial device tree (device_tree=), if any."""
    if guest.partial_dtb is None:
        return ()
    from xendt.guest.partial import read_partial  # the reader only when needed: start-up

    return read_partial(guest.partial_dtb, guest.partial_dtb_name)


def _finalise_hw_description(layout: Layout, dtb: bytearray, segments: tuple[Segment, ...],
                             ram: tuple[int, int], extended: tuple[Range, ...],
                             acpi_size: int | None) -> None:
    """libxl__arch_domain_finalise_hw_description, in its order, on the
    built blob: the initrd addresses, /hypervisor's reg (grant table, then
    the extended regions), each memory node's reg (an empty bank's node
    NOPed out) and the ACPI module's reg (acpi_size None: no ACPI)."""
    ramdisk = next((s for s in segments if s.name == "ramdisk"), None)
    if ramdisk is not None:
        fdt_write.set_property(dtb, "/chosen", "linux,initrd-start", tree.u64(ramdisk.base))
        fdt_write.set_property(dtb, "/chosen", "linux,initrd-end", tree.u64(ramdisk.end))
    if layout.ext_scheme != "none":
        grant = layout.region("grant-table")
        pairs = [(grant.base, grant.size)] + [(r.base, r.size) for r in extended]
        fdt_write.set_property(dtb, "/hypervisor", "reg", tree.regs(*pairs))
    for bank, size in zip(layout.banks, ram):
        path = f"/memory@{bank.base:x}"
        if size:
            fdt_write.set_property(dtb, path, "reg", tree.regs((bank.base, size)))
        else:
            fdt_write.nop_node(dtb, path)
    if acpi_size is not None:
        acpi = layout.region("acpi")
        fdt_write.set_property(dtb, f"/chosen/module@{acpi.base:x}", "reg",
                               tree.regs((acpi.base, acpi_size)))


def check(layout: Layout, guest: GuestConfig, gic: str, host: Host | None = None) -> list[str]:
    """Refuse what this Xen's xl, libxl or hypervisor would refuse (the
    message quotes Xen's, which a release build of Xen may print only as
    xl's "domain creation fail: Invalid argument"); return warnings for
    what it accepts but the guest cannot use."""
    v = layout.version
    warnings: list[str] = []
    if gic == "v3" and host is not None and host.gic == "v2":
        # vgic_v3_init, xen/arch/arm/vgic-v3.c @ RELEASE-4.14.0 … 4.22.0
        raise ConfigError(f"gic_version v3 on a GICv2 host: Xen {v} refuses it (\"vGICv3 is not"
                          " supported on this platform.\"; xl: \"domain creation fail: No such"
                          " device\")")
    warnings += _check_vcpus(layout, guest, gic)
    if guest.tee not in layout.tee:
        raise ConfigError(f"tee {guest.tee!r}: Xen {v} accepts {', '.join(layout.tee)}")
    if guest.disks and not layout.virtio_disks:
        raise ConfigError(f"disk specification=virtio: virtio-mmio disks need Xen"
                          f" {layouts.first(lambda later: later.virtio_disks)} or later, not {v}")
    if guest.virtio and not layout.virtio_devices:
        raise ConfigError(f"virtio: virtio devices need Xen"
                          f" {layouts.first(lambda later: later.virtio_devices)} or later, not {v}")
    if guest.pci_devices and not layout.vpci:
        raise ConfigError(f"pci: Arm guests get vPCI from Xen"
                          f" {layouts.first(lambda later: later.vpci)} on, not {v}")
    for device in guest.virtio:
        if not device.type.startswith("virtio,device"):
            raise ConfigError(f"virtio type {device.type!r}: expected virtio,device<ID>"
                              f" (libxl: \"Invalid type for virtio device: {device.type}\")")
    if guest.acpi and guest.kernel.arch == "arm32":
        raise ConfigError("acpi: libxl supports ACPI for 64-bit guests only (\"Can not enable"
                          " libxl option 'acpi' for xen-3.0-armv7l\")")
    if guest.ramdisk_size is not None and guest.kernel.size == 0:
        raise ConfigError("ramdisk: its address depends on the kernel's size;"
                          " give the kernel file or its size")
    top = 1 << 64
    for r in guest.iomem:  # the model checks each number; this, the range at this page size
        if (r.guest_frame + r.pages) * layout.page_size > top:
            raise ConfigError(f"iomem {r.start:x},{r.pages:x}: the range does not fit in 64 bits")
    if guest.cmdline is not None:
        warnings += cmdline_warnings(guest.cmdline, guest.kernel.arch)
    return warnings


def cmdline_warnings(cmdline: str, arch: str) -> list[str]:
    """A warning when an `arch` Linux would cut `cmdline` short (libxl has
    no limit of its own, only the tree's 1 MiB)."""
    from xendt.guest.images import command_line_cut

    length = len(cmdline.encode("utf-8", "surrogateescape"))
    cut = command_line_cut(length, arch)
    return [] if cut is None else [f"cmdline is {length} bytes; {cut}"]


def _check_vcpus(layout: Layout, guest: GuestConfig, gic: str) -> list[str]:
    """arch_sanitise_domain_config (xen/arch/arm/domain.c): at most what the
    vGIC and MAX_VIRT_CPUS allow. Below 1: as the layout's [dt]
    negative-vcpus says (tools/xl/xl_parse.c): refused when negative, 0
    made libxl's default of 1; or any count below 1 taken as 1."""
    v = layout.version
    limit = layout.max_vcpus[gic]
    n = guest.max_vcpus
    takes_one = layout.setting("dt", "negative-vcpus") == "one"
    if n < 0 and not takes_one:
        since = layouts.first(lambda later: later.setting("dt", "negative-vcpus") == "one")
        raise ConfigError(f"vcpus {n}: xl {v} refuses a negative vCPU count (libxl:"
                          " \"invalid number of cpus provided\"; xl: \"Unable to allocate"
                          f" cpumap\"); xl {since} and later take it as 1")
    if n < 1:
        how = ("xl takes a vCPU count below 1 as 1" if takes_one
               else "libxl takes 0 vCPUs as its default of 1")
        return [f"vcpus {n}: the guest gets one vCPU (Xen {v}: {how})"]
    if n > limit:
        raise ConfigError(f"maxvcpus {n}: a GIC{gic} guest has 1 to {limit} vCPUs (Xen {v}:"
                          f" \"Requested vCPUs ({n}) exceeds max ({limit})\"; xl: \"domain"
                          " creation fail: Invalid argument\")")
    return []


def _check_acpi_size(layout: Layout, size: int | None) -> None:
    if not size:
        raise ConfigError("acpi: the ACPI module's size depends on the DSDT compiled into libxl;"
                          " give it with --acpi-size (see LIBXL_DEBUG_DUMP_DTB)")
    region = layout.region("acpi")
    if not 0 < size <= region.size:
        raise ConfigError(f"--acpi-size {size}: libxl builds the ACPI tables inside the"
                          f" {region.size:#x}-byte ACPI region ({region.header})")


def _iomem_warnings(layout: Layout, guest: GuestConfig, gic: str, ram: tuple[int, int],
                    ipa: int) -> list[str]:
    """iomem= ranges Xen maps although the guest cannot use them: above the
    IPA size (only the p2m root's reach is checked), or over guest RAM or a
    region of the layout (map_mmio_regions replaces what is there)."""
    if not guest.iomem:
        return []
    warnings = []
    taken = [(f"RAM bank {i}", Range(bank.base, size))
             for i, (bank, size) in enumerate(zip(layout.banks, ram)) if size]
    taken += [(r.name, Range(r.base, r.size)) for r in _described(layout, guest, gic)]
    for r in guest.iomem:
        span = Range(r.guest_frame * layout.page_size, r.pages * layout.page_size)
        shown = f"iomem {r.start:x},{r.pages:x}" + (f"@{r.gfn:x}" if r.gfn is not None else "")
        if span.end > 1 << ipa:
            warnings.append(f"{shown}: guest range [{span.base:#x}, {span.end:#x}) is above the"
                            f" {ipa}-bit IPA space; Xen maps it, but the guest cannot reach it")
        for name, other in taken:
            if span.base < other.end and other.base < span.end:
                warnings.append(f"{shown}: guest range [{span.base:#x}, {span.end:#x}) overlaps"
                                f" {name}; Xen maps the device over it without a check")
    return warnings


def virtio_slots(layout: Layout, guest: GuestConfig,
                 warnings: list[str] | None = None) -> tuple[VirtioSlot, ...]:
    """MMIO window and SPI for each virtio-mmio device, disks first, as
    libxl__arch_domain_prepare_config allocates them; nr_spis is checked
    against them (its warnings go to `warnings`)."""
    warnings = [] if warnings is None else warnings
    devices = [("disk", i) for i in range(len(guest.disks))]
    devices += [("virtio", i) for i, d in enumerate(guest.virtio) if d.transport == "mmio"]
    if not devices:
        warnings += _check_nr_spis(layout, guest, 0)
        return ()
    window = layout.region("virtio-mmio")
    size = layout.virtio_mmio_device_size
    first, last = layout.irqs.virtio_mmio_first, layout.irqs.virtio_mmio_last
    slots = []
    for k, (kind, index) in enumerate(devices):
        base, spi = window.base + k * size, first + k
        if base + size > window.end:
            raise ConfigError(f"{len(devices)} virtio-mmio devices do not fit the"
                              f" {window.size:#x}-byte virtio-mmio window")
        if spi > last:
            raise ConfigError(f"{len(devices)} virtio-mmio devices but only {last - first + 1}"
                              f" SPIs ({first}-{last}) are reserved for them (libxl: \"Ran out"
                              f" of reserved range for Virtio MMIO IRQ {spi}\")")
        slots.append(VirtioSlot(base, size, spi=spi, kind=kind, index=index))
    warnings += _check_nr_spis(layout, guest, slots[-1].spi)
    return tuple(slots)


#: The most SPIs a domain gets: domain_vgic_init (xen/arch/arm/vgic.c @
#: RELEASE-4.19.0 … 4.22.0) rounds nr_spis up to a multiple of 32 and refuses
#: more than 1020 - 32 = 988, so 960 is the largest value accepted.
MAX_NR_SPIS = 960
#: LIBXL_NR_SPIS_DEFAULT (~0u): "compute it", from 4.21.
NR_SPIS_DEFAULT = 0xFFFFFFFF


def _check_nr_spis(layout: Layout, guest: GuestConfig, highest_virtio_spi: int) -> list[str]:
    """nr_spis as libxl__arch_domain_prepare_config takes it (libxl_arm.c):
    unknown before 4.19 (xl ignores unknown keys), raised to what the
    devices need in 4.19 and 4.20, refused below it from 4.21."""
    n, v = guest.nr_spis, layout.version
    if n is None or (layout.nr_spis_strict and n == NR_SPIS_DEFAULT):
        return []
    if not layout.nr_spis_option:
        since = layouts.first(lambda later: later.nr_spis_option)
        return [f"nr_spis {n}: xl {v} ignores this setting (it was added in Xen {since})"]
    needed = 0
    if guest.vuart:
        needed = layout.irqs.vpl011 - 32 + 1
    if highest_virtio_spi:
        needed = max(needed, highest_virtio_spi - 32 + 1)
    if n > MAX_NR_SPIS:
        raise ConfigError(f"nr_spis {n}: Xen {v} accepts at most {MAX_NR_SPIS} SPIs (it rounds"
                          " up to a multiple of 32 and refuses more than 988); xl: \"domain"
                          " creation fail: Invalid argument\"")
    if n >= needed:
        return []
    if not layout.nr_spis_strict:
        return [f"nr_spis {n} is below the {needed} SPIs the guest's devices need; libxl {v}"
                f" raises it to {needed} without a word"]
    raise ConfigError(f"nr_spis {n} is too small: the guest's devices need {needed} (Xen {v}"
                      f" rejects it: \"Provided nr_spis value is too small (minimum required"
                      f" {needed})\")")


def rng_seed(seed: bytes | None) -> bytes:
    """The /chosen rng-seed: random like libxl unless given; b"" for none."""
    if seed is None:
        return os.urandom(RNG_SEED_SIZE)
    return seed  # its length: checked by the model (Host)


@functools.lru_cache(maxsize=64)
def _resolved(host: Host, asked: str) -> Host:
    """`host` with its Xen version filled in (image builders build many
    guests for one host: made once)."""
    return replace(host, xen=asked)


def _described(layout: Layout, guest: GuestConfig, gic: str) -> tuple[Region, ...]:
    """The layout regions this guest's DT describes: its vGIC's parts, the
    grant table, and the vUART, ACPI and vPCI windows it has."""
    wanted = {"vpl011": guest.vuart, "acpi": guest.acpi,
              "vpci-ecam": bool(guest.pci_devices), "vpci-mem": bool(guest.pci_devices),
              "vpci-prefetch-mem": bool(guest.pci_devices), "grant-table": True}
    prefix = f"gic{gic}"
    return tuple(r for r in layout.regions
                 if (r.name.startswith(prefix) if r.name.startswith("gic")
                     else wanted.get(r.name, False)))
