"""Dataclass methods compiled once, not at every CLI start.

Python writes a dataclass's __init__, __repr__, __eq__, __hash__ and (when
frozen) __setattr__ and __delattr__ as source text and compiles it when the
class is made, that is when its module is imported. For the frozen model a
build imports (xendt.guest.model, xendt.xen.layout, xendt.ranges ...) that
compiling took about 0.4 times `python3 -c "import click"`, a third of
what `xendt build` adds to click (README: Speed).

While a command runs, compiled() keeps the code compiled from each text in
the user's cache folder (next to the layout cache, xendt.xen.cache) and
hands it back to the dataclasses module when the same text comes again:
the classes are made by dataclasses itself, exactly as without the cache,
and a class whose text changed (an upgrade of xendt, another Python) is
compiled as usual. dataclasses calls `exec` on each text; a module-level
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

#: At most this many texts are kept; past it, a write keeps only the ones
#: the command used (a text that changed leaves its old code behind).
MAX_ENTRIES = 2000


@contextmanager
def compiled() -> Iterator[None]:
    """Within the block, dataclasses made anywhere use code from the cache
    (or compile and add it); a cache that changed is written at the end."""
    import dataclasses

    if os.environ.get("XENDT_NO_CACHE") or "exec" in vars(dataclasses):
        yield  # off, or already in place (a command run inside a command)
        return
    path = _path()
    table = _read(path)
    used: set[str] = set()
    fresh: list[str] = []

    def cached_exec(source: Any, globals: Any = None, locals: Any = None, /) -> None:
        if isinstance(source, str):
            code = table.get(source)
            if type(code) is not CodeType:
                # dont_inherit: compiled as dataclasses' own exec would
                # compile it, without this module's __future__ import
                code = table[source] = compile(source, "<string>", "exec", dont_inherit=True)
                fresh.append(source)
            used.add(source)
            source = code
        builtins.exec(source, globals, locals)

    dataclasses.exec = cached_exec  # type: ignore[attr-defined]
    try:
        yield
    finally:
        if vars(dataclasses).get("exec") is cached_exec:
            del dataclasses.exec  # type: ignore[attr-defined]
        if fresh and path:
            kept = table if len(table) <= MAX_ENTRIES else {s: table[s] for s in used}
            _write(path, kept)


def _path() -> str:
    """The cache file for this Python (its bytecode and marshal format),
    or "" when there is none."""
    from xendt.xen.cache import folder

    tag = sys.implementation.cache_tag
    if tag is None:
        return ""
    return os.path.join(folder(), f"dataclasses.{tag}.marshal")


def _header() -> tuple[str, int]:
    return sys.version, sys.flags.optimize


def _read(path: str) -> dict[str, CodeType]:
    import marshal

    if not path:
        return {}
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
