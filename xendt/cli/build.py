"""xendt build: the guest device tree libxl would write."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from xendt.cli import common, options
from xendt.cli.output import output_path, write
from xendt.errors import ConfigError
from xendt.xen.address import AddressSize

if TYPE_CHECKING:
    from xendt.guest.model import GuestConfig, Host


@click.command()
@options.xen_option("Xen version of the host (hypervisor and toolstack)."
                    " [default: the newest xendt knows]")
@options.address_options(
    multiple=True,
    pa_help="Host physical-address bits (Arm PARange: 32, 36, 40, 42, 44, 48, 52); the guest IPA"
            " size follows as this Xen derives it. [default: 40] Repeat for a fleet: only"
            " extended regions valid on every host are kept.",
    ipa_help="Guest IPA size directly (when an IOMMU lowers it); excludes --pa-bits."
             " Repeatable like --pa-bits.")
@options.guest_options
@click.option("--guest-json", type=click.Path(dir_okay=False), metavar="FILE",
              help="The guest (and host) as JSON, instead of an xl.cfg and guest flags"
                   " (see README: Python API).")
@click.option("--host-dtb", metavar="FILE",
              help="The host's DTB. With --domain: build the DT Xen itself builds for that dom0less"
                   " domain. Without: take the host's GIC version and timer clock-frequency from it.")
@click.option("--domain", "domains", multiple=True, metavar="NAME|all",
              help="A dom0less domain under the host DTB's /chosen (repeatable; all: every one,"
                   " into -o DIR/ with a summary table).")
@click.option("--partial-dtb", multiple=True, metavar="[NAME=]FILE",
              help="A dom0less domain's passthrough DT (its multiboot,device-tree module)."
                   " [default: the --uboot-file the script loads there]")
@click.option("--iommu/--no-iommu", default=None,
              help="Dom0less: whether Xen uses an IOMMU. [default: as the host DT suggests]")
@click.option("--uboot-script", metavar="FILE",
              help="Dom0less: a U-Boot boot script whose fdt commands edit the host DTB first.")
@click.option("--uboot-file", multiple=True, metavar="[NAME=]PATH",
              help="Dom0less: a file the U-Boot script loads, for its ${filesize}; loaded where a"
                   " domain's kernel or device-tree module starts, it is that module's file.")
@click.option("--explain", is_flag=True,
              help="Say where each extended region comes from and what cut it (stderr, or an"
                   " \"explain\" list in --format json).")
@click.option("--dom0", is_flag=True,
              help="With --host-dtb: dom0's DT, as the hypervisor rewrites the host DT at boot"
                   " (--kernel: the dom0 kernel module's file).")
@click.option("--dom0-mem", metavar="BASE:SIZE[,...]",
              help="--dom0: dom0's RAM banks. Xen's allocator places them at boot, not the DT:"
                   " its console prints them as BANK[n]. [default: predicted, from dom0_mem="
                   " and what Xen reserves; needs --xen-image and --host-dtb-addr; certain"
                   " below 4 GiB only]")
@click.option("--xen-image", metavar="BASE:SIZE",
              help="--dom0 without --dom0-mem: where the bootloader loaded Xen and its size"
                   " (_end - _start; Xen's early console prints MODULE[0] ... Xen), e.g."
                   " 0x40200000:0x14c000 for QEMU virt's -kernel.")
@click.option("--host-dtb-addr", metavar="ADDR",
              help="--dom0 without --dom0-mem: where the bootloader put the host DTB (Xen's"
                   " early console: MODULE[1] ... Device Tree), e.g. 0x48000000 for QEMU virt.")
@click.option("--gnttab", metavar="BASE:SIZE",
              help="--dom0: dom0's grant table, where Xen itself was loaded, not in the DT: its"
                   " console prints it as \"Grant table range\".")
@click.option("--xen-cmdline", metavar="TEXT",
              help="--dom0: Xen's command line (dom0_max_vcpus=, dtuart=, console=, iommu=,"
                   " ext_regions=). [default: /chosen xen,xen-bootargs]")
@click.option("--v2m-spis", multiple=True, metavar="BASE:COUNT",
              help="--dom0: a GICv2m frame's SPI base and count when its DT node lacks"
                   " arm,msi-base-spi/-num-spis (Xen reads the frame's register; its console"
                   " prints gic_v2m_spi_base/num_spis). One per frame, in DT order.")
@common.output_options(
    ("dtb", "dts", "json"), "dtb", "DTB blob, DTS text (as dtc prints it) or the memory map as JSON.",
    output_help="Where to write: a file, - (standard output), or with --domain all a folder DIR/"
                " (one file per domain).")
def build(xen: str | None, sizes: tuple[AddressSize, ...], guest_json: str | None,
          host_dtb: str | None, domains: tuple[str, ...], partial_dtb: tuple[str, ...],
          iommu: bool | None, uboot_script: str | None, uboot_file: tuple[str, ...],
          explain: bool, dom0: bool, dom0_mem: str | None, gnttab: str | None,
          xen_cmdline: str | None, v2m_spis: tuple[str, ...], output: str, fmt: str,
          xen_image: str | None = None, host_dtb_addr: str | None = None,
          **flags: Any) -> int | None:
    """Build the device tree Xen gives an Arm guest (libxl's, or dom0less).

    An xl guest comes from an xl.cfg file, flags, or both (flags win), or
    --guest-json; with none, xl's defaults apply: 32 MiB, one vCPU, the
    host's GIC, no devices. Host facts are flags, or come from the board's
    DTB with --host-dtb. With --host-dtb and --domain NAME|all, the DT Xen
    itself builds at boot for those dom0less domains; with --dom0, the DT
    it writes for dom0.
    """
    dom0_flags = {"--dom0-mem": dom0_mem, "--gnttab": gnttab, "--xen-cmdline": xen_cmdline,
                  "--v2m-spis": v2m_spis, "--xen-image": xen_image,
                  "--host-dtb-addr": host_dtb_addr}
    if dom0:
        return _dom0(xen, sizes, host_dtb, domains, explain, dom0_flags, output, fmt, flags)
    _refuse(dom0_flags.items(), "goes with --dom0")
    if domains:
        if explain:
            raise click.UsageError("--explain goes with an xl guest; for a dom0less domain's"
                                   " regions: xendt host-regions --domain NAME --explain")
        _dom0less(xen, sizes, host_dtb, domains, partial_dtb, iommu, uboot_script,
                  uboot_file, output, fmt, flags)
        return None
    _refuse((("--partial-dtb", partial_dtb), ("--iommu", iommu is not None),
             ("--uboot-script", uboot_script), ("--uboot-file", uboot_file)),
            "goes with --domain (a dom0less build)")
    _xl_guest(xen, sizes, guest_json, host_dtb, explain, output, fmt, flags)
    return None


def _refuse(given: Any, why: str) -> None:
    """A usage error for the first (flag, value) pair given a value."""
    for name, value in given:
        if value:
            raise click.UsageError(f"{name} {why}")


def _xl_guest(xen: str | None, sizes: tuple[AddressSize, ...], guest_json: str | None,
              host_dtb: str | None, explain: bool, output: str, fmt: str,
              flags: dict[str, Any]) -> None:
    """libxl's tree for an xl guest: from xl.cfg and flags, or JSON."""
    from xendt.guest import libxl_build as builder
    from xendt.xen.context import resolve

    output_ = output_path(output)
    if guest_json:
        guest, host, warnings = _from_json(guest_json, xen, sizes[0] if sizes else None, flags)
    else:
        guest, host, warnings = options.guest_and_host(xen, sizes[0] if sizes else None, **flags)
    if host_dtb:
        host = _board_facts(host, host_dtb)
    constraints: tuple[object, ...] = ()
    resolved = resolve(host.xen)
    if len(sizes) > 1:  # a fleet: the narrowest host's regions
        from xendt.hostregions import fleet

        plan = fleet.build_host(guest, host, sizes, resolved)
        host, constraints = plan.host, plan.fleet.constraints
    result = builder.build(guest, host, xen=resolved)
    common.warn((*warnings, *result.warnings))
    for constraint in constraints:
        common.note(f"fleet: {constraint}")
    notes = _explain(result, guest, fmt, resolved.layout) if explain else ()
    given = tuple(p for p in (flags.get("xl_config"), guest_json) if p)
    write(output_, _encoded(result, fmt, warnings, given, notes), binary=fmt == "dtb")


def _explain(result: Any, guest: Any, fmt: str, layout: Any) -> tuple[str, ...]:
    """--explain: where each of libxl's extended regions comes from (on
    stderr, or in the JSON)."""
    from xendt.guest import regions

    mmap = result.memory_map
    notes: tuple[str, ...] = regions.explain(layout,
                                             tuple(r.size for r in mmap.ram), mmap.ipa_bits,
                                             guest.iomem)
    if fmt != "json":
        for note in notes:
            click.echo(f"xendt: explain: {note}", err=True)
    return notes


def _encoded(result: Any, fmt: str, warnings: Any, given: tuple[str, ...],
             notes: tuple[str, ...]) -> bytes:
    """The built guest in the output format."""
    if fmt == "dtb":
        return bytes(result.dtb)
    if fmt == "dts":
        from xendt.fdt.dts import to_dts

        return to_dts(result.dtb).encode()
    from dataclasses import replace

    from xendt.notices import notices

    return bytes(replace(result, warnings=(*notices(warnings, "xl-config"), *result.warnings),
                         inputs=given, explain=notes).to_json().encode())


def _dom0(xen: str | None, sizes: tuple[AddressSize, ...], host_dtb: str | None,
          domains: tuple[str, ...], explain: bool, dom0: dict[str, Any], output: str,
          fmt: str, flags: dict[str, Any]) -> int:
    """The --dom0 path of build (xendt.cli.dom0): xl.cfg flags do not apply,
    --kernel is dom0's kernel module file."""
    from xendt.cli.dom0 import build_dom0

    ctx = click.get_current_context()
    if host_dtb is None:
        raise click.UsageError("--dom0 needs --host-dtb: the host DTB Xen boots with", ctx)
    if domains or explain:
        raise click.UsageError(f"{'--domain' if domains else '--explain'} does not go with"
                               f" --dom0", ctx)
    for name in flags:
        if name != "kernel" and ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT:
            raise click.UsageError(f"--{name.replace('_', '-')} is an xl.cfg option; dom0 is"
                                   f" described by the host DT", ctx)
    if len(sizes) > 1:
        raise click.UsageError("--dom0 takes one --pa-bits or --ipa-bits", ctx)
    return build_dom0(host_dtb, xen, sizes[0] if sizes else None, dom0["--dom0-mem"],
                      dom0["--gnttab"], dom0["--xen-cmdline"],
                      options.single_kernel(flags.get("kernel")),
                      dom0["--v2m-spis"], output, fmt,
                      boot=(dom0["--xen-image"], dom0["--host-dtb-addr"]))


#: Host flags among the build options: the Host field each sets, and how.
_HOST_FLAGS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "host_gic": ("gic", str), "clock_frequency": ("clock_frequency", int),
    "rng_seed": ("rng_seed", options.parse_rng_seed),
    "acpi_size": ("acpi_size", lambda size: size),
}


