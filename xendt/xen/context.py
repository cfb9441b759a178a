"""One resolved Xen: made once where a version string enters xendt (a CLI
command, a public API function) and passed down, so that no code below
the edge resolves a version string again.

`resolve("4.21")`, `resolve("4.19.3")` or `resolve(None)` (the newest
version xendt knows) gives a Xen: the Layout of that release with its
point releases applied (xendt.xen.layouts.load), and the version string as
it was asked for (what messages name).
"""

from __future__ import annotations

from dataclasses import dataclass

from xendt.xen.layout import Layout
from xendt.xen.rules import Dom0lessRules


@dataclass(frozen=True)
class Xen:
    """A resolved Xen release.

    layout:
      the release's Layout ("4.19.3": 4.19.0 with its point releases).
    asked:
      the version as given ("4.21", "4.19.3"; the newest "X.Y" for a
      default).
    """

    layout: Layout
    asked: str

    @property
    def version(self) -> str:
        """X.Y: what DTs carry ("xen,xen-4.21")."""
        return self.layout.version

    @property
    def release(self) -> str:
        """X.Y.Z: the full release ("4.21.0", "4.19.3")."""
        return self.layout.release

    @property
    def dom0less(self) -> Dom0lessRules:
        """The release's rules for dom0less domUs ([dom0less])."""
        return self.layout.dom0less


def resolve(xen: str | Xen | None) -> Xen:
    """The Xen `xen` names: a Xen as it is, a version string ("4.21",
    "4.19.3") or None for the newest version xendt knows; ConfigError for
    a version xendt does not know."""
    if isinstance(xen, Xen):
        return xen
    from xendt.xen import layouts

    asked = layouts.newest() if xen is None else xen
    return Xen(layouts.load(asked), asked)
