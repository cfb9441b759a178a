"""Decompile a device tree blob to source, exactly as dtc does.

to_dts(blob) returns the text that ``dtc -I dtb -O dts -q`` (dtc 1.6.1)
prints for the same blob, byte for byte. ``xendt build --format dts`` and
``xendt show`` print it; tests/test_dts.py checks it against dtc itself.

dtc's rules, from its treesource.c, flattree.c and checks.c:

- ``/dts-v1/;`` and a blank line, one ``/memreserve/`` line per reserved
  range, then the tree: one tab per level, a node's properties first, then
  its children, each child preceded by a blank line.
- A blob carries no types, so dtc guesses each value's: a string (list) if
  it ends in NUL, holds only printable ASCII, NULs and the escapes \\a to
  \\r, and no more NULs than other bytes; else 32-bit cells if its length is
  a multiple of 4; else bytes. An empty value prints as ``name;``.
- FDT_NOP tokens are skipped, and so is anything after the structure and
  strings blocks (libxl leaves a stale tail there) or after totalsize.
- A "name" property that only repeats its node's name (version 1 to 3
  blobs have one in every node) is dropped.
- Properties that follow a subnode in the blob are printed with the others.

libfdt's fdt_check_full vets the blob first (xendt.fdt.blob.validated), and
whatever it refuses raises DtbError, as do blobs nested deeper than MAX_DEPTH. dtc reads a few such
blobs anyway (header version 1 or a last compatible version above 17, a
named root node, a reservation map inside the header, a structure block
longer than size_dt_struct says); Xen, Linux and U-Boot, which read blobs
with libfdt, would refuse them too. The depth limit keeps the output linear
in the blob's size, as indentation grows with the square of the depth;
Linux reads no deeper than 64 levels.

Once libfdt has vouched for every offset, the structure block is walked
token by token here rather than with libfdt's node and property iterators:
pylibfdt does not bind fdt_next_tag, libfdt's property iterator stops at the
first subnode (dtc goes on), and pylibfdt's fdt_get_property_by_offset
refuses blobs older than version 16.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from xendt.fdt.blob import validated
from xendt.errors import DtbError

FDT_BEGIN_NODE = 0x1
FDT_END_NODE = 0x2
FDT_PROP = 0x3
FDT_NOP = 0x4

MAX_DEPTH = 256
"""Deepest node nesting to_dts accepts (the root is level 1)."""

_U32 = struct.Struct(">I")
_PROP_HEADER = struct.Struct(">II")  # value length, name offset

# What dtc's guess_value_type() accepts in a string, and how it escapes it.
_STRING_BYTES = bytes([0, *range(0x07, 0x0E), *range(0x20, 0x7F)])
_ESCAPES = str.maketrans({
    "\a": r"\a", "\b": r"\b", "\t": r"\t", "\n": r"\n", "\v": r"\v",
    "\f": r"\f", "\r": r"\r", "\\": r"\\", '"': r"\"", "\0": r"\0",
})


@dataclass
class RawNode:
    """A node as the structure block holds it (see read()).

    name:
      the node name with unit address ("" for the root).
    props:
      (name, value) pairs in blob order, FDT_NOPs dropped.
    children:
      subnodes in blob order.
    reachable:
      how many of `props` libfdt's property lookups find: they stop at the
      first subnode, so a property after one is invisible to them. None: all.
    """

    name: str
    props: list[tuple[str, bytes]] = field(default_factory=list)
    children: list[RawNode] = field(default_factory=list)
    reachable: int | None = None


def to_dts(blob: bytes, name: str | None = None) -> str:
    """The DTS text dtc 1.6.1 prints for `blob`.

    name: the blob's file name, used in error messages.

    Raises DtbError if the blob is truncated, corrupt or not a device tree.
    """
    return write(*read(blob, name))


def write(reservations: list[tuple[int, int]], root: RawNode) -> str:
    """The DTS text of what read() returned."""
    out = ["/dts-v1/;\n\n"]
    out += [f"/memreserve/\t0x{addr:016x} 0x{size:016x};\n" for addr, size in reservations]
    _write_node(out, root, 0)
    return "".join(out)


def read(blob: bytes, name: str | None = None) -> tuple[list[tuple[int, int]], RawNode]:
    """The memory reservations, as (address, size) pairs, and the root node
    of `blob`, read as to_dts reads it. Raises DtbError like to_dts."""
    import libfdt

    buf = validated(blob, name)
    reservations = [
        libfdt.fdt_get_mem_rsv(buf, i)[1:] for i in range(libfdt.fdt_num_mem_rsv(buf))
    ]
    return reservations, _read_tree(buf, name, libfdt)


def _error(name: str | None, message: str) -> DtbError:
    return DtbError(f"{name}: {message}" if name else message)


def _read_tree(buf: bytearray, name: str | None, libfdt) -> RawNode:
    """The root node of `buf`, a blob fdt_check_full has accepted."""
    base = libfdt.fdt_off_dt_struct(buf)
    realigned = libfdt.fdt_version(buf) < 16  # values of 8+ bytes start 8-aligned
    stack: list[RawNode] = []
    offset = 0
    while True:
        tag = _U32.unpack_from(buf, base + offset)[0]
        if tag == FDT_BEGIN_NODE:
            node = RawNode(libfdt.fdt_get_name(buf, offset)[0])
            if stack:
                parent = stack[-1]
                if not parent.children:
                    parent.reachable = len(parent.props)
                parent.children.append(node)
            stack.append(node)
            if len(stack) > MAX_DEPTH:
                raise _error(name, f"nodes nested more than {MAX_DEPTH} levels deep"
                                   f" (structure block offset {offset:#x})")
            offset = buf.index(0, base + offset + 4) + 1 - base
        elif tag == FDT_PROP:
            if not stack:  # fdt_check_full lets properties come before the root
                raise _error(name, "corrupt device tree: a property comes before the root node")
            length, name_offset = _PROP_HEADER.unpack_from(buf, base + offset + 4)
            offset += 12
            if realigned and length >= 8 and offset % 8:
                offset += 4
            value = bytes(buf[base + offset:base + offset + length])
            stack[-1].props.append((libfdt.fdt_get_string(buf, name_offset)[0], value))
            offset += length
        elif tag == FDT_END_NODE:
            node = stack.pop()
            if not stack:
                return node
            offset += 4
        elif tag == FDT_NOP:
            offset += 4
        else:  # FDT_END: fdt_check_full also accepts a tree without a root node
            raise _error(name, "corrupt device tree: no root node")
        offset = (offset + 3) & ~3


def _write_node(out: list[str], node: RawNode, depth: int) -> None:
    indent = "\t" * depth
    out.append(f"{indent}{_text(node.name) or '/'} {{\n")
    for name, value in _shown_props(node):
        out.append(f"{indent}\t{_text(name)} = {_format_value(value)};\n" if value
                   else f"{indent}\t{_text(name)};\n")
    for child in node.children:
        out.append("\n")
        _write_node(out, child, depth + 1)
    out.append(f"{indent}}};\n")


def _shown_props(node: RawNode) -> list[tuple[str, bytes]]:
    """`node`'s properties less a "name" that repeats the node name, which
    dtc deletes as redundant (checks.c, check_name_properties)."""
    redundant = node.name.partition("@")[0].encode("utf-8", "surrogateescape") + b"\0"
    for i, (name, value) in enumerate(node.props):
        if name == "name":
            return node.props[:i] + node.props[i + 1:] if value == redundant else node.props
    return node.props


def _format_value(value: bytes) -> str:
    """A non-empty value as dtc's guess_value_type() and write_propval() print it."""
    nuls = value.count(0)
    if value[-1] == 0 and not value.translate(None, _STRING_BYTES) and nuls <= len(value) - nuls:
        return '"' + value[:-1].decode("ascii").translate(_ESCAPES) + '"'
    if len(value) % 4 == 0:
        return "<" + " ".join(f"0x{cell:02x}" for (cell,) in _U32.iter_unpack(value)) + ">"
    return "[" + value.hex(" ") + "]"


def _text(name: str) -> str:
    """A node or property name, with bytes outside ASCII as \\xNN escapes.

    dtc refuses such names; pylibfdt hands them over as surrogate escapes.
    """
    if name.isascii():
        return name
    return name.encode("utf-8", "surrogateescape").decode("ascii", "backslashreplace")
