"""The guest's kernel, ramdisk and partial device tree files, as the toolstack reads them.

read_kernel() decides what libxenguest's Arm kernel loaders decide
(tools/libs/guest/xg_dom_armzimageloader.c, with the transparent gunzip of
xg_dom_core.c; tools/libxc/xc_dom_*.c in 4.14), identical in Xen 4.14.0 … master:

* Files: libxenguest maps the whole file (``xc_dom_malloc_filemap``). An empty
  file and a file larger than ``XC_DOM_DECOMPRESS_MAX`` (1 GiB,
  tools/include/xenguest.h) are refused. The same holds for the ramdisk
  (``xc_dom_module_file``), which is never decompressed.
* gzip: a kernel file of at least 6 bytes starting with 1f 8b is inflated
  (zlib, gzip header, ``Z_FINISH``) into a buffer of ISIZE + 16 bytes, ISIZE
  being the little-endian 32-bit trailer in the file's last 4 bytes, and the
  kernel size becomes **ISIZE + 16** (``xc_dom_check_gzip`` returns
  ``unziplen + 16`` and ``xc_dom_try_gunzip`` stores it as the size). If
  ISIZE > 1 GiB, or ISIZE + 16 > 1 GiB, the file is silently left
  compressed, and no loader accepts it. Inflation stops at the end of the
  first gzip member (zlib checks its CRC and length); output longer than the
  buffer (possible when a later member's trailer is read) or a truncated or
  corrupt stream fails the build. There is no other decompression for an
  Arm kernel (the bzImage loader with xz, lzma … is x86-only).
* The loaders are probed newest-registered first: arm64 before arm32.
  - arm64 Image: at least 64 bytes (``struct zimage64_hdr``) and either
    magic0 = 0x14000008 at offset 0 or magic1 = "ARM\\x64" (0x644d5241) at
    0x38, little-endian. The kernel segment is [0x40000000 + text_offset,
    + kernel size): text_offset is the 64-bit field at offset 8; the header's
    image_size field is not used.
  - arm32 zImage: at least 0x30 bytes and 0x016f2818 at offset 0x24. The
    segment is [0x40008000, + kernel size); the zImage's start/end fields at
    0x28/0x2c are not used for it (start only sets the entry point).
  So the segment size is always the file size, or ISIZE + 16 for gzip: an
  Image of 38,928,896 bytes with text_offset 0 gives 0x40000000–0x42520200,
  an 8,000,000-byte zImage 0x40008000–0x407a9200.

A pipe (standard input, a FIFO) is read no further than the header: its size
must be given (--kernel-size, --ramdisk-size). Every problem raises
ImageError naming the file and the reason.
"""

from __future__ import annotations

import os
import struct
from typing import BinaryIO

from xendt.errors import ImageError
from xendt.guest import validate
from xendt.guest.model import Kernel
from xendt.inputs import GUEST_PARTIAL_DTB_MAX, open_input, read_up_to, regular_size

#: XC_DOM_DECOMPRESS_MAX: the largest kernel, ramdisk or decompressed kernel.
MAX_FILE_SIZE = validate.MAX_FILE_SIZE
#: Bytes xc_dom_check_gzip adds to a gzip file's ISIZE for the kernel buffer.
GZIP_SLACK = 16

_GZIP_MAGIC = b"\x1f\x8b"
_ARM64_HEADER_SIZE = 64
_ARM64_MAGIC0 = 0x14000008
_ARM64_MAGIC1 = 0x644D5241  # "ARM\x64"
_ARM64_MAGIC1_OFFSET = 0x38
_ARM64_TEXT_OFFSET_OFFSET = 8
_ARM32_HEADER_SIZE = 0x30
_ARM32_MAGIC = 0x016F2818
_ARM32_MAGIC_OFFSET = 0x24
_CHUNK = 1 << 20
#: Compressed bytes read from a pipe to inflate a gzip kernel's header.
_PIPE_GZIP_INPUT = 1 << 20
_FDT_MAGIC = 0xD00DFEED


def read_kernel(path: str | os.PathLike[str], size: int | None = None) -> Kernel:
    """The kernel facts libxenguest derives from the file at path ("-":
    standard input).

    Returns a Kernel with arch "arm64" (text_offset from the Image header) or
    "arm32" (text_offset 0), and size the bytes of the kernel segment: the
    file size, or ISIZE + 16 for a gzip-compressed kernel (see the module
    docstring). Only the header, the gzip trailer and (for gzip) a streamed
    inflate are read; the file is never held in memory.

    A pipe has no size: only its header is read, and `size` (the loaded
    size, --kernel-size) must be given. For a regular file `size` must be
    None: the file's own size decides.
    """
    name = os.fspath(path)
    label = f"kernel {name!r}"
    note = ""
    with open_input(name, "kernel", ImageError, label) as (f, _):
        file_size = regular_size(f)
        try:
            if file_size is None:
                if size is None:
                    raise ImageError(f"{label}: a pipe has no size, and libxenguest loads the"
                                     " whole file: give the loaded size with --kernel-size")
                kernel = _pipe_kernel(f, label, size)
            elif size is not None:
                raise ImageError(f"{label}: a regular file's size is its own; a size given"
                                 " with it (--kernel-size) would contradict it")
            else:
                kernel, note = _file_kernel(f, label, checked_size(file_size, label))
        except OSError as e:
            raise ImageError(f"{label}: cannot read: {e.strerror}") from e
    if kernel is None:
        raise ImageError(f"{label}: not an arm32 zImage or arm64 Image{note}")
    return kernel


