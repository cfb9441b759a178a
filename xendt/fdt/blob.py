"""Device tree blobs through libfdt (pylibfdt): writing the guest tree the
way libxl does, libxl's in-place finalisation, and reading partial DTBs.

libxl creates the blob with libfdt's sequential-write API and later edits it
with the read-write API on the same buffer. xendt makes the same calls, so
the bytes follow libfdt's own rules: header layout, string-table order and
suffix sharing, NOP tokens for a removed node, and the stale tail a shrunk
property leaves below the unchanged totalsize.

(pyFDT, PyPI `fdt` 0.3.3, cannot do this: it fails on FDT_NOP tokens, writes
dtc's layout rather than libfdt's, and rejects 64-bit cells and empty strings.)
"""

from __future__ import annotations

import struct

from xendt.errors import BuildError, DtbError, ImageError, XendtError
from xendt.guest.tree import Node

FDT_MAGIC = 0xD00DFEED
HEADER_SIZE = 40
#: Deepest nesting accepted in a partial device tree (libxl copies recursively).
MAX_PARTIAL_DEPTH = 64


#: First buffer size tried. libxl starts at 4 KiB; the size never changes
#: the bytes (fdt_finish packs the blob), only how often the build restarts.
START_SIZE = 16384


def write(tree: Node, max_size: int) -> bytearray:
    """The finished (packed) blob of `tree`, exactly totalsize bytes.

    As libxl__prepare_dtb: whenever libfdt runs out of buffer space, start
    again from scratch with twice the size, giving up at `max_size`
    (libxl's FDT_MAX_SIZE).
    """
    import libfdt

    size = min(START_SIZE, max_size)
    while True:
        buf = bytearray(size)
        err = _write_tree(libfdt, buf, tree)
        if err == -libfdt.NOSPACE and size < max_size:
            size *= 2
            continue
        if err == -libfdt.NOSPACE:
            raise BuildError(f"the device tree does not fit libxl's {max_size}-byte limit"
                             " (FDT_MAX_SIZE)")
        _check(err, "write the tree")
        return buf[:libfdt.fdt_totalsize(buf)]


def _write_tree(libfdt, buf: bytearray, tree: Node) -> int:
    """Sequential-write `tree` into `buf`; 0 or the first libfdt error."""
    begin, prop, end = libfdt.fdt_begin_node, libfdt.fdt_property_stub, libfdt.fdt_end_node
    err = libfdt.fdt_create(buf, len(buf)) or libfdt.fdt_finish_reservemap(buf)
    # Depth-first over each node's entries in order; a None on the stack
    # closes the node whose entries precede it.
    stack: list = [tree]
    while stack and not err:
        entry = stack.pop()
        if entry is None:
            err = end(buf)
        elif entry.__class__ is tuple:
            err = prop(buf, entry[0], entry[1], len(entry[1]))
        else:
            err = begin(buf, entry.name)
            stack.append(None)
            stack.extend(reversed(entry.entries))
    return err or libfdt.fdt_finish(buf)


def set_property(blob: bytearray, path: str, name: str, value: bytes) -> None:
    """fdt_setprop on an existing node: in place when the size is unchanged,
    else spliced (a shrink leaves a stale tail, totalsize unchanged)."""
    import libfdt

    node = _offset(blob, path)
    _check(libfdt.fdt_setprop(blob, node, name, value, len(value)), f"set {path}:{name}")


def nop_node(blob: bytearray, path: str) -> None:
    """Overwrite a node, from its BEGIN_NODE to its END_NODE, with FDT_NOP."""
    import libfdt

    _check(libfdt.fdt_nop_node(blob, _offset(blob, path)), f"nop {path}")


def _offset(blob: bytearray, path: str) -> int:
    import libfdt

    offset = libfdt.fdt_path_offset(blob, path)
    _check(offset, f"find {path}")
    return offset


