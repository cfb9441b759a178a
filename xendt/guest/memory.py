"""Guest RAM and boot modules as libxenguest's Arm meminit() lays them out.

RAM fills bank 0 (3 GiB at 1 GiB) first and the rest goes to bank 1. The
kernel sits at the start of RAM (an arm64 Image at its text_offset, an arm32
zImage 32 KiB in). The ramdisk and then the DTB go at 128 MiB into RAM when
they fit there above the kernel, else at the top of bank 0, else just below
the kernel. The DTB's size enters this, which is why the initrd addresses in
/chosen can change with the Xen version.
"""

from __future__ import annotations

from xendt.errors import BuildError, ConfigError
from xendt.guest.model import Kernel, Segment
from xendt.xen.layout import Layout
from xendt.ranges import MiB, align_up


def split_ram(layout: Layout, ram_mib: int) -> tuple[int, int]:
    """Bytes of RAM in bank 0 and bank 1 for a guest with `ram_mib` MiB."""
    bank0, bank1 = layout.banks
    if ram_mib <= 0:
        raise ConfigError(f"memory {ram_mib!r} MiB: a guest needs some RAM")
    if ram_mib * MiB > bank0.size + bank1.size:
        raise ConfigError(f"memory {ram_mib} MiB is more than the guest RAM banks hold"
                          f" ({(bank0.size + bank1.size) // MiB} MiB)")
    return fill_banks(layout, ram_mib * MiB)


def fill_banks(layout: Layout, size: int) -> tuple[int, int]:
    """`size` bytes of RAM split over the two banks, bank 0 first (as
    libxenguest's meminit and Xen's allocate_memory do); the caller has
    checked that it fits."""
    first = min(size, layout.banks[0].size)
    return first, size - first


def place_modules(layout: Layout, bank0_ram: int, kernel: Kernel,
                  ramdisk_size: int | None, dtb_size: int) -> tuple[Segment, ...]:
    """The kernel, ramdisk (if any) and DTB segments, placed as meminit does.

    `dtb_size` is the blob's totalsize at creation; segments are page-rounded
    (the ramdisk's end in /chosen is therefore page-rounded too).
    """
    page = layout.page_size
    ram_base = layout.banks[0].base
    kernel_base = ram_base + (layout.zimage_load_offset if kernel.arch == "arm32"
                              else kernel.text_offset)
    kernel_end = align_up(kernel_base + kernel.size, layout.kernel_end_align)
    dtb = align_up(dtb_size, page)
    rd = align_up(ramdisk_size or 0, page)
    modules = dtb + rd
    ram128 = ram_base + layout.modules_offset
    bank0_end = ram_base + bank0_ram

    if modules + (kernel_end - kernel_base) > layout.banks[0].size:
        raise BuildError("not enough memory for the kernel, DTB and ramdisk in RAM bank 0")
    if kernel_base + kernel.size > bank0_end:
        raise BuildError(f"the kernel ({kernel.size} bytes at {kernel_base:#x}) does not fit"
                         f" in the guest's {bank0_ram // MiB} MiB of RAM")
    if bank0_end >= ram128 + modules and kernel_end < ram128:
        base = ram128
    elif bank0_end - modules > kernel_end:
        base = bank0_end - modules
    elif kernel_base - ram_base > modules:
        base = kernel_base - modules
    else:
        raise BuildError(f"no room for the ramdisk and DTB ({modules} bytes) beside the kernel"
                         f" in {bank0_ram // MiB} MiB of RAM")

    segments = [Segment(kernel_base, kernel.size, name="kernel")]
    if rd:
        segments.append(Segment(base, rd, name="ramdisk"))
    segments.append(Segment(base + rd, dtb, name="dtb"))
    return tuple(segments)

