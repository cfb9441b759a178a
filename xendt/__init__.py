"""xendt: the device trees Xen gives Arm guests, built and inspected offline.

The public, stable API (see xendt.api for each function)::

    import xendt
    guest = xendt.GuestConfig(memory_mib=1024, max_vcpus=2, gic_version="v3")
    result = xendt.build(guest, xendt.Host(xen="4.21", pa_bits=40))
    result.dtb                  # bytes, exactly what libxl hands the guest
    result.memory_map           # RAM banks, modules, extended regions ...
    result = xendt.build_xl("guest.cfg")          # the same from an xl.cfg file

    tree = xendt.read_dtb("guest.dtb")            # any DTB; str(tree) is its DTS
    xendt.address_map(tree), xendt.check(tree), xendt.diff(tree, other)
    xendt.host_regions("board.dtb", xen="4.19")   # what Xen gives dom0
    xendt.build_dom0less(host_dtb, "domU1")       # the DT Xen builds for a dom0less domain
    xendt.build_dom0(host_dtb, banks, gnttab)     # the DT Xen writes for dom0

Everything a user can get wrong raises xendt.XendtError with a one-line
message; an argument of the wrong Python type raises TypeError.

The names below are imported on first use, so that `import xendt.errors`
(as every CLI command does) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Where each public name lives, by module.
_MODULES: dict[str, tuple[str, ...]] = {
    "xendt.api": ("address_map", "build", "build_dom0", "build_dom0less", "build_xl", "check", "diff",
                  "dom0less_domains", "host_regions", "load_xl_config", "read_dtb", "versions"),
    "xendt.guest.builder": ("GuestDT",),
    "xendt.guest.jsonio": ("guest_from_json", "guest_to_json"),
    "xendt.guest.model": ("GuestConfig", "Host", "Iomem", "Kernel", "MemoryMap", "Segment",
                          "VirtioDevice", "VirtioDisk", "VirtioSlot"),
    "xendt.ranges": ("Range", "Region"),
    "xendt.xen.address": ("AddressSize",),
    "xendt.fdt.tree": ("Tree", "Node", "Property"),
    "xendt.inspect.addressmap": ("AddressMap", "MapEntry"),
    "xendt.inspect.check": ("Report", "Finding"),
    "xendt.inspect.diff": ("Diff", "Change"),
    "xendt.host.regions": ("HostRegions",),
    "xendt.errors": ("XendtError", "ConfigError", "DtbError", "ImageError", "BuildError",
                     "LayoutError", "XenFailure"),
}
_EXPORTS = {name: module for module, names in _MODULES.items() for name in names}

__all__ = sorted(_EXPORTS)  # noqa: PLE0605 (built from _MODULES)


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
