"""The dom0less builder in the public API's shapes: a GuestDT, as
xendt.build returns for libxl guests, from a host DTB and a domain name."""

from __future__ import annotations

from xendt.dom0less.build import Dom0lessDT, build, domain_names
from xendt.guest.libxl_build import GuestDT
from xendt.guest.model import Host, MemoryMap, Segment
from xendt.ranges import Range
from xendt.xen.context import Xen


def build_dom0less(host_dtb: bytes, domain: str, host: Host | None = None, *,
                   partial_dtb: bytes | None = None, kernel: bytes | None = None,
                   iommu: bool | None = None, host_name: str = "host.dtb",
                   xen: Xen) -> GuestDT:
    """The DTB Xen `host.xen` builds at boot for the dom0less domain
    `domain` of `host_dtb`, with its memory map (kernel, ramdisk and DTB as
    Xen places them; the /hypervisor grant table and extended regions).
    `xen`: host.xen resolved at the edge (xendt.xen.context.resolve)."""
    host = host or Host()
    dt = build(host_dtb, domain, xen, host_name=host_name, partial_dtb=partial_dtb,
               kernel=kernel, pa_bits=host.pa_bits, ipa_bits=host.ipa_bits, iommu=iommu)
    return as_guest_dt(dt, host, (host_name,), xen=xen)


def as_guest_dt(dt: Dom0lessDT, host: Host, inputs: tuple[str, ...] = (), *,
                xen: Xen) -> GuestDT:
    """A built dom0less tree in GuestDT's shape: its memory map (kernel,
    ramdisk and DTB as Xen places them; the /hypervisor grant table and
    extended regions) and the Host, with its Xen version resolved."""
    from dataclasses import replace

    from xendt.xen import address

    layout = xen.layout
    grant = layout.region("grant-table")
    segments = [Segment(dt.kernel.base, dt.kernel.size, name="kernel")]
    if dt.initrd is not None:
        segments.append(Segment(dt.initrd.base, dt.initrd.size, name="ramdisk"))
    segments.append(Segment(dt.dtb.base, dt.dtb.size, name="dtb"))
    memory_map = MemoryMap(
        xen=dt.xen, ipa_bits=address.ipa_bits(layout, host.address), guest_bits=dt.bits,
        ram=dt.ram, segments=tuple(sorted(segments, key=lambda s: s.base)),
        grant_table=Range(grant.base, grant.size) if dt.hypervisor else Range(0, 0),
        extended_regions=dt.regions, devices=dt.devices_mmio, virtio=())
    built_for = host if host.xen is not None else replace(host, xen=xen.asked)
    from xendt.notices import notices

    return GuestDT(dtb=dt.blob, memory_map=memory_map, host=built_for, inputs=inputs,
                   warnings=notices(dt.warnings, "xen", (dt.domain,)))


def dom0less_domains(host_dtb: bytes, host_name: str = "host.dtb") -> tuple[str, ...]:
    """The dom0less domains of a host DTB, in the order Xen builds them."""
    return domain_names(host_dtb, host_name)
