"""Reading a device tree blob into a Tree: the one reader of xendt.

Any blob libfdt accepts (header versions 2 to 17, see xendt.fdt.header) is
read; anything else is a DtbError of one line. libfdt vets every offset first
(fdt_check_header, then fdt_check_full); the structure block is then walked
token by token rather than through libfdt's iterators, because pylibfdt binds
no fdt_next_tag, libfdt's property iterator stops at the first subnode (dtc
and xendt's DTS go on, and mark what follows as unreachable), and pylibfdt's
property reader refuses versions before 16. What version 2 and 3 blobs hold
differently is read as fdt_open_into converts it: node names are full paths
(libfdt's fdt_get_name keeps the last component) and values of 8 bytes or
more start 8-byte aligned.
"""

from __future__ import annotations

import os
import struct
from typing import BinaryIO

from xendt.errors import DtbError
from xendt.fdt.header import validated
from xendt.fdt.tree import Node, Property, Tree
from xendt.inputs import DOM0_DTB_MAX
from xendt.ranges import Range

#: Largest blob read (show, check, diff, the Python API): the largest tree
#: Xen reads or writes, dom0's as /proc/device-tree gives it (xendt.inputs:
#: libxl's guest trees stop at 1 MiB, Xen's host and domU trees at 2 MiB). It
#: bounds memory too: a tree takes some tens of times its blob's size in
#: Python objects, so a larger cap would not fit where xendt runs.
MAX_BLOB_SIZE = DOM0_DTB_MAX
#: Why MAX_BLOB_SIZE, for messages.
MAX_BLOB_WHY = "the largest device tree Xen reads or writes: dom0's"
#: Deepest node nesting read (the root is level 1). It keeps the DTS text
#: linear in the blob's size; Linux reads no deeper than 64 levels.
MAX_DEPTH = 256

FDT_BEGIN_NODE = 0x1
FDT_END_NODE = 0x2
FDT_PROP = 0x3
FDT_NOP = 0x4

_U32 = struct.Struct(">I")
_PROP_HEADER = struct.Struct(">II")  # value length, name offset
_RESERVATION = struct.Struct(">QQ")  # address, size


def read_dtb(source: str | os.PathLike[str] | bytes | bytearray, name: str | None = None) -> Tree:
    """The Tree of a blob given as bytes, or in the file at a path ("-" for
    standard input). `name` names it in messages (default: the path)."""
    if isinstance(source, (bytes, bytearray)):
        if len(source) > MAX_BLOB_SIZE:
            raise DtbError(f"{name or '<blob>'}: {len(source)} bytes; xendt reads device trees up"
                           f" to {MAX_BLOB_SIZE} bytes ({MAX_BLOB_WHY})")
        return parse(bytes(source), name or "<blob>")
    data, shown = read_blob(os.fspath(source))
    return parse(data, name or shown)


def read_blob(path: str, limit: int = MAX_BLOB_SIZE, why: str = MAX_BLOB_WHY) -> tuple[bytes, str]:
    """The bytes of the DTB at `path` ("-" for standard input) and the name
    to use in messages. Reads no more than the header's totalsize, and
    refuses a totalsize over `limit` without reading further (`why` says
    whose limit it is). See xendt.inputs for the limits of each input."""
    from xendt.inputs import open_input

    with open_input(path, "device tree") as (f, shown):
        try:
            return read_bounded(f, shown, limit, why), shown
        except OSError as e:
            raise DtbError(f"{shown}: cannot read: {e.strerror}") from None


def read_bounded(f: BinaryIO, name: str, limit: int = MAX_BLOB_SIZE,
                 why: str = MAX_BLOB_WHY) -> bytes:
    """A blob from the open file `f`, read only as far as its header's
    totalsize (at most `limit` bytes); the first 8 bytes when they do not
    start a blob (parse() then says what is wrong)."""
    from xendt.inputs import read_up_to

    head = read_up_to(f, 8)
    if head.startswith(b"/dts-v1/"):
        raise DtbError(f"{name}: this is device tree source, not a blob;"
                       f" compile it first: dtc -I dts -O dtb {name}")
    if len(head) == 8 and _U32.unpack_from(head)[0] == 0xD00DFEED:
        totalsize = _U32.unpack_from(head, 4)[0]
        if totalsize > limit:
            raise DtbError(f"{name}: header says the blob is {totalsize} bytes; xendt reads"
                           f" device trees up to {limit} bytes" + (f" ({why})" if why else ""))
        return read_up_to(f, max(totalsize - 8, 0), head)
    return head


