"""xendt build: the guest device tree libxl would write."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from xendt.cli import options
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
@click.option("--output", "-o", default="-", show_default=True, metavar="FILE",
              help="Where to write; - is standard output.")
@click.option("--format", "fmt", type=click.Choice(["dtb", "dts", "json"]), default="dtb",
              show_default=True, help="DTB blob, DTS text (as dtc prints it) or the memory map as JSON.")
def build(xen: str | None, sizes: tuple[AddressSize, ...], guest_json: str | None, output: str,
          fmt: str, **flags: Any) -> None:
    """Build the device tree Xen's libxl would give an Arm guest.

    The guest comes from an xl.cfg file, flags, or both (flags win); with
    neither, xl's defaults apply: 32 MiB, one vCPU, the host's GIC, no
    devices. Host facts (Xen version, PA bits, timer frequency) are flags.
    """
    from xendt.guest import builder

    output_ = output_path(output)
    if guest_json:
        guest, host, warnings = _from_json(guest_json, xen, sizes[0] if sizes else None, flags)
    else:
        guest, host, warnings = options.guest_and_host(xen, sizes[0] if sizes else None, **flags)
    constraints: tuple[object, ...] = ()
    if len(sizes) > 1:  # a fleet: the narrowest host's regions
        from xendt.host import fleet

        plan = fleet.build_host(guest, host, sizes)
        host, constraints = plan.host, plan.fleet.constraints
    result = builder.build(guest, host)
    for warning in (*warnings, *result.warnings):
        click.echo(f"xendt: warning: {warning}", err=True)
    for constraint in constraints:
        click.echo(f"xendt: fleet: {constraint}", err=True)
    if fmt == "dtb":
        data = result.dtb
    elif fmt == "dts":
        from xendt.fdt.dts import to_dts

        data = to_dts(result.dtb).encode()
    else:
        from xendt.render.jsonout import memory_map_json

        data = memory_map_json(result.memory_map).encode()
    write(output_, data, binary=fmt == "dtb")


#: Host flags among the build options: the Host field each sets, and how.
_HOST_FLAGS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "host_gic": ("gic", str), "clock_frequency": ("clock_frequency", int),
    "rng_seed": ("rng_seed", options._rng_seed),
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
