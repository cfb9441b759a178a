"""Per-version facts of the device tree Xen builds for a dom0less domU.

They are data: the [dom0less] table of each layouts/X.Y.toml (see
xendt.xen.rules.Dom0lessRules for each key and the file's comments for the
Xen source it was read from). `facts_of(layout)` is that table for one
resolved release; `supports()` and `first_reader()` answer from the tables
(through xendt.xen.layouts, where versions are resolved) which release
reads a domain-node property.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from xendt.xen.layout import Layout
from xendt.xen.rules import Dom0lessRules


@dataclass(frozen=True)
class Facts(Dom0lessRules):
    """One version's Dom0lessRules, and the version ("X.Y") they are of."""

    version: str = ""


def facts_of(layout: Layout) -> Facts:
    """The Facts of a resolved release's Layout (its [dom0less] table)."""
    rules = layout.dom0less
    values = {f.name: getattr(rules, f.name) for f in dataclasses.fields(rules)}
    return Facts(**values, version=layout.version)


def supports(version: str, feature: str) -> bool:
    """Whether Xen `version` reads the domain-node property `feature` (or
    "child:<compatible>" subnode)."""
    from xendt.xen import layouts

    return layouts.dom0less_reads(version, feature)


def first_reader(feature: str, release: str) -> str:
    """The release that reads `feature` first after `release` (a question
    across versions: xendt.xen.layouts.first_dom0less_reader)."""
    from xendt.xen import layouts

    return layouts.first_dom0less_reader(feature, release)


def features() -> tuple[str, ...]:
    """Every gated property any known version reads, oldest first."""
    from xendt.xen import layouts

    return layouts.dom0less_features()
