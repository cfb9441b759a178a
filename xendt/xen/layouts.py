"""Loading and validating the per-version layout files (layouts/<version>.toml).

A layout file holds one Xen release's guest memory map (arch-arm.h), IRQs,
phandles and the switches that say how that release's libxl builds the guest
device tree. A new Xen version is mostly a new file. Files are checked when
loaded: every key known and typed, regions page-aligned and non-overlapping,
and an error names the file and the offending regions.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any

from xendt.errors import ConfigError, LayoutError
from xendt.xen.layout import Layout

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


#: Deepest nesting of arrays and inline tables in a layout file (xendt's
#: own nest 3 deep); tomllib would recurse to Python's limit.
MAX_DEPTH = 16
#: What the nesting count skips: TOML strings and comments.
#: An unterminated string runs to the end of its line (or of the text), so
#: that no part of the text is scanned from more than one start.
_TOML_SKIP = "|".join((r'"""[\s\S]*?(?:"""|\Z)', r"'''[\s\S]*?(?:'''|\Z)",
                       r'"(?:[^"\\\n]|\\.?)*(?:"|(?=\n)|\Z)', r"'[^'\n]*(?:'|(?=\n)|\Z)",
                       r"#[^\n]*"))

#: An environment variable naming more layout folders (os.pathsep between
#: them), searched before xendt's own: a new Xen version is one data file.
PATH_VARIABLE = "XENDT_LAYOUT_PATH"


def layout_dir() -> str:
    """Where xendt's own layout files are: the package's layoutdata/ (in
    the source tree a link to the top-level layouts/ folder). (os.path, not
    pathlib: this runs at every CLI start.)"""
    return os.path.join(_PACKAGE_DIR, "layoutdata")


def layout_dirs() -> tuple[str, ...]:
    """The folders searched for layouts, first match wins."""
    extra = [d for d in os.environ.get(PATH_VARIABLE, "").split(os.pathsep) if d]
    return (*extra, layout_dir())


def _files() -> dict[str, str]:
    """Version -> layout file, over every folder of layout_dirs()."""
    found: dict[str, str] = {}
    for directory in reversed(layout_dirs()):
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        found.update({n[:-5]: os.path.join(directory, n) for n in names if n.endswith(".toml")
                      and _is_version(n[:-5])})
    return found


def _is_version(text: str) -> bool:
    major, dot, minor = text.partition(".")
    return bool(dot) and major.isdigit() and minor.isdigit()


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


@functools.cache
def versions() -> tuple[str, ...]:
    """The Xen versions xendt has layouts for, oldest first."""
    return tuple(sorted(_files(), key=_version_key))


def newest() -> str:
    """The newest Xen version xendt has a layout for: every default."""
    return versions()[-1]


@functools.cache
def load(version: str) -> Layout:
    """The layout of Xen `version`: "4.21" (meaning 4.21.0) or a point
    release "4.19.3" (4.19.0 with the point releases' changes up to .3);
    ConfigError naming what xendt knows otherwise."""
    if _is_version(version):  # X.Y, the common case, without the points module
        base, point = version, None
    else:
        from xendt.xen import points

        base, point = points.split(version)
    if base not in versions() or (point is None and version != base):
        raise ConfigError(
            f"unknown Xen version {version!r}: xendt knows {', '.join(versions())}"
        )
    from xendt.xen.cache import cached

    files = _files()
    path = files[base]
    older = tuple(files[v] for v in _older(base))
    return cached(path, f"{base}.{point or 0}", lambda: load_file(path, point, asked=version),
                  older)


def releases(version: str) -> tuple[str, ...]:
    """Every release of branch `version` ("4.19") xendt knows, X.Y.0 first."""
    from xendt.xen import points

    return points.releases(version, load(version).newest_point)


def first_releases(table: str, key: str, value: object) -> tuple[str, ...]:
    """The first release of each branch whose layout has `key` of [`table`]
    set to `value`, by its X.Y.0 data or a point release (e.g. where a fix
    arrived: ("4.19.3", "4.20.1", "4.21.0")); a branch whose X.Y.0 has it
    ends the list, later ones have it too."""
    out = []
    for version in versions():
        layout = load(version)
        if _raw(layout, table, key) == value:
            out.append(f"{version}.0")
            break
        newest = load(f"{version}.{layout.newest_point}")
        hit = next((p.release for p in newest.points
                    if (table, key, value) in p.changes), None)
        if hit is not None:
            out.append(hit)
    return tuple(out)


def dom0less_reads(version: str, feature: str) -> bool:
    """Whether Xen `version` ("X.Y" or "X.Y.Z") reads the dom0less
    domain-node property `feature` (or "child:<compatible>" subnode): its
    [dom0less].properties."""
    return feature in load(version).dom0less.properties


def first_dom0less_reader(feature: str, release: str) -> str:
    """The release that reads `feature` first after `release` ("X.Y" or
    "X.Y.Z", which does not): a later point release of its branch if one
    does (a [[point]] that sets [dom0less].properties), else the first
    later X.Y."""
    from xendt.xen import points

    base, z = points.split(release)
    for later in range((z or 0) + 1, load(base).newest_point + 1):
        if dom0less_reads(f"{base}.{later}", feature):
            return f"{base}.{later}"
    known = versions()
    for version in known[known.index(base) + 1:]:
        if dom0less_reads(version, feature):
            return version
    raise ConfigError(f"no Xen version xendt knows after {release} reads {feature!r}")


def dom0less_features() -> tuple[str, ...]:
    """Every gated dom0less property any known version reads, oldest first."""
    seen: dict[str, None] = {}
    for version in versions():
        seen.update(dict.fromkeys(load(version).dom0less.properties))
    return tuple(seen)


def naming(version: str | None) -> tuple[Layout | None, str]:
    """The layout to name a tree's ranges with, for the Xen `version` the
    tree reports ("X.Y", or None), and a note when it is not the version's
    own: a version newer than xendt knows gets the newest layout, an older
    one none."""
    if version is None:
        return None, "no Xen version: ranges are not named"
    known = versions()
    if version in known:
        return load(version), ""
    key = tuple(int(p) for p in version.split("."))
    latest = known[-1]
    if key > _version_key(latest):
        return load(latest), f"xendt has no layout for Xen {version}; names from {latest}'s"
    return None, f"xendt has no layout for Xen {version} (it knows {known[0]} to {latest})"


def newest_layout() -> Layout:
    """The layout of the newest Xen version xendt knows (X.Y.0)."""
    return load(newest())


def _raw(layout: Layout, table: str, key: str) -> object:
    """A key of a layout table as the file spells it."""
    return layout.setting(table, key)


def first(has: Callable[[Layout], bool]) -> str | None:
    """The oldest version whose layout `has` something, or None: so that a
    message says "came in 4.17" from the data, not from code."""
    return next((version for version in versions() if has(load(version))), None)


def _older(version: str) -> tuple[str, ...]:
    """The known versions before `version`, oldest first."""
    return tuple(v for v in versions() if _version_key(v) < _version_key(version))


@functools.cache
def _chain(version: str) -> dict[str, dict[str, Any]]:
    """The settings tables (xendt.xen.schema.TABLES) in force at X.Y.0 of
    known version `version`: its file's keys over every older file's."""
    from xendt.xen import schema

    older = _older(version)
    below = _chain(older[-1]) if older else {}
    own = _parse(_files()[version])
    return {t: {**below.get(t, {}), **(own[t] if isinstance(own.get(t), dict) else {})}
            for t in schema.TABLES if t in below or t in own}


def inherited(version: str) -> dict[str, dict[str, Any]]:
    """What the layout of `version` takes the keys it does not set from:
    the tables of the known versions before it (empty for the oldest)."""
    older = _older(version) if _is_version(version) else ()
    return _chain(older[-1]) if older else {}


def load_file(path: str | os.PathLike[str], point: int | None = None,
              asked: str = "") -> Layout:
    """Read and validate one layout file, as release X.Y.`point` (X.Y.0
    when None); `asked` names the release in the error for an unknown one.
    The keys it does not set come from the known versions before the one
    its name gives."""
    from xendt.xen.reader import Reader

    data = _parse(path)
    base = os.path.basename(os.fspath(path))
    return Reader(path, data, point, asked, inherited(base[:-5])).layout()


def _parse(path: str | os.PathLike[str]) -> dict[str, Any]:
    """One layout file's TOML, bounded (size, nesting, digits)."""
    import tomllib

    from xendt.inputs import LAYOUT_MAX, nesting, read_regular

    raw = read_regular(os.fspath(path), "layout", LAYOUT_MAX, LayoutError)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise LayoutError(f"{path}: not UTF-8 text (byte {e.start}), so not TOML") from None
    depth = nesting(text, _TOML_SKIP)
    if depth > MAX_DEPTH:
        raise LayoutError(f"{path}: arrays and tables nested {depth} deep; a layout nests at"
                          f" most {MAX_DEPTH} deep")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise LayoutError(f"{path}: not valid TOML: {e}") from None
    except ValueError:  # int() of a decimal number past Python's digit limit
        raise LayoutError(f"{path}: a number of more than {sys.get_int_max_str_digits()} digits;"
                          " layout values fit in 64 bits") from None
    except RecursionError:  # the depth bound comes first; this is its backstop
        raise LayoutError(f"{path}: nested more than {MAX_DEPTH} deep") from None
    return data
