"""`xendt build --dom0 --host-dtb H`: the device tree the Xen hypervisor
writes for dom0 at boot (xendt.dom0)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from xendt.cli.common import warn
from xendt.cli.output import output_path, write
from xendt.errors import ConfigError

if TYPE_CHECKING:
    from xendt.dom0.memory import Boot
from xendt.inputs import HOST_DTB_MAX
from xendt.ranges import Range
from xendt.xen.address import AddressSize

#: The kernel file read: as for a dom0less kernel module (1 GiB).
_MAX_KERNEL = 1 << 30


def build_dom0(host_dtb: str, xen: str | None, size: AddressSize | None, dom0_mem: str | None,
               gnttab: str | None, xen_cmdline: str | None, kernel: str | None,
               v2m_spis: tuple[str, ...], output: str, fmt: str,
               boot: tuple[str | None, str | None] = (None, None)) -> int:
    """Write dom0's DTB, DTS or memory map; 1 (Xen's message on stderr)
    where Xen fails to build dom0."""
    from xendt.dom0.api import build_dom0 as build
    from xendt.fdt.read import read_blob
    from xendt.guest.model import Host
    from xendt.inputs import parse_banks
    from xendt.xen.context import resolve

    output_ = output_path(output)
    if gnttab is None:
        raise click.UsageError("--dom0 needs --gnttab: Xen's console prints its grant table"
                               " (Grant table range) at boot")
    if dom0_mem is None and None in boot:
        missing = "--xen-image" if boot[0] is None else "--host-dtb-addr"
        raise click.UsageError(f"--dom0 without --dom0-mem predicts dom0's banks and needs"
                               f" {missing}: where the bootloader put Xen and the host DTB"
                               f" (Xen's console prints its banks as BANK[n]: --dom0-mem)")
    if dom0_mem is not None and boot != (None, None):
        raise click.UsageError("--xen-image and --host-dtb-addr go with a prediction: not"
                               " with --dom0-mem")
    banks = parse_banks(dom0_mem, "--dom0-mem") if dom0_mem is not None else ()
    grant = parse_banks(gnttab, "--gnttab")
    if len(grant) != 1:
        raise ConfigError("--gnttab: give one BASE:SIZE")
    data, name = read_blob(host_dtb, HOST_DTB_MAX, "Xen's MAX_FDT_SIZE")
    image = _read_kernel(kernel) if kernel else None
    host = Host(xen=xen, pa_bits=size.bits if size and size.kind == "pa" else None,
                ipa_bits=size.bits if size and size.kind == "ipa" else None)
    placed = _boot(boot, len(data)) if dom0_mem is None else None
    result = build(data, banks, grant[0], host, xen_cmdline=xen_cmdline, kernel=image,
                   v2m_spis=tuple(_spis(v) for v in v2m_spis), host_name=name, boot=placed,
                   xen=resolve(xen))
    warn(result.warnings)
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


def _boot(given: tuple[str | None, str | None], dtb_size: int) -> Boot:
    """--xen-image and --host-dtb-addr."""
    from xendt.dom0.memory import Boot
    from xendt.inputs import parse_banks

    image, addr = given
    assert image is not None and addr is not None
    xen = parse_banks(image, "--xen-image")
    if len(xen) != 1:
        raise ConfigError("--xen-image: give one BASE:SIZE")
    try:
        base = int(addr, 0)
    except ValueError:
        raise ConfigError(f"--host-dtb-addr: {addr[:40]!r} is not an address (e.g."
                          f" 0x48000000)") from None
    if not 0 <= base < 1 << 64:
        raise ConfigError(f"--host-dtb-addr: {addr[:40]!r} is not a 64-bit address")
    return Boot(xen[0], Range(base, dtb_size))


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
