"""The layout schema: every key of a layout file's settings tables, declared
once (table, name, type, choices or range, and the dataclass field it
fills). xendt.xen.reader reads and checks the files from it; a key a
version's file does not set takes the previous version's value (the files
are read oldest first), or the declared `default` where no older file sets
it. So a new switch is one Key here plus the line in the layout file of the
version where it starts: a Key with `field=None` fills no dataclass field
and is read with Layout.setting(table, name).

Kinds: "bool"; "int" (`low` to `high`, 0 to 2**64-1 unless said); "u32" (a
device tree cell); "str"; "choice" (one of `choices`); "list" (any list,
kept as a tuple); "strings" (a list of non-empty strings, a tuple);
"table" (a TOML table, a dict); "blacklists" ([dom0] blacklists).
"""

from __future__ import annotations

from dataclasses import dataclass

U64_MAX = (1 << 64) - 1

#: The settings tables, in file order. [regions], [iommu], [releases] and
#: [[point]] are read on their own: each file states them whole.
TABLES = ("irqs", "phandles", "limits", "ipa", "extended-regions", "placement", "dt", "host",
          "dom0less", "dom0")
#: Tables whose keys fill a dataclass of their own (xendt.xen.layout):
#: Irqs, HostRules, Dom0lessRules, Dom0Rules; the others fill Layout's
#: fields. A file chain without [dom0] gives Layout.dom0 = None.
OWN_CLASS = ("irqs", "host", "dom0less", "dom0")

_DOMU_HOLES = ("none", "banks", "banks-then-shm", "rangeset")


@dataclass(frozen=True)
class Key:
    """One layout key.

    table, name:
      where the file states it ("host", "domu-holes").
    kind, choices, low, high:
      its type and the values it may take (see the module docstring).
    field:
      the dataclass field it fills: "" for the name with "_" for "-", None
      for none (read it with Layout.setting).
    default:
      its value for the versions before the first file that sets it; None:
      the oldest file must set it.
    """

    table: str
    name: str
    kind: str
    choices: tuple[str, ...] = ()
    low: int = 0
    high: int = U64_MAX
    field: str | None = ""
    default: object = None

    @property
    def attr(self) -> str | None:
        """The dataclass field, or None."""
        return self.name.replace("-", "_") if self.field == "" else self.field


def choice(table: str, name: str, choices: tuple[str, ...]) -> Key:
    return Key(table, name, "choice", choices)


