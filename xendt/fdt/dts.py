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

libfdt's fdt_check_full vets the blob first (xendt.fdt.header.validated), and
whatever it refuses raises DtbError, as do blobs nested deeper than MAX_DEPTH. dtc reads a few such
blobs anyway (header version 1 or a last compatible version above 17, a
named root node, a reservation map inside the header, a structure block
longer than size_dt_struct says); Xen, Linux and U-Boot, which read blobs
with libfdt, would refuse them too. The depth limit keeps the output linear
in the blob's size, as indentation grows with the square of the depth;
Linux reads no deeper than 64 levels.
"""

from __future__ import annotations

import struct

from xendt.fdt.read import MAX_DEPTH, parse  # noqa: F401 (MAX_DEPTH: the reader's limit)
from xendt.fdt.tree import Node, Tree

_U32 = struct.Struct(">I")

# What dtc's guess_value_type() accepts in a string, and how it escapes it.
_STRING_BYTES = bytes([0, *range(0x07, 0x0E), *range(0x20, 0x7F)])
_ESCAPES = str.maketrans({
    "\a": r"\a", "\b": r"\b", "\t": r"\t", "\n": r"\n", "\v": r"\v",
    "\f": r"\f", "\r": r"\r", "\\": r"\\", '"': r"\"", "\0": r"\0",
})


def to_dts(blob: bytes, name: str | None = None) -> str:
    """The DTS text dtc 1.6.1 prints for `blob`.

    name: the blob's file name, used in error messages.

    Raises DtbError if the blob is truncated, corrupt or not a device tree.
    """
    return source(parse(blob, name))


def source(tree: Tree) -> str:
    """The DTS text of `tree`, as dtc prints the blob it was read from."""
    out = ["/dts-v1/;\n\n"]
    out += [f"/memreserve/\t0x{r.base:016x} 0x{r.size:016x};\n" for r in tree.reservations]
    _write_node(out, tree.root, 0)
    return "".join(out)


def _write_node(out: list[str], node: Node, depth: int) -> None:
    indent = "\t" * depth
    out.append(f"{indent}{_text(node.blob_name) or '/'} {{\n")
    for name, value in _shown_props(node):
        out.append(f"{indent}\t{_text(name)} = {_format_value(value)};\n" if value
                   else f"{indent}\t{_text(name)};\n")
    for child in node.children:
        out.append("\n")
        _write_node(out, child, depth + 1)
    out.append(f"{indent}}};\n")


def _shown_props(node: Node) -> list[tuple[str, bytes]]:
    """`node`'s properties less a "name" that repeats the node name, which
    dtc deletes as redundant (checks.c, check_name_properties)."""
    props = [(p.blob_name, p.value) for p in node.props]
    redundant = node.blob_name.partition("@")[0].encode("utf-8", "surrogateescape") + b"\0"
    for i, (name, value) in enumerate(props):
        if name == "name":
            return props[:i] + props[i + 1:] if value == redundant else props
    return props


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
