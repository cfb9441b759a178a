"""The data model: address ranges, a Xen version's guest layout, the guest's
configuration, the host facts that matter, and the computed memory map.

Everything here is a frozen dataclass. The layout comes from a data file
(see xendt.xen.layouts); the configuration from an xl.cfg file, CLI flags or the
Python API; the memory map from xendt.guest.memory and xendt.guest.regions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xendt.ranges import GiB, KiB, MiB, Range, Region, align_up, human_size  # noqa: F401


@dataclass(frozen=True)
class Irqs:
    """Interrupt IDs of the guest (arch-arm.h "Interrupts"). See Layout."""

    timer_virt: int
    timer_phys_secure: int
    timer_phys_nonsecure: int
    event_channel: int
    vpl011: int
    virtio_mmio_first: int
    virtio_mmio_last: int


@dataclass(frozen=True)
class HostRules:
    """How one Xen version's hypervisor reads a host DT and computes the
    extended regions it gives dom0 and dom0less domains itself; the [host]
    table of a layout file. See xendt.host.hostregions for what each rule does.

    dom0_regions:
      whether dom0 gets extended regions at all (4.16+).
    domu_holes:
      how an ordinary dom0less domU gets them: "none" (no /hypervisor node
      before 4.17), "banks" (the bank tails), "banks-then-shm" (bank tails,
      re-filtered without static shared memory when the domain has some)
      or "rangeset" (bank tails minus shared memory and xen,reg).
    max, min_size, align:
      at most `max` regions (NR_MEM_BANKS), each at least `min_size`, start
      rounded up and size rounded down to `align`.
    rangeset_unit:
      "byte" or "page": what Xen's rangesets count (page frames from 4.18).
    end_bug:
      whether add_ext_regions takes a range's last page start for its last
      byte, so a region with a 2 MiB-aligned end comes out 2 MiB short.
    memory_nodes:
      which nodes hold host RAM: "name" (memory, memory@…, at any depth) or
      "name-depth-1-device-type" (top level, device_type = "memory").
    status_check:
      whether memory and reserved-memory nodes with a status other than
      "okay" are skipped.
    memreserve:
      whether /memreserve/ entries count as reserved memory.
    static_mem:
      "none", "own-cells" (#xen,static-mem-*-cells of the domain node) or
      "parent-cells" (/chosen's cells): how xen,static-mem banks are read.
    static_heap:
      whether /chosen xen,static-heap banks are reserved memory.
    static_shm:
      "none", "reserved" (host banks are reserved memory) or "separate"
      (a domain's own banks leave its holes, every host bank leaves free RAM).
    xen_reg:
      whether a dom0less domain's xen,reg ranges leave its regions.
    enhanced:
      the xen,enhanced strings that give a dom0less domain a /hypervisor
      node (an empty property does too, from 4.17).
    passthrough_iommu:
      whether passthrough = "enabled" gives a dom0less domain the IOMMU
      (4.19+), not only a partial device tree module.
    hardware_domain:
      whether a dom0less domain whose `capabilities` hold the hardware bit
      is the hardware domain, built from the host DT like dom0 (4.21+).
    """

    dom0_regions: bool
    domu_holes: str
    max: int
    min_size: int
    align: int
    rangeset_unit: str
    end_bug: bool
    memory_nodes: str
    status_check: bool
    memreserve: bool
    static_mem: str
    static_heap: bool
    static_shm: str
    xen_reg: bool
    enhanced: tuple[str, ...]
    passthrough_iommu: bool
    hardware_domain: bool


@dataclass(frozen=True)
class Layout:
    """One Xen version's guest memory map and libxl device-tree behaviour,
    loaded from layouts/<version>.toml.

    version, tag:
      "4.21" and the release tag the facts were read from.
    regions:
      the named ranges of the guest address map, ascending by base.
    irqs, gic_phandle, iommu_phandle:
      interrupt IDs and the fixed phandles (iommu_phandle 0 before 4.17).
    max_vcpus:
      {"v2": 8, "v3": 128}: what Xen accepts per vGIC.
    virtio_mmio_device_size:
      the MMIO size of one virtio-mmio device.
    fdt_max_size:
      libxl's FDT buffer limit (FDT_MAX_SIZE): a bigger tree fails the build.
    ipa_start_bits, pa_bits:
      how Xen derives the guest IPA size: start value (48 = PADDR_BITS cap,
      64 before it) and the host PA sizes this Xen boots on.
    ext_scheme, ext_max, ext_min_size, ext_align:
      extended regions: "none", "banks" (per-bank rule) or "banks-minus-iomem"
      (iomem ranges cut out), at most ext_max of them, each at least
      ext_min_size, bank starts rounded up to ext_align.
    zimage_load_offset, modules_offset, kernel_end_align, page_size:
      libxenguest's meminit placement constants.
    rng_seed:
      whether /chosen gets a 128-byte rng-seed.
    hypervisor_reg_pairs:
      /hypervisor reg placeholder size in (base, size) pairs; 1 means the
      grant table alone, final at creation.
    vpci, vpci_mem_type, vpci_prefetch_type:
      whether pci= adds the pcie node, and its ranges' phys.hi cells.
    virtio_disks, virtio_devices:
      whether virtio-mmio disks / virtio= devices are supported.
    xen_iommu:
      "none", "before-first-granted-disk" (4.17) or "after-virtio" (4.18+).
    disk_grants:
      what decides a virtio disk's grant use: "backend" (backend domid != 0)
      or "grant-usage" (the disk's grant_usage, defaulting to that).
    tee:
      the accepted tee= values.
    nr_spis_option:
      whether xl.cfg's nr_spis is known to this version.
    nr_spis_strict:
      whether an explicit nr_spis below what the devices need is an error
      (4.21+) rather than raised silently.
    host:
      how the hypervisor itself computes dom0's and dom0less domains'
      extended regions from the host DT (see HostRules).
    """

    version: str
    tag: str
    regions: tuple[Region, ...]
    irqs: Irqs
    gic_phandle: int
    iommu_phandle: int
    max_vcpus: dict[str, int]
    virtio_mmio_device_size: int
    fdt_max_size: int
    ipa_start_bits: int
    pa_bits: tuple[int, ...]
    ext_scheme: str
    ext_max: int
    ext_min_size: int
    ext_align: int
    zimage_load_offset: int
    modules_offset: int
    kernel_end_align: int
    page_size: int
    rng_seed: bool
    hypervisor_reg_pairs: int
    vpci: bool
    vpci_mem_type: int
    vpci_prefetch_type: int
    virtio_disks: bool
    virtio_devices: bool
    xen_iommu: str
    disk_grants: str
    tee: tuple[str, ...]
    nr_spis_option: bool
    nr_spis_strict: bool
    host: HostRules

    def region(self, name: str) -> Region:
        """The region called name; KeyError names the layout if absent."""
        for r in self.regions:
            if r.name == name:
                return r
        raise KeyError(f"Xen {self.version} layout has no region {name!r}")

    def has_region(self, name: str) -> bool:
        return any(r.name == name for r in self.regions)

    @property
    def banks(self) -> tuple[Region, Region]:
        """The two RAM banks, in the order meminit fills them."""
        return (self.region("ram0"), self.region("ram1"))

    @property
    def major_minor(self) -> tuple[int, int]:
        major, minor = self.version.split(".")
        return int(major), int(minor)


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


@dataclass(frozen=True)
class Iomem:
    """An iomem= entry: `pages` host pages from frame `start`, mapped at guest
    frame `gfn` (defaults to `start`)."""

    start: int
    pages: int
    gfn: int | None = None

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

@dataclass(frozen=True)
class Host:
    """Facts about the host and hypervisor that decide the guest DT.

    xen:
      the running hypervisor's version, "4.14" … "4.22".
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

    xen: str = "4.22"
    pa_bits: int | None = None
    ipa_bits: int | None = None
    gic: str = "v3"
    clock_frequency: int = 0
    rng_seed: bytes | None = None
    acpi_size: int | None = None


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