KEYS: tuple[Key, ...] = (
    Key("irqs", "timer-virt", "u32"),
    Key("irqs", "timer-phys-secure", "u32"),
    Key("irqs", "timer-phys-nonsecure", "u32"),
    Key("irqs", "event-channel", "u32"),
    Key("irqs", "vpl011", "u32"),
    Key("irqs", "virtio-mmio-first", "u32"),
    Key("irqs", "virtio-mmio-last", "u32"),

    Key("phandles", "gic", "u32", field="gic_phandle"),
    Key("phandles", "iommu", "u32", field="iommu_phandle"),

    Key("limits", "max-vcpus", "table"),
    Key("limits", "virtio-mmio-device-size", "int"),
    Key("limits", "fdt-max-size", "int"),
    Key("limits", "grant-frames-capped", "bool", field=None),

    Key("ipa", "start-bits", "int", field="ipa_start_bits"),
    Key("ipa", "pa-bits", "list"),

    Key("extended-regions", "scheme", "choice", ("none", "banks", "banks-minus-iomem"),
        field="ext_scheme"),
    Key("extended-regions", "max", "int", field="ext_max"),
    Key("extended-regions", "min-size", "int", field="ext_min_size"),
    Key("extended-regions", "align", "int", field="ext_align"),

    Key("placement", "zimage-load-offset", "int"),
    Key("placement", "modules-offset", "int"),
    Key("placement", "kernel-end-align", "int"),
    Key("placement", "page-size", "int"),

    Key("dt", "rng-seed", "bool"),
    Key("dt", "hypervisor-reg-placeholder", "int", field="hypervisor_reg_pairs"),
    Key("dt", "vpci", "bool"),
    Key("dt", "vpci-mem-type", "u32"),
    Key("dt", "vpci-prefetch-type", "u32"),
    Key("dt", "virtio-disks", "bool"),
    Key("dt", "virtio-devices", "bool"),
    choice("dt", "xen-iommu", ("none", "before-first-granted-disk", "after-virtio")),
    choice("dt", "disk-grants", ("backend", "grant-usage")),
    Key("dt", "tee", "list"),
    Key("dt", "nr-spis-option", "bool"),
    Key("dt", "nr-spis-strict", "bool"),
    Key("dt", "negative-vcpus", "choice", ("refused", "one"), field=None),

    Key("host", "dom0-regions", "bool"),
    choice("host", "domu-holes", _DOMU_HOLES),
    Key("host", "max", "int"),
    Key("host", "min-size", "int"),
    Key("host", "align", "int"),
    choice("host", "rangeset-unit", ('byte', 'page')),
    Key("host", "end-bug", "bool"),
    choice("host", "memory-nodes", ('name', 'name-depth-1-device-type')),
    Key("host", "status-check", "bool"),
    Key("host", "memreserve", "bool"),
    choice("host", "static-mem", ('none', 'own-cells', 'parent-cells')),
    Key("host", "static-heap", "bool"),
    choice("host", "static-shm", ('none', 'reserved', 'separate')),
    Key("host", "xen-reg", "bool"),
    Key("host", "enhanced", "list"),
    Key("host", "passthrough-iommu", "bool"),
    Key("host", "hardware-domain", "bool"),
    choice("host", "scan-error", ('ends-scan', 'panic')),
    choice("host", "rangeset-subtract", ('buggy', 'fixed')),
    choice("host", "empty-memory-bank", ('abort-scan', 'skip')),
    choice("host", "unsorted-ram-banks", ('panic', 'sorted')),
    choice("host", "ram-mapping", ('xenheap', 'directmap')),
    Key("host", "efi-runtime-ram", "bool"),
    choice("host", "efi-memory-nodes", ('deleted', 'kept-not-ram')),
    Key("host", "efi-dt-bootargs", "bool"),
    choice("host", "reserved-overlap", ('ignored', 'panic')),
    choice("host", "memreserve-overlap", ('no-conflict', 'panic', 'allow-inside')),
    choice("host", "memory-node-full", ('bug', 'ok')),
    choice("host", "deep-nodes", ('hang', 'skip')),
    choice("host", "passthrough-cells", ('unchecked', '1-2')),
    choice("host", "sci-type", ('none', 'ignored-if-absent', 'refused-if-absent')),
    Key("host", "dom0-panic", "str"),
    Key("host", "domu-panic", "str"),
    choice("host", "bank-overflow", ("stop-scan", "panic")),
    Key("host", "max-modules", "int"),
    Key("host", "early-modules", "int"),
    choice("host", "module-overlap", ('unchecked', 'dropped')),
    Key("host", "load-panics", "list"),

    Key("dom0less", "order", "strings"),
    Key("dom0less", "dtb-size", "int"),
    Key("dom0less", "dtb-size-adds-module", "bool"),
    Key("dom0less", "zero-ram1-bank", "bool"),
    Key("dom0less", "initrd-from-kernel", "bool"),
    Key("dom0less", "shm-in-memory", "bool"),
    Key("dom0less", "gic-phandle-zero", "bool"),
    Key("dom0less", "redistributor-regions", "bool"),
    Key("dom0less", "enhanced", "strings"),
    Key("dom0less", "enhanced-needs-xenstore", "strings"),
    Key("dom0less", "static-mem-split-bug", "bool"),
    Key("dom0less", "max-partial-phandle", "int"),
    Key("dom0less", "zimage-window-check", "bool"),
    Key("dom0less", "uimage-first", "bool"),
    Key("dom0less", "properties", "strings"),
    Key("dom0less", "gic-node-name", "str"),
    Key("dom0less", "vpl011-node-name", "str"),
    Key("dom0less", "dom0-required", "bool"),

    Key("dom0", "skip-compatibles", "strings"),
    Key("dom0", "chosen-drop", "strings"),
    choice("dom0", "gic-name", ('interrupt-controller', 'host')),
    Key("dom0", "iommu-map-master", "bool"),
    choice("dom0", "memory-first", ('any', 'not-static-domain', 'default')),
    Key("dom0", "memory-skip", "strings"),
    Key("dom0", "fdt-extra-size", "int"),
    Key("dom0", "fdt-extra-per-bank", "int"),
    Key("dom0", "dom0-mem-default", "int"),
    Key("dom0", "heap-max-order", "int", high=63),
    Key("dom0", "page-info-size", "int", low=1, high=4096),
    Key("dom0", "frame-table-rounded", "bool"),
    Key("dom0", "blacklists", "blacklists"),
    Key("dom0", "uart-compatibles", "strings"),
)


def keys_of(table: str) -> tuple[Key, ...]:
    """The keys of one table, in declaration order."""
    return tuple(k for k in KEYS if k.table == table)
