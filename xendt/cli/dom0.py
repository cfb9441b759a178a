"""`xendt build --dom0 --host-dtb H`: the device tree the Xen hypervisor
writes for dom0 at boot (xendt.dom0)."""

from __future__ import annotations

import click

from xendt.cli.output import output_path, write
from xendt.errors import ConfigError
from xendt.inputs import HOST_DTB_MAX
from xendt.xen.address import AddressSize

#: The kernel file read: as for a dom0less kernel module (1 GiB).
_MAX_KERNEL = 1 << 30


def build_dom0(host_dtb: str, xen: str | None, size: AddressSize | None, dom0_mem: str | None,
               gnttab: str | None, xen_cmdline: str | None, kernel: str | None,
               v2m_spis: tuple[str, ...], output: str, fmt: str) -> int:
    """Write dom0's DTB, DTS or memory map; 1 (Xen's message on stderr)
    where Xen fails to build dom0."""
    from xendt.dom0.api import build_dom0 as build
    from xendt.fdt.read import read_blob
    from xendt.guest.model import Host
    from xendt.host.domains import parse_banks

    output_ = output_path(output)
    if dom0_mem is None or gnttab is None:
        missing = "--dom0-mem" if dom0_mem is None else "--gnttab"
        raise click.UsageError(f"--dom0 needs {missing}: Xen's console prints dom0's banks"
                               f" (BANK[n]) and its grant table (Grant table range) at boot")
    banks = parse_banks(dom0_mem, "--dom0-mem")
    grant = parse_banks(gnttab, "--gnttab")
    if len(grant) != 1:
        raise ConfigError("--gnttab: give one BASE:SIZE")
    data, name = read_blob(host_dtb, HOST_DTB_MAX, "Xen's MAX_FDT_SIZE")
    image = _read_kernel(kernel) if kernel else None
    host = Host(xen=xen, pa_bits=size.bits if size and size.kind == "pa" else None,
                ipa_bits=size.bits if size and size.kind == "ipa" else None)
    result = build(data, banks, grant[0], host, xen_cmdline=xen_cmdline, kernel=image,
                   v2m_spis=tuple(_spis(v) for v in v2m_spis), host_name=name)
    for warning in result.warnings:
        click.echo(f"xendt: warning: {warning}", err=True)
    if fmt == "dtb":
        out = result.dtb
    elif fmt == "dts":
        from xendt.fdt.dts import to_dts

        out = to_dts(result.dtb).encode()
    else:
        from dataclasses import replace

        out = replace(result, inputs=(name,)).to_json().encode()
    write(output_, out, binary=fmt == "dtb")
    return 0


def _spis(text: str) -> tuple[int, int]:
    base, sep, count = text.partition(":")
    try:
        if sep:
            return int(base, 0), int(count, 0)
    except ValueError:
        pass
    raise ConfigError(f"--v2m-spis: {text!r} is not BASE:COUNT (e.g. 80:64)")


def _read_kernel(path: str) -> bytes:
    from xendt.inputs import read_capped

    return read_capped(path, "kernel", _MAX_KERNEL, ConfigError)[0]
