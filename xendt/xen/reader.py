"""Reading one layout file's tables into the Layout dataclasses, checking
every key and type as it goes: an error names the file, the table and the
key, and what was expected (see xendt.xen.layouts for finding the files)."""

from __future__ import annotations

import os
from typing import Any, TypeVar

from xendt.errors import LayoutError
from xendt.ranges import Region
from xendt.xen import points
from xendt.xen.layout import Dom0lessRules, HostRules, IommuDriver, Irqs, Layout

_SCHEMES = ("none", "banks", "banks-minus-iomem")
_XEN_IOMMU = ("none", "before-first-granted-disk", "after-virtio")
_DISK_GRANTS = ("backend", "grant-usage")
_DOMU_HOLES = ("none", "banks", "banks-then-shm", "rangeset")
_REQUIRED_REGIONS = ("grant-table", "ram0", "ram1", "gicv2-distributor",
                     "gicv2-cpu-interface", "gicv3-distributor", "gicv3-redistributor",
                     "vpl011", "acpi")

_T = TypeVar("_T")


class Reader:
    """Pulls typed values out of a parsed layout file, naming the file and key
    in every error, and rejects keys it does not know."""

    def __init__(self, path: str | os.PathLike[str], data: dict[str, Any], point: int | None = None,
                 asked: str = "") -> None:
        self.path = os.fspath(path)
        self.data = data
        self.point = point
        self.asked = asked

    def fail(self, message: str) -> LayoutError:
        return LayoutError(f"{self.path}: {message}")

    def table(self, name: str) -> dict[str, Any]:
        value = self.data.get(name)
        if not isinstance(value, dict):
            raise self.fail(f"missing table [{name}]")
        return value

    def get(self, table: dict[str, Any], where: str, key: str, kind: type[_T]) -> _T:
        if key not in table:
            raise self.fail(f"missing key {key!r} in {where}")
        value = table[key]
        # bool is an int in Python: keep them apart.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.fail(f"{where}.{key} should be {_kind_name(kind)}, got {value!r}")
        return value

    def choice(self, table: dict[str, Any], where: str, key: str, choices: tuple[str, ...]) -> str:
        value = self.get(table, where, key, str)
        if value not in choices:
            raise self.fail(f"{where}.{key} is {value!r}, expected one of {', '.join(choices)}")
        return value

    def no_extra(self, table: dict[str, Any], where: str, known: set[str]) -> None:
        extra = sorted(set(table) - known)
        if extra:
            raise self.fail(f"unknown key {extra[0]!r} in {where}")

    def layout(self) -> Layout:
        top = self.data
        self.no_extra(top, "the file", {"version", "tag", "regions", "irqs", "phandles", "limits",
                                         "ipa", "extended-regions", "placement", "dt", "host",
                                         "iommu", "releases", "point", "dom0less"})
        version = self.get(top, "the file", "version", str)
        if version + ".toml" != os.path.basename(self.path):
            raise self.fail(f"version {version!r} does not match the file name")
        releases = top.get("releases", {"newest": 0})
        self.no_extra(releases, "[releases]", {"newest"})
        newest = self.get(releases, "[releases]", "newest", int)
        if newest < 0:
            raise self.fail(f"[releases].newest should be 0 or more, got {newest}")
        known = points.read(top.get("point"), version, newest, self.fail)
        z = self.point or 0
        if z > newest:
            raise points.refuse_unknown(self.asked or f"{version}.{z}", version, newest)
        self.data = top = points.apply(top, known, z, self.fail)
        regions = self.regions()
        irqs, phandles = self.table("irqs"), self.table("phandles")
        limits, ipa = self.table("limits"), self.table("ipa")
        ext, place, dt = self.table("extended-regions"), self.table("placement"), self.table("dt")

        irq_keys = {f.replace("_", "-"): f for f in Irqs.__dataclass_fields__}
        self.no_extra(irqs, "[irqs]", set(irq_keys))
        self.no_extra(phandles, "[phandles]", {"gic", "iommu"})
        self.no_extra(limits, "[limits]", {"max-vcpus", "virtio-mmio-device-size", "fdt-max-size"})
        self.no_extra(ipa, "[ipa]", {"start-bits", "pa-bits"})
        self.no_extra(ext, "[extended-regions]", {"scheme", "max", "min-size", "align"})
        self.no_extra(place, "[placement]", {"zimage-load-offset", "modules-offset",
                                             "kernel-end-align", "page-size"})
        self.no_extra(dt, "[dt]", {"rng-seed", "hypervisor-reg-placeholder", "vpci",
                                   "vpci-mem-type", "vpci-prefetch-type", "virtio-disks",
                                   "virtio-devices", "xen-iommu", "disk-grants", "tee",
                                   "nr-spis-option", "nr-spis-strict", "initrd-end"})

        max_vcpus = self.get(limits, "[limits]", "max-vcpus", dict)
        if set(max_vcpus) != {"v2", "v3"} or not all(isinstance(n, int) and n > 0
                                                     for n in max_vcpus.values()):
            raise self.fail(f"[limits].max-vcpus should map v2 and v3 to counts, got {max_vcpus!r}")
        pa_bits = self.get(ipa, "[ipa]", "pa-bits", list)
        if not pa_bits or not all(isinstance(b, int) and 32 <= b <= 64 for b in pa_bits):
            raise self.fail(f"[ipa].pa-bits should list sizes between 32 and 64, got {pa_bits!r}")
        tee = self.get(dt, "[dt]", "tee", list)
        if "none" not in tee:
            raise self.fail(f"[dt].tee should include 'none', got {tee!r}")

        layout = Layout(
            version=version,
            tag=self.get(top, "the file", "tag", str),
            regions=regions,
            irqs=Irqs(**{field: self.get(irqs, "[irqs]", key, int)
                         for key, field in irq_keys.items()}),
            gic_phandle=self.get(phandles, "[phandles]", "gic", int),
            iommu_phandle=self.get(phandles, "[phandles]", "iommu", int),
            max_vcpus=dict(max_vcpus),
            virtio_mmio_device_size=self.get(limits, "[limits]", "virtio-mmio-device-size", int),
            fdt_max_size=self.get(limits, "[limits]", "fdt-max-size", int),
            ipa_start_bits=self.get(ipa, "[ipa]", "start-bits", int),
            pa_bits=tuple(pa_bits),
            ext_scheme=self.choice(ext, "[extended-regions]", "scheme", _SCHEMES),
            ext_max=self.get(ext, "[extended-regions]", "max", int),
            ext_min_size=self.get(ext, "[extended-regions]", "min-size", int),
            ext_align=self.get(ext, "[extended-regions]", "align", int),
            zimage_load_offset=self.get(place, "[placement]", "zimage-load-offset", int),
            modules_offset=self.get(place, "[placement]", "modules-offset", int),
            kernel_end_align=self.get(place, "[placement]", "kernel-end-align", int),
            page_size=self.get(place, "[placement]", "page-size", int),
            rng_seed=self.get(dt, "[dt]", "rng-seed", bool),
            hypervisor_reg_pairs=self.get(dt, "[dt]", "hypervisor-reg-placeholder", int),
            vpci=self.get(dt, "[dt]", "vpci", bool),
            vpci_mem_type=self.get(dt, "[dt]", "vpci-mem-type", int),
            vpci_prefetch_type=self.get(dt, "[dt]", "vpci-prefetch-type", int),
            virtio_disks=self.get(dt, "[dt]", "virtio-disks", bool),
            virtio_devices=self.get(dt, "[dt]", "virtio-devices", bool),
            xen_iommu=self.choice(dt, "[dt]", "xen-iommu", _XEN_IOMMU),
            disk_grants=self.choice(dt, "[dt]", "disk-grants", _DISK_GRANTS),
            tee=tuple(tee),
            nr_spis_option=self.get(dt, "[dt]", "nr-spis-option", bool),
            nr_spis_strict=self.get(dt, "[dt]", "nr-spis-strict", bool),
            host=self.host_rules(),
            dom0less=self.dom0less_rules(),
            release=f"{version}.{z}",
            points=points.applied(known, z),
            newest_point=newest,
            initrd_end=self.choice(dt, "[dt]", "initrd-end", ("page-rounded", "exact")),
            iommu_drivers=self.iommu_drivers(),
        )
        self.check(layout)
        return layout

    def host_rules(self) -> HostRules:
        """The [host] table: how the hypervisor itself computes extended
        regions for dom0 and dom0less domains."""
        table, where = self.table("host"), "[host]"
        keys = {f.replace("_", "-"): f for f in HostRules.__dataclass_fields__}
        self.no_extra(table, where, set(keys))
        choices = {"domu_holes": _DOMU_HOLES, "rangeset_unit": ("byte", "page"),
                   "memory_nodes": ("name", "name-depth-1-device-type"),
                   "static_mem": ("none", "own-cells", "parent-cells"),
                   "static_shm": ("none", "reserved", "separate"),
                   "rangeset_subtract": ("buggy", "fixed"),
                   "empty_memory_bank": ("abort-scan", "skip"),
                   "unsorted_ram_banks": ("panic", "sorted"),
                   "efi_memory_nodes": ("deleted", "kept-not-ram"),
                   "reserved_overlap": ("ignored", "panic"),
                   "memreserve_overlap": ("no-conflict", "panic", "allow-inside"),
                   "memory_node_full": ("bug", "ok"),
                   "bank_overflow": ("stop-scan", "panic"), "deep_nodes": ("hang", "skip"),
                   "passthrough_cells": ("unchecked", "1-2"),
                   "sci_type": ("none", "ignored-if-absent", "refused-if-absent")}
        values: dict[str, Any] = {}
        for key, name in keys.items():
            kind = str(HostRules.__dataclass_fields__[name].type)
            if name in choices:
                values[name] = self.choice(table, where, key, choices[name])
            elif kind == "tuple[str, ...]":
                values[name] = tuple(self.get(table, where, key, list))
            else:
                values[name] = self.get(table, where, key,
                                        {"bool": bool, "int": int, "str": str}[kind])
        rules = HostRules(**values)
        if rules.align <= 0 or rules.align & (rules.align - 1):
            raise self.fail(f"[host].align {rules.align:#x} is not a power of two")
        if rules.min_size <= 0 or rules.max <= 0:
            raise self.fail("[host].min-size and [host].max must be positive")
        if not all(isinstance(v, str) and v for v in rules.enhanced):
            raise self.fail(f"[host].enhanced should list xen,enhanced strings, got {rules.enhanced!r}")
        if (rules.domu_holes == "none") != (not rules.enhanced):
            raise self.fail("[host].enhanced lists values exactly when domu-holes is not 'none'")
        if not rules.dom0_regions and rules.domu_holes != "none":
            raise self.fail("[host].domu-holes must be 'none' when dom0-regions is false")
        return rules

    def dom0less_rules(self) -> Dom0lessRules:
        """The [dom0less] table: how the hypervisor builds a dom0less domU's
        device tree."""
        table, where = self.table("dom0less"), "[dom0less]"
        fields = Dom0lessRules.__dataclass_fields__
        keys = {f.replace("_", "-"): f for f in fields}
        self.no_extra(table, where, set(keys))
        values: dict[str, Any] = {}
        for key, field in keys.items():
            kind = fields[field].type
            if kind == "tuple[str, ...]":
                items = self.get(table, where, key, list)
                if not all(isinstance(i, str) and i for i in items):
                    raise self.fail(f"{where}.{key} should list strings, got {items!r}")
                values[field] = tuple(items)
            else:
                values[field] = self.get(table, where, key, {"int": int, "bool": bool}[str(kind)])
        rules = Dom0lessRules(**values)
        nodes = {"chosen", "psci", "cpus", "memory", "reserved-memory", "passthrough", "gic",
                 "timer", "vpl011", "hypervisor"}
        if set(rules.order) - nodes or len(set(rules.order)) != len(rules.order):
            raise self.fail(f"{where}.order should name each of {', '.join(sorted(nodes))} at"
                            f" most once, got {list(rules.order)}")
        if not set(rules.enhanced_needs_xenstore) <= set(rules.enhanced):
            raise self.fail(f"{where}.enhanced-needs-xenstore should be among {where}.enhanced")
        return rules

    def iommu_drivers(self) -> tuple[IommuDriver, ...]:
        """The [iommu] table: Kconfig symbol -> {default, gate, compatibles}."""
        table = self.data.get("iommu", {})
        if not isinstance(table, dict):
            raise self.fail("[iommu] should be a table of drivers")
        out = []
        for name, spec in table.items():
            where = f"[iommu].{name}"
            if not isinstance(spec, dict):
                raise self.fail(f"{where} should be a table of default, gate, compatibles")
            self.no_extra(spec, where, {"default", "gate", "compatibles"})
            compatibles = self.get(spec, where, "compatibles", list)
            if not compatibles or not all(isinstance(c, str) and c for c in compatibles):
                raise self.fail(f"{where}.compatibles should list compatible strings")
            out.append(IommuDriver(name, self.get(spec, where, "default", bool),
                                   self.get(spec, where, "gate", str), tuple(compatibles)))
        return tuple(out)

    def regions(self) -> tuple[Region, ...]:
        table = self.table("regions")
        out = []
        for name, spec in table.items():
            where = f"[regions].{name}"
            if not isinstance(spec, dict):
                raise self.fail(f"{where} should be a table of base, size, header")
            self.no_extra(spec, where, {"base", "size", "header", "gic"})
            gic = spec.get("gic", "")
            if gic not in ("", "v2", "v3"):
                raise self.fail(f"{where}.gic is {gic!r}, expected v2 or v3")
            out.append(Region(base=self.get(spec, where, "base", int),
                              size=self.get(spec, where, "size", int),
                              name=name, header=self.get(spec, where, "header", str), gic=gic))
        for name in _REQUIRED_REGIONS:
            if name not in table:
                raise self.fail(f"missing region {name!r} in [regions]")
        return tuple(sorted(out, key=lambda r: (r.base, r.name)))

    def check(self, layout: Layout) -> None:
        page = layout.page_size
        if page <= 0 or page & (page - 1):
            raise self.fail(f"[placement].page-size {page:#x} is not a power of two")
        for r in layout.regions:
            if r.size <= 0:
                raise self.fail(f"region {r.name!r} has size {r.size:#x}")
            if r.base % page or r.size % page:
                raise self.fail(f"region {r.name!r} {r} is not aligned to {page:#x}-byte pages")
            if r.end > 1 << 64:
                raise self.fail(f"region {r.name!r} {r} ends beyond 64 bits")
        for i, a in enumerate(layout.regions):
            for b in layout.regions[i + 1:]:
                coexist = not a.gic or not b.gic or a.gic == b.gic
                if coexist and a.overlaps(b):
                    raise self.fail(f"regions {a.name!r} {a} and {b.name!r} {b} overlap")
        align = layout.ext_align
        if align <= 0 or align & (align - 1):
            raise self.fail(f"[extended-regions].align {align:#x} is not a power of two")
        for bank in layout.banks:
            if bank.base % align or bank.size % align:
                raise self.fail(f"RAM bank {bank.name!r} {bank} is not {align:#x}-aligned")
        if layout.ext_min_size <= 0:
            raise self.fail("[extended-regions].min-size must be positive")
        if layout.ext_scheme == "none":
            if layout.hypervisor_reg_pairs != 1 or layout.ext_max != 0:
                raise self.fail("without extended regions the hypervisor reg placeholder is 1 pair"
                                " and max is 0")
        elif layout.hypervisor_reg_pairs != layout.ext_max + 1:
            raise self.fail(f"hypervisor-reg-placeholder {layout.hypervisor_reg_pairs} should be"
                            f" extended-regions max {layout.ext_max} + 1 (the grant table)")
        if layout.virtio_disks and not layout.has_region("virtio-mmio"):
            raise self.fail("virtio-disks needs a 'virtio-mmio' region")
        if layout.vpci and not all(layout.has_region(n) for n in
                                   ("vpci-ecam", "vpci-mem", "vpci-prefetch-mem")):
            raise self.fail("vpci needs 'vpci-ecam', 'vpci-mem' and 'vpci-prefetch-mem' regions")
        if layout.fdt_max_size < 4096:
            raise self.fail("[limits].fdt-max-size is below 4 KiB")


def _kind_name(kind: type) -> str:
    names: dict[type, str] = {int: "an integer", str: "a string", bool: "true or false",
             list: "a list", dict: "a table"}
    return names.get(kind, str(kind))
