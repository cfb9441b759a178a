"""The public API's host side: the extended regions Xen itself gives dom0
or a dom0less domain, on one board or a fleet (`xendt host-regions`).
See xendt.api."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from xendt.apiargs import BYTES, Source, api_errors, blob, expect, optional_blob, text

if TYPE_CHECKING:
    from xendt.hostregions.domains import DomainOptions
    from xendt.hostregions.fleet import HostFleet
    from xendt.hostregions.regions import HostRegions
    from xendt.ranges import Range
    from xendt.xen.address import AddressSize

#: RAM banks: Range objects, or "BASE:SIZE[,BASE:SIZE…]" as Xen's console prints them.
Banks = tuple["Range", ...] | str


def host_regions(host_dtb: Source, *, xen: str | None = None, pa_bits: int | None = None,
                 ipa_bits: int | None = None, domain: str | None = None,
                 iommu: bool | None = None, dom0_ram: Banks = (),
                 dom0_dtb: Source | None = None, grant_table: Range | str | None = None,
                 guest_arch: str = "arm64", partial_dtb: Source | None = None,
                 xen_cmdline: str | None = None, host_ram: Banks | None = None,
                 uefi: bool = False) -> HostRegions:
    """The extended regions Xen `xen` ("4.19", "4.17.7"; default: the
    newest) gives dom0, or the dom0less domain `domain`, on the board whose
    DTB is `host_dtb` (a path or bytes), as its make_hypervisor_node
    computes them at boot, with the PA (`pa_bits`, default 40) or IPA size.

    `iommu` None: as Xen decides (a default build's drivers for the host's
    IOMMU nodes, and iommu= on `xen_cmdline` or /chosen xen,xen-bootargs).
    Without an IOMMU, dom0's RAM banks are needed: `dom0_ram`, or dom0's
    own DT (`dom0_dtb`, from /proc/device-tree), which gives its grant
    table too. Banks are Range objects or "BASE:SIZE[,…]" text. `host_ram`
    is the RAM firmware writes into /memory, or with `uefi` the EFI memory
    map's. `partial_dtb` is the dom0less domain's passthrough DT.

    Raises XenFailure (with Xen's message) where Xen fails to boot or to
    build the domain; ConfigError, DtbError for bad input. to_dict() gives
    the "xendt.host-regions/1" document."""
    fleet = host_fleet((host_dtb,), xen=xen, pa_bits=pa_bits, ipa_bits=ipa_bits, domain=domain,
                       iommu=iommu, dom0_ram=dom0_ram, dom0_dtb=dom0_dtb,
                       grant_table=grant_table, guest_arch=guest_arch, partial_dtb=partial_dtb,
                       xen_cmdline=xen_cmdline, host_ram=host_ram, uefi=uefi)
    return fleet.each[0]


def host_fleet(host_dtbs: Sequence[Source], *, xen: str | None = None,
               pa_bits: int | Sequence[int] | None = None,
               ipa_bits: int | Sequence[int] | None = None, domain: str | None = None,
               iommu: bool | None = None, dom0_ram: Banks = (), dom0_dtb: Source | None = None,
               grant_table: Range | str | None = None, guest_arch: str = "arm64",
               partial_dtb: Source | None = None, xen_cmdline: str | None = None,
               host_ram: Banks | None = None, uefi: bool = False) -> HostFleet:
    """host_regions() on each board of `host_dtbs` (paths or bytes), and
    the regions valid on all of them (`.fleet`: the common regions and
    which board cut or dropped what). `pa_bits` / `ipa_bits` is one size
    for all, or one per board; one board with several sizes is a fleet of
    that board's CPUs. Raises XenFailure naming the board where Xen fails."""
    from xendt.hostregions import fleet
    from xendt.xen.context import resolve

    f = "host_fleet" if not isinstance(host_dtbs, tuple) or len(host_dtbs) != 1 else "host_regions"
    expect(f, "host_dtbs", host_dtbs, (list, tuple))
    if not host_dtbs:
        raise TypeError(f"xendt.{f}: give at least one host DTB")
    with api_errors():
        sizes = _sizes(f, pa_bits, ipa_bits)
        if len(host_dtbs) > 1 and len(sizes) > 1 and len(sizes) != len(host_dtbs):
            from xendt.errors import ConfigError

            raise ConfigError(f"{len(host_dtbs)} host DTBs but {len(sizes)} address sizes:"
                              " give one size, or one per host")
        options = _options(f, domain, iommu, dom0_ram, dom0_dtb, grant_table, guest_arch,
                           partial_dtb, xen_cmdline, host_ram, uefi)
        text(f, "xen", xen, optional=True)
        count = max(len(host_dtbs), len(sizes))
        boards = [_board(f, i, d, len(host_dtbs)) for i, d in enumerate(host_dtbs)]
        boards = boards * count if len(boards) == 1 else boards
        sizes = sizes * count if len(sizes) == 1 else sizes
        result = fleet.host_regions([(name, data, size) for (data, name), size in zip(boards, sizes)],
                                    resolve(xen), options)
        _raise_failure(result)
    return result


def _board(f: str, i: int, source: object, count: int) -> tuple[bytes, str]:
    from xendt.inputs import HOST_DTB_MAX

    label = BYTES if count == 1 else f"<bytes {i + 1}>"
    return blob(f, "host_dtb" if count == 1 else f"host_dtbs[{i}]", source, HOST_DTB_MAX,
                "Xen's MAX_FDT_SIZE", label)


def _sizes(f: str, pa_bits: object, ipa_bits: object) -> list[AddressSize | None]:
    from xendt.apiargs import address_size

    def each(value: object) -> list[object]:
        if isinstance(value, (list, tuple)):
            if not value:
                raise TypeError(f"xendt.{f}: an empty list of address sizes")
            return list(value)
        return [value]

    pas, ipas = each(pa_bits), each(ipa_bits)
    if pa_bits is not None and ipa_bits is not None:
        from xendt.errors import ConfigError

        raise ConfigError("pa_bits and ipa_bits both give the address size: give one")
    if ipa_bits is not None:
        return [address_size(f, None, v) for v in ipas]
    return [address_size(f, v, None) for v in pas]


def _banks(f: str, name: str, value: object) -> tuple[Range, ...]:
    """Banks given as Ranges or as "BASE:SIZE[,…]"."""
    from xendt.inputs import parse_banks

    if isinstance(value, str):
        text(f, name, value)
        return parse_banks(value, name)
    expect(f, name, value, tuple)
    assert isinstance(value, tuple)
    _ranges(f, f"{name} item", value)
    return value


def _ranges(function: str, name: str, banks: tuple[object, ...]) -> None:
    """TypeError unless each is a Range of ints; ConfigError unless it lies
    in the 64-bit address space."""
    from xendt.errors import ConfigError
    from xendt.ranges import Range

    for bank in banks:
        expect(function, name, bank, Range)
        assert isinstance(bank, Range)
        for value in (bank.base, bank.size):
            expect(function, "a Range's base and size", value, int)
            if not 0 <= value < 1 << 64 or bank.end > 1 << 64:
                shown = [f"{v:#x}" if v.bit_length() <= 128 else f"<{v.bit_length()} bits>"
                         for v in (bank.base, bank.size)]
                raise ConfigError(f"Range base {shown[0]} size {shown[1]}: expected a range of"
                                  " the 64-bit address space")


def _options(f: str, domain: object, iommu: object, dom0_ram: object, dom0_dtb: object,
             grant_table: object, guest_arch: object, partial_dtb: object, xen_cmdline: object,
             host_ram: object, uefi: object) -> DomainOptions:
    from xendt.errors import ConfigError
    from xendt.host import firmware
    from xendt.hostregions import domains
    from xendt.inputs import DOM0_DTB_MAX, DOMU_PARTIAL_DTB_MAX

    text(f, "domain", domain, optional=True)
    expect(f, "iommu", iommu, bool, optional=True)
    ram = _banks(f, "dom0_ram", dom0_ram)
    grant = None if grant_table is None else _banks(f, "grant_table", (
        grant_table if isinstance(grant_table, str) else (grant_table,)))
    if grant is not None and len(grant) != 1:
        raise ConfigError("grant_table: give one BASE:SIZE")
    data, name = optional_blob(f, "dom0_dtb", dom0_dtb, DOM0_DTB_MAX, "dom0's tree", "<dom0 dtb>")
    if data is not None:
        if ram:
            raise ConfigError("dom0_ram and dom0_dtb both give dom0's banks: give one")
        ram, found = domains.dom0_facts(data, name)
        grant = grant or ((found,) if found else None)
    text(f, "guest_arch", guest_arch)
    if guest_arch not in ("arm64", "arm32"):
        raise ConfigError(f"guest_arch {guest_arch!r}: expected 'arm64' or 'arm32'")
    passthrough, passthrough_name = optional_blob(f, "partial_dtb", partial_dtb,
                                                  DOMU_PARTIAL_DTB_MAX,
                                                  "a dom0less domain's tree", "<partial dtb>")
    text(f, "xen_cmdline", xen_cmdline, optional=True)
    expect(f, "uefi", uefi, bool)
    if host_ram is not None and not isinstance(host_ram, str):
        host_ram = ",".join(f"{r.base:#x}:{r.size:#x}" for r in _banks(f, "host_ram", host_ram))
    text(f, "host_ram", host_ram, optional=True)
    return domains.DomainOptions(
        domain=domain, iommu=iommu, dom0_ram=ram,  # type: ignore[arg-type]
        grant_table=grant[0] if grant else None, bits=32 if guest_arch == "arm32" else 64,
        passthrough=passthrough, passthrough_name=passthrough_name,
        cmdline=xen_cmdline,  # type: ignore[arg-type]
        firmware=firmware.parse(host_ram, uefi))  # type: ignore[arg-type]


def _raise_failure(result: HostFleet) -> None:
    """XenFailure for the first board where Xen fails."""
    from xendt.errors import XenFailure

    for r in result.each:
        if r.failure is not None:
            raise XenFailure(f"{r.host}: Xen {r.xen} fails: {r.failure}")

