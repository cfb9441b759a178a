"""The guest as libxl sees it, the host facts that decide its device tree,
and the memory map computed for it.

Everything here is a frozen dataclass. The configuration comes from an
xl.cfg file (xendt.guest.xlcfg), CLI flags, JSON (xendt.guest.jsonio) or
the Python API, and is checked when made, the same way for every route
(xendt.guest.validate); the memory map comes from xendt.guest.memory and
xendt.guest.regions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xendt.guest import validate
from xendt.ranges import Range, Region
from xendt.xen.address import AddressSize


@dataclass(frozen=True)
class Kernel:
    """The guest kernel as libxenguest sees it.

    arch:
      "arm64" (Image) or "arm32" (zImage); decides the guest's compatibles.
    size:
      bytes loaded: the file size, or for a gzip-compressed Image the size
      libxenguest assumes (the gzip trailer's length + 16).
    text_offset:
      the arm64 Image header's text_offset (0 for arm32).
    """

    arch: str = "arm64"
    size: int = 0
    text_offset: int = 0


    def __post_init__(self) -> None:
        validate.kernel(self)

    @property
    def bits(self) -> int:
        return 32 if self.arch == "arm32" else 64


@dataclass(frozen=True)
class VirtioDisk:
    """A disk= entry with specification=virtio (a virtio-mmio block device).

    vdev:
      the xl virtual device name, for messages.
    backend_domid:
      the backend domain; non-zero means a driver domain.
    grant_usage:
      explicit grant_usage (4.19+ disk option), or None for libxl's default
      (grants when the backend is not dom0).
    """

    vdev: str = ""
    backend_domid: int = 0
    grant_usage: bool | None = None


    def __post_init__(self) -> None:
        validate.virtio_disk(self)

@dataclass(frozen=True)
class VirtioDevice:
    """A virtio= entry (4.18+).

    type:
      "virtio,device<ID>" (e.g. "virtio,device22" for i2c).
    transport:
      "mmio" (the only one libxl puts in the DT).
    backend_domid, grant_usage:
      as for VirtioDisk.
    """

    type: str = ""
    transport: str = "mmio"
    backend_domid: int = 0
    grant_usage: bool | None = None


    def __post_init__(self) -> None:
        validate.virtio_device(self)

@dataclass(frozen=True)
class Iomem:
    """An iomem= entry: `pages` host pages from frame `start`, mapped at guest
    frame `gfn` (defaults to `start`)."""

    start: int
    pages: int
    gfn: int | None = None


    def __post_init__(self) -> None:
        validate.iomem(self)

    @property
    def guest_frame(self) -> int:
        return self.start if self.gfn is None else self.gfn


@dataclass(frozen=True)
class GuestConfig:
    """What xl create hands libxl for an Arm guest, as far as the DT cares.

    memory_mib:
      the RAM the banks hold, in MiB. libxl builds Arm guests in its HVM
      container, which populates max_memkb − video_memkb: xl maxmem= minus
      videoram= when given, else memory= (xl's default: 32).
    max_vcpus:
      xl maxvcpus= (defaults to vcpus=, default 1): the number of cpu nodes.
    gic_version:
      "v2", "v3" or "default" (Xen picks the host's GIC: see Host.gic).
    vuart:
      True for vuart="sbsa_uart".
    cmdline:
      the kernel command line libxl gets (None: no bootargs property).
    kernel:
      the kernel image facts (arch, size, text_offset).
    ramdisk_size:
      bytes of the ramdisk, or None without one.
    partial_dtb, partial_dtb_name:
      the device_tree= blob and its file name for messages.
    disks, virtio:
      virtio-mmio disks and virtio= devices, in xl.cfg order.
    pci_devices:
      the number of pci= entries (vPCI from 4.16).
    iomem:
      iomem= entries (cut out of extended regions from 4.21).
    tee:
      "none", "optee" or "ffa".
    acpi:
      xl acpi= (arm64 guests only).
    nr_spis:
      xl nr_spis= (4.19+), or None.
    vpmu:
      xl vpmu= (no DT effect).
    """

    memory_mib: int = 32
    max_vcpus: int = 1
    gic_version: str = "default"
    vuart: bool = False
    cmdline: str | None = None
    kernel: Kernel = field(default_factory=Kernel)
    ramdisk_size: int | None = None
    partial_dtb: bytes | None = None
    partial_dtb_name: str = ""
    disks: tuple[VirtioDisk, ...] = ()
    virtio: tuple[VirtioDevice, ...] = ()
    pci_devices: int = 0
    iomem: tuple[Iomem, ...] = ()
    tee: str = "none"
    acpi: bool = False
    nr_spis: int | None = None
    vpmu: bool = False


    def __post_init__(self) -> None:
        validate.guest_config(self)


@dataclass(frozen=True)
class Host:
    """Facts about the host and hypervisor that decide the guest DT.

    xen:
      the running hypervisor's version, "4.14" … "4.22"; None for the newest
      xendt knows (resolved at the edge: xendt.xen.context.resolve).
    pa_bits:
      the host CPUs' physical-address size (PARange), or None.
    ipa_bits:
      the guest IPA size when known directly (an IOMMU may lower it), or None.
      With neither, pa_bits 40 is assumed.
    gic:
      the host's GIC version, used when gic_version is "default".
    clock_frequency:
      the host DT timer's clock-frequency in Hz (0: property absent).
    rng_seed:
      the 128 bytes of /chosen/rng-seed; None draws random bytes as libxl
      does; b"" leaves the property out.
    acpi_size:
      the length of the ACPI tables libxl builds for an acpi=1 guest (it
      depends on the DSDT compiled into libxl, so xendt must be told).
    """

    xen: str | None = None
    pa_bits: int | None = None
    ipa_bits: int | None = None
    gic: str = "v3"
    clock_frequency: int = 0
    rng_seed: bytes | None = None
    acpi_size: int | None = None

    def __post_init__(self) -> None:
        validate.host(self)
        AddressSize.of(self.pa_bits, self.ipa_bits)  # one of them, and a valid size

    @property
    def address(self) -> AddressSize | None:
        """The PA or IPA size given, as one value (None: neither)."""
        return AddressSize.of(self.pa_bits, self.ipa_bits)


@dataclass(frozen=True)
class Segment(Range):
    """A module placed in guest RAM by libxenguest (kernel, ramdisk, dtb)."""

    name: str = ""


@dataclass(frozen=True)
class VirtioSlot(Range):
    """A virtio-mmio device's MMIO window and SPI, allocated by libxl.

    kind:
      "disk" or "virtio"; index: position in its xl.cfg list.
    """

    spi: int = 0
    kind: str = ""
    index: int = 0


@dataclass(frozen=True)
class MemoryMap:
    """The guest's computed address map.

    xen, ipa_bits, guest_bits:
      the Xen version, the guest IPA size and 32/64-bit guest.
    ram:
      the RAM actually given in each bank (size 0 for an empty bank 1).
    segments:
      kernel, ramdisk and DTB as placed by meminit.
    grant_table:
      region 0 of /hypervisor reg.
    extended_regions:
      regions 1..N of /hypervisor reg.
    devices:
      the layout regions this guest's DT describes (GIC, vpl011, vPCI …).
    virtio:
      the virtio-mmio devices' windows and SPIs.
    """

    xen: str
    ipa_bits: int
    guest_bits: int
    ram: tuple[Range, ...]
    segments: tuple[Segment, ...]
    grant_table: Range
    extended_regions: tuple[Range, ...]
    devices: tuple[Region, ...]
    virtio: tuple[VirtioSlot, ...]

    def segment(self, name: str) -> Segment | None:
        for s in self.segments:
            if s.name == name:
                return s
        return None