def _file_kernel(f: BinaryIO, label: str, size: int) -> tuple[Kernel | None, str]:
    """The kernel in the regular file `f` of `size` bytes, and a note on why
    a gzip file stays compressed."""
    head = f.read(_ARM64_HEADER_SIZE)
    note = ""
    if size >= 6 and head.startswith(_GZIP_MAGIC):
        f.seek(size - 4)
        isize = struct.unpack("<I", f.read(4))[0]
        if isize + GZIP_SLACK <= MAX_FILE_SIZE:
            f.seek(0)
            head = _gunzip_head(f, label, isize + GZIP_SLACK)
            size = isize + GZIP_SLACK
        else:
            note = (f" (its gzip trailer claims {isize} bytes uncompressed, more than"
                    f" libxenguest inflates, so it stays compressed)")
    return _probe(head, size), note


def _pipe_kernel(f: BinaryIO, label: str, size: int) -> Kernel | None:
    """The kernel whose header comes from the pipe `f` and whose loaded size
    the user gives. The pipe is not drained: its size would take reading it
    all, and the user has given it."""
    size = checked_size(size, label)
    head = read_up_to(f, _ARM64_HEADER_SIZE)
    if head.startswith(_GZIP_MAGIC):
        head = _gunzip_prefix(head, f, label)
    return _probe(head, size)


def ramdisk_size(path: str | os.PathLike[str], size: int | None = None) -> int:
    """The size in bytes of the ramdisk file at path ("-": standard input),
    loaded as is, never decompressed; ImageError for an empty file or one
    over 1 GiB. Nothing is read: a regular file's size is its own, a
    pipe's must be given as `size` (--ramdisk-size)."""
    name = os.fspath(path)
    label = f"ramdisk {name!r}"
    with open_input(name, "ramdisk", ImageError, label) as (f, _):
        file_size = regular_size(f)
    if file_size is None:
        if size is None:
            raise ImageError(f"{label}: a pipe has no size, and libxenguest loads the whole"
                             " file: give its size with --ramdisk-size")
        return checked_size(size, label)
    if size is not None:
        raise ImageError(f"{label}: a regular file's size is its own; a size given with it"
                         " (--ramdisk-size) would contradict it")
    return checked_size(file_size, label)


def read_device_tree(path: str | os.PathLike[str]) -> bytes:
    """The bytes of the partial device tree file at path ("-": standard
    input), as libxl_read_file_contents reads it; not validated here. At
    most GUEST_PARTIAL_DTB_MAX bytes are read: a longer file is cut to its
    header's totalsize (libxl's FDT calls read no further), or refused."""
    name = os.fspath(path)
    label = f"partial device tree {name!r}"
    cap = GUEST_PARTIAL_DTB_MAX
    with open_input(name, "partial device tree", ImageError, label) as (f, _):
        try:
            data = read_up_to(f, cap + 1)
        except OSError as e:
            raise ImageError(f"{label}: cannot read: {e.strerror}") from e
    if len(data) <= cap:
        return data
    magic, totalsize = struct.unpack_from(">II", data)
    if magic == _FDT_MAGIC and totalsize <= cap:
        return data[:totalsize]
    raise ImageError(f"{label}: more than {cap} bytes, libxl's FDT_MAX_SIZE for the whole"
                     " guest device tree it is copied into")


def checked_size(size: int, label: str) -> int:
    """`size`, within libxenguest's limits on a file it maps
    (xc_dom_malloc_filemap, tools/libs/guest/xg_dom_core.c @ RELEASE-4.21.0:
    "'%s': zero length file", "tried to map file which is too large")."""
    flag = label.startswith("--")  # a size flag, not a file
    if size == 0:
        if flag:
            raise ImageError(f"{label} 0: libxenguest refuses a zero-length file")
        raise ImageError(f"{label}: empty file (libxenguest refuses a zero-length file)")
    problem = validate.size_problem(size)  # the model's words for the same check
    if problem:
        raise ImageError(f"{label}{' ' if flag else ': '}{problem}")
    return size


