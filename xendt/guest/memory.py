"""Guest RAM and boot modules as libxenguest's Arm meminit() lays them out.

RAM fills bank 0 (3 GiB at 1 GiB) first and the rest goes to bank 1. The
kernel sits at the start of RAM (an arm64 Image at its text_offset, an arm32
zImage 32 KiB in). The ramdisk and then the DTB go at 128 MiB into RAM when
they fit there above the kernel, else at the top of bank 0. meminit would
fall back to just below the kernel, but libxenguest then maps the segments
in increasing address order from the kernel's end and refuses that
placement: xendt refuses it too. The DTB's size enters this, which is why
the initrd addresses in /chosen can change with the Xen version.

Every refusal quotes the libxenguest message (tools/libs/guest/xg_dom_arm.c
meminit, xg_dom_core.c, xg_dom_boot.c @ RELEASE-4.21.0; tools/libxc/xc_dom_*.c
@ RELEASE-4.14.0, the same text). meminit's own messages are DOMPRINTF, seen
with `xl -vvv create`; xl create itself shows "xc_dom_boot_mem_init: can't
allocate low memory for domain".
"""

from __future__ import annotations

from xendt.errors import BuildError, ConfigError
from xendt.guest.model import Kernel, Segment
from xendt.ranges import GiB, MiB, align_up
from xendt.xen.layout import Layout

#: What xl create prints when meminit fails (xc_dom_boot_mem_init, xg_dom_boot.c).
MEMINIT_FAILED = "xc_dom_boot_mem_init: can't allocate low memory for domain"
#: How far the stage-2 root table reaches for each guest IPA size: the root
#: level and its number of pages come from pa_range_info in
#: setup_virt_paging (xen/arch/arm/p2m.c @ RELEASE-4.14.0,
#: xen/arch/arm/mmu/p2m.c @ RELEASE-4.21.0): IPA 32 and 36 start at level 1
#: with one page (512 GiB), 40 with two, 42 with eight, 44 and 48 at level 0.
#: p2m_get_root_pointer refuses a frame beyond it; nothing else compares a
#: guest frame with the IPA size.
P2M_ROOT_REACH = {32: 1 << 39, 36: 1 << 39, 40: 1 << 40, 42: 1 << 42, 44: 1 << 48, 48: 1 << 48}


def split_ram(layout: Layout, ram_mib: int) -> tuple[int, int]:
    """Bytes of RAM in bank 0 and bank 1 for a guest with `ram_mib` MiB;
    ConfigError where meminit refuses the size."""
    bank0, bank1 = layout.banks
    if ram_mib <= 0:
        raise ConfigError(f"memory {ram_mib!r} MiB: a guest needs some RAM (libxenguest:"
                          f" \"meminit: ram size is 0\"; xl: \"{MEMINIT_FAILED}\")")
    if ram_mib * MiB > bank0.size + bank1.size:
        raise ConfigError(f"memory {ram_mib} MiB is more than the guest RAM banks hold"
                          f" ({(bank0.size + bank1.size) // MiB} MiB; libxenguest: \"meminit:"
                          f" ram size is too large for guest address space: {ram_mib * MiB:x} >"
                          f" {bank0.size + bank1.size:x}\")")
    return fill_banks(layout, ram_mib * MiB)