def _from_json(path: str, xen: str | None, size: AddressSize | None,
               flags: dict[str, Any]) -> tuple[GuestConfig, Host, list[str]]:
    """The guest and host of a --guest-json file; host flags (--xen,
    --pa-bits, --rng-seed, ...) override the file's host, guest flags and
    --xl-config conflict with it."""
    from dataclasses import replace

    from xendt.guest.jsonio import MAX_SIZE, guest_from_json
    from xendt.guest.model import Host
    from xendt.inputs import read_capped

    ctx = click.get_current_context()
    given = {name for name in flags
             if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT}
    guest_flags = sorted(given - set(_HOST_FLAGS))
    if guest_flags:
        flag = "--" + guest_flags[0].replace("_", "-")
        raise click.UsageError(f"--guest-json gives the whole guest: drop {flag}", ctx)
    text, name = read_capped(path, "guest description", MAX_SIZE, ConfigError)
    try:
        decoded = text.decode()
    except UnicodeDecodeError as e:
        raise ConfigError(f"{name}: not UTF-8 text (byte {e.start})") from None
    guest, host = guest_from_json(decoded, name)
    host = host or Host()
    overrides = {field: convert(flags[name]) for name, (field, convert) in _HOST_FLAGS.items()
                 if name in given}
    host = replace(host, **overrides)
    if xen:
        host = replace(host, xen=xen)
    if size:
        host = replace(host, pa_bits=size.bits if size.kind == "pa" else None,
                       ipa_bits=size.bits if size.kind == "ipa" else None)
    return guest, host, []


