"""A partial device tree (xl.cfg `device_tree=`), copied as libxl copies it.

libxl (copy_partial_fdt in libxl_arm.c, all versions) requires a node named
exactly /passthrough, takes /aliases when there is one, and copies each
with its properties in blob order and its subnodes depth first. It walks
them with libfdt's iterators, so a property that follows a subnode in the
blob is not copied. The blob is read by xendt's one reader
(xendt.fdt.read); only the copying is libxl's.
"""

from __future__ import annotations

from xendt.errors import DtbError, ImageError
from xendt.fdt import read
from xendt.fdt.tree import Node
from xendt.guest import tree

#: Deepest nesting accepted in a partial device tree (libxl copies recursively).
MAX_PARTIAL_DEPTH = 64


def read_partial(data: bytes, name: str) -> tuple[tree.Node, ...]:
    """/passthrough (required) and /aliases (optional) of the partial
    device tree `data` (file `name`), ready to be written into the guest's."""
    what = f"device_tree {name}"
    try:
        partial = read.parse(data, what)
    except DtbError as e:
        raise ImageError(str(e)) from None
    copied = []
    for path, required in (("/passthrough", True), ("/aliases", False)):
        node = partial.node(path)
        if node is None:
            if required:
                raise ImageError(f"{what}: no {path} node (libxl requires one)")
            continue
        copied.append(_copy(node, what, 0))
    return tuple(copied)


def _copy(node: Node, what: str, depth: int) -> tree.Node:
    if depth > MAX_PARTIAL_DEPTH:
        raise ImageError(f"{what}: nodes nested deeper than {MAX_PARTIAL_DEPTH} levels")
    name = _utf8(node.blob_name, what, "a node name")
    props = tuple((_utf8(p.blob_name, what, f"a property name in {name!r}"), p.value)
                  for p in node.props if p.reachable)
    return tree.Node(name, props + tuple(_copy(child, what, depth + 1) for child in node.children))


def _utf8(name: str, what: str, item: str) -> str:
    """`name`, if libfdt can be handed it back (pylibfdt takes UTF-8 text)."""
    try:
        name.encode()
    except UnicodeError:
        raise ImageError(f"{what}: {item} is not UTF-8 text") from None
    return name
