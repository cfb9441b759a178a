"""xendt build: the guest device tree libxl would write."""

from __future__ import annotations

from typing import Any

import click

from xendt.cli import options
from xendt.cli.output import output_path, write
from xendt.xen.address import AddressSize


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
@click.option("--output", "-o", default="-", show_default=True, metavar="FILE",
              help="Where to write; - is standard output.")
@click.option("--format", "fmt", type=click.Choice(["dtb", "dts", "json"]), default="dtb",
              show_default=True, help="DTB blob, DTS text (as dtc prints it) or the memory map as JSON.")
def build(xen: str | None, sizes: tuple[AddressSize, ...], output: str, fmt: str,
          **flags: Any) -> None:
    """Build the device tree Xen's libxl would give an Arm guest.

    The guest comes from an xl.cfg file, flags, or both (flags win); with
    neither, xl's defaults apply: 32 MiB, one vCPU, the host's GIC, no
    devices. Host facts (Xen version, PA bits, timer frequency) are flags.
    """
    from xendt.guest import builder

    output_ = output_path(output)
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
