"""Warnings as objects: a stable code, the message, and the node or domain
they are about.

The builders say what xl, libxl and Xen would warn about in one line each;
Notice is that line (it is a str, so it prints, joins and compares as the
line) with the facts a program needs beside it:

    for w in result.warnings:
        if w.code == "extended-regions-none": ...

`code` is stable across releases (a new warning gets a new code; a warning
whose wording changes keeps its code). The codes are listed in CODES; a
line no pattern knows gets the generic code of where it came from
("xl-config", "libxl", "xen").
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any

#: (code, pattern) in the order tried; the pattern is searched in the message.
CODES: tuple[tuple[str, str], ...] = (
    # xl's reading of an xl.cfg (tools/xl/xl_parse.c)
    ("xl-root-extra-ignored", r"ignoring root= and extra= in favour of cmdline="),
    ("xl-virtio-no-mmio", r"has no transport=mmio"),
    ("xl-pv-to-pvh", r"libxl converts a PV guest to PVH"),
    ("xl-maxmem-differs", r"maxmem = \S+ differs from memory"),
    ("xl-videoram", r"videoram = \S+: libxl takes it off"),
    ("xl-vcpus-negative", r"refuse a negative vcpus|refuses a negative vCPU count"),
    ("xl-grant-frames", r"max_grant_frames = "),
    ("xl-nr-spis-ignored", r"nr_spis \S+: xl \S+ ignores this setting"),
    # libxl's build of the guest DT
    ("extended-regions-none", r"extended regions cannot be allocated|gives no extended regions"
                              r"|failed to allocate extended regions"),
    ("extended-regions-32bit", r"extended regions not supported for 32-bit guests"),
    ("tee-unknown", r"^tee '"),
    ("iomem-above-ipa", r"is above the \d+-bit IPA space"),
    ("iomem-overlaps", r"overlaps .*Xen maps the device over it"),
    ("ram-above-ipa", r"lies above the guest's \d+-bit IPA space|goes past the"),
    ("cmdline-truncated", r"^cmdline is \d+ bytes"),
    # the hypervisor's own builds (dom0less, dom0, host regions)
    ("grant-table-unknown", r"grant table place unknown"),
    ("static-memory-unsupported", r"xen,static-mem needs a Xen built with"),
    ("static-shm-unsupported", r"static shared memory needs a Xen built with"),
    ("gic-phandle-zero", r"/gic has no phandle"),
    ("kernel-assumed", r"no kernel file given|no --kernel given|kernel was assumed"),
    ("no-hypervisor-node", r"no xen,enhanced|no /hypervisor node"),
    ("module-dropped", r"early scan drops the"),
    ("reserved-path-copied", r"is reserved, skip the node"),
    ("passthrough-in-static-memory", r"passthrough xen,reg .* lies in"),
)
_WHERE = r"^([A-Za-z0-9_.-]+): "
#: The node a message names: Xen's "Path /x is reserved", a partial tree's "/gic".
_NODE = r"\bPath (/\S+) is reserved|partial device tree's (/gic)\b"


@functools.cache
def _compiled() -> tuple[tuple[str, re.Pattern[str]], ...]:
    """CODES compiled, on first use (not at start-up)."""
    return tuple((code, re.compile(pattern)) for code, pattern in CODES)


class Notice(str):
    """One warning: the line itself (str(notice) == notice.message), its
    stable `code`, and where relevant the `node` (a DT path) or `domain`
    (a dom0less domain's name, or "dom0") it is about."""

    code: str
    node: str | None
    domain: str | None

    def __new__(cls, message: str, code: str, node: str | None = None,
                domain: str | None = None) -> Notice:
        self = super().__new__(cls, message)
        self.code, self.node, self.domain = code, node, domain
        return self

    @property
    def message(self) -> str:
        return str.__str__(self)

    def __repr__(self) -> str:
        return f"Notice({self.message!r}, code={self.code!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.message, self.code, self.node, self.domain)

    def to_dict(self) -> dict[str, str | None]:
        """The notice as its JSON object (every document's "warnings")."""
        return {"code": self.code, "message": self.message, "node": self.node,
                "domain": self.domain}


def notice(message: str, source: str, domains: Iterable[str] = ()) -> Notice:
    """`message` as a Notice: its code from CODES (else `source`), the
    domain it starts with when that is one of `domains`, and the node path
    it names."""
    if isinstance(message, Notice):
        return message
    code = next((c for c, pattern in _compiled() if pattern.search(message)), source)
    where = re.match(_WHERE, message)
    domain = where.group(1) if where and where.group(1) in set(domains) else None
    node = re.search(_NODE, message)
    return Notice(message, code, node.group(1) or node.group(2) if node else None, domain)


def notices(messages: Iterable[str], source: str, domains: Iterable[str] = ()) -> tuple[Notice, ...]:
    """notice() of each message."""
    names = tuple(domains)
    return tuple(notice(m, source, names) for m in messages)