def _gunzip_prefix(head: bytes, f: BinaryIO, label: str) -> bytes:
    """The first bytes a gzip stream from a pipe inflates to (enough for the
    header probe), reading at most _PIPE_GZIP_INPUT bytes of it."""
    import zlib  # here: most kernels are not gzipped

    inflater = zlib.decompressobj(zlib.MAX_WBITS + 32)  # +32: expect a gzip header
    out, data, read = b"", head, len(head)
    try:
        while len(out) < _ARM64_HEADER_SIZE and not inflater.eof:
            out += inflater.decompress(data, _ARM64_HEADER_SIZE - len(out))
            data = inflater.unconsumed_tail
            if not data:
                data = f.read(min(_CHUNK, _PIPE_GZIP_INPUT - read)) if read < _PIPE_GZIP_INPUT \
                    else b""
                read += len(data)
                if not data:
                    break
    except zlib.error as e:
        raise ImageError(f"{label}: corrupt gzip data: {e}") from e
    return out


def _gunzip_head(f: BinaryIO, label: str, limit: int) -> bytes:
    """Inflate f's first gzip member as xc_dom_do_gunzip does into a buffer
    of limit bytes, and return the first bytes of the output (for the
    header probe). ImageError where libxenguest's inflate fails."""
    import zlib

    inflater = zlib.decompressobj(zlib.MAX_WBITS + 32)  # +32: expect a gzip header
    head = b""
    total = 0
    data = b""
    end_of_file = False
    try:
        while not inflater.eof:
            if not data and not end_of_file:
                data = f.read(_CHUNK)
                end_of_file = not data
            out = inflater.decompress(data, _CHUNK)  # bounded output per call
            data = inflater.unconsumed_tail
            if end_of_file and not out and not inflater.eof:
                raise ImageError(f"{label}: truncated gzip data")
            total += len(out)
            if total > limit:
                raise ImageError(f"{label}: gzip data inflates to more than {limit} bytes,"
                                 f" the buffer libxenguest sizes from its trailer"
                                 f" ({limit - GZIP_SLACK} + {GZIP_SLACK})")
            if len(head) < _ARM64_HEADER_SIZE:
                head += out[:_ARM64_HEADER_SIZE - len(head)]
    except zlib.error as e:
        raise ImageError(f"{label}: corrupt gzip data: {e}") from e
    except OSError as e:
        raise ImageError(f"{label}: cannot read: {e.strerror}") from e
    return head


def _probe(head: bytes, size: int) -> Kernel | None:
    """The loader probes, arm64 first (registered last, probed first)."""
    if size >= _ARM64_HEADER_SIZE and len(head) >= _ARM64_HEADER_SIZE:
        magic0 = struct.unpack_from("<I", head, 0)[0]
        magic1 = struct.unpack_from("<I", head, _ARM64_MAGIC1_OFFSET)[0]
        if magic0 == _ARM64_MAGIC0 or magic1 == _ARM64_MAGIC1:
            text_offset = struct.unpack_from("<Q", head, _ARM64_TEXT_OFFSET_OFFSET)[0]
            return Kernel(arch="arm64", size=size, text_offset=text_offset)
    if size >= _ARM32_HEADER_SIZE and len(head) >= _ARM32_HEADER_SIZE \
            and struct.unpack_from("<I", head, _ARM32_MAGIC_OFFSET)[0] == _ARM32_MAGIC:
        return Kernel(arch="arm32", size=size, text_offset=0)
    return None


#: Linux's COMMAND_LINE_SIZE: early_init_dt_scan_chosen (drivers/of/fdt.c)
#: copies /chosen/bootargs with strscpy into that many bytes, keeping one
#: less character and dropping the rest silently. arm32: 1024
#: (arch/arm/include/uapi/asm/setup.h, torvalds/linux @ 0b77b97066); arm64:
#: 2048 in released kernels (arch/arm64/include/uapi/asm/setup.h, torvalds/linux
#: @ 1f318b96cc84), 4096 in the newest tree (torvalds/linux @ 2516bb8dc8).
COMMAND_LINE_SIZE = {"arm32": 1024, "arm64": 2048}
COMMAND_LINE_SIZE_NEWEST = {"arm32": 1024, "arm64": 4096}


def command_line_cut(length: int, arch: str) -> str | None:
    """What an `arch` Linux does with bootargs of `length` bytes, if it cuts
    them: "an arm64 Linux keeps the first 2047 (...) and silently drops the
    rest"; None when they fit."""
    size, newest = COMMAND_LINE_SIZE[arch], COMMAND_LINE_SIZE_NEWEST[arch]
    if length < size:
        return None
    later = (f" ({newest - 1} in the newest kernels, COMMAND_LINE_SIZE {newest})"
             if newest != size else "")
    return (f"an {arch} Linux keeps the first {size - 1} (COMMAND_LINE_SIZE {size}){later}"
            f" and silently drops the rest")
