"""Every dom0less domain of a host at once, and what they do to each other.

`build_all()` builds each domain as Xen creates them (create_domUs walks
/chosen in DT order) and adds the warnings only the whole host shows: a
passthrough device's host MMIO (xen,reg) inside another domain's static
memory, and static memory claimed by two domains (Xen panics when the
second acquires pages the first owns: acquire_domstatic_pages).
`table()` is the summary `xendt build --domain all` prints.
"""

from __future__ import annotations

from collections.abc import Mapping

from xendt.dom0less.build import Dom0lessDT, build, domain_names
from xendt.errors import XenFailure
from xendt.ranges import human_size
from xendt.xen.context import Xen


def build_all(host_dtb: bytes, xen: Xen, *, host_name: str = "host.dtb",
              partials: Mapping[str, bytes] | None = None,
              kernels: Mapping[str, bytes] | None = None,
              pa_bits: int | None = None, ipa_bits: int | None = None,
              iommu: bool | None = None) -> tuple[tuple[Dom0lessDT, ...], tuple[str, ...]]:
    """Each domain's tree, in Xen's order, and the cross-domain warnings.
    `partials` and `kernels` map domain names to their files' bytes."""
    partials = partials or {}
    kernels = kernels or {}
    built = tuple(build(host_dtb, name, xen, host_name=host_name,
                        partial_dtb=partials.get(name), partial_name=f"{name}'s partial DT",
                        kernel=kernels.get(name), kernel_name=f"{name}'s kernel",
                        pa_bits=pa_bits, ipa_bits=ipa_bits, iommu=iommu)
                  for name in domain_names(host_dtb, host_name))
    return built, across(built)


def across(built: tuple[Dom0lessDT, ...]) -> tuple[str, ...]:
    warnings = []
    for a in built:
        for b in built:
            if a is b:
                continue
            for mmio in a.mapped:
                for bank in b.static_mem:
                    if mmio.overlaps(bank):
                        warnings.append(f"{a.domain}: passthrough xen,reg {mmio} lies in"
                                        f" {b.domain}'s static memory {bank}")
    for i, a in enumerate(built):
        for b in built[i + 1:]:
            for x in a.static_mem:
                for y in b.static_mem:
                    if x.overlaps(y):
                        raise XenFailure(f"{a.domain} and {b.domain} both claim static memory"
                                         f" {x} and {y}: Xen panics building {b.domain}")
    return tuple(warnings)


def table(built: tuple[Dom0lessDT, ...]) -> str:
    """One line per domain: vCPUs, RAM banks, extended regions, passthrough
    devices and how many warnings it has."""
    rows = [("domain", "vcpus", "memory", "regions", "passthrough", "warnings")]
    for dt in built:
        ram = ", ".join(f"{r.base:#x} {human_size(r.size)}" for r in dt.ram if r.size)
        regions = ("no /hypervisor" if not dt.hypervisor
                   else ", ".join(f"{r.base:#x} {human_size(r.size)}" for r in dt.regions)
                   or "none")
        devices = ", ".join(path or node for node, path in dt.devices) or "-"
        rows.append((dt.domain, str(dt.vcpus), ram, regions, devices, str(len(dt.warnings))))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
                     for row in rows) + "\n"
