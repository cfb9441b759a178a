"""The public API's readers: any DTB read back, mapped, checked, compared
(`xendt show`, `check`, `diff`). See xendt.api."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from xendt.apiargs import BYTES, SOURCE, Source, api_errors, expect, text

if TYPE_CHECKING:
    from xendt.fdt.tree import Tree
    from xendt.inspect.addressmap import AddressMap
    from xendt.inspect.diff import Diff
    from xendt.inspect.findings import Report
    from xendt.inspect.show import Shown


def versions() -> tuple[str, ...]:
    """The Xen versions xendt has layouts for, oldest first."""
    from xendt.xen import layouts

    return layouts.versions()


def read_dtb(source: Source, name: str | None = None) -> Tree:
    """The device tree in `source` (a path, "-" for standard input, or the
    blob's bytes); `name` names it in messages. str(tree) is its DTS text,
    exactly as `dtc -I dtb -O dts` prints it. Raises DtbError for a
    truncated or corrupt blob, a missing or unreadable file."""
    from xendt.fdt.read import read_dtb as read

    expect("read_dtb", "source", source, SOURCE)
    text("read_dtb", "name", name, optional=True)
    with api_errors():
        return read(source, BYTES if name is None and isinstance(source, (bytes, bytearray))
                    else name)


def _tree(function: str, name: str, value: object) -> Tree:
    """A Tree argument: a Tree, or a DTB's path or bytes (read_dtb)."""
    from xendt.fdt.tree import Tree

    if isinstance(value, Tree):
        return value
    expect(function, name, value, (Tree, *SOURCE))
    assert isinstance(value, (str, os.PathLike, bytes, bytearray))
    return read_dtb(value)


def address_map(tree: Tree | Source, xen: str | None = None) -> AddressMap:
    """Every range `tree` (a Tree, or a DTB's path or bytes) describes, as
    a guest's consumers read it, named from the layout of Xen `xen`
    (default: the version the tree reports). Raises DtbError, LayoutError."""
    from xendt.inspect.addressmap import address_map as build_map

    decoded = _tree("address_map", "tree", tree)
    text("address_map", "xen", xen, optional=True)
    with api_errors():
        from xendt.xen.context import resolve

        return build_map(decoded, resolve(xen) if xen is not None else None)


def show(tree: Tree | Source, xen: str | None = None) -> Shown:
    """What `xendt show` prints: the tree (a Tree, or a DTB's path or
    bytes) and its address map; .text() as the command prints it,
    .to_dict() / .to_json() its "xendt.show/1" document."""
    from xendt.inspect.show import Shown

    decoded = _tree("show", "tree", tree)
    return Shown(decoded, address_map(decoded, xen))


def check(tree: Tree | Source, *, xen: str | None = None, pa_bits: int | None = None,
          ipa_bits: int | None = None, page_size: int = 4096) -> Report:
    """The findings of every rule a guest's consumers apply to `tree` (a
    Tree, or a DTB's path or bytes). `pa_bits` (the host's) or `ipa_bits`
    (the guest's) bound the extended regions (default: the largest IPA the
    Xen version gives); `page_size` is the guest kernel's. Raises
    ConfigError for a tree that names no Xen version and no `xen`."""
    from xendt.apiargs import address_size
    from xendt.inspect.check import check as run

    f = "check"
    decoded = _tree(f, "tree", tree)
    text(f, "xen", xen, optional=True)
    expect(f, "page_size", page_size, int)
    with api_errors():
        size = address_size(f, pa_bits, ipa_bits)
        if page_size.bit_length() > 64:  # too long to quote (Python prints 4300 digits at most)
            from xendt.errors import XendtError
            from xendt.inspect.check import SECTION_SIZE

            raise XendtError(f"page size of {page_size.bit_length()} bits: expected one of"
                             f" {', '.join(str(p) for p in SECTION_SIZE)}")
        from xendt.xen.context import resolve

        return run(decoded, xen=resolve(xen) if xen is not None else None, size=size,
                   page_size=page_size)


def diff(a: Tree | Source, b: Tree | Source, *, include_rng_seed: bool = False) -> Diff:
    """What differs between two trees (each a Tree, or a DTB's path or
    bytes), by meaning: nodes by path, properties by name, values decoded.
    /chosen/rng-seed only with include_rng_seed."""
    from xendt.inspect.diff import diff as compare

    first, second = _tree("diff", "a", a), _tree("diff", "b", b)
    expect("diff", "include_rng_seed", include_rng_seed, bool)
    with api_errors():
        return compare(first, second, include_rng_seed=include_rng_seed)
