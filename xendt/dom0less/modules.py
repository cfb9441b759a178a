"""Where Xen puts a dom0less domU's kernel, DTB and initrd in its RAM.

kernel_probe and place_modules (``xen/arch/arm/kernel.c`` @ RELEASE-4.14.0
… RELEASE-4.21.2; place_dtb_initrd @ RELEASE-4.22.0, the same rule) decide
the initrd addresses written into /chosen after fdt_finish. Xen reads the
kernel from the module's memory, whose length is the module `reg` size in
the host DT; its format (and so the load address) needs the file's header,
given here as the file's bytes, or an arm64 Image is assumed.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from xendt.domu.facts import Facts
from xendt.errors import ImageError, XenFailure
from xendt.ranges import MiB, Range, align_up

ZIMAGE64_MAGIC_V0 = 0x14000008
ZIMAGE64_MAGIC_V1 = 0x644D5241  # "ARM\x64"
ZIMAGE32_MAGIC = 0x016F2818
UIMAGE_MAGIC = 0x27051956
UIMAGE_HEADER = 64
IH_ARCH_ARM, IH_ARCH_ARM64 = 2, 22
DTB_MAGIC = 0xD00DFEED


@dataclass(frozen=True)
class Kernel:
    """A kernel as kernel_probe sees it.

    format:
      "Image" (arm64), "zImage" (arm32) or "uImage".
    bits:
      64 or 32: the domain's type (is_64bit_domain).
    length:
      the bytes Xen copies (zimage.len).
    text_offset:
      the arm64 Image's load offset from the start of RAM bank 0.
    start:
      a zImage's or uImage's fixed load address, 0 when position independent.
    assumed:
      True when no kernel file was given and an arm64 Image was assumed.
    """

    format: str
    bits: int
    length: int
    text_offset: int = 0
    start: int = 0
    assumed: bool = False


@dataclass(frozen=True)
class Placement:
    """The kernel, DTB and initrd in guest RAM (kinfo->dtb_paddr, …)."""

    kernel: Range
    dtb: int
    initrd: int


def assumed_kernel(module_size: int) -> Kernel:
    """An arm64 Image with text_offset 0 (Linux 5.8 and later), whose
    length is the module's size, as Xen takes it."""
    return Kernel("Image", 64, module_size, assumed=True)


def probe(data: bytes, module_size: int, module_address: int, facts: Facts,
          name: str) -> Kernel:
    """kernel_probe on the first `module_size` bytes of `data` (what Xen
    sees of the module), in the version's order: 4.18+ a uImage header
    first; then a gzip stream is inflated; then arm64 Image, (4.14–4.17)
    uImage, arm32 zImage. ImageError when none matches."""
    image = data[:module_size]
    if len(data) < module_size:
        raise ImageError(f"{name}: {len(data)} bytes, shorter than its module in the host DT"
                         f" ({module_size} bytes)")
    if facts.uimage_first:
        found = _uimage(image, name, gzip_ok=True)
        if found is not None:
            return found
    size = len(image)
    if image[:2] == b"\x1f\x8b":
        image, size = _gunzip(image, name)
    found = _image64(image, size)
    if found is None and not facts.uimage_first:
        found = _uimage(image, name, gzip_ok=False)
    if found is None:
        found = _zimage32(image, size, module_address)
    if found is None:
        raise ImageError(f"{name}: not a kernel Xen {facts.version} can boot (arm64 Image, arm32"
                         f" zImage, uImage, or one of them gzip-compressed)")
    return found


def _image64(image: bytes, size: int) -> Kernel | None:
    """kernel_zimage64_probe on the `size`-byte image that starts with
    `image`: branch magic at 0 or "ARM\\x64" at 0x38; the length is the whole
    module (the header's image_size is not used)."""
    if len(image) < 64:
        return None
    magic0, text_offset = struct.unpack_from("<I4xQ", image, 0)
    (magic1,) = struct.unpack_from("<I", image, 0x38)
    if magic0 != ZIMAGE64_MAGIC_V0 and magic1 != ZIMAGE64_MAGIC_V1:
        return None
    return Kernel("Image", 64, size, text_offset=text_offset)


