"""Property values as device-tree cells, numbers and strings.

The primitives every reader of a tree shares. How a `reg` or `ranges` is
*translated* differs between Linux and Xen and lives with each of them
(xendt.inspect.linux, xendt.host.xen_dt); how many cells a bus uses and how
its pairs split are the same for both and live in xendt.fdt.tree.
"""

from __future__ import annotations

import struct

U32 = struct.Struct(">I")
U64_MASK = (1 << 64) - 1
_PRINTABLE = bytes(range(0x20, 0x7F))


def cells(value: bytes) -> tuple[int, ...] | None:
    """`value` as big-endian 32-bit cells, or None if its length is not a
    multiple of 4."""
    if len(value) % 4:
        return None
    return struct.unpack(f">{len(value) // 4}I", value)


def number(values: tuple[int, ...] | list[int]) -> int:
    """Cells read into one number, most significant first, kept to 64 bits
    as Linux's of_read_number and Xen's dt_read_number keep it."""
    out = 0
    for v in values:
        out = ((out << 32) | v) & U64_MASK
    return out


def pairs(value: bytes, address_cells: int, size_cells: int) -> tuple[tuple[int, int], ...] | None:
    """`value` as (address, size) pairs of the given cell counts, or None if
    it is not a whole number of them (or a count is 0)."""
    width = address_cells + size_cells
    c = cells(value)
    if c is None or not address_cells or not size_cells or len(c) % width:
        return None
    return tuple((number(c[i:i + address_cells]), number(c[i + address_cells:i + width]))
                 for i in range(0, len(c), width))


def strings(value: bytes) -> tuple[str, ...] | None:
    """`value` as a list of printable ASCII strings, or None if it is not one."""
    if not value or value[-1] != 0:
        return None
    parts = value[:-1].split(b"\0")
    if any(not p or p.translate(None, _PRINTABLE) for p in parts):
        return None
    return tuple(p.decode("ascii") for p in parts)


def quoted(value: bytes, limit: int = 8) -> str:
    """`value` for a message: its cells (or bytes) and length, the first
    `limit` cells only: "<0x0 0x1000 0x0> (12 bytes)"."""
    numbers = cells(value)
    if numbers is not None:
        shown = " ".join(f"{n:#x}" for n in numbers[:limit]) + (" ..." if len(numbers) > limit else "")
        return f"<{shown}> ({len(value)} bytes)"
    shown = value[:4 * limit].hex(" ") + (" ..." if len(value) > 4 * limit else "")
    return f"[{shown}] ({len(value)} bytes)"