def _check(result: int, what: str) -> None:
    if result < 0:
        import libfdt

        # Only reachable on a blob xendt wrote itself: a bug, not bad input.
        raise RuntimeError(f"libfdt failed to {what}: {libfdt.fdt_strerror(result)}")


def read_partial(data: bytes, name: str) -> tuple[Node, ...]:
    """/passthrough (required) and /aliases (optional) of a partial device
    tree (xl device_tree=), as libxl copies them: same names, properties in
    source order with the same bytes, children depth-first."""
    import libfdt

    if len(data) < HEADER_SIZE or struct.unpack_from(">I", data)[0] != FDT_MAGIC:
        raise ImageError(f"device_tree {name}: not a flattened device tree (bad magic)")
    fdt = check_blob(data, name, kind=ImageError, what=f"device_tree {name}")
    nodes = []
    for path, required in (("/passthrough", True), ("/aliases", False)):
        offset = fdt.path_offset(path, libfdt.QUIET_NOTFOUND)
        # libfdt matches "passthrough@1" for "/passthrough"; libxl insists on the exact name.
        if offset < 0 or fdt.get_name(offset) != path[1:]:
            if required:
                raise ImageError(f"device_tree {name}: no {path} node (libxl requires one)")
            continue
        nodes.append(_copy(fdt, offset, name, 0))
    return tuple(nodes)


def _copy(fdt, offset: int, name: str, depth: int) -> Node:
    import libfdt

    if depth > MAX_PARTIAL_DEPTH:
        raise ImageError(f"device_tree {name}: nodes nested deeper than {MAX_PARTIAL_DEPTH} levels")
    node = Node(_text(fdt.get_name, offset, name, "a node name"))
    prop = fdt.first_property_offset(offset, libfdt.QUIET_NOTFOUND)
    while prop >= 0:
        p = _text(fdt.get_property_by_offset, prop, name, f"a property name in {node.name!r}")
        node.prop(p.name, bytes(p))
        prop = fdt.next_property_offset(prop, libfdt.QUIET_NOTFOUND)
    child = fdt.first_subnode(offset, libfdt.QUIET_NOTFOUND)
    while child >= 0:
        node.child(_copy(fdt, child, name, depth + 1))
        child = fdt.next_subnode(child, libfdt.QUIET_NOTFOUND)
    return node


def _text(read, offset: int, name: str, what: str):
    """read(offset) for a name-bearing item, refusing names pylibfdt cannot
    pass back as C strings (not UTF-8): node names must be ASCII anyway."""
    try:
        item = read(offset)
        (item if isinstance(item, str) else item.name).encode()
        return item
    except (UnicodeError, SystemError) as e:
        # pylibfdt reports an undecodable name as a SystemError wrapping it.
        if isinstance(e, SystemError) and not isinstance(e.__context__, UnicodeError):
            raise
        raise ImageError(f"device_tree {name}: {what} is not UTF-8 text") from None


def check_blob(data: bytes, name: str, *, kind: type = DtbError, what: str | None = None):
    """A libfdt.Fdt over `data` once validated() accepts it; `kind`
    (DtbError by default) with a one-line reason otherwise."""
    import libfdt

    what = what or name
    if len(data) < HEADER_SIZE:
        raise kind(f"{what}: truncated: {len(data)} bytes is less than a DTB header")
    magic, totalsize = struct.unpack_from(">II", data)
    if magic != FDT_MAGIC:
        raise kind(f"{what}: not a device tree blob (magic {magic:#010x}, expected 0xd00dfeed)")
    if totalsize > len(data):
        raise kind(f"{what}: truncated: header says {totalsize} bytes, there are {len(data)}")
    return libfdt.Fdt(validated(data, what, kind))


def validated(blob: bytes, name: str | None = None, kind: type = DtbError) -> bytearray:
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
    buf = bytearray(blob[:totalsize]).ljust(HEADER_SIZE, b"\0")
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


def _header_problem(buf: bytearray, err: int, libfdt) -> str:
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