def _dom0less(xen: str | None, sizes: tuple[AddressSize, ...], host_dtb: str | None,
              domains: tuple[str, ...], partial_dtb: tuple[str, ...], iommu: bool | None,
              uboot_script: str | None, uboot_file: tuple[str, ...], output: str, fmt: str,
              flags: dict[str, Any]) -> None:
    """The dom0less path of build: xl.cfg flags do not apply, --kernel is
    the domain's kernel module file ([NAME=]FILE)."""
    from xendt.cli import dom0less

    ctx = click.get_current_context()
    if host_dtb is None:
        raise click.UsageError("--domain needs --host-dtb: the host DTB whose /chosen holds it", ctx)
    for name in flags:
        if name != "kernel" and ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT:
            flag = "--" + name.replace("_", "-")
            raise click.UsageError(f"{flag} is an xl.cfg option; a dom0less domain is described by"
                                   f" its /chosen node", ctx)
    if len(sizes) > 1:
        raise click.UsageError("a dom0less build takes one --pa-bits or --ipa-bits", ctx)
    kernels = tuple(flags.get("kernel") or ())
    dom0less.build_domains(host_dtb, domains, xen, sizes[0] if sizes else None,
                           partials=partial_dtb, kernels=kernels, iommu=iommu,
                           script=uboot_script, script_files=uboot_file, output=output, fmt=fmt)


def _board_facts(host: Host, path: str) -> Host:
    """`host` with what libxl learns from the hypervisor about the board:
    the GIC version (for gic_version = "default") and the timer's
    clock-frequency, both as Xen reads them from the board's DTB
    (xendt.host.libxl_facts). --host-gic and --clock-frequency conflict with it."""
    from dataclasses import replace

    from xendt.fdt.read import read_blob
    from xendt.host.libxl_facts import host_facts
    from xendt.host.xen_dt import read_host
    from xendt.inputs import HOST_DTB_MAX

    ctx = click.get_current_context()
    for name, what in (("host_gic", "GIC version"), ("clock_frequency", "timer frequency")):
        if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT:
            flag = "--" + name.replace("_", "-")
            raise click.UsageError(f"{flag} and --host-dtb both give the host's {what}:"
                                   f" give one", ctx)
    data, name = read_blob(path, HOST_DTB_MAX, "Xen's MAX_FDT_SIZE")
    gic, frequency = host_facts(read_host(data, name))
    if gic is None:
        raise ConfigError(f"{name}: no interrupt controller a Xen GIC driver matches (Xen"
                          f" panics: \"Unable to find compatible GIC in the device tree\")")
    return replace(host, gic=gic, clock_frequency=frequency)
