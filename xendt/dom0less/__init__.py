"""The device trees the Xen hypervisor builds for dom0less domUs at boot.

`build(host_dtb, domain, xen)` returns a Dom0lessDT whose `blob` is the
DTB Xen `xen` hands that guest; `domain_names(host_dtb)` lists a host's
dom0less domains. See xendt.dom0less.build.
"""

from __future__ import annotations

from xendt.dom0less.build import Dom0lessDT, build, domain_names

__all__ = ["Dom0lessDT", "build", "domain_names"]
