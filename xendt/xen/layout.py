"""One Xen version's facts, as a layout data file (layouts/<version>.toml)
states them: the guest memory map, interrupts and phandles, libxl's
switches, and how the hypervisor reads a host DT (HostRules). Loaded and
validated by xendt.xen.layouts.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from xendt.ranges import Region
from xendt.xen.rules import Dom0lessRules, Dom0Rules, HostRules, IommuDriver


class FrozenTable(Mapping[str, Any]):
    """A layout value that is a TOML table ([limits] max-vcpus), read-only:
    a Layout is shared by every build in a process (and cached), so no
    caller may change it. Pickles, as the layout cache needs."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, Any]) -> None:
        self._items = tuple(items.items())

    def __getitem__(self, key: str) -> Any:
        for name, value in self._items:
            if name == key:
                return value
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(self._items)

    def __repr__(self) -> str:
        return f"FrozenTable({dict(self._items)!r})"

    def __reduce__(self) -> tuple[type, tuple[dict[str, Any]]]:
        return FrozenTable, (dict(self._items),)


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
class Point:
    """A stable-branch commit a point release brings (a [[point]] entry).

    release:
      the first release with it ("4.19.3").
    commit, subject:
      the commit in the stable branch and its subject line.
    behaviour:
      what changes in a DT Xen reads or writes.
    changes:
      (table, key, value): the layout keys it sets.
    """

    release: str
    commit: str
    subject: str
    behaviour: str
    changes: tuple[tuple[str, str, object], ...]


@dataclass(frozen=True)
class Layout:
    """One Xen version's guest memory map and libxl device-tree behaviour,
    loaded from layouts/<version>.toml.

    version, tag:
      "4.21" (what DTs carry: "xen,xen-4.21") and the tag the X.Y.0 facts
      were read from.
    release:
      the full release ("4.21.0", "4.19.3"): X.Y.0 with `points` applied.
    points:
      the point-release commits applied, oldest first.
    newest_point:
      Z of the newest X.Y.Z release xendt knows.
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
    iommu_drivers:
      the IOMMU drivers, and which a default build has.
    dom0:
      how the hypervisor rewrites the host DT for dom0 (see Dom0Rules);
      None for a layout file without a [dom0] table.
    settings:
      (table, key, value) of every key of xendt.xen.schema, as read: see
      setting().
    """

    version: str
    tag: str
    regions: tuple[Region, ...]
    irqs: Irqs
    gic_phandle: int
    iommu_phandle: int
    max_vcpus: FrozenTable
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
    dom0less: Dom0lessRules
    release: str = ""
    points: tuple[Point, ...] = ()
    newest_point: int = 0
    iommu_drivers: tuple[IommuDriver, ...] = ()
    dom0: Dom0Rules | None = None
    settings: tuple[tuple[str, str, object], ...] = ()

    def setting(self, table: str, key: str) -> object:
        """The value of layout key `key` of [`table`] ("host",
        "rangeset-subtract"), also for a key no dataclass field holds;
        KeyError for a key the schema does not declare."""
        try:
            return self._settings[table, key]
        except KeyError:
            raise KeyError(f"Xen {self.version} layout has no key {key!r} in [{table}]") from None

    @cached_property
    def _settings(self) -> dict[tuple[str, str], object]:
        return {(t, k): value for t, k, value in reversed(self.settings)}

    @cached_property
    def _by_name(self) -> dict[str, Region]:
        return {r.name: r for r in self.regions}

    def region(self, name: str) -> Region:
        """The region called name; KeyError names the layout if absent."""
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"Xen {self.version} layout has no region {name!r}") from None

    def has_region(self, name: str) -> bool:
        return name in self._by_name

    @cached_property
    def banks(self) -> tuple[Region, Region]:
        """The two RAM banks, in the order meminit fills them."""
        return (self.region("ram0"), self.region("ram1"))

    @property
    def major_minor(self) -> tuple[int, int]:
        major, minor = self.version.split(".")
        return int(major), int(minor)
