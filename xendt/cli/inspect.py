"""xendt show, check and diff: any DTB read back, checked and compared."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import click

from xendt.cli import common, options
from xendt.cli.output import output_path, write
from xendt.xen.address import AddressSize

if TYPE_CHECKING:
    from xendt.fdt.tree import Tree


@click.command()
@click.argument("file", metavar="FILE.dtb|-")
@options.xen_option("Name ranges from this Xen version's layout. [default: the version the"
                    " tree's compatible strings give]")
@common.output_options(("text", "json", "svg"), "text",
                       "DTS and the map as text, both as JSON data, or the map drawn as SVG.")
@click.option("--part", type=click.Choice(["dts", "map"]),
              help="Text: only the DTS (as dtc prints it, for `dtc -I dts`) or only the address"
                   " map. [default: both, DTS first]")
@click.option("--picture", type=click.Path(dir_okay=False), metavar="FILE.svg",
              help="Also draw the address map as SVG.")
def show(file: str, xen: str | None, output: str, fmt: str, part: str | None,
         picture: str | None) -> None:
    """Print a DTB as DTS (as dtc does), then its guest address map.

    The map lists every addressed thing (RAM, grant table, extended regions,
    GIC, UART, virtio-mmio, vPCI ECAM and windows, initrd, passthrough
    devices) by address, with its size, the node it comes from, the gaps
    between them and the names the Xen layout gives each range.
    """
    from xendt.fdt.read import read_dtb
    from xendt.inspect import addressmap
    from xendt.inspect import show as render
    from xendt.xen.context import resolve

    if part is not None and fmt != "text":
        raise click.UsageError(f"--part goes with the text format, not {fmt}")
    output_ = output_path(output)
    picture_ = output_path(picture) if picture else None
    tree = read_dtb(file)
    if part == "dts" and not picture_:  # the DTS alone needs no address map
        write(output_, str(tree).encode(), binary=False)
        return
    amap = addressmap.address_map(tree, resolve(xen) if xen is not None else None)
    drawing = b""
    if fmt == "svg" or picture_:
        from xendt.render.picture import svg

        drawing = svg(amap).encode()
    if fmt == "svg":
        data = drawing
    elif fmt == "json":
        data = render.json_text(tree, amap).encode()
    elif part == "dts":
        data = str(tree).encode()
    elif part == "map":
        data = render.map_text(amap).encode()
    else:
        data = render.text(amap, str(tree)).encode()
    write(output_, data, binary=False)
    if picture_:
        write(picture_, drawing, binary=False)


@click.command()
@click.argument("file", metavar="FILE.dtb|-")
@options.xen_option("Check against this Xen version. [default: the version the tree reports]")
@options.address_options(
    multiple=False,
    pa_help="Host physical-address bits: extended regions must fit the IPA size this Xen derives"
            " from them. [default: the largest IPA size the Xen version gives]",
    ipa_help="The guest IPA size directly; excludes --pa-bits.")
@click.option("--page-size", type=click.Choice(["4k", "16k", "64k"]), default="4k",
              show_default=True,
              help="The guest kernel's page size: Linux hot-plugs 128 MiB sections (512 MiB with"
                   " 64k pages) into extended regions.")
@common.output_options(("text", "json"), "text",
                       "One finding a line, or JSON (type, level, file, node, message).")
def check(file: str, xen: str | None, sizes: tuple[AddressSize, ...], page_size: str,
          output: str, fmt: str) -> int:
    """Check a guest DTB against the rules Xen guests (Linux above all) apply.

    Each finding gives its level (error, warning, info), node, property and
    reason. Exit status: 0 no errors, 1 errors found, 2 could not check.
    """
    from xendt.fdt.read import read_dtb
    from xendt.inspect.check import check as run_checks
    from xendt.xen.context import resolve

    output_ = output_path(output)
    tree = read_dtb(file)
    report = run_checks(tree, xen=resolve(xen) if xen is not None else None, size=sizes[0] if sizes else None,
                        page_size=int(page_size[:-1]) * 1024)
    write(output_, (report.json() if fmt == "json" else report.text()).encode(), binary=False)
    failing = report.errors or (common.strict() and report.count("warning"))
    return 1 if failing else 0


@click.command()
@click.argument("files", nargs=-1, metavar="[A.dtb [B.dtb]]")
@options.xen_option("Build for this Xen version; twice to compare two versions. With one FILE:"
                    " the version to compare it with. [default: the FILE's, else the newest]",
                    multiple=True)
@options.address_options(
    multiple=True,
    pa_help="Host physical-address bits of the build; twice to compare two hosts.",
    ipa_help="Guest IPA size of the build; twice to compare two.")
@options.guest_options
@click.option("--include-rng-seed", is_flag=True,
              help="Compare /chosen/rng-seed values too (libxl's are random).")
@common.output_options(("text", "json"), "text", "Changes as text or as JSON.")
@click.pass_context
def diff(ctx: click.Context, files: tuple[str, ...], xen: tuple[str, ...],
         sizes: tuple[AddressSize, ...], include_rng_seed: bool, output: str, fmt: str,
         **flags: Any) -> int:
    """Compare two device trees by meaning, not bytes.

    Give two DTB files; or one DTB file and build options ("is my guest's DT
    what this Xen gives it?"); or no file and two --xen (or --pa-bits,
    --ipa-bits) values to build the same guest both ways. Unless --rng-seed
    says otherwise, two builds share one seed and a build compared with a
    file takes the file's. Exit status as diff(1): 0 same, 1 different, 2
    trouble.
    """
    from xendt.fdt.read import read_dtb
    from xendt.inspect import addressmap
    from xendt.inspect.diff import diff as compare
    from xendt.xen import layouts

    output_ = output_path(output)
    default = click.core.ParameterSource.DEFAULT
    building = bool(xen or sizes) or any(
        ctx.get_parameter_source(name) is not default for name in flags)
    if files.count("-") > 1:
        raise click.UsageError("standard input (-) can be read once: give it as one file only")
    if len(files) > 2:
        raise click.UsageError(f"at most two files to compare, got {len(files)}")
    if len(files) == 2:
        if building:
            raise click.UsageError("build options go with one file or none, not two")
        a, b = read_dtb(files[0]), read_dtb(files[1])
    elif len(files) == 1:
        if max(len(xen), len(sizes)) > 1:
            raise click.UsageError("with one file, give --xen, --pa-bits and --ipa-bits once each")
        a = read_dtb(files[0])
        version = xen[0] if xen else addressmap.xen_version(a).version or layouts.newest()
        if ctx.get_parameter_source("rng_seed") is default:
            seed = (a.node("/chosen") or a.root).get("rng-seed")
            flags["rng_seed"] = seed.hex() if seed and len(seed) == 128 else "none"
        b = _built_tree(version, sizes[0] if sizes else None, flags)
    else:
        if max(len(xen), len(sizes)) != 2:
            raise click.UsageError("give two DTB files, one file and build options, or two"
                                   " --xen, --pa-bits or --ipa-bits values to build")
        if ctx.get_parameter_source("rng_seed") is default:
            flags["rng_seed"] = os.urandom(128).hex()  # the same guest: the same seed

        def pick(values: tuple[Any, ...], side: int) -> Any:
            return values[side] if len(values) == 2 else (values[0] if values else None)

        a, b = (_built_tree(pick(xen, side) or layouts.newest(), pick(sizes, side), flags)
                for side in (0, 1))
    result = compare(a, b, include_rng_seed=include_rng_seed)
    write(output_, (result.json() if fmt == "json" else result.text()).encode(), binary=False)
    return 0 if result.same else 1


def _built_tree(xen: str, size: AddressSize | None, flags: dict[str, Any]) -> Tree:
    """The decoded tree of the guest the build options describe, named
    after the build; libxl's warnings go to stderr."""
    from xendt.fdt.read import parse
    from xendt.guest import libxl_build as builder
    from xendt.xen.context import resolve

    guest, host, warnings = options.guest_and_host(xen, size, **flags)
    result = builder.build(guest, host, xen=resolve(host.xen))
    common.warn((*warnings, *result.warnings))
    return parse(result.dtb, f"xendt build --xen {xen}{', ' + size.flag if size else ''}")
