"""Device tree blobs through libfdt (pylibfdt): writing the guest tree the
way libxl does, and libxl's in-place finalisation.

libxl creates the blob with libfdt's sequential-write API and later edits it
with the read-write API on the same buffer. xendt makes the same calls, so
the bytes follow libfdt's own rules: header layout, string-table order and
suffix sharing, NOP tokens for a removed node, and the stale tail a shrunk
property leaves below the unchanged totalsize.

(pyFDT, PyPI `fdt` 0.3.3, cannot do this: it fails on FDT_NOP tokens, writes
dtc's layout rather than libfdt's, and rejects 64-bit cells and empty strings.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from xendt.errors import BuildError
from xendt.guest.tree import Node

if TYPE_CHECKING:
    from types import ModuleType

#: First buffer size tried. libxl starts at 4 KiB; the size never changes
#: the bytes (fdt_finish packs the blob), only how often the build restarts.
START_SIZE = 16384


def write(tree: Node, max_size: int) -> bytearray:
    """The finished (packed) blob of `tree`, exactly totalsize bytes.

    As libxl__prepare_dtb: whenever libfdt runs out of buffer space, start
    again from scratch with twice the size, giving up at `max_size`
    (libxl's FDT_MAX_SIZE).
    """
    # pylibfdt's SWIG extension itself, here and below: libfdt.py only wraps
    # each of its functions in a Python one, and importing those wrappers
    # costs a CLI start more than the build does (README: Speed).
    import _libfdt as libfdt

    size = min(START_SIZE, max_size)
    while True:
        buf = bytearray(size)
        err = _write_tree(libfdt, buf, tree)
        if err == -libfdt.FDT_ERR_NOSPACE and size < max_size:
            size *= 2
            continue
        if err == -libfdt.FDT_ERR_NOSPACE:
            raise BuildError(f"the device tree does not fit libxl's {max_size}-byte limit"
                             " (FDT_MAX_SIZE)")
        _check(err, "write the tree")
        return buf[:libfdt.fdt_totalsize(buf)]


def _write_tree(libfdt: ModuleType, buf: bytearray, tree: Node) -> int:
    """Sequential-write `tree` into `buf`; 0 or the first libfdt error."""
    # The SWIG functions themselves, not libfdt.py's one-line wrappers
    # around them: a build makes a few hundred of these calls.
    raw = getattr(libfdt, "_libfdt", libfdt)
    begin, prop, end = raw.fdt_begin_node, raw.fdt_property_stub, raw.fdt_end_node
    err: int = libfdt.fdt_create(buf, len(buf)) or libfdt.fdt_finish_reservemap(buf)
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
    return err or libfdt.fdt_finish(buf)


def set_property(blob: bytearray, path: str, name: str, value: bytes) -> None:
    """fdt_setprop on an existing node: in place when the size is unchanged,
    else spliced (a shrink leaves a stale tail, totalsize unchanged)."""
    import _libfdt as libfdt

    node = _offset(blob, path)
    _check(libfdt.fdt_setprop(blob, node, name, value, len(value)), f"set {path}:{name}")


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
