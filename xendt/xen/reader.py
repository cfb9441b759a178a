"""Reading one layout file's tables into the Layout dataclasses, driven by
the schema (xendt.xen.schema): every key checked against its declaration, a
key the file does not set taken from the older versions' files (`inherited`)
or the declared default. An error names the file, the table and the key,
and what was expected (see xendt.xen.layouts for finding the files)."""

from __future__ import annotations

import os
from typing import Any, TypeVar

from xendt.errors import LayoutError
from xendt.ranges import Region
from xendt.xen import points, schema
from xendt.xen.address import IPA_BITS, PA_BITS
from xendt.xen.layout import FrozenTable, Irqs, Layout
from xendt.xen.rules import Dom0lessRules, Dom0Rules, HostRules, IommuDriver

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
                 asked: str = "", inherited: dict[str, dict[str, Any]] | None = None) -> None:
        self.path = os.fspath(path)
        self.data = data
        self.point = point
        self.asked = asked
        self.inherited = inherited or {}
        self.values: dict[tuple[str, str], Any] = {}

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
        self.no_extra(top, "the file", {"version", "tag", "regions", "iommu", "releases", "point",
                                         *schema.TABLES})
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
        self.data = top = points.apply(self.merged(top), known, z, self.fail)
        self.values = {(k.table, k.name): self.read(k) for k in schema.KEYS
                       if k.table != "dom0" or "dom0" in top}
        self.check_values()
        fields = {k.attr: self.values[k.table, k.name] for k in schema.KEYS
                  if k.attr and k.table not in schema.OWN_CLASS}
        layout = Layout(
            version=version,
            tag=self.get(top, "the file", "tag", str),
            regions=self.regions(),
            irqs=Irqs(**self.fields("irqs")),
            **fields,
            host=self.host_rules(),
            dom0less=self.dom0less_rules(),
            release=f"{version}.{z}",
            points=points.applied(known, z),
            newest_point=newest,
            iommu_drivers=self.iommu_drivers(),
            dom0=self.dom0_rules(),
            settings=tuple((t, k, v) for (t, k), v in self.values.items()),
        )
        self.check(layout)
        return layout

    def merged(self, top: dict[str, Any]) -> dict[str, Any]:
        """The file's data with each settings table completed by the keys
        the older versions' files set (the file's own keys checked first)."""
        out = dict(top)
        for table in schema.TABLES:
            own = top.get(table, {})
            if not isinstance(own, dict):
                raise self.fail(f"[{table}] should be a table")
            self.no_extra(own, f"[{table}]", {k.name for k in schema.keys_of(table)})
            if table in top or table in self.inherited:
                out[table] = {**self.inherited.get(table, {}), **own}
        return out

    def read(self, key: schema.Key) -> Any:
        """One key's value, checked against its declaration."""
        where = f"[{key.table}]"
        table = self.data.get(key.table)
        if not isinstance(table, dict):
            raise self.fail(f"missing table {where}")
        if key.name not in table and key.default is not None:
            return key.default
        kind = key.kind
        if kind == "u32":
            return self.u32(table, where, key.name)
        if kind == "choice":
            return self.choice(table, where, key.name, key.choices)
        if kind == "blacklists":
            return self._blacklists(table, where, key.name)
        python = {"bool": bool, "int": int, "str": str, "list": list, "strings": list,
                  "table": dict}[kind]
        value: Any = self.get(table, where, key.name, python)
        if kind == "int" and not key.low <= value <= key.high:
            raise self.fail(f"{where}.{key.name} should be {key.low} to {key.high}, got {value}")
        if kind == "strings" and not all(isinstance(i, str) and i for i in value):
            raise self.fail(f"{where}.{key.name} should list strings, got {value!r}")
        if kind in ("list", "strings"):
            return tuple(value)
        return FrozenTable(value) if kind == "table" else value

    def fields(self, table: str) -> dict[str, Any]:
        """The dataclass fields one table's keys fill."""
        return {k.attr: self.values[k.table, k.name] for k in schema.keys_of(table) if k.attr}

    def check_values(self) -> None:
        """What a key's declaration cannot say: the vGIC limits, the PA and
        IPA sizes, the tee= values."""
        max_vcpus = self.values["limits", "max-vcpus"]
        if set(max_vcpus) != {"v2", "v3"} or not all(
                isinstance(n, int) and not isinstance(n, bool) and 0 < n <= _U32_MAX
                for n in max_vcpus.values()):
            raise self.fail(f"[limits].max-vcpus should map v2 and v3 to counts, got {max_vcpus!r}")
        pa_bits = list(self.values["ipa", "pa-bits"])
        if not pa_bits or not all(isinstance(b, int) and b in PA_BITS for b in pa_bits):
            raise self.fail(f"[ipa].pa-bits should list Arm PARange sizes"
                            f" ({', '.join(map(str, PA_BITS))}), got {pa_bits!r}")
        start_bits = self.values["ipa", "start-bits"]
        if start_bits not in (*IPA_BITS, 64):
            raise self.fail(f"[ipa].start-bits should be an IPA size Xen's p2m has"
                            f" ({', '.join(map(str, IPA_BITS))}) or 64 (no cap), got {start_bits}")
        tee = list(self.values["dt", "tee"])
        if "none" not in tee:
            raise self.fail(f"[dt].tee should include 'none', got {tee!r}")

    def host_rules(self) -> HostRules:
        """The [host] table: how the hypervisor itself computes extended
        regions for dom0 and dom0less domains."""
        rules = HostRules(**self.fields("host"))
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
        where = "[dom0less]"
        rules = Dom0lessRules(**self.fields("dom0less"))
        nodes = {"chosen", "psci", "cpus", "memory", "reserved-memory", "passthrough", "gic",
                 "timer", "vpl011", "hypervisor"}
        if set(rules.order) - nodes or len(set(rules.order)) != len(rules.order):
            raise self.fail(f"{where}.order should name each of {', '.join(sorted(nodes))} at"
                            f" most once, got {list(rules.order)}")
        if not set(rules.enhanced_needs_xenstore) <= set(rules.enhanced):
            raise self.fail(f"{where}.enhanced-needs-xenstore should be among {where}.enhanced")
        return rules

    def dom0_rules(self) -> Dom0Rules | None:
        """The [dom0] table, if the file or an older one has one: how the
        hypervisor rewrites the host DT for dom0 (None: xendt cannot build
        dom0's DT for this version)."""
        if "dom0" not in self.data:
            return None
        rules = Dom0Rules(**self.fields("dom0"))
        if set(rules.memory_skip) - {"static-domain", "fdt-resvmem"}:
            raise self.fail(f"[dom0].memory-skip should list static-domain or fdt-resvmem,"
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
