"""`xendt build --host-dtb H --domain NAME|all`: the device trees the Xen
hypervisor itself builds at boot for dom0less domains; and `xendt host-dt`,
the host DTB Xen receives once a U-Boot script has edited it."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from xendt.cli import common
from xendt.cli.common import warn
from xendt.cli.output import echo, file_in, make_folder, output_folder, output_path, write
from xendt.errors import ConfigError
from xendt.inputs import DOMU_PARTIAL_DTB_MAX, HOST_DTB_MAX
from xendt.xen.address import AddressSize

if TYPE_CHECKING:
    from xendt.xen.context import Xen

#: A kernel module file: Xen reads the module's `reg` size of it; the cap is
#: libxenguest's for guest kernels (XC_DOM_DECOMPRESS_MAX, 1 GiB).
_MAX_KERNEL = 1 << 30


def named_files(values: tuple[str, ...], what: str, domains: tuple[str, ...]) -> dict[str, str]:
    """`--partial-dtb [NAME=]FILE` values by domain: a bare FILE belongs to
    the one domain built, NAME=FILE to NAME."""
    out: dict[str, str] = {}
    for value in values:
        name, eq, path = value.partition("=")
        if not eq:
            if len(domains) != 1:
                raise click.UsageError(f"{what} {value!r}: with several domains, say whose:"
                                       f" {what} NAME=FILE")
            name, path = domains[0], value
        if name in out:
            raise click.UsageError(f"{what}: two files for {name}")
        out[name] = path
    return out


def host_blob(host_dtb: str, script: str | None, files: tuple[str, ...],
              uboot_version: str | None = None, loads: dict[int, str] | None = None
              ) -> tuple[bytes, str]:
    """The host DTB, after the U-Boot script's fdt edits when one is given
    (and after its booti's edits, with uboot_version). `loads` receives the
    --uboot-file files the script loads, by the address it loads each at
    (the last load at an address wins)."""
    from xendt.fdt.read import read_blob

    data, name = read_blob(host_dtb, HOST_DTB_MAX, "Xen's MAX_FDT_SIZE")
    if script is None:
        for option, given in (("--uboot-file", files), ("--uboot-version", uboot_version)):
            if given:
                raise click.UsageError(f"{option} goes with --uboot-script")
        return data, name
    from xendt.inputs import read_capped
    from xendt.uboot.script import MAX_SCRIPT_BYTES, apply_script

    sizes: dict[str, int] = {}
    paths: dict[str, str] = {}
    for value in files:
        loaded, eq, path = value.partition("=")
        if not eq:
            loaded, path = os.path.basename(value), value
        paths[loaded] = path
        try:
            sizes[loaded] = os.stat(path).st_size
        except OSError as e:
            raise ConfigError(f"--uboot-file {value}: cannot read: {e.strerror}") from None
    text, script_name = read_capped(script, "U-Boot script", MAX_SCRIPT_BYTES, ConfigError)
    try:
        source = text.decode()
    except UnicodeDecodeError as e:
        raise ConfigError(f"{script_name}: not text (byte {e.start} is not UTF-8)") from None
    done: list[tuple[str, int]] = []
    edited = apply_script(data, source, script_name, sizes, dtb_name=os.path.basename(host_dtb),
                          uboot_version=uboot_version, loads=done)
    if loads is not None:
        loads.update((address, paths[loaded]) for loaded, address in done)
    return edited, f"{name} as {script_name} leaves it"


def build_domains(host_dtb: str, names: tuple[str, ...], xen: str | None,
                  size: AddressSize | None, *, partials: tuple[str, ...],
                  kernels: tuple[str, ...], iommu: bool | None, script: str | None,
                  script_files: tuple[str, ...], output: str, fmt: str) -> None:
    """Build and write the domains `names` ("all": every one) of a host."""
    from xendt.dom0less import summary
    from xendt.dom0less.build import build, domain_names
    from xendt.xen.context import resolve

    loads: dict[int, str] = {}
    data, host_name = host_blob(host_dtb, script, script_files, loads=loads)
    every = domain_names(data, host_name)
    chosen = every if "all" in names else names
    if not chosen:
        raise ConfigError(f"{host_name}: no dom0less domain under /chosen"
                          f" (nodes compatible with \"xen,domain\")")
    several = len(chosen) > 1
    _unique(chosen, every, host_name)
    folder = output_folder(output) if _is_folder(output) else None
    if several and folder is None:
        raise click.UsageError("several domains: give a folder with -o DIR/ (one file each)")
    paths = {n: file_in(folder, n, fmt) if folder else output_path(output) for n in chosen}
    partial_files = named_files(partials, "--partial-dtb", chosen)
    kernel_files = named_files(kernels, "--kernel", chosen)
    for name in (*partial_files, *kernel_files):
        if name not in every:
            raise ConfigError(f"{host_name}: no dom0less domain {name!r} under /chosen"
                              f" (it has {', '.join(every) or 'none'})")
    resolved = resolve(xen)
    version = resolved.asked
    if loads:
        _script_modules(data, host_name, chosen, resolved, loads, kernel_files, partial_files)
    built = [build(data, name, resolved, host_name=host_name,
                   partial_dtb=_read(partial_files.get(name), DOMU_PARTIAL_DTB_MAX,
                                     "partial device tree"),
                   partial_name=partial_files.get(name, "partial.dtb"),
                   kernel=_read(kernel_files.get(name), _MAX_KERNEL, "kernel"),
                   kernel_name=kernel_files.get(name, "kernel"),
                   pa_bits=size.bits if size and size.kind == "pa" else None,
                   ipa_bits=size.bits if size and size.kind == "ipa" else None, iommu=iommu)
             for name in chosen]
    across = summary.across(tuple(built)) if several else ()
    warn([*(w for dt in built for w in dt.warnings), *across], chosen)
    if folder:
        make_folder(folder)
    for dt in built:
        if fmt == "json":
            from xendt.dom0less.api import as_guest_dt
            from xendt.guest.model import Host
            host = Host(xen=version, pa_bits=size.bits if size and size.kind == "pa" else None,
                        ipa_bits=size.bits if size and size.kind == "ipa" else None)
            data = as_guest_dt(dt, host, (host_name,), xen=resolved).to_json().encode()
        else:
            data = _formatted(dt.blob, fmt)
        write(paths[dt.domain], data, binary=fmt == "dtb")
    if folder:
        echo(summary.table(tuple(built)))


def _script_modules(data: bytes, host_name: str, chosen: tuple[str, ...], xen: Xen,
                    loads: dict[int, str], kernels: dict[str, str],
                    partials: dict[str, str]) -> None:
    """Fill in `kernels` and `partials` (by domain) with the --uboot-file
    files the script loaded where a domain's kernel or device-tree module
    starts: they are what Xen finds there. --kernel and --partial-dtb win."""
    from xendt.domu import domains
    from xendt.fdt.read import parse

    tree = parse(data, host_name)
    for name in chosen:
        domain = domains.read(tree, name, xen)
        for module, files in ((domain.kernel, kernels), (domain.partial, partials)):
            if module is not None and name not in files and module.address in loads:
                files[name] = loads[module.address]


def _is_folder(output: str) -> bool:
    """-o DIR/ (a trailing slash, made when missing) or an existing folder."""
    return output != "-" and (output.endswith(os.sep) or os.path.isdir(output))


def _unique(chosen: tuple[str, ...], every: tuple[str, ...], host_name: str) -> None:
    """Each domain built once, and known by its name: two /chosen nodes of
    one name (both of which Xen builds) cannot be told apart."""
    for name in chosen:
        if every.count(name) > 1:
            raise ConfigError(f"{host_name}: {every.count(name)} dom0less domains named {name!r}"
                              f" under /chosen: Xen builds each, xendt cannot tell them apart"
                              f" (rename one)")
        if chosen.count(name) > 1:
            raise click.UsageError(f"--domain {name} given twice")


def _formatted(blob: bytes, fmt: str) -> bytes:
    if fmt == "dtb":
        return blob
    from xendt.fdt.dts import to_dts

    return to_dts(blob).encode()


def _read(path: str | None, cap: int, what: str) -> bytes | None:
    if path is None:
        return None
    from xendt.inputs import read_capped

    return read_capped(path, what, cap, ConfigError)[0]


@click.command("host-dt", short_help="The host DTB Xen receives, after a U-Boot script.")
@click.option("--host-dtb", required=True, metavar="FILE", help="The board's DTB.")
@click.option("--uboot-script", metavar="FILE",
              help="A U-Boot boot script (boot.source, as ImageBuilder writes it) whose fdt"
                   " commands edit the DTB before Xen reads it.")
@click.option("--uboot-file", multiple=True, metavar="[NAME=]PATH",
              help="A file the script loads, for its ${filesize} (NAME as the script names it).")
@click.option("--uboot-version", metavar="VERSION",
              help="The U-Boot that runs the script, as its banner prints it after \"U-Boot \""
                   " (e.g. 2023.01+dfsg-2+deb12u3): also apply what its booti does to the DTB"
                   " (U-Boot 2023.01's edits), giving the DTB Xen receives byte for byte.")
@common.output_options(("dts", "dtb"), "dts", "DTS text (as dtc prints it) or the DTB.",
                       text="dts")
def host_dt(host_dtb: str, uboot_script: str | None, uboot_file: tuple[str, ...],
            uboot_version: str | None, output: str, fmt: str) -> None:
    """Print the host device tree a U-Boot script leaves for Xen.

    Without --uboot-version: the board's DTB with the script's commands
    applied, as it is when the script reaches booti (its /chosen/domU*
    nodes; totalsize as its `fdt resize` or `fdt addr` left it). With
    --uboot-version: the DTB Xen receives, after booti's own edits too:
    /chosen/u-boot,version (and /chosen/bootargs, /serial-number if the
    script sets bootargs, serial#), the memory node's device_type, and
    totalsize shrunk to the minimum. Without --uboot-script: the board's
    DTB as it is."""
    if uboot_version is not None:
        _check_version(uboot_version)
    path = output_path(output)
    data, _ = host_blob(host_dtb, uboot_script, uboot_file, uboot_version)
    write(path, _formatted(data, fmt), binary=fmt == "dtb")


def _check_version(version: str) -> None:
    if version.startswith("U-Boot "):
        raise click.UsageError(f"--uboot-version {version!r}: give it without \"U-Boot \""
                               f" ({version[7:]!r}): that is U-Boot's PLAIN_VERSION, the value"
                               " of /chosen/u-boot,version")
    if not version or len(version) > 256 or not version.isprintable():
        raise click.UsageError("--uboot-version: a version is 1 to 256 printable characters")