def beyond_ipa(layout: Layout, ram: tuple[int, ...], ipa_bits: int) -> list[str]:
    """Warnings for guest RAM above the IPA size, which Xen populates but
    the guest cannot reach (its stage-2 translation faults on any address
    at or above 2^ipa_bits, and Xen, finding the page mapped, resumes the
    vCPU on the same fault: it hangs). BuildError where the RAM goes past
    what the p2m's root table covers, so populating it fails."""
    limit, reach = 1 << ipa_bits, P2M_ROOT_REACH[ipa_bits]
    top = max(bank.base + size for bank, size in zip(layout.banks, ram) if size)
    total = sum(ram) // MiB
    if top > reach:
        raise BuildError(f"memory {total} MiB: RAM up to {top:#x} goes past the {reach:#x} bytes"
                         f" the stage-2 root table covers at a {ipa_bits}-bit IPA; Xen"
                         f" {layout.version} fails to populate it (libxenguest:"
                         f" \"populate_guest_memory: Not enough RAM\"; xl: \"{MEMINIT_FAILED}\")")
    warnings = []
    for i, (bank, size) in enumerate(zip(layout.banks, ram)):
        start, end = max(bank.base, limit), bank.base + size
        if end > start:
            warnings.append(
                f"memory {total} MiB: {(end - start) // MiB} MiB of RAM bank {i} [{start:#x},"
                f" {end:#x}) lies above the guest's {ipa_bits}-bit IPA space"
                f" ({_size(limit)}); Xen {layout.version} populates it without complaint, but the"
                " guest cannot use it: its first access there faults in stage 2 and the vCPU"
                " hangs")
    return warnings


def _size(n: int) -> str:
    return f"{n // GiB} GiB" if n < 1 << 40 else f"{n >> 40} TiB"


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
    (the ramdisk's end in /chosen is therefore page-rounded too: libxl
    finalises the DT from the segments meminit placed, before
    xc_dom_build_image runs; libxl__build_dom, tools/libs/light/libxl_dom.c).
    """
    page = layout.page_size
    ram_base = layout.banks[0].base
    kernel_base = ram_base + (layout.zimage_load_offset if kernel.arch == "arm32"
                              else kernel.text_offset)
    kernel_end = align_up(kernel_base + kernel.size, layout.kernel_end_align)
    dtb = align_up(dtb_size, page)
    ramdisk = ramdisk_size or 0
    rd = align_up(ramdisk, page)
    modules = dtb + rd
    ram128 = ram_base + layout.modules_offset
    bank0_end = ram_base + bank0_ram

    if modules + (kernel_end - kernel_base) > layout.banks[0].size:
        raise BuildError("not enough memory for the kernel, DTB and ramdisk in RAM bank 0"
                         " (libxenguest: \"meminit: Not enough memory for the"
                         f" kernel+dtb+initrd\"; xl: \"{MEMINIT_FAILED}\")")
    if kernel_base + kernel.size > bank0_end:
        raise BuildError(f"the kernel ({kernel.size} bytes at {kernel_base:#x}) does not fit"
                         f" in the guest's {bank0_ram // MiB} MiB of RAM (libxenguest:"
                         " \"xc_dom_chk_alloc_pages: segment kernel too large\";"
                         " xl: \"xc_dom_build_image failed\")")
    if bank0_end >= ram128 + modules and kernel_end < ram128:
        base = ram128
    elif bank0_end - modules > kernel_end:
        base = bank0_end - modules
    elif kernel_base - ram_base > modules:
        # meminit accepts this, but xc_dom_build_image maps the kernel first
        # and each later segment above the last (xc_dom_alloc_pad).
        raise BuildError(f"no room for the ramdisk and DTB ({modules} bytes) above the kernel in"
                         f" {bank0_ram // MiB} MiB of RAM: libxenguest would place them below it,"
                         " which xc_dom_build_image refuses (\"xc_dom_alloc_pad: segment"
                         f" boundary too low ({kernel_base - modules:#x} <"
                         f" {align_up(kernel_base + kernel.size, page):#x})\")")
    else:
        raise BuildError(f"no room for the ramdisk and DTB ({modules} bytes) beside the kernel"
                         f" in {bank0_ram // MiB} MiB of RAM (meminit fails; xl:"
                         f" \"{MEMINIT_FAILED}\")")

    segments = [Segment(kernel_base, kernel.size, name="kernel")]
    if rd:
        segments.append(Segment(base, rd, name="ramdisk"))
    segments.append(Segment(base + rd, dtb, name="dtb"))
    return tuple(segments)

