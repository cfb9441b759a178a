"""xendt: the device tree Xen's toolstack (libxl) gives an Arm guest, offline.

The public, stable API::

    import xendt
    guest = xendt.GuestConfig(memory_mib=1024, max_vcpus=2, gic_version="v3")
    result = xendt.build(guest, xendt.Host(xen="4.21", pa_bits=40))
    result.dtb                  # bytes, exactly what libxl hands the guest
    result.memory_map           # RAM banks, modules, extended regions ...

    guest, warnings = xendt.load_xl_config("guest.cfg")   # from an xl.cfg file

Everything a user can get wrong raises xendt.XendtError with a one-line message.

The names below are imported on first use, so that `import xendt.errors`
(as every CLI command does) stays cheap.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "GuestDT": "xendt.guest.builder", "build": "xendt.guest.builder",
    "load_xl_config": ("xendt.guest.xlcfg", "load_guest"),
    "XendtError": "xendt.errors",
    **{name: "xendt.model" for name in (
        "GuestConfig", "Host", "Iomem", "Kernel", "MemoryMap", "Range", "Region", "Segment",
        "VirtioDevice", "VirtioDisk", "VirtioSlot")},
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    try:
        target = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'xendt' has no attribute {name!r}") from None
    module, attribute = target if isinstance(target, tuple) else (target, name)
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
