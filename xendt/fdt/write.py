"""Writing device tree blobs the way libxl and Xen do: libfdt's
sequential-write API (through pylibfdt), then in-place edits.

libxl and Xen both create a tree with fdt_create, fdt_begin_node,
fdt_property, fdt_end_node and fdt_finish, and later edit the packed blob
with the read-write API on the same buffer. xendt makes the same calls, so
the bytes follow libfdt's own rules: header layout, string-table order and
suffix sharing, NOP tokens for a removed node, and the stale tail a shrunk
property leaves below the unchanged totalsize.

They differ only in the buffer (a Buffer): Xen writes into one buffer of
a fixed size and fails when the tree does not fit (DOMU_DTB_SIZE, dom0's
host totalsize + DOM0_FDT_EXTRA_SIZE); libxl__prepare_dtb starts again
with twice the size whenever libfdt runs out of room, up to FDT_MAX_SIZE.
The size never changes the bytes (fdt_finish packs the blob).

(pyFDT, PyPI `fdt` 0.3.3, cannot do this: it fails on FDT_NOP tokens, writes
dtc's layout rather than libfdt's, and rejects 64-bit cells and empty strings.)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from xendt.fdt.node import Node

if TYPE_CHECKING:
    from types import ModuleType


@dataclass(frozen=True)
class Buffer:
    """How big the buffer is: `start` bytes, doubled on running out of room
    while below `limit` (libxl), or fixed when `limit` is `start` (Xen);
    `overflow` is raised when the tree does not fit the last size."""

    start: int
    limit: int
    overflow: Exception

    @classmethod
    def fixed(cls, size: int, overflow: Exception) -> Buffer:
        return cls(size, size, overflow)


class _NoSpace(Exception):
    pass


class Writer:
    """libfdt's sequential-write calls on one buffer of `size` bytes;
    running out of room raises `overflow`."""

    def __init__(self, size: int, overflow: Exception | None = None) -> None:
        # pylibfdt's SWIG extension itself: libfdt.py only wraps it, and
        # importing the wrapper costs more than a build (README: Speed).
        import _libfdt as libfdt

        self._fdt = libfdt
        self._overflow = overflow
        self.buf = bytearray(size)
        self._check(libfdt.fdt_create(self.buf, size), "fdt_create")
        self._check(libfdt.fdt_finish_reservemap(self.buf), "fdt_finish_reservemap")

    def _check(self, err: int, what: str) -> None:
        if err == -self._fdt.FDT_ERR_NOSPACE:
            raise self._overflow if self._overflow is not None else _NoSpace()
        if err < 0:
            # Only reachable on calls xendt makes itself: a bug, not bad input.
            raise RuntimeError(f"libfdt {what}: {self._fdt.fdt_strerror(err)}")

    def begin(self, name: str) -> None:
        self._check(self._fdt.fdt_begin_node(self.buf, name), f"begin {name!r}")

    def end(self) -> None:
        self._check(self._fdt.fdt_end_node(self.buf), "end node")

    def prop(self, name: str, value: bytes = b"") -> None:
        self._check(self._fdt.fdt_property_stub(self.buf, name, value, len(value)), name)

    def cell(self, name: str, *values: int) -> None:
        self.prop(name, struct.pack(f">{len(values)}I", *values))

    def string(self, name: str, value: str) -> None:
        self.prop(name, value.encode() + b"\0")

    def node(self, *nodes: Node) -> None:
        """`nodes`, whole, each property and child in order."""
        for node in nodes:
            self._check(_emit(self._fdt, self.buf, node), f"write {node.name!r}")

    def finish(self) -> bytearray:
        """The packed blob, exactly totalsize bytes."""
        self._check(self._fdt.fdt_finish(self.buf), "fdt_finish")
        return self.buf[:self._fdt.fdt_totalsize(self.buf)]


def write(tree: Node, buffer: Buffer) -> bytearray:
    """The finished (packed) blob of `tree`, exactly totalsize bytes."""
    size = buffer.start
    while True:
        try:
            w = Writer(size)
            w.node(tree)
            return w.finish()
        except _NoSpace:
            if size >= buffer.limit:
                raise buffer.overflow from None
            size *= 2


def _emit(libfdt: ModuleType, buf: bytearray, tree: Node) -> int:
    """Sequential-write `tree` into `buf`; 0 or the first libfdt error."""
    # The SWIG functions themselves (the Writer's _libfdt): a build makes a
    # few hundred of these calls.
    raw = libfdt
    begin, prop, end = raw.fdt_begin_node, raw.fdt_property_stub, raw.fdt_end_node
    err = 0
    # Depth-first over each node's entries in order; a None on the stack
    # closes the node whose entries precede it.
    stack: list[tuple[str, bytes] | Node | None] = [tree]
    pop, push, extend = stack.pop, stack.append, stack.extend
    while stack and not err:
        entry = pop()
        if entry is None:
            err = end(buf)
        elif entry.__class__ is tuple:
            name, value = entry
            err = prop(buf, name, value, len(value))
        else:
            err = begin(buf, entry.name)  # type: ignore[union-attr]
            push(None)
            extend(reversed(entry.entries))  # type: ignore[union-attr]
    return err


def set_property(blob: bytearray, path: str, name: str, value: bytes) -> None:
    """fdt_setprop on an existing node (libxl's finalisation): in place when
    the size is unchanged, else spliced (a shrink leaves a stale tail,
    totalsize unchanged)."""
    import _libfdt as libfdt

    node = _offset(blob, path)
    _check(libfdt.fdt_setprop(blob, node, name, value, len(value)), f"set {path}:{name}")


def set_inplace_u64(blob: bytearray, path: str, name: str, value: int) -> None:
    """fdt_setprop_inplace_u64: an 8-byte value overwritten (Xen's
    initrd_load filling /chosen's placeholders)."""
    import _libfdt as libfdt

    node = _offset(blob, path)
    _check(libfdt.fdt_setprop_inplace_u64(blob, node, name, value), f"set {path}:{name}")


def nop_node(blob: bytearray, path: str) -> None:
    """Overwrite a node, from its BEGIN_NODE to its END_NODE, with FDT_NOP."""
    import _libfdt as libfdt

    _check(libfdt.fdt_nop_node(blob, _offset(blob, path)), f"nop {path}")


def _offset(blob: bytearray, path: str) -> int:
    import _libfdt as libfdt

    offset: int = libfdt.fdt_path_offset(blob, path)
    _check(offset, f"find {path}")
    return offset


def _check(result: int, what: str) -> None:
    if result < 0:
        import _libfdt as libfdt

        # Only reachable on a blob xendt wrote itself: a bug, not bad input.
        raise RuntimeError(f"libfdt failed to {what}: {libfdt.fdt_strerror(result)}")
