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

Everything a user can get wrong raises xendt.XendtError with a one-line message.

The names below are imported on first use, so that `import xendt.errors`
(as every CLI command does) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    **{name: "xendt.api" for name in (
        "address_map", "build", "build_xl", "check", "diff", "host_regions",
        "load_xl_config", "read_dtb", "versions")},
    "GuestDT": "xendt.guest.builder",
    **{name: "xendt.dom0less.api" for name in ("build_dom0less", "dom0less_domains")},
    **{name: "xendt.guest.jsonio" for name in ("guest_from_json", "guest_to_json")},
    **{name: "xendt.guest.model" for name in (
        "GuestConfig", "Host", "Iomem", "Kernel", "MemoryMap", "Segment", "VirtioDevice",
        "VirtioDisk", "VirtioSlot")},
    **{name: "xendt.ranges" for name in ("Range", "Region")},
    "AddressSize": "xendt.xen.address",
    **{name: "xendt.fdt.tree" for name in ("Tree", "Node", "Property")},
    **{name: "xendt.inspect.addressmap" for name in ("AddressMap", "MapEntry")},
    **{name: "xendt.inspect.check" for name in ("Report", "Finding")},
    **{name: "xendt.inspect.diff" for name in ("Diff", "Change")},
    "HostRegions": "xendt.host.regions",
    **{name: "xendt.errors" for name in (
        "XendtError", "ConfigError", "DtbError", "ImageError", "BuildError", "LayoutError")},
}

__all__ = sorted(_EXPORTS)


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
