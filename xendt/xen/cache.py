"""A cache of loaded layouts, so that a CLI start does not parse TOML.

Image builders start xendt thousands of times; parsing and validating a
layout file (tomllib, the reader) costs more than the build itself. A
loaded Layout is kept, in marshal's format, in the user's cache folder
($XDG_CACHE_HOME/xendt, else ~/.cache/xendt), keyed by the layout file's
path, size and modification time and by the code that reads it; anything
that does not match, or any failure to read or write the cache, means the
file is parsed as usual. XENDT_NO_CACHE=1 turns it off.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from xendt.xen.layout import Layout

#: The modules whose code shapes a Layout (its classes, Region's, the
#: reader): a change to any of them (an upgrade of xendt) makes every cached
#: layout stale. Paths relative to this folder.
_CODE = ("layout.py", "rules.py", "reader.py", "schema.py", "points.py", "layouts.py", "cache.py",
         "../ranges.py")


def cached(path: str, release: str, load: Callable[[], Layout],
           older: tuple[str, ...] = ()) -> Layout:
    """The Layout of release `release` from the file at `path` (and the
    `older` files it takes unset keys from): from the cache when it holds
    one for these very files and code, else `load()`d (and stored)."""
    if os.environ.get("XENDT_NO_CACHE"):
        return load()
    try:
        key = _key(path, release, older)
        entry = os.path.join(folder(), _entry(path, release))
    except OSError:
        return load()
    found = _read(entry, key)
    if found is not None:
        return found
    layout = load()
    _write(entry, key, layout)
    return layout


def _key(path: str, release: str, older: tuple[str, ...] = ()) -> tuple[Any, ...]:
    here = os.path.dirname(os.path.abspath(__file__))
    files = (path, *older)
    stats = [os.stat(f) for f in files] + [os.stat(os.path.join(here, name)) for name in _CODE]
    return (*map(os.path.abspath, files), release,
            *((s.st_size, s.st_mtime_ns) for s in stats))


def _entry(path: str, release: str) -> str:
    """The cache file's name: the release and where its layout file is, so
    that two installs of xendt (or a XENDT_LAYOUT_PATH file) do not take
    turns replacing one entry, each start re-parsing."""
    from binascii import crc32

    return f"{release}.{crc32(os.path.abspath(path).encode()):08x}.layout"


def folder() -> str:
    """The user's cache folder for xendt (also xendt.cli.compiled's)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "xendt")


def _read(entry: str, key: tuple[Any, ...]) -> Layout | None:
    import marshal

    from xendt.xen.layout import Layout

    try:
        with open(entry, "rb") as f:
            stored_key, classes, data = marshal.loads(f.read())
        layout = _decode(data, tuple(map(_class, classes))) if stored_key == key else None
    except (OSError, EOFError, ValueError, TypeError, KeyError, AttributeError, ImportError):
        return None
    return layout if isinstance(layout, Layout) else None


def _write(entry: str, key: tuple[Any, ...], layout: Layout) -> None:
    import marshal

    classes: dict[type, int] = {}
    try:
        tree = _encode(layout, classes)
        names = tuple(f"{c.__module__}:{c.__qualname__}" for c in classes)
        data = marshal.dumps((key, names, tree))
    except (TypeError, ValueError):  # a value with no cached form: no cache
        return
    write_atomic(entry, data)


def write_atomic(path: str, data: bytes) -> None:
    """Replace the file at `path` (and make its folder) with `data`, never
    leaving a part-written one; a cache that cannot be written is no cache,
    so any failure is silent."""
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
            f.write(data)
        os.replace(temporary, path)
    except OSError:
        from contextlib import suppress

        with suppress(OSError):
            os.unlink(temporary)


def _encode(value: Any, classes: dict[type, int]) -> Any:
    """`value` as marshal's own values (marshal loads faster than pickle,
    and importing pickle alone costs more than loading a layout): each
    dataclass instance (Layout, Region, HostRules ...) a list [its class's
    number in `classes`, its attributes], a real list [-1, its items], a
    read-only table (FrozenTable) [-2, its items]."""
    if hasattr(type(value), "__dataclass_fields__"):
        number = classes.setdefault(type(value), len(classes))
        return [number, {k: _encode(v, classes) for k, v in vars(value).items()}]
    if isinstance(value, list):
        return [-1, [_encode(v, classes) for v in value]]
    if isinstance(value, Mapping) and not isinstance(value, dict):  # a FrozenTable
        return [-2, {k: _encode(v, classes) for k, v in value.items()}]
    if isinstance(value, tuple):
        return tuple(_encode(v, classes) for v in value)
    if isinstance(value, dict):
        return {k: _encode(v, classes) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, str, bytes)):
        return value
    raise TypeError(f"no cached form for {type(value).__name__}")


def _decode(value: Any, classes: tuple[type, ...]) -> Any:
    kind = type(value)
    if kind is tuple:
        return tuple([_decode(v, classes) for v in value])
    if kind is list:
        number, body = value
        if number == -2:
            from xendt.xen.layout import FrozenTable

            return FrozenTable({k: _decode(v, classes) for k, v in body.items()})
        if number < 0:
            return [_decode(v, classes) for v in body]
        made = object.__new__(classes[number])
        made.__dict__.update({k: _decode(v, classes) for k, v in body.items()})
        return made
    if kind is dict:
        return {k: _decode(v, classes) for k, v in value.items()}
    return value


def _class(name: str) -> type:
    """The class a "module:qualname" names (xendt's own: the key holds
    the code that made the cache)."""
    import sys

    module, _, qualname = name.partition(":")
    if not module.startswith("xendt."):
        raise ImportError(name)
    if module not in sys.modules:
        import importlib

        importlib.import_module(module)
    found: Any = sys.modules[module]
    for part in qualname.split("."):
        found = getattr(found, part)
    if not isinstance(found, type):
        raise TypeError(name)
    return found
