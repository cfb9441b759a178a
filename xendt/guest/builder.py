"""Building a guest's device tree the way libxl does, start to finish.

The order follows xl create on an Arm host: libxl checks the configuration
and allocates virtio-mmio slots, builds the tree with placeholders, hands
its size to libxenguest (which splits the RAM and places kernel, ramdisk
and DTB), then finalises the blob in place: initrd addresses, the
/hypervisor reg with the extended regions, the memory nodes and the ACPI
module.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from xendt.fdt import blob
from xendt.xen import address, layouts
from xendt.guest import memory, regions, tree
from xendt.guest.partial import read_partial
from xendt.errors import ConfigError
from xendt.guest.model import GuestConfig, Host, MemoryMap, VirtioSlot
from xendt.xen.layout import Layout
from xendt.ranges import Range

RNG_SEED_SIZE = 128


@dataclass(frozen=True)
class GuestDT:
    """A built guest device tree.

    dtb:
      the blob exactly as libxl hands it to the guest (totalsize bytes,
      including any stale tail).
    memory_map:
      the computed address map behind it.
    warnings:
      what libxl would log as warnings (e.g. no extended region fits).
    host:
      the Host it was built for, with its Xen version resolved.
    """

    dtb: bytes
    memory_map: MemoryMap
    warnings: tuple[str, ...] = ()
    host: Host = Host()


def build(guest: GuestConfig, host: Host = Host()) -> GuestDT:
    """The device tree Xen `host.version`'s libxl builds for `guest`."""
    layout = layouts.load(host.version)
    ipa = address.ipa_bits(layout, host.address)
    gic = host.gic if guest.gic_version == "default" else guest.gic_version
    check(layout, guest, gic)
    if guest.acpi and not host.acpi_size:
        raise ConfigError("acpi: the ACPI module's size depends on the DSDT compiled into libxl;"
                          " give it with --acpi-size (see LIBXL_DEBUG_DUMP_DTB)")
    slots = virtio_slots(layout, guest)
    ram = memory.split_ram(layout, guest.memory_mib)
    partial = read_partial(guest.partial_dtb, guest.partial_dtb_name) \
        if guest.partial_dtb is not None else ()

    root = tree.guest_tree(layout, guest, gic=gic, clock_frequency=host.clock_frequency,
                           rng_seed=rng_seed(host.rng_seed), virtio=slots, partial=partial)
    dtb = blob.write(root, layout.fdt_max_size)
    segments = memory.place_modules(layout, ram[0], guest.kernel, guest.ramdisk_size, len(dtb))
    extended = regions.extended_regions(layout, ram, ipa, guest.iomem)

    # libxl__arch_domain_finalise_hw_description, in its order.
    ramdisk = next((s for s in segments if s.name == "ramdisk"), None)
    if ramdisk is not None:
        blob.set_property(dtb, "/chosen", "linux,initrd-start", tree.u64(ramdisk.base))
        blob.set_property(dtb, "/chosen", "linux,initrd-end", tree.u64(ramdisk.end))
    grant = layout.region("grant-table")
    if layout.ext_scheme != "none":
        pairs = [(grant.base, grant.size)] + [(r.base, r.size) for r in extended]
        blob.set_property(dtb, "/hypervisor", "reg", tree.regs(*pairs))
    for bank, size in zip(layout.banks, ram):
        path = f"/memory@{bank.base:x}"
        if size:
            blob.set_property(dtb, path, "reg", tree.regs((bank.base, size)))
        else:
            blob.nop_node(dtb, path)
    if guest.acpi:
        acpi = layout.region("acpi")
        blob.set_property(dtb, f"/chosen/module@{acpi.base:x}", "reg",
                          tree.regs((acpi.base, host.acpi_size)))

    warnings = []
    if layout.ext_scheme != "none" and not extended:
        warnings.append("the extended regions cannot be allocated, not enough space"
                        " (libxl warns the same; /hypervisor reg holds the grant table only)")
    devices = tuple(r for r in layout.regions if _described(r.name, layout, guest, gic))
    mmap = MemoryMap(
        xen=layout.version, ipa_bits=ipa, guest_bits=guest.kernel.bits,
        ram=tuple(Range(bank.base, size) for bank, size in zip(layout.banks, ram)),
        segments=segments, grant_table=Range(grant.base, grant.size),
        extended_regions=extended, devices=devices, virtio=slots)
    return GuestDT(dtb=bytes(dtb), memory_map=mmap, warnings=tuple(warnings))


