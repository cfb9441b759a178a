"""One resolved Xen context (xendt.xen.context.Xen), made at the edge.

A version string ("4.21", "4.19.3", None for the newest) enters xendt at
the edge: the CLI's commands (xendt/cli/) and the public API (xendt/api.py,
api_host.py, api_inspect.py). There it is resolved once, into a Xen (or its
Layout), and passed down; the code below takes the context and resolves
no version string again: no module below the edge calls
xendt.xen.layouts.load, layouts.newest or xendt.xen.context's resolve
(read with `ast` from the package as installed).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import xendt
from xendt.errors import ConfigError
from xendt.xen import context, layouts

PACKAGE = Path(xendt.__file__).resolve().parent

#: Where a version string may be resolved: xendt.xen itself and the edge.
EDGE = ("xen/", "cli/", "api.py", "api_host.py", "api_inspect.py")

def _resolves(tree: ast.AST) -> bool:
    """Whether a module calls layouts.load(...), layouts.newest() or
    resolve(...) (imported from xendt.xen.context, or context.resolve)."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id == "resolve":
            return True
        if (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                and (func.value.id, func.attr) in (("layouts", "load"), ("layouts", "newest"),
                                                   ("context", "resolve"))):
            return True
    return False


def _resolving_modules() -> set[str]:
    found = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        if name.startswith(EDGE):
            continue
        if _resolves(ast.parse(path.read_text(encoding="utf-8"))):
            found.add(name)
    return found


def test_no_module_below_the_edge_resolves_a_version() -> None:
    assert sorted(_resolving_modules()) == []


def test_the_scan_sees_a_call_of_layouts_load() -> None:
    assert _resolves(ast.parse("from xendt.xen import layouts\nlayouts.load('4.21')\n"))


def test_the_scan_sees_a_call_of_resolve() -> None:
    assert _resolves(ast.parse("from xendt.xen.context import resolve\nresolve(None)\n"))


def test_the_scan_passes_a_path_resolve() -> None:
    assert not _resolves(ast.parse("from pathlib import Path\nPath('.').resolve()\n"))


def test_resolve_none_is_the_newest_version() -> None:
    xen = context.resolve(None)
    assert (xen.asked, xen.layout) == (layouts.newest(), layouts.load(layouts.newest()))


def test_resolve_a_point_release_applies_its_points() -> None:
    xen = context.resolve("4.19.3")
    assert (xen.asked, xen.version, xen.release) == ("4.19.3", "4.19", "4.19.3")


def test_resolve_keeps_a_resolved_xen() -> None:
    xen = context.resolve("4.21")
    assert context.resolve(xen) is xen


def test_resolve_refuses_an_unknown_version() -> None:
    with pytest.raises(ConfigError) as refused:
        context.resolve("4.99")
    assert str(refused.value) == ("unknown Xen version '4.99': xendt knows"
                                  " 4.14, 4.15, 4.16, 4.17, 4.18, 4.19, 4.20, 4.21, 4.22")
