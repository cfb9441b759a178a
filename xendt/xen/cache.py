"""A cache of loaded layouts, so that a CLI start does not parse TOML.

Image builders start xendt thousands of times; parsing and validating a
layout file (tomllib, the reader) costs more than the build itself. A
loaded Layout is pickled into the user's cache folder
($XDG_CACHE_HOME/xendt, else ~/.cache/xendt), keyed by the layout file's
path, size and modification time and by the code that reads it; anything
that does not match, or any failure to read or write the cache, means the
file is parsed as usual. XENDT_NO_CACHE=1 turns it off.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from xendt.xen.layout import Layout

#: The modules whose code shapes a Layout (its classes, Region's, the
#: reader): a change to any of them (an upgrade of xendt) makes every cached
#: layout stale. Paths relative to this folder.
_CODE = ("layout.py", "rules.py", "reader.py", "schema.py", "points.py", "layouts.py", "../ranges.py")


def cached(path: str, release: str, load: Callable[[], Layout],
           older: tuple[str, ...] = ()) -> Layout:
    """The Layout of release `release` from the file at `path` (and the
    `older` files it takes unset keys from): from the cache when it holds
    one for these very files and code, else `load()`d (and stored)."""
    if os.environ.get("XENDT_NO_CACHE"):
        return load()
    try:
        key = _key(path, release, older)
        entry = os.path.join(_folder(), f"{release}.pickle")
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


def _folder() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "xendt")


def _read(entry: str, key: tuple[Any, ...]) -> Layout | None:
    import pickle

    try:
        with open(entry, "rb") as f:
            stored_key, layout = pickle.load(f)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError,
            TypeError, ValueError):
        return None
    return layout if stored_key == key and isinstance(layout, Layout) else None


def _write(entry: str, key: tuple[Any, ...], layout: Layout) -> None:
    import pickle
    import tempfile

    try:
        os.makedirs(os.path.dirname(entry), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(entry), suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump((key, layout), f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, entry)
        except BaseException:
            os.unlink(tmp)
            raise
    except (OSError, pickle.PicklingError):
        pass  # a cache that cannot be written is no cache: the file was parsed