def parse(blob: bytes, name: str | None = "<blob>") -> Tree:
    """The Tree of `blob`; DtbError (starting with `name`, unless None) if
    libfdt finds it unreadable, or it nests deeper than MAX_DEPTH."""
    import libfdt

    buf = validated(blob, name)
    # fdt_num_mem_rsv counts the entries before the terminating one (and
    # fdt_check_full has vetted the map); read them in one pass.
    start = libfdt.fdt_off_mem_rsvmap(buf)
    table = memoryview(buf)[start:start + 16 * libfdt.fdt_num_mem_rsv(buf)]
    reservations = tuple(Range(base, size) for base, size in _RESERVATION.iter_unpack(table))
    table.release()
    return Tree(name or "<blob>", _read_root(buf, name, libfdt), reservations)


class _Open:
    """A node being read: what becomes its Node at FDT_END_NODE."""

    __slots__ = ("children", "name", "path", "props", "raw", "reachable")

    def __init__(self, raw: str, path: str, name: str) -> None:
        self.name, self.raw, self.path = name, raw, path
        self.props: list[tuple[str, bytes]] = []
        self.children: list[Node] = []
        self.reachable: int | None = None


def _read_root(buf: bytearray, name: str | None, libfdt) -> Node:  # type: ignore[no-untyped-def]
    base = libfdt.fdt_off_dt_struct(buf)
    realigned = libfdt.fdt_version(buf) < 16  # values of 8+ bytes start 8-aligned
    stack: list[_Open] = []
    offset = 0
    view = memoryview(buf)  # values are copied out once, not sliced twice
    names: dict[int, str] = {}  # one str per property name, however often used
    while True:
        tag = _U32.unpack_from(buf, base + offset)[0]
        if tag == FDT_BEGIN_NODE:
            raw = libfdt.fdt_get_name(buf, offset)[0]
            shown = _printable(raw)
            if stack:
                parent = stack[-1]
                if parent.reachable is None:
                    parent.reachable = len(parent.props)
                path = f"{parent.path.rstrip('/')}/{shown}"
            else:
                path = "/" if shown == "" else f"/{shown}"
            stack.append(_Open(raw, path, shown))
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
            prop = names.get(name_offset)
            if prop is None:
                prop = names[name_offset] = libfdt.fdt_get_string(buf, name_offset)[0]
            stack[-1].props.append((prop, bytes(view[base + offset:base + offset + length])))
            offset += length
        elif tag == FDT_END_NODE:
            node = _close(stack.pop())
            if not stack:
                view.release()
                return node
            stack[-1].children.append(node)
            offset += 4
        elif tag == FDT_NOP:
            offset += 4
        else:  # FDT_END: fdt_check_full also accepts a tree without a root node
            view.release()
            raise _error(name, "corrupt device tree: no root node")
        offset = (offset + 3) & ~3


def _error(name: str | None, message: str) -> DtbError:
    return DtbError(f"{name}: {message}" if name else message)


def _close(o: _Open) -> Node:
    reachable = len(o.props) if o.reachable is None else o.reachable
    props = []
    for i, (raw, value) in enumerate(o.props):
        shown = _printable(raw)
        props.append(Property(shown, value, i < reachable, "" if shown == raw else raw))
    return Node(o.name, o.path, tuple(props), tuple(o.children), "" if o.name == o.raw else o.raw)


def _printable(name: str) -> str:
    """A node or property name with any byte outside printable ASCII as a
    \\xNN escape (pylibfdt hands such bytes over as surrogate escapes)."""
    if name.isascii() and name.isprintable():
        return name
    data = name.encode("utf-8", "surrogateescape")
    return "".join(chr(b) if 0x20 <= b < 0x7F and b != 0x5C else f"\\x{b:02x}" for b in data)
