"""Point releases: what X.Y.Z changes over X.Y.0, as data.

A layout file (layouts/X.Y.toml) states the X.Y.0 release. Its [releases]
table names the newest point release xendt knows (``newest = 7``: 4.17.1 …
4.17.7), and each ``[[point]]`` entry is one stable-branch commit that
changes what Xen does with a device tree: its release, commit, subject, the
behaviour in words, and ``set``, the layout keys it changes from that
release on. Release X.Y.Z is X.Y.0 with every point up to Z applied, so the
code switches on the keys (HostRules.rangeset_subtract, …), never on version
numbers. Inventory: every commit between RELEASE-X.Y.0 and the newest tag
touching the DT paths; each entry names its commit.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from xendt.errors import ConfigError
from xendt.xen.layout import Point

Fail = Callable[[str], Exception]

_RELEASE = re.compile(r"^(\d{1,9})\.(\d{1,9})(?:\.(\d{1,9}))?$")  # bounded: int() refuses 4300+ digits


def split(text: str) -> tuple[str, int | None]:
    """"4.19.3" -> ("4.19", 3); "4.19" -> ("4.19", None) (meaning .0);
    ConfigError for anything else."""
    match = _RELEASE.match(text.strip())
    if match is None:
        raise ConfigError(f"unknown Xen version {text!r}: expected X.Y or X.Y.Z (e.g. 4.19 or 4.19.3)")
    major, minor, point = match.groups()
    return f"{int(major)}.{int(minor)}", None if point is None else int(point)


def releases(version: str, newest: int) -> tuple[str, ...]:
    """Every release of the X.Y branch xendt knows: X.Y.0 … X.Y.newest."""
    return tuple(f"{version}.{z}" for z in range(newest + 1))


def refuse_unknown(text: str, version: str, newest: int) -> ConfigError:
    """The one-line error for a point release xendt has no data for."""
    return ConfigError(f"unknown Xen release {text!r}: xendt knows"
                       f" {', '.join(releases(version, newest))}")


def read(entries: object, version: str, newest: int, fail: Fail) -> tuple[Point, ...]:
    """The [[point]] entries of the layout of `version`, checked: each names
    a release X.Y.Z of this branch up to `newest`, in order, a commit, a
    subject, a behaviour and a non-empty `set` of tables of keys. `fail`
    turns a message into the file's LayoutError."""
    if entries is None:
        return ()
    if not isinstance(entries, list):
        raise fail("[[point]] should be an array of tables")
    out: list[Point] = []
    for i, entry in enumerate(entries):
        where = f"[[point]] {i + 1}"
        if not isinstance(entry, dict):
            raise fail(f"{where} should be a table")
        extra = sorted(set(entry) - {"release", "commit", "subject", "behaviour", "set"})
        if extra:
            raise fail(f"unknown key {extra[0]!r} in {where}")
        for key in ("release", "commit", "subject", "behaviour"):
            if not isinstance(entry.get(key), str) or not entry[key]:
                raise fail(f"{where}.{key} should be a non-empty string")
        base, z = split(entry["release"]) if _RELEASE.match(entry["release"]) else ("", None)
        if base != version or z is None or not 1 <= z <= newest:
            raise fail(f"{where}.release {entry['release']!r} is not one of {version}.1 …"
                       f" {version}.{newest}")
        if out and _z(out[-1].release) > z:
            raise fail(f"{where}.release {entry['release']!r} comes before {out[-1].release}")
        if not re.fullmatch(r"[0-9a-f]{12,40}", entry["commit"]):
            raise fail(f"{where}.commit {entry['commit']!r} is not a commit id")
        sets = entry.get("set")
        if not isinstance(sets, dict) or not sets or not all(
                isinstance(t, dict) and t for t in sets.values()):
            raise fail(f"{where}.set should be tables of the keys the release changes")
        changes = tuple((table, key, value) for table, keys in sets.items()
                        for key, value in keys.items())
        out.append(Point(entry["release"], entry["commit"], entry["subject"], entry["behaviour"],
                         changes))
    return tuple(out)


def apply(data: dict[str, Any], points: tuple[Point, ...], upto: int,
          fail: Fail) -> dict[str, Any]:
    """A copy of the layout data with the `set` of every point up to
    release .`upto` applied. A key must already be in the X.Y.0 table it
    changes (with a value of the same type), so every release reads the
    same keys."""
    out = copy.deepcopy(data)
    for point in points:
        if _z(point.release) > upto:
            break
        for table, key, value in point.changes:
            target = out.get(table)
            if not isinstance(target, dict) or key not in target:
                raise fail(f"point {point.release} sets {table}.{key}, which the"
                           f" {out.get('version')}.0 layout does not have")
            if type(target[key]) is not type(value):
                raise fail(f"point {point.release} sets {table}.{key} to {value!r}, not the"
                           f" type of {target[key]!r}")
            target[key] = value
    return out


def applied(points: tuple[Point, ...], upto: int) -> tuple[Point, ...]:
    return tuple(p for p in points if _z(p.release) <= upto)


def _z(release: str) -> int:
    return int(release.rsplit(".", 1)[1])
