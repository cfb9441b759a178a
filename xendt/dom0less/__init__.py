"""The device trees the Xen hypervisor builds for dom0less domUs at boot.

`build(host_dtb, domain, xen)` returns a Dom0lessDT whose `blob` is the
DTB Xen `xen` hands that guest; `domain_names(host_dtb)` lists a host's
dom0less domains. Its domain model is xendt.domu (domains.py,
bootmodules.py, facts.py, memory.py); the modules here:

- build.py: the build from start to finish (build, domain_names);
- api.py: the build in the public API's shapes (build_dom0less, a GuestDT);
- modules.py: where Xen puts a domU's kernel, DTB and initrd in its RAM;
- hostview.py: what prepare_dtb_domU takes from the host DT;
- passthrough.py: a domU's partial device tree, as Xen reads it;
- nodes.py: prepare_dtb_domU's nodes, in Xen's order, for the one writer (xendt.fdt.write);
- summary.py: every dom0less domain of a host at once.
"""

from __future__ import annotations

from xendt.dom0less.build import Dom0lessDT, build, domain_names

__all__ = ["Dom0lessDT", "build", "domain_names"]