def _zimage32(image: bytes, size: int, address: int) -> Kernel | None:
    """kernel_zimage32_probe: magic at 0x24, start and end at 0x28/0x2c.
    Its test for an appended DTB compares the module's *physical address*
    plus the image length with the module size, so it only looks when the
    module sits in the first bytes of memory (kept as Xen does it)."""
    if len(image) < 0x30:
        return None
    magic, start, end = struct.unpack_from("<III", image, 0x24)
    if magic != ZIMAGE32_MAGIC or ((end - start) & 0xFFFFFFFF) > size:
        return None
    length = (end - start) & 0xFFFFFFFF
    if address + length + 8 <= size and length + 8 <= len(image):
        dtb_magic, dtb_size = struct.unpack_from(">II", image, length)
        if dtb_magic == DTB_MAGIC:
            length += dtb_size
    return Kernel("zImage", 32, length, start=start)


def _uimage(image: bytes, name: str, *, gzip_ok: bool) -> Kernel | None:
    """kernel_uimage_probe: a 64-byte big-endian header. From 4.18 the load
    address is kept as the fixed start and a gzip payload is inflated;
    before, the start stays 0 (position independent)."""
    if len(image) < UIMAGE_HEADER:
        return None
    magic, size, load = struct.unpack_from(">I8xII", image, 0)
    arch, comp = image[29], image[31]
    if magic != UIMAGE_MAGIC or size > len(image) - UIMAGE_HEADER:
        return None
    if arch not in (IH_ARCH_ARM, IH_ARCH_ARM64):
        raise ImageError(f"{name}: uImage for architecture {arch}, not arm or arm64")
    length = size
    if gzip_ok:
        if comp not in (0, 1):
            raise ImageError(f"{name}: uImage compression {comp}: Xen only inflates gzip (1)")
        if comp:
            length = _gunzip(image[UIMAGE_HEADER:], name)[1]
    else:
        load = 0
    return Kernel("uImage", 64 if arch == IH_ARCH_ARM64 else 32, length, start=load)


#: How much of an inflated kernel the probes look at: its headers. Inflating
#: no more bounds memory whatever a file claims.
_PROBED = 1 << 16


def _gunzip(data: bytes, name: str) -> tuple[bytes, int]:
    """kernel_decompress: the first bytes of the inflated image (its
    headers) and its length, the gzip trailer's ISIZE."""
    try:
        head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data, _PROBED)
    except zlib.error as e:
        raise ImageError(f"{name}: gzip data Xen cannot inflate: {e}") from None
    (isize,) = struct.unpack_from("<I", data, len(data) - 4)
    return head[:isize], isize


def kernel_base(kernel: Kernel, bank0: Range, facts: Facts) -> int:
    """kernel_zimage_place: an arm64 Image (or 64-bit uImage without a load
    address) at bank 0 + text_offset; a position-independent 32-bit image
    as high as possible below 128 MiB into bank 0, 2 MiB aligned; else its
    own start."""
    if kernel.bits == 64 and kernel.start == 0:
        return bank0.base + kernel.text_offset
    if kernel.start:
        return kernel.start
    end = min(bank0.base + 128 * MiB, bank0.end)
    if facts.zimage_window_check and end - bank0.base < kernel.length:
        raise XenFailure(f"the {kernel.length}-byte kernel does not fit the first 128 MiB of RAM"
                         f" bank 0 (Xen {facts.version} panics)")
    return (end - kernel.length) & ~(2 * MiB - 1)


def place(kernel: Kernel, bank0: Range, dtb_size: int, ramdisk_size: int,
          facts: Facts) -> Placement:
    """place_modules: DTB and initrd (each rounded up to 2 MiB) together at
    bank 0 + 128 MiB when they fit there above the kernel, else at the end
    of bank 0, else just below the kernel."""
    base = kernel_base(kernel, bank0, facts)
    end = base + kernel.length
    dtb_len = align_up(dtb_size, 2 * MiB)
    modsize = align_up(ramdisk_size, 2 * MiB) + dtb_len
    kernsize = align_up(end, 2 * MiB) - base
    ram128 = bank0.base + 128 * MiB
    if modsize + kernsize > bank0.size:
        raise XenFailure(f"RAM bank 0 ({bank0.size // MiB} MiB) cannot hold the kernel, DTB and"
                         f" initrd (Xen panics: \"Not enough memory in the first bank\")")
    if bank0.end >= ram128 + modsize and end < ram128:
        modbase = ram128
    elif bank0.end - modsize > align_up(end, 2 * MiB):
        modbase = bank0.end - modsize
    elif base - bank0.base > modsize:
        modbase = base - modsize
    else:
        raise XenFailure("no room for the DTB and initrd in RAM bank 0 (Xen panics: \"Unable to"
                         " find suitable location for dtb+initrd\")")
    return Placement(Range(base, kernel.length), modbase, modbase + dtb_len)
