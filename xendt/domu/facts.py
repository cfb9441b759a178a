"""Per-version facts of the device tree Xen builds for a dom0less domU.

They are data: the [dom0less] table of each layouts/X.Y.toml (see
xendt.xen.rules.Dom0lessRules for each key and the file's comments for the
Xen source it was read from). `facts(version)` is that table for one
version; `supports()` and `first_reader()` answer from the tables which
release reads a domain-node property.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from xendt.errors import ConfigError
from xendt.xen.layout import Layout
from xendt.xen.rules import Dom0lessRules


@dataclass(frozen=True)
class Facts(Dom0lessRules):
    """One version's Dom0lessRules, and the version ("X.Y") they are of."""

    version: str = ""


def facts(version: str) -> Facts:
    """The Facts of Xen `version` ("X.Y" or "X.Y.Z"; no point release
    changes a domU DT: see tests/data/reference-dom0less/README.md)."""
    from xendt.xen import layouts

    return facts_of(layouts.load(version))


def facts_of(layout: Layout) -> Facts:
    """The Facts of a resolved release's Layout (its [dom0less] table)."""
    rules = layout.dom0less
    values = {f.name: getattr(rules, f.name) for f in dataclasses.fields(rules)}
    return Facts(**values, version=layout.version)


def supports(version: str, feature: str) -> bool:
    """Whether Xen `version` reads the domain-node property `feature` (or
    "child:<compatible>" subnode)."""
    return feature in facts(version).properties


def first_reader(feature: str, release: str) -> str:
    """The release that reads `feature` first after `release` ("X.Y" or
    "X.Y.Z", which does not): a later point release of its branch if one
    does (a [[point]] that sets [dom0less].properties), else the first
    later X.Y."""
    from xendt.xen import layouts, points

    base, z = points.split(release)
    for later in range((z or 0) + 1, layouts.load(base).newest_point + 1):
        if supports(f"{base}.{later}", feature):
            return f"{base}.{later}"
    known = layouts.versions()
    for version in known[known.index(base) + 1:]:
        if supports(version, feature):
            return version
    raise ConfigError(f"no Xen version xendt knows after {release} reads {feature!r}")


def features() -> tuple[str, ...]:
    """Every gated property any known version reads, oldest first."""
    from xendt.xen import layouts

    seen: dict[str, None] = {}
    for version in layouts.versions():
        seen.update(dict.fromkeys(facts(version).properties))
    return tuple(seen)
