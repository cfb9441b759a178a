"""xendt: the device tree Xen's toolstack (libxl) gives an Arm guest, offline.

The public, stable API::

    import xendt
    guest = xendt.GuestConfig(memory_mib=1024, max_vcpus=2, gic_version="v3")
    result = xendt.build(guest, xendt.Host(xen="4.21", pa_bits=40))
    result.dtb                  # bytes, exactly what libxl hands the guest
    result.memory_map           # RAM banks, modules, extended regions ...

    guest, warnings = xendt.load_xl_config("guest.cfg")   # from an xl.cfg file

Everything a user can get wrong raises xendt.XendtError with a one-line message.
"""

from xendt.builder import GuestDT, build
from xendt.xlcfg import load_guest as load_xl_config
from xendt.errors import XendtError
from xendt.model import (GuestConfig, Host, Iomem, Kernel, MemoryMap, Range, Region, Segment,
                         VirtioDevice, VirtioDisk, VirtioSlot)

__all__ = [
    "GuestConfig", "GuestDT", "Host", "Iomem", "Kernel", "MemoryMap", "Range", "Region",
    "Segment", "VirtioDevice", "VirtioDisk", "VirtioSlot", "XendtError", "build", "load_xl_config",
]
