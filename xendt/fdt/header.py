"""The header of a flattened device tree, vetted by libfdt before anything
reads past it.

libfdt reads blobs of header versions 2 to 17 (FDT_FIRST_SUPPORTED_VERSION
to FDT_LAST_SUPPORTED_VERSION in libfdt.h); dtc writes 1 to 17. Older
versions differ only in what xendt.fdt.read handles itself: full paths as
node names (before 16) and 8-byte-aligned values of 8 bytes or more (before
16), as fdt_open_into converts them.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from xendt.errors import DtbError, XendtError

if TYPE_CHECKING:
    from types import ModuleType

FDT_MAGIC = 0xD00DFEED
HEADER_SIZE = 40


def validated(blob: bytes, name: str | None = None, kind: type[XendtError] = DtbError) -> bytearray:
    """`blob` cut to its totalsize, once libfdt (fdt_check_header, then
    fdt_check_full) has found nothing wrong in it; else `kind` (DtbError by
    default) saying what is wrong, after "`name`: " when given."""
    import libfdt

    def fail(message: str) -> XendtError:
        return kind(f"{name}: {message}" if name else message)

    if len(blob) < 4:
        raise fail(f"not a device tree blob: only {len(blob)} bytes")
    magic = struct.unpack_from(">I", blob)[0]
    if magic != FDT_MAGIC:
        raise fail(f"not a device tree blob: bad magic {magic:#010x}")
    if len(blob) < 8:
        raise fail(f"truncated: only {len(blob)} bytes, less than a header")
    totalsize = struct.unpack_from(">I", blob, 4)[0]
    if totalsize > len(blob):
        raise fail(f"truncated: header says {totalsize} bytes, file has {len(blob)}")

    # libfdt reads the header's fields before checking any size, so give it
    # a whole header's worth of bytes; past the header it keeps to totalsize.
    buf = bytearray(memoryview(blob)[:totalsize])  # one copy, however large
    if len(buf) < HEADER_SIZE:
        buf = buf.ljust(HEADER_SIZE, b"\0")
    err = libfdt.fdt_check_header(buf)
    if err:
        raise fail(_header_problem(buf, err, libfdt))
    if libfdt.fdt_num_mem_rsv(buf) < 0:
        raise fail("truncated: the memory reservation map has no end")
    err = libfdt.fdt_check_full(buf, len(buf))
    if err:
        # What fdt_check_full() can still find wrong, once the header is sound.
        problem = {
            libfdt.FDT_ERR_TRUNCATED: "a node or property runs past the end of the structure"
                                      " block, or a property name past the strings block",
            libfdt.FDT_ERR_BADOFFSET: "a property name lies outside the strings block",
            libfdt.FDT_ERR_BADSTRUCTURE: "the structure block ends inside a node (or before"
                                         " size_dt_struct says), or holds an unknown token,"
                                         " a second root or a named root",
        }.get(-err, "unexpected error")
        raise fail(f"corrupt device tree: {problem} ({libfdt.fdt_strerror(err)})")
    return buf


def _header_problem(buf: bytearray, err: int, libfdt: ModuleType) -> str:
    """What fdt_check_header() found wrong, when it returned `err`."""
    header_size, totalsize = libfdt.fdt_header_size(buf), libfdt.fdt_totalsize(buf)
    if err == -libfdt.FDT_ERR_BADVERSION:
        return (f"unsupported version {libfdt.fdt_version(buf)} (last compatible version"
                f" {libfdt.fdt_last_comp_version(buf)}); libfdt reads versions 2 to 17")
    if err == -libfdt.FDT_ERR_TRUNCATED and totalsize < header_size:
        return f"truncated: header says {totalsize} bytes, less than the {header_size}-byte header"
    if err == -libfdt.FDT_ERR_TRUNCATED:
        return (f"header's blocks do not fit between its end ({header_size:#x}) and totalsize"
                f" ({totalsize:#x}): reservation map at {libfdt.fdt_off_mem_rsvmap(buf):#x},"
                f" structure block at {libfdt.fdt_off_dt_struct(buf):#x}"
                f" ({libfdt.fdt_size_dt_struct(buf):#x} bytes), strings block at"
                f" {libfdt.fdt_off_dt_strings(buf):#x} ({libfdt.fdt_size_dt_strings(buf):#x} bytes)")
    return f"unusable header ({libfdt.fdt_strerror(err)})"
