"""dom0's device tree in the public API's shapes: a GuestDT, as xendt.build
and xendt.build_dom0less return, from a host DTB and what Xen's console
printed at that boot (dom0's RAM banks and grant table)."""

from __future__ import annotations

from xendt.dom0.build import Dom0DT, build
from xendt.dom0.memory import Boot
from xendt.guest.libxl_build import GuestDT
from xendt.guest.model import Host, MemoryMap, Segment
from xendt.ranges import Range
from xendt.xen.context import Xen


def build_dom0(host_dtb: bytes, dom0_mem: tuple[Range, ...], gnttab: Range,
               host: Host | None = None, *, xen_cmdline: str | None = None,
               kernel: bytes | None = None, v2m_spis: tuple[tuple[int, int], ...] = (),
               host_name: str = "host.dtb", boot: Boot | None = None,
               xen: Xen) -> GuestDT:
    """The DTB Xen `host.xen` writes for dom0 at boot from `host_dtb`,
    given dom0's RAM banks (Xen prints them as BANK[n]) and grant table
    ("Grant table range"), with its memory map (dom0's banks, kernel,
    ramdisk and DTB as Xen places them, /hypervisor's grant table and
    extended regions). `xen_cmdline` replaces /chosen xen,xen-bootargs;
    `kernel` is the kernel module's file (else an arm64 Image is assumed);
    `v2m_spis` the (base SPI, count) of each GICv2m frame whose DT does not
    give them. With no banks (`dom0_mem` empty), `boot` (where the
    bootloader put Xen's image and the host DTB) lets xendt predict them
    as Xen's allocator places them (xendt.dom0.memory). XenFailure (a
    BuildError) where Xen fails to build dom0. `xen`: host.xen resolved at
    the edge (xendt.xen.context.resolve)."""
    host = host or Host()
    dt = build(host_dtb, xen, dom0_mem=dom0_mem, gnttab=gnttab, pa_bits=host.pa_bits,
               ipa_bits=host.ipa_bits, xen_cmdline=xen_cmdline, kernel=kernel,
               v2m_spis=v2m_spis, host_name=host_name, boot=boot)
    return as_guest_dt(dt, host, xen)


def as_guest_dt(dt: Dom0DT, host: Host, xen: Xen) -> GuestDT:
    """A built dom0 tree in GuestDT's shape (`xen`: the Xen it was built by)."""
    from dataclasses import replace

    segments = [Segment(dt.kernel.base, dt.kernel.size, name="kernel"),
                Segment(dt.dtb.base, dt.dtb.size, name="dtb")]
    if dt.initrd is not None:
        segments.append(Segment(dt.initrd.base, dt.initrd.size, name="ramdisk"))
    memory_map = MemoryMap(
        xen=dt.xen, ipa_bits=dt.ipa_bits, guest_bits=dt.bits, ram=dt.ram,
        segments=tuple(sorted(segments, key=lambda s: s.base)), grant_table=dt.grant_table,
        extended_regions=dt.regions, devices=(), virtio=())
    built_for = host if host.xen is not None else replace(host, xen=xen.asked)
    from xendt.notices import notices

    return GuestDT(dtb=dt.blob, memory_map=memory_map, host=built_for,
                   warnings=notices(dt.warnings, "xen", ("dom0",)))
