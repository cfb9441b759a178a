"""Dataclass methods compiled once, not at every CLI start.

Python writes a dataclass's __init__, __repr__, __eq__, __hash__ and (when
frozen) __setattr__ and __delattr__ as source text and compiles it when the
class is made, that is when its module is imported. For the frozen model a
build imports (xendt.guest.model, xendt.xen.layout, xendt.ranges ...) that
compiling took about 0.4 times `python3 -c "import click"`, a third of
what `xendt build` adds to click (README: Speed).

While a command runs, compiled() keeps the code compiled from each text in
the user's cache folder (next to the layout cache, xendt.xen.cache), one
file per module that defines dataclasses, read when the module makes its
first one: a command loads the code of the modules it imports, no more.
It hands the code back to the dataclasses module when the same text comes
again: the classes are made by dataclasses itself, exactly as without the
cache, and a class whose text changed (an upgrade of xendt, another
Python) is compiled as usual, its module's file then rewritten with the
texts of this run. dataclasses calls `exec` on each text; a module-level
`exec` in its namespace comes before the builtin, and is there only during
the block. XENDT_NO_CACHE=1 turns it off, as it does the layout cache.
"""

from __future__ import annotations

import builtins
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import CodeType
from typing import Any


@contextmanager
def compiled() -> Iterator[None]:
    """Within the block, dataclasses made anywhere use code from the cache
    (or compile it); the files of modules whose code changed are written
    at the end."""
    import dataclasses

    if os.environ.get("XENDT_NO_CACHE") or "exec" in vars(dataclasses):
        yield  # off, or already in place (a command run inside a command)
        return
    folder = _folder()
    stored: dict[str, dict[str, CodeType]] = {}  # by module: its file's code
    used: dict[str, dict[str, CodeType]] = {}  # by module: this run's
    fresh: set[str] = set()  # modules with code compiled in this run

    def cached_exec(source: Any, globals: Any = None, locals: Any = None, /) -> None:
        # dataclasses runs each text with the class's module's namespace
        module = globals.get("__name__") if isinstance(globals, dict) else None
        if isinstance(source, str) and folder and isinstance(module, str) and _plain(module):
            if module not in stored:
                stored[module] = _read(os.path.join(folder, f"{module}.marshal"))
            code = stored[module].get(source)
            if type(code) is not CodeType:
                # dont_inherit: compiled as dataclasses' own exec would
                # compile it, without this module's __future__ import
                code = compile(source, "<string>", "exec", dont_inherit=True)
                fresh.add(module)
            used.setdefault(module, {})[source] = code
            source = code
        builtins.exec(source, globals, locals)

    dataclasses.exec = cached_exec  # type: ignore[attr-defined]
    try:
        yield
    finally:
        if vars(dataclasses).get("exec") is cached_exec:
            del dataclasses.exec  # type: ignore[attr-defined]
        for module in fresh:
            _write(os.path.join(folder, f"{module}.marshal"), used[module])


def _plain(module: str) -> bool:
    """Whether `module` is a dotted name, so a file name of its own."""
    return all(part.isidentifier() for part in module.split("."))


def _folder() -> str:
    """The cache folder for this Python (its bytecode and marshal format),
    or "" when there is none."""
    from xendt.xen.cache import folder

    tag = sys.implementation.cache_tag
    return os.path.join(folder(), f"dataclasses.{tag}") if tag else ""


def _header() -> tuple[str, int]:
    return sys.version, sys.flags.optimize


def _read(path: str) -> dict[str, CodeType]:
    import marshal

    try:
        with open(path, "rb") as f:
            header, table = marshal.loads(f.read())  # not load(f): a read per object
    except (OSError, EOFError, ValueError, TypeError):
        return {}
    if header != _header() or not isinstance(table, dict):
        return {}
    return table


def _write(path: str, table: dict[str, CodeType]) -> None:
    import marshal

    from xendt.xen.cache import write_atomic

    write_atomic(path, marshal.dumps((_header(), table)))
