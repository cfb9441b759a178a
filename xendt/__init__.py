"""xendt: the device trees Xen gives Arm guests, built and inspected offline.

The public, stable API (see xendt.api for each function; README's "Python
API" section for a tour)::

    import xendt
    guest = xendt.GuestConfig(memory_mib=1024, max_vcpus=2, gic_version="v3")
    result = xendt.build(guest, xendt.Host(xen="4.21", pa_bits=40))
    result.dtb                  # bytes, exactly what libxl hands the guest
    result.memory_map           # RAM banks, modules, extended regions ...
    result.to_json()            # what `xendt build --format json` prints
    result = xendt.build_xl(text="memory = 512\n", kernel_size=20 << 20)

    tree = xendt.read_dtb("guest.dtb")            # any DTB; str(tree) is its DTS
    xendt.show(tree), xendt.check(tree), xendt.diff(tree, other)
    xendt.host_regions("board.dtb", xen="4.19")   # what Xen gives dom0
    xendt.build_dom0less("host.dtb", "domU1")     # the DT Xen builds for a dom0less domain
    xendt.build_dom0("host.dtb", "0x60000000:512M", "0x40200000:256K")

Everything a user can get wrong raises xendt.XendtError with a one-line
message; an argument of the wrong Python type raises TypeError.

The names are imported on first use, so that `import xendt` (and `import
xendt.errors`, as every CLI command does) stays cheap; type checkers read
the imports under TYPE_CHECKING instead, so `mypy --strict` checks callers
(tests/test_api_typing.py keeps the two lists one).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from xendt.api import (
        address_map,
        build,
        build_dom0,
        build_dom0less,
        build_json,
        build_xl,
        check,
        diff,
        dom0less_domains,
        host_dt,
        host_facts,
        host_fleet,
        host_regions,
        load_xl_config,
        read_dtb,
        show,
        versions,
    )
    from xendt.documents import schema
    from xendt.errors import (
        BuildError,
        ConfigError,
        DtbError,
        ImageError,
        LayoutError,
        XendtError,
        XenFailure,
    )
    from xendt.fdt.tree import Node, Property, Tree
    from xendt.guest.jsonio import guest_from_json, guest_to_json
    from xendt.guest.libxl_build import GuestDT
    from xendt.guest.model import (
        GuestConfig,
        Host,
        Iomem,
        Kernel,
        MemoryMap,
        Segment,
        VirtioDevice,
        VirtioDisk,
        VirtioSlot,
    )
    from xendt.hostregions.fleet import HostFleet
    from xendt.hostregions.regions import HostRegions
    from xendt.inspect.addressmap import AddressMap, MapEntry
    from xendt.inspect.diff import Change, Diff
    from xendt.inspect.findings import Finding, Report
    from xendt.inspect.show import Shown
    from xendt.notices import Notice
    from xendt.ranges import Range, Region
    from xendt.xen.address import AddressSize

#: Where each public name lives, by module (the imports above, for Python).
_MODULES: dict[str, tuple[str, ...]] = {
    "xendt.api": ("address_map", "build", "build_dom0", "build_dom0less", "build_json", "build_xl",
                  "check", "diff", "dom0less_domains", "host_dt", "host_facts", "host_fleet",
                  "host_regions",
                  "load_xl_config", "read_dtb", "show", "versions"),
    "xendt.errors": ("BuildError", "ConfigError", "DtbError", "ImageError", "LayoutError",
                     "XendtError", "XenFailure"),
    "xendt.fdt.tree": ("Node", "Property", "Tree"),
    "xendt.guest.libxl_build": ("GuestDT",),
    "xendt.guest.jsonio": ("guest_from_json", "guest_to_json"),
    "xendt.guest.model": ("GuestConfig", "Host", "Iomem", "Kernel", "MemoryMap", "Segment",
                          "VirtioDevice", "VirtioDisk", "VirtioSlot"),
    "xendt.hostregions.fleet": ("HostFleet",),
    "xendt.hostregions.regions": ("HostRegions",),
    "xendt.inspect.addressmap": ("AddressMap", "MapEntry"),
    "xendt.inspect.findings": ("Finding", "Report"),
    "xendt.inspect.diff": ("Change", "Diff"),
    "xendt.inspect.show": ("Shown",),
    "xendt.notices": ("Notice",),
    "xendt.ranges": ("Range", "Region"),
    "xendt.documents": ("schema",),
    "xendt.xen.address": ("AddressSize",),
}
_EXPORTS = {name: module for module, names in _MODULES.items() for name in names}

#: The public names (a literal, so that type checkers see them re-exported).
__all__ = [
    "AddressMap", "AddressSize", "BuildError", "Change", "ConfigError", "Diff", "DtbError",
    "Finding", "GuestConfig", "GuestDT", "Host", "HostFleet", "HostRegions", "ImageError", "Iomem",
    "Kernel", "LayoutError", "MapEntry", "MemoryMap", "Node", "Notice", "Property", "Range",
    "Region", "Report", "Segment", "Shown", "Tree", "VirtioDevice", "VirtioDisk", "VirtioSlot",
    "XenFailure", "XendtError", "address_map", "build", "build_dom0", "build_dom0less",
    "build_json", "build_xl", "check", "diff", "dom0less_domains", "guest_from_json",
    "guest_to_json", "host_dt", "host_facts", "host_fleet", "host_regions", "load_xl_config",
    "read_dtb", "schema", "show", "versions",
]

if not TYPE_CHECKING:  # type checkers see the real imports above

    def __getattr__(name: str) -> Any:
        try:
            module = _EXPORTS[name]
        except KeyError:
            raise AttributeError(f"module 'xendt' has no attribute {name!r}") from None
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
