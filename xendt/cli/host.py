"""xendt host-regions: what the hypervisor itself gives dom0 and dom0less
domains, from the host's device tree."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from xendt.cli import common, options
from xendt.cli.output import output_path, write
from xendt.inputs import DOM0_DTB_MAX, DOMU_PARTIAL_DTB_MAX, HOST_DTB_MAX, parse_banks
from xendt.xen.address import AddressSize

if TYPE_CHECKING:
    from xendt.ranges import Range


@click.command("host-regions", short_help="Xen's own extended regions for dom0 or a dom0less domain.")
@click.option("--host-dtb", "host_dtbs", multiple=True, required=True, metavar="FILE",
              help="The host's device tree blob. Repeat for a fleet of boards.")
@options.xen_option("Xen version of the hypervisor. [default: the newest xendt knows]")
@options.address_options(
    multiple=True,
    pa_help="Host CPUs' physical-address bits [default: 40]; repeat for a fleet (one per"
            " --host-dtb, or all with one DTB).",
    ipa_help="The IPA size directly (an IOMMU may lower it); excludes --pa-bits.")
@click.option("--iommu/--no-iommu", default=None,
              help="Whether Xen enables an IOMMU (e.g. --iommu for a build with ARM_SMMU_V3)."
                   " [default: as Xen decides: a default build's IOMMU drivers for the host DT's"
                   " IOMMU nodes, and iommu= on Xen's command line]")
@click.option("--xen-cmdline", metavar="TEXT",
              help="Xen's command line (iommu=, ext_regions= are followed). [default: /chosen"
                   " xen,xen-bootargs]")
@click.option("--host-ram", metavar="BASE:SIZE[,...]",
              help="RAM firmware adds: the banks U-Boot writes into /memory, or with --uefi the"
                   " EFI memory map's RAM (BASE:SIZE:runtime for an EFI_MEMORY_RUNTIME one).")
@click.option("--uefi", is_flag=True,
              help="Xen boots from UEFI: RAM comes from --host-ram (the EFI memory map), not the"
                   " DT's memory nodes; /memreserve/ is dropped.")
@click.option("--domain", metavar="NAME",
              help="A dom0less domain (a /chosen child compatible with xen,domain) instead of dom0.")
@click.option("--dom0-mem", metavar="BASE:SIZE[,...]",
              help="dom0's RAM banks (needed without IOMMU), e.g. 0x50000000:512M.")
@click.option("--dom0-dtb", type=click.Path(dir_okay=False), metavar="FILE",
              help="dom0's own DT (from /proc/device-tree): its RAM banks and grant table.")
@click.option("--gnttab", metavar="BASE:SIZE",
              help="dom0's grant table: Xen's load address and gnttab_dom0_frames pages.")
@click.option("--guest-arch", type=click.Choice(["arm64", "arm32"]), default="arm64",
              show_default=True, help="The domain's kernel: Xen gives 32-bit ones no regions.")
@click.option("--partial-dtb", type=click.Path(dir_okay=False), metavar="FILE",
              help="The dom0less domain's passthrough DT, whose xen,reg ranges are excluded"
                   " where the version does.")
@common.output_options(("table", "json", "dts", "dtb"), "table",
                       "A table, JSON, or the /hypervisor node Xen writes (DTS text or DTB).",
                       text="table")
@click.option("--explain", is_flag=True,
              help="Say where each region comes from, what cut it, and why other free ranges"
                   " gave none (table and JSON).")
def host_regions(host_dtbs: tuple[str, ...], xen: str | None, sizes: tuple[AddressSize, ...],
                 iommu: bool | None, xen_cmdline: str | None, host_ram: str | None, uefi: bool,
                 domain: str | None, dom0_mem: str | None,
                 dom0_dtb: str | None, gnttab: str | None, guest_arch: str,
                 partial_dtb: str | None, output: str, fmt: str, explain: bool) -> int:
    """The extended regions Xen itself gives dom0 or a dom0less domain on a
    host, computed from the host's device tree as that Xen version does at
    boot. Several hosts: only the regions valid on all, and what limited them.
    Where Xen would not boot or not build the domain, says so as Xen does
    and exits with status 1.
    """
    from xendt.host import firmware
    from xendt.hostregions import domains, fleet
    from xendt.render import hostout
    from xendt.xen.context import resolve

    output_ = output_path(output)
    if dom0_mem and dom0_dtb:
        raise click.UsageError("--dom0-mem and --dom0-dtb both give dom0's banks: give one")
    given: list[AddressSize | None] = list(sizes) or [None]
    if len(host_dtbs) > 1 and len(given) > 1 and len(given) != len(host_dtbs):
        raise click.UsageError(f"{len(host_dtbs)} --host-dtb but {len(given)} PA/IPA sizes:"
                               " give one size, or one per host")
    count = max(len(host_dtbs), len(given))
    dtbs = host_dtbs * count if len(host_dtbs) == 1 else host_dtbs
    given = given * count if len(given) == 1 else given
    ram: tuple[Range, ...] = ()
    grant = parse_banks(gnttab, "--gnttab")[0] if gnttab else None
    if dom0_mem:
        ram = parse_banks(dom0_mem, "--dom0-mem")
    if dom0_dtb:
        ram, found = domains.dom0_facts(_read_file(dom0_dtb, DOM0_DTB_MAX, "dom0's tree"), dom0_dtb)
        grant = grant or found
    domain_options = domains.DomainOptions(
        domain=domain, iommu=iommu, dom0_ram=ram, grant_table=grant,
        bits=32 if guest_arch == "arm32" else 64,
        passthrough=(_read_file(partial_dtb, DOMU_PARTIAL_DTB_MAX, "a dom0less domain's tree")
                     if partial_dtb else None),
        passthrough_name=partial_dtb or "", cmdline=xen_cmdline,
        firmware=firmware.parse(host_ram, uefi))
    hosts = [(path, _read_file(path, HOST_DTB_MAX, "Xen's MAX_FDT_SIZE"), size)
             for path, size in zip(dtbs, given)]
    result = fleet.host_regions(hosts, resolve(xen), domain_options)
    data, notes = hostout.render(result, fmt, explain)
    common.warn(notes, [r.host for r in result.each] if result.fleet else (), "hosts")
    errors = hostout.failures(result)
    for error in errors:
        click.echo(f"xendt: error: {error}", err=True)
    if data:
        write(output_, data, binary=fmt == "dtb")
    return 1 if errors else 0


def _read_file(path: str, limit: int, why: str) -> bytes:
    """A DTB file, read as far as its header's totalsize, up to `limit`
    (devices refused by name): see xendt.fdt.read.read_blob."""
    from xendt.fdt.read import read_blob

    return read_blob(path, limit, why)[0]
