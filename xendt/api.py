"""The public Python API: one function per thing the CLI does.

Every function takes and returns the frozen dataclasses of the model, and
raises an XendtError subclass with a one-line message for any input a user
can get wrong. The CLI (xendt.cli) is a thin shell over these.

    import xendt
    tree = xendt.read_dtb("guest.dtb")
    print(tree)                               # DTS, as dtc prints it
    amap = xendt.address_map(tree)            # every range, named from the layout
    report = xendt.check(tree, size=xendt.AddressSize("pa", 40))
    changes = xendt.diff(tree, xendt.read_dtb("other.dtb"))
    dom0 = xendt.host_regions("board.dtb", xen="4.19", iommu=True)
    guest = xendt.build_xl("guest.cfg", xendt.Host(xen="4.21", pa_bits=44))
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xendt.fdt.tree import Tree
    from xendt.guest.builder import GuestDT
    from xendt.guest.model import GuestConfig, Host
    from xendt.host.regions import HostRegions
    from xendt.inspect.addressmap import AddressMap
    from xendt.inspect.diff import Diff
    from xendt.inspect.findings import Report
    from xendt.ranges import Range
    from xendt.xen.address import AddressSize

Source = str | os.PathLike[str] | bytes | bytearray


def versions() -> tuple[str, ...]:
    """The Xen versions xendt has layouts for, oldest first."""
    from xendt.xen import layouts

    return layouts.versions()


def read_dtb(source: Source, name: str | None = None) -> Tree:
    """The device tree in `source` (a path, "-" for standard input, or the
    blob's bytes); `name` names it in messages. str(tree) is its DTS text,
    exactly as `dtc -I dtb -O dts` prints it."""
    from xendt.fdt.read import read_dtb as read

    return read(source, name)


def address_map(tree: Tree, xen: str | None = None) -> AddressMap:
    """Every range `tree` describes, as a guest's consumers read it, named
    from the layout of Xen `xen` (default: the version the tree reports)."""
    from xendt.inspect.addressmap import address_map as build_map

    return build_map(tree, xen)


def check(tree: Tree, *, xen: str | None = None, size: AddressSize | None = None,
          page_size: int = 4096) -> Report:
    """The findings of every rule a guest's consumers apply to `tree`.
    `size` is the host's PA or the guest's IPA size (default: the largest
    IPA the Xen version gives); `page_size` the guest kernel's."""
    from xendt.inspect.check import check as run

    return run(tree, xen=xen, size=size, page_size=page_size)


def diff(a: Tree, b: Tree, *, include_rng_seed: bool = False) -> Diff:
    """What differs between two trees, by meaning: nodes by path, properties
    by name, values decoded. /chosen/rng-seed only with include_rng_seed."""
    from xendt.inspect.diff import diff as compare

    return compare(a, b, include_rng_seed=include_rng_seed)


def build(guest: GuestConfig, host: Host | None = None) -> GuestDT:
    """The device tree libxl of `host`'s Xen version builds for `guest`,
    byte for byte (default host: the newest Xen, a 40-bit PA host)."""
    from xendt.guest.builder import build as run
    from xendt.guest.model import Host

    return run(guest, host or Host())


def load_xl_config(path: str | os.PathLike[str]) -> tuple[GuestConfig, list[str]]:
    """The GuestConfig of the xl.cfg file at `path`, reading the kernel,
    ramdisk and partial device tree it names, and xl's warnings."""
    from xendt.guest.xlcfg import load_guest

    return load_guest(path)


def build_xl(path: str | os.PathLike[str], host: Host | None = None) -> GuestDT:
    """The device tree of the guest the xl.cfg file at `path` describes, as
    `xl create` on `host` would hand it over; xl's warnings come first in
    the result's warnings."""
    guest, warnings = load_xl_config(path)
    result = build(guest, host)
    return replace(result, warnings=(*warnings, *result.warnings))


def host_regions(host_dtb: Source, *, xen: str | None = None, size: AddressSize | None = None,
                 domain: str | None = None, iommu: bool | None = None,
                 dom0_ram: tuple[Range, ...] = (), grant_table: Range | None = None,
                 guest_arch: str = "arm64", partial_dtb: bytes | None = None,
                 xen_cmdline: str | None = None, host_ram: str | None = None,
                 uefi: bool = False) -> HostRegions:
    """The extended regions Xen `xen` ("4.19", "4.17.7"; default: the
    newest) gives dom0, or the dom0less domain `domain`, on the host whose
    DTB is `host_dtb`, as its make_hypervisor_node computes them at boot.
    `iommu` None: as Xen decides (a default build's drivers for the host's
    IOMMU nodes, and iommu= on `xen_cmdline` or /chosen xen,xen-bootargs);
    without an IOMMU, dom0's RAM banks are needed. `host_ram`
    ("BASE:SIZE[,…]") is the RAM firmware writes into /memory, or with
    `uefi` the EFI memory map's. The result's `failure` says where Xen
    stops instead (no regions then)."""
    from xendt.fdt.read import read_blob
    from xendt.host import domains, firmware
    from xendt.host.regions import compute
    from xendt.xen import address, layouts

    if isinstance(host_dtb, (bytes, bytearray)):
        data, name = bytes(host_dtb), "<host dtb>"
    else:
        from xendt.inputs import HOST_DTB_MAX

        data, name = read_blob(os.fspath(host_dtb), HOST_DTB_MAX, "Xen's MAX_FDT_SIZE")
    version = xen or layouts.newest()
    layout = layouts.load(version)
    boot = firmware.parse(host_ram, uefi)
    options = domains.DomainOptions(domain=domain, iommu=iommu, dom0_ram=dom0_ram,
                                    grant_table=grant_table,
                                    bits=32 if guest_arch == "arm32" else 64,
                                    passthrough=partial_dtb, passthrough_name="<partial dtb>",
                                    cmdline=xen_cmdline, firmware=boot)
    tree = firmware.prepare(data, name, boot, layout.host)
    result = compute(tree, layout, address.ipa_bits(layout, size), options)
    return replace(result, xen=version)
