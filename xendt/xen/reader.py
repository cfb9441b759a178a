"""Reading one layout file's tables into the Layout dataclasses, checking
every key and type as it goes: an error names the file, the table and the
key, and what was expected (see xendt.xen.layouts for finding the files)."""

from __future__ import annotations

import os
from typing import Any, TypeVar

from xendt.errors import LayoutError
from xendt.ranges import Region
from xendt.xen import points
from xendt.xen.address import IPA_BITS, PA_BITS
from xendt.xen.layout import Dom0lessRules, Dom0Rules, HostRules, IommuDriver, Irqs, Layout

_SCHEMES = ("none", "banks", "banks-minus-iomem")
_XEN_IOMMU = ("none", "before-first-granted-disk", "after-virtio")
_DISK_GRANTS = ("backend", "grant-usage")
_DOMU_HOLES = ("none", "banks", "banks-then-shm", "rangeset")
_REQUIRED_REGIONS = ("grant-table", "ram0", "ram1", "gicv2-distributor",
                     "gicv2-cpu-interface", "gicv3-distributor", "gicv3-redistributor",
                     "vpl011", "acpi")

_T = TypeVar("_T")
_U32_MAX, _U64_MAX = (1 << 32) - 1, (1 << 64) - 1
#: Most extended regions a layout may give: Xen's MAX_NR_EXT_REGIONS is 256
#: (libxl_arm.c @ RELEASE-4.21.0); the /hypervisor placeholder grows with it.
_EXT_MAX = 4096
#: Largest guest tree a layout may allow: libxl's FDT_MAX_SIZE is 1 MiB.
_FDT_MAX = 64 << 20


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
        if kind is int and not 0 <= value <= _U64_MAX:  # type: ignore[operator]
            raise self.fail(f"{where}.{key} should be 0 to {_U64_MAX:#x}, got {value:#x}")
        return value

    def u32(self, table: dict[str, Any], where: str, key: str) -> int:
        """An integer a device tree cell holds (an IRQ, a phandle, a type)."""
        value = self.get(table, where, key, int)
        if value > _U32_MAX:
            raise self.fail(f"{where}.{key} should fit a 32-bit cell, got {value:#x}")
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
                                         "iommu", "releases", "point", "dom0less", "dom0"})
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
                                   "nr-spis-option", "nr-spis-strict"})

        max_vcpus = self.get(limits, "[limits]", "max-vcpus", dict)
        if set(max_vcpus) != {"v2", "v3"} or not all(
                isinstance(n, int) and not isinstance(n, bool) and 0 < n <= _U32_MAX
                for n in max_vcpus.values()):
            raise self.fail(f"[limits].max-vcpus should map v2 and v3 to counts, got {max_vcpus!r}")
        pa_bits = self.get(ipa, "[ipa]", "pa-bits", list)
        if not pa_bits or not all(isinstance(b, int) and b in PA_BITS for b in pa_bits):
            raise self.fail(f"[ipa].pa-bits should list Arm PARange sizes"
                            f" ({', '.join(map(str, PA_BITS))}), got {pa_bits!r}")
        start_bits = self.get(ipa, "[ipa]", "start-bits", int)
        if start_bits not in (*IPA_BITS, 64):
            raise self.fail(f"[ipa].start-bits should be an IPA size Xen's p2m has"
                            f" ({', '.join(map(str, IPA_BITS))}) or 64 (no cap), got {start_bits}")
        tee = self.get(dt, "[dt]", "tee", list)
        if "none" not in tee:
            raise self.fail(f"[dt].tee should include 'none', got {tee!r}")

        layout = Layout(
            version=version,
            tag=self.get(top, "the file", "tag", str),
            regions=regions,
            irqs=Irqs(**{field: self.u32(irqs, "[irqs]", key)
                         for key, field in irq_keys.items()}),
            gic_phandle=self.u32(phandles, "[phandles]", "gic"),
            iommu_phandle=self.u32(phandles, "[phandles]", "iommu"),
            max_vcpus=dict(max_vcpus),
            virtio_mmio_device_size=self.get(limits, "[limits]", "virtio-mmio-device-size", int),
            fdt_max_size=self.get(limits, "[limits]", "fdt-max-size", int),
            ipa_start_bits=start_bits,
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
            vpci_mem_type=self.u32(dt, "[dt]", "vpci-mem-type"),
            vpci_prefetch_type=self.u32(dt, "[dt]", "vpci-prefetch-type"),
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
            iommu_drivers=self.iommu_drivers(),
            dom0=self.dom0_rules(),
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
                   "scan_error": ("ends-scan", "panic"),
                   "unsorted_ram_banks": ("panic", "sorted"),
                   "ram_mapping": ("xenheap", "directmap"),
                   "efi_memory_nodes": ("deleted", "kept-not-ram"),
                   "reserved_overlap": ("ignored", "panic"),
                   "memreserve_overlap": ("no-conflict", "panic", "allow-inside"),
                   "memory_node_full": ("bug", "ok"), "deep_nodes": ("hang", "skip"),
                   "passthrough_cells": ("unchecked", "1-2"),
                   "module_overlap": ("unchecked", "dropped"),
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
        if len(rules.load_panics) != 3:
            raise self.fail("[host].load-panics lists the kernel's, the initrd's and the DTB's")
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
                values[field] = self.get(table, where, key,
                                         {"int": int, "bool": bool, "str": str}[str(kind)])
        rules = Dom0lessRules(**values)
        nodes = {"chosen", "psci", "cpus", "memory", "reserved-memory", "passthrough", "gic",
                 "timer", "vpl011", "hypervisor"}
        if set(rules.order) - nodes or len(set(rules.order)) != len(rules.order):
            raise self.fail(f"{where}.order should name each of {', '.join(sorted(nodes))} at"
                            f" most once, got {list(rules.order)}")
        if not set(rules.enhanced_needs_xenstore) <= set(rules.enhanced):
            raise self.fail(f"{where}.enhanced-needs-xenstore should be among {where}.enhanced")
        return rules

    def dom0_rules(self) -> Dom0Rules | None:
        """The [dom0] table, if the file has one: how the hypervisor
        rewrites the host DT for dom0 (None: xendt cannot build dom0's DT
        for this version)."""
        if "dom0" not in self.data:
            return None
        table, where = self.table("dom0"), "[dom0]"
        fields = Dom0Rules.__dataclass_fields__
        keys = {f.replace("_", "-"): f for f in fields}
        self.no_extra(table, where, set(keys))
        choices = {"gic_name": ("interrupt-controller", "host"),
                   "memory_first": ("any", "not-static-domain", "default")}
        values: dict[str, Any] = {}
        for key, field in keys.items():
            kind = str(fields[field].type)
            if field == "blacklists":
                values[field] = self._blacklists(table, where, key)
            elif field in choices:
                values[field] = self.choice(table, where, key, choices[field])
            elif kind == "tuple[str, ...]":
                items = self.get(table, where, key, list)
                if not all(isinstance(i, str) and i for i in items):
                    raise self.fail(f"{where}.{key} should list strings, got {items!r}")
                values[field] = tuple(items)
            else:
                values[field] = self.get(table, where, key, {"int": int, "bool": bool}[kind])
        rules = Dom0Rules(**values)
        if set(rules.memory_skip) - {"static-domain", "fdt-resvmem"}:
            raise self.fail(f"{where}.memory-skip should list static-domain or fdt-resvmem,"
                            f" got {list(rules.memory_skip)}")
        return rules

    def _blacklists(self, table: dict[str, Any], where: str,
                    key: str) -> tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]:
        """[dom0] blacklists: tables of `platforms` and `nodes` string lists."""
        out = []
        for entry in self.get(table, where, key, list):
            lists = entry if isinstance(entry, dict) else {}
            if set(lists) != {"platforms", "nodes"} or not all(
                    isinstance(v, list) and v and all(isinstance(i, str) and i for i in v)
                    for v in lists.values()):
                raise self.fail(f"{where}.{key} entries should be {{ platforms = [...], nodes ="
                                f" [...] }} string lists, got {entry!r}")
            out.append((tuple(lists["platforms"]), tuple(lists["nodes"])))
        return tuple(out)

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
        if layout.ext_max > _EXT_MAX or layout.virtio_mmio_device_size > _U32_MAX:
            raise self.fail(f"[extended-regions].max should be at most {_EXT_MAX} (Xen's is 256)"
                            " and [limits].virtio-mmio-device-size fit 32 bits")
        irqs = layout.irqs
        for name, lo, hi, values in (("a PPI", 16, 31, (irqs.timer_virt, irqs.timer_phys_secure,
                                                        irqs.timer_phys_nonsecure, irqs.event_channel)),
                                     ("an SPI", 32, 1019, (irqs.vpl011,))):
            if not all(lo <= v <= hi for v in values):  # the GIC's interrupt ID ranges
                raise self.fail(f"[irqs]: each of {values} should be {name} ({lo} to {hi})")
        virtio = (irqs.virtio_mmio_first, irqs.virtio_mmio_last)
        if virtio != (0, 0) and not 32 <= virtio[0] <= virtio[1] <= 1019:
            raise self.fail(f"[irqs].virtio-mmio-first and -last {virtio} should be SPIs (32 to"
                            " 1019), first to last, or both 0 (no virtio-mmio)")
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
        if (layout.virtio_disks or layout.virtio_devices) and (
                not layout.has_region("virtio-mmio") or not layout.irqs.virtio_mmio_first):
            raise self.fail("virtio-disks and virtio-devices need a 'virtio-mmio' region and"
                            " its SPIs")
        if layout.virtio_disks and not layout.has_region("virtio-mmio"):
            raise self.fail("virtio-disks needs a 'virtio-mmio' region")
        if layout.vpci and not all(layout.has_region(n) for n in
                                   ("vpci-ecam", "vpci-mem", "vpci-prefetch-mem")):
            raise self.fail("vpci needs 'vpci-ecam', 'vpci-mem' and 'vpci-prefetch-mem' regions")
        if not 4096 <= layout.fdt_max_size <= _FDT_MAX:
            raise self.fail(f"[limits].fdt-max-size should be 4 KiB to {_FDT_MAX >> 20} MiB"
                            " (libxl's FDT_MAX_SIZE is 1 MiB)")


def _kind_name(kind: type) -> str:
    names: dict[type, str] = {int: "an integer", str: "a string", bool: "true or false",
             list: "a list", dict: "a table"}
    return names.get(kind, str(kind))