def check(layout: Layout, guest: GuestConfig, gic: str) -> None:
    """Refuse what this Xen's xl, libxl or hypervisor would refuse."""
    v = layout.version
    if gic not in ("v2", "v3"):
        raise ConfigError(f"gic_version {gic!r}: expected v2, v3 or default")
    limit = layout.max_vcpus[gic]
    if not 1 <= guest.max_vcpus <= limit:
        raise ConfigError(f"maxvcpus {guest.max_vcpus}: a GIC{gic} guest has 1 to {limit} vCPUs")
    if guest.tee not in layout.tee:
        raise ConfigError(f"tee {guest.tee!r}: Xen {v} accepts {', '.join(layout.tee)}")
    if guest.disks and not layout.virtio_disks:
        raise ConfigError(f"disk specification=virtio: virtio-mmio disks need Xen 4.17 or later,"
                          f" not {v}")
    if guest.virtio and not layout.virtio_devices:
        raise ConfigError(f"virtio: virtio devices need Xen 4.18 or later, not {v}")
    if guest.pci_devices and not layout.vpci:
        raise ConfigError(f"pci: Arm guests get vPCI from Xen 4.16 on, not {v}")
    for device in guest.virtio:
        if not device.type.startswith("virtio,device"):
            raise ConfigError(f"virtio type {device.type!r}: expected virtio,device<ID>")
    if guest.acpi and guest.kernel.arch == "arm32":
        raise ConfigError("acpi: libxl supports ACPI for 64-bit guests only")
    if guest.ramdisk_size is not None and guest.kernel.size == 0:
        raise ConfigError("ramdisk: its address depends on the kernel's size;"
                          " give the kernel file or its size")
    top = 1 << 64
    for r in guest.iomem:
        if r.pages <= 0 or (r.guest_frame + r.pages) * layout.page_size > top:
            raise ConfigError(f"iomem {r.start:x},{r.pages:x}: the range does not fit in 64 bits")


def virtio_slots(layout: Layout, guest: GuestConfig) -> tuple[VirtioSlot, ...]:
    """MMIO window and SPI for each virtio-mmio device, disks first, as
    libxl__arch_domain_prepare_config allocates them."""
    devices = [("disk", i) for i in range(len(guest.disks))]
    devices += [("virtio", i) for i, d in enumerate(guest.virtio) if d.transport == "mmio"]
    if not devices:
        _check_nr_spis(layout, guest, 0)
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
                              f" SPIs ({first}-{last}) are reserved for them")
        slots.append(VirtioSlot(base, size, spi=spi, kind=kind, index=index))
    _check_nr_spis(layout, guest, slots[-1].spi)
    return tuple(slots)


def _check_nr_spis(layout: Layout, guest: GuestConfig, highest_virtio_spi: int) -> None:
    if guest.nr_spis is None or not layout.nr_spis_strict:
        return
    needed = 0
    if guest.vuart:
        needed = layout.irqs.vpl011 - 32 + 1
    if highest_virtio_spi:
        needed = max(needed, highest_virtio_spi - 32 + 1)
    if guest.nr_spis < needed:
        raise ConfigError(f"nr_spis {guest.nr_spis} is too small: the guest's devices need"
                          f" {needed} (Xen {layout.version} rejects it)")


def rng_seed(seed: bytes | None) -> bytes:
    """The /chosen rng-seed: random like libxl unless given; b"" for none."""
    if seed is None:
        return os.urandom(RNG_SEED_SIZE)
    if seed and len(seed) != RNG_SEED_SIZE:
        raise ConfigError(f"rng-seed: libxl writes {RNG_SEED_SIZE} bytes, got {len(seed)}")
    return seed


def _described(name: str, layout: Layout, guest: GuestConfig, gic: str) -> bool:
    """Whether layout region `name` appears in this guest's DT."""
    if name.startswith("gic"):
        return name.startswith(f"gic{gic}")
    return {
        "vpl011": guest.vuart,
        "acpi": guest.acpi,
        "vpci-ecam": bool(guest.pci_devices), "vpci-mem": bool(guest.pci_devices),
        "vpci-prefetch-mem": bool(guest.pci_devices),
        "grant-table": True,
    }.get(name, False)
