"""The public Python API: one function per thing the CLI does.

Every function takes and returns the frozen dataclasses of the model, and
raises an XendtError subclass with a one-line message for any input a user
can get wrong (TypeError for an argument of the wrong Python type: see
tests/test_api_arguments.py). The CLI (xendt.cli) is a thin shell over these.

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
    from xendt.dom0.memory import Boot
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
_PATH = (str, os.PathLike)
_SOURCE = (str, os.PathLike, bytes, bytearray)


def _expect(function: str, name: str, value: object, kinds: type | tuple[type, ...],
            optional: bool = False) -> None:
    """TypeError naming the argument unless `value` is one of `kinds` (or
    None when `optional`); a bool is no int."""
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    if value is None and optional:
        return
    if isinstance(value, kinds) and (bool in kinds or not isinstance(value, bool)):
        return
    names = " or ".join(k.__name__ for k in kinds) + (" or None" if optional else "")
    raise TypeError(f"xendt.{function}: {name} must be {names}, not {type(value).__name__}")


def _text(function: str, name: str, value: object, optional: bool = False) -> None:
    """_expect a str, and refuse a NUL in it (no name or option has one)."""
    _expect(function, name, value, str, optional)
    if isinstance(value, str) and "\0" in value:
        from xendt.errors import ConfigError

        raise ConfigError(f"{name} {value[:40]!r}: a NUL character (no such name or option)")


def _tree(function: str, *trees: tuple[str, object]) -> None:
    from xendt.fdt.tree import Tree

    for name, tree in trees:
        _expect(function, name, tree, Tree)


def _host(function: str, host: object) -> None:
    from xendt.guest.model import Host

    _expect(function, "host", host, Host, optional=True)


def _size(function: str, size: object) -> None:
    from xendt.xen.address import AddressSize

    _expect(function, "size", size, AddressSize, optional=True)


def versions() -> tuple[str, ...]:
    """The Xen versions xendt has layouts for, oldest first."""
    from xendt.xen import layouts

    return layouts.versions()


def read_dtb(source: Source, name: str | None = None) -> Tree:
    """The device tree in `source` (a path, "-" for standard input, or the
    blob's bytes); `name` names it in messages. str(tree) is its DTS text,
    exactly as `dtc -I dtb -O dts` prints it."""
    from xendt.fdt.read import read_dtb as read

    _expect("read_dtb", "source", source, _SOURCE)
    _text("read_dtb", "name", name, optional=True)
    return read(source, name)


def address_map(tree: Tree, xen: str | None = None) -> AddressMap:
    """Every range `tree` describes, as a guest's consumers read it, named
    from the layout of Xen `xen` (default: the version the tree reports)."""
    from xendt.inspect.addressmap import address_map as build_map

    _tree("address_map", ("tree", tree))
    _text("address_map", "xen", xen, optional=True)
    return build_map(tree, xen)


def check(tree: Tree, *, xen: str | None = None, size: AddressSize | None = None,
          page_size: int = 4096) -> Report:
    """The findings of every rule a guest's consumers apply to `tree`.
    `size` is the host's PA or the guest's IPA size (default: the largest
    IPA the Xen version gives); `page_size` the guest kernel's."""
    from xendt.inspect.check import check as run

    _tree("check", ("tree", tree))
    _text("check", "xen", xen, optional=True)
    _size("check", size)
    _expect("check", "page_size", page_size, int)
    if page_size.bit_length() > 64:  # too long to quote (Python prints 4300 digits at most)
        from xendt.errors import XendtError
        from xendt.inspect.check import SECTION_SIZE

        raise XendtError(f"page size of {page_size.bit_length()} bits: expected one of"
                         f" {', '.join(str(p) for p in SECTION_SIZE)}")
    return run(tree, xen=xen, size=size, page_size=page_size)


def diff(a: Tree, b: Tree, *, include_rng_seed: bool = False) -> Diff:
    """What differs between two trees, by meaning: nodes by path, properties
    by name, values decoded. /chosen/rng-seed only with include_rng_seed."""
    from xendt.inspect.diff import diff as compare

    _tree("diff", ("a", a), ("b", b))
    _expect("diff", "include_rng_seed", include_rng_seed, bool)
    return compare(a, b, include_rng_seed=include_rng_seed)


def build(guest: GuestConfig, host: Host | None = None) -> GuestDT:
    """The device tree libxl of `host`'s Xen version builds for `guest`,
    byte for byte (default host: the newest Xen, a 40-bit PA host)."""
    from xendt.guest.builder import build as run
    from xendt.guest.model import GuestConfig, Host

    _expect("build", "guest", guest, GuestConfig)
    _host("build", host)
    return run(guest, host or Host())


def load_xl_config(path: str | os.PathLike[str]) -> tuple[GuestConfig, list[str]]:
    """The GuestConfig of the xl.cfg file at `path`, reading the kernel,
    ramdisk and partial device tree it names, and xl's warnings."""
    from xendt.guest.xlcfg import load_guest

    _expect("load_xl_config", "path", path, _PATH)
    return load_guest(path)


def build_xl(path: str | os.PathLike[str], host: Host | None = None) -> GuestDT:
    """The device tree of the guest the xl.cfg file at `path` describes, as
    `xl create` on `host` would hand it over; xl's warnings come first in
    the result's warnings."""
    _host("build_xl", host)
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

    _check_host_regions(host_dtb, xen, size, domain, iommu, dom0_ram, grant_table, guest_arch,
                        partial_dtb, xen_cmdline, host_ram, uefi)
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


def _ranges(function: str, name: str, banks: list[object]) -> None:
    """TypeError unless each is a Range of ints; ConfigError unless it lies
    in the 64-bit address space."""
    from xendt.errors import ConfigError
    from xendt.ranges import Range

    for bank in banks:
        _expect(function, name, bank, Range)
        assert isinstance(bank, Range)
        for value in (bank.base, bank.size):
            _expect(function, "a Range's base and size", value, int)
            if not 0 <= value < 1 << 64 or bank.end > 1 << 64:
                shown = [f"{v:#x}" if v.bit_length() <= 128 else f"<{v.bit_length()} bits>"
                         for v in (bank.base, bank.size)]
                raise ConfigError(f"Range base {shown[0]} size {shown[1]}: expected a range of"
                                  " the 64-bit address space")


def _check_host_regions(host_dtb: object, xen: object, size: object, domain: object,
                        iommu: object, dom0_ram: object, grant_table: object, guest_arch: object,
                        partial_dtb: object, xen_cmdline: object, host_ram: object,
                        uefi: object) -> None:
    from xendt.errors import ConfigError

    f = "host_regions"
    _expect(f, "host_dtb", host_dtb, _SOURCE)
    _text(f, "xen", xen, optional=True)
    _size(f, size)
    _text(f, "domain", domain, optional=True)
    _expect(f, "iommu", iommu, bool, optional=True)
    _expect(f, "dom0_ram", dom0_ram, tuple)
    _ranges(f, "dom0_ram item or grant_table",
            [b for b in (*dom0_ram, grant_table) if b is not None])  # type: ignore[misc]
    _text(f, "guest_arch", guest_arch)
    if guest_arch not in ("arm64", "arm32"):
        raise ConfigError(f"guest_arch {guest_arch!r}: expected 'arm64' or 'arm32'")
    _expect(f, "partial_dtb", partial_dtb, bytes, optional=True)
    _text(f, "xen_cmdline", xen_cmdline, optional=True)
    _text(f, "host_ram", host_ram, optional=True)
    _expect(f, "uefi", uefi, bool)


def build_dom0less(host_dtb: bytes, domain: str, host: Host | None = None, *,
                   partial_dtb: bytes | None = None, kernel: bytes | None = None,
                   iommu: bool | None = None, host_name: str = "host.dtb") -> GuestDT:
    """The DTB Xen `host.version` builds at boot for the dom0less domain
    `domain` of `host_dtb`, with its memory map (kernel, ramdisk and DTB as
    Xen places them; the /hypervisor grant table and extended regions)."""
    from xendt.dom0less import api

    f = "build_dom0less"
    _expect(f, "host_dtb", host_dtb, (bytes, bytearray))
    _text(f, "domain", domain)
    _host(f, host)
    _expect(f, "partial_dtb", partial_dtb, (bytes, bytearray), optional=True)
    _expect(f, "kernel", kernel, (bytes, bytearray), optional=True)
    _expect(f, "iommu", iommu, bool, optional=True)
    _text(f, "host_name", host_name)
    return api.build_dom0less(bytes(host_dtb), domain, host, iommu=iommu, host_name=host_name,
                              partial_dtb=None if partial_dtb is None else bytes(partial_dtb),
                              kernel=None if kernel is None else bytes(kernel))


def build_dom0(host_dtb: bytes, dom0_mem: tuple[Range, ...], gnttab: Range,
               host: Host | None = None, *, xen_cmdline: str | None = None,
               kernel: bytes | None = None, v2m_spis: tuple[tuple[int, int], ...] = (),
               host_name: str = "host.dtb", boot: Boot | None = None) -> GuestDT:
    """The DTB Xen `host.version` writes for dom0 at boot from `host_dtb`,
    given what Xen's console printed at that boot: dom0's RAM banks
    (BANK[n]) and grant table ("Grant table range"); with no banks and
    `boot` (xendt.dom0.memory.Boot: where Xen's image and the host DTB
    were loaded), the banks are predicted. xendt.errors.XenFailure
    (a BuildError) where Xen fails to build dom0; see xendt.dom0.api."""
    from xendt.dom0 import api

    f = "build_dom0"
    _expect(f, "host_dtb", host_dtb, (bytes, bytearray))
    _expect(f, "dom0_mem", dom0_mem, tuple)
    _ranges(f, "dom0_mem item or gnttab", [*dom0_mem, gnttab])
    _host(f, host)
    _text(f, "xen_cmdline", xen_cmdline, optional=True)
    _expect(f, "kernel", kernel, (bytes, bytearray), optional=True)
    _expect(f, "v2m_spis", v2m_spis, tuple)
    for spis in v2m_spis:
        _expect(f, "v2m_spis item", spis, tuple)
        for value in spis:
            _expect(f, "a v2m_spis base or count", value, int)
    _text(f, "host_name", host_name)
    from xendt.dom0.memory import Boot

    _expect(f, "boot", boot, Boot, optional=True)
    if boot is not None:
        _ranges(f, "boot.xen_image or boot.dtb", [boot.xen_image, boot.dtb])
    return api.build_dom0(bytes(host_dtb), dom0_mem, gnttab, host, xen_cmdline=xen_cmdline,
                          kernel=None if kernel is None else bytes(kernel), v2m_spis=v2m_spis,
                          host_name=host_name, boot=boot)


def dom0less_domains(host_dtb: bytes, host_name: str = "host.dtb") -> tuple[str, ...]:
    """The dom0less domains of a host DTB, in the order Xen builds them."""
    from xendt.dom0less import api

    _expect("dom0less_domains", "host_dtb", host_dtb, (bytes, bytearray))
    _text("dom0less_domains", "host_name", host_name)
    return api.dom0less_domains(bytes(host_dtb), host_name)
