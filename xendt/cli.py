"""xendt: the device tree Xen's toolstack gives an Arm guest, built and
inspected offline.

A thin shell over the Python API (xendt.build and friends). Expected user
errors print one line, `xendt: <message>`, and exit with status 2.
"""

from __future__ import annotations

import os
import sys

import click

from xendt.errors import XendtError

PA_BITS = ("32", "36", "40", "42", "44", "48", "52")
IPA_BITS = ("32", "36", "40", "42", "44", "48")
DEFAULT_XEN = "4.22"


class _Group(click.Group):
    """Keeps `xendt --help` listing commands in the order they are defined."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="xendt", message="%(prog)s %(version)s")
def cli() -> None:
    """Build, inspect and diff the device trees Xen's toolstack (libxl)
    gives Arm guests, without booting Xen."""


def _versions() -> list[str]:
    from xendt.xen import layouts

    return list(layouts.versions())


def _check_host_options(xen: str, pa_bits, ipa_bits) -> None:
    """What click cannot check alone: a known Xen, and PA or IPA bits, not both."""
    if pa_bits and ipa_bits:
        raise click.UsageError("--pa-bits and --ipa-bits are mutually exclusive")
    if xen not in _versions():
        raise XendtError(f"--xen: unknown Xen version {xen!r}; xendt knows {', '.join(_versions())}")


def _hex_or_int(ctx, param, value):
    if value is None:
        return None
    try:
        return int(value, 0)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a number") from None


#: The build options other than the Xen version and the PA or IPA size (which
#: `diff` takes twice): the guest, from an xl.cfg file and flags named after
#: its keys, and the other host facts. Shared by build and diff.
_GUEST_OPTIONS = (
    click.option("--xl-config", "-c", type=click.Path(dir_okay=False), metavar="FILE",
                 help="Guest configuration in xl.cfg syntax. Flags below override its keys."),
    click.option("--host-gic", type=click.Choice(["v2", "v3"]), default="v3", show_default=True,
                 help="The host's GIC, used when gic_version is 'default' (xl's default)."),
    click.option("--clock-frequency", type=click.IntRange(0, 0xFFFFFFFF), default=0, metavar="HZ",
                 help="clock-frequency of the host DT's timer node; 0 (absent) is the usual case."),
    click.option("--rng-seed", default="random", show_default=True, metavar="random|none|HEX",
                 help="/chosen/rng-seed: random bytes like libxl, none to leave it out, or exactly"
                      " 128 bytes in hex for reproducible output."),
    click.option("--acpi-size", callback=_hex_or_int, metavar="BYTES",
                 help="Length of the ACPI tables libxl builds (needed with acpi=1)."),
    # Guest keys (xl.cfg names in brackets); absent keys take xl's defaults.
    click.option("--memory", type=int, metavar="MiB", help="[memory] Guest RAM. xl default: 32."),
    click.option("--maxmem", type=int, metavar="MiB", help="[maxmem] RAM populated (Arm: the banks hold this)."),
    click.option("--vcpus", type=int, metavar="N", help="[vcpus] xl default: 1."),
    click.option("--maxvcpus", type=int, metavar="N", help="[maxvcpus] cpu nodes; defaults to vcpus."),
    click.option("--gic-version", type=click.Choice(["v2", "v3", "default"]),
                 help="[gic_version] xl default: default (the host's GIC, see --host-gic)."),
    click.option("--vuart/--no-vuart", default=None, help='[vuart="sbsa_uart"] Emulated SBSA UART.'),
    click.option("--cmdline", metavar="TEXT", help="[cmdline] Kernel command line (wins over root/extra)."),
    click.option("--root", metavar="TEXT", help="[root] Adds root=TEXT to the command line."),
    click.option("--extra", metavar="TEXT", help="[extra] Appended to the command line."),
    click.option("--kernel", type=click.Path(dir_okay=False), metavar="FILE",
                 help="[kernel] arm64 Image (maybe gzipped) or arm32 zImage: its size places the ramdisk."),
    click.option("--kernel-size", callback=_hex_or_int, metavar="BYTES",
                 help="Stand-in for the kernel file: the loaded kernel's size."),
    click.option("--text-offset", callback=_hex_or_int, metavar="BYTES",
                 help="With --kernel-size: the arm64 Image's text_offset. [default: 0]"),
    click.option("--guest-arch", type=click.Choice(["arm64", "arm32"]),
                 help="With --kernel-size: the kernel's format. [default: arm64]"),
    click.option("--ramdisk", type=click.Path(dir_okay=False), metavar="FILE", help="[ramdisk] Initial ramdisk."),
    click.option("--ramdisk-size", callback=_hex_or_int, metavar="BYTES",
                 help="Stand-in for the ramdisk file: its size."),
    click.option("--device-tree", type=click.Path(dir_okay=False), metavar="FILE",
                 help="[device_tree] Partial DTB whose /passthrough and /aliases are copied."),
    click.option("--disk", multiple=True, metavar="SPEC", help="[disk] Repeatable; specification=virtio disks become virtio-mmio nodes."),
    click.option("--virtio", multiple=True, metavar="SPEC", help="[virtio] Repeatable, e.g. 'type=virtio,device22,transport=mmio'."),
    click.option("--pci", multiple=True, metavar="BDF", help="[pci] Repeatable; any adds the vPCI host bridge (4.16+)."),
    click.option("--iomem", multiple=True, metavar="SPEC", help="[iomem] Repeatable, 'START,PAGES[@GFN]' in hex; cut out of extended regions (4.21+)."),
    click.option("--tee", type=click.Choice(["none", "optee", "ffa"]), help="[tee] xl default: none."),
    click.option("--acpi/--no-acpi", default=None, help="[acpi] ACPI tables (arm64). xl default: off."),
    click.option("--nr-spis", type=int, metavar="N", help="[nr_spis] SPIs requested (4.19+)."),
)


def _guest_options(command):
    """Give `command` the _GUEST_OPTIONS."""
    for option in reversed(_GUEST_OPTIONS):
        command = option(command)
    return command


def _guest_and_host(xen, pa_bits, ipa_bits, *, xl_config, host_gic, clock_frequency, rng_seed,
                    acpi_size, kernel_size, text_offset, guest_arch, ramdisk_size, **keys):
    """The GuestConfig, the Host and the xl.cfg warnings the build options give."""
    from xendt.guest import xlcfg
    from xendt.model import Host, Kernel

    _check_host_options(xen, pa_bits, ipa_bits)
    cfg = xlcfg.with_flags(xlcfg.load(xl_config) if xl_config else None, _flag_keys(keys))
    kernel = _kernel_stand_in(kernel_size, text_offset, guest_arch)
    if kernel is None and "kernel" not in cfg:
        kernel = Kernel()  # no kernel at all: a 64-bit guest; its size matters only with a ramdisk
    guest, warnings = xlcfg.guest_config(cfg, kernel=kernel, ramdisk_size=ramdisk_size)
    host = Host(xen=xen, pa_bits=int(pa_bits) if pa_bits else None,
                ipa_bits=int(ipa_bits) if ipa_bits else None, gic=host_gic,
                clock_frequency=clock_frequency, rng_seed=_rng_seed(rng_seed), acpi_size=acpi_size)
    return guest, host, warnings


@cli.command()
@click.option("--xen", default=DEFAULT_XEN, show_default=True, metavar="VERSION",
              help="Xen version of the host (hypervisor and toolstack): 4.14 ... 4.22.")
@click.option("--pa-bits", type=click.Choice(PA_BITS), metavar="N", multiple=True,
              help="Host physical-address bits (Arm PARange: 32, 36, 40, 42, 44, 48, 52);"
                   " the guest IPA size follows as this Xen derives it. [default: 40]"
                   " Repeat for a fleet: only extended regions valid on every host are kept.")
@click.option("--ipa-bits", type=click.Choice(IPA_BITS), metavar="N", multiple=True,
              help="Guest IPA size directly (when an IOMMU lowers it); excludes --pa-bits."
                   " Repeatable like --pa-bits.")
@_guest_options
@click.option("--output", "-o", default="-", show_default=True, metavar="FILE",
              help="Where to write; - is standard output.")
@click.option("--format", "fmt", type=click.Choice(["dtb", "dts", "json"]), default="dtb",
              show_default=True, help="DTB blob, DTS text (as dtc prints it) or the memory map as JSON.")
def build(xen, pa_bits, ipa_bits, output, fmt, **options) -> None:
    """Build the device tree Xen's libxl would give an Arm guest.

    The guest comes from an xl.cfg file, flags, or both (flags win); with
    neither, xl's defaults apply: 32 MiB, one vCPU, the host's GIC, no
    devices. Host facts (Xen version, PA bits, timer frequency) are flags.
    """
    from xendt.guest import builder

    guest, host, warnings = _guest_and_host(xen, pa_bits[0] if pa_bits else None,
                                            ipa_bits[0] if ipa_bits else None, **options)
    constraints = ()
    if len(pa_bits) > 1 or len(ipa_bits) > 1:  # a fleet: the narrowest host's regions
        from xendt.host import fleet

        plan = fleet.build_host(guest, host, tuple(map(int, pa_bits)), tuple(map(int, ipa_bits)))
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
    write_output(output, data, binary=fmt == "dtb")


@cli.command("host-regions", short_help="Xen's own extended regions for dom0 or a dom0less domain.")
@click.option("--host-dtb", "host_dtbs", multiple=True, required=True, metavar="FILE",
              help="The host's device tree blob. Repeat for a fleet of boards.")
@click.option("--xen", default=DEFAULT_XEN, show_default=True, metavar="VERSION",
              help="Xen version of the hypervisor: 4.14 ... 4.22.")
@click.option("--pa-bits", type=click.Choice(PA_BITS), metavar="N", multiple=True,
              help="Host CPUs' physical-address bits [default: 40]; repeat for a fleet (one per"
                   " --host-dtb, or all with one DTB).")
@click.option("--ipa-bits", type=click.Choice(IPA_BITS), metavar="N", multiple=True,
              help="The IPA size directly (an IOMMU may lower it); excludes --pa-bits.")
@click.option("--iommu/--no-iommu", default=None,
              help="Whether Xen uses an IOMMU. [default: if the host DT has #iommu-cells]")
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
              help="The dom0less domain's passthrough DT, whose xen,reg ranges are excluded (4.21+).")
@click.option("--output", "-o", default="-", show_default=True, metavar="FILE",
              help="Where to write; - is standard output.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "dts", "dtb"]),
              default="table", show_default=True,
              help="A table, JSON, or the /hypervisor node Xen writes (DTS text or DTB).")
def host_regions(host_dtbs, xen, pa_bits, ipa_bits, iommu, domain, dom0_mem, dom0_dtb, gnttab,
                 guest_arch, partial_dtb, output, fmt) -> None:
    """The extended regions Xen itself gives dom0 or a dom0less domain on a
    host, computed from the host's device tree as that Xen version does at
    boot. Several hosts: only the regions valid on all, and what limited them.
    """
    from xendt.host import domains, fleet
    from xendt.render import hostout

    _check_host_options(xen, pa_bits, ipa_bits)
    if dom0_mem and dom0_dtb:
        raise click.UsageError("--dom0-mem and --dom0-dtb both give dom0's banks: give one")
    sizes = [(int(v), None) for v in pa_bits] or [(None, int(v)) for v in ipa_bits] or [(None, None)]
    if len(host_dtbs) > 1 and len(sizes) > 1 and len(sizes) != len(host_dtbs):
        raise click.UsageError(f"{len(host_dtbs)} --host-dtb but {len(sizes)} PA/IPA sizes:"
                               " give one size, or one per host")
    count = max(len(host_dtbs), len(sizes))
    dtbs = host_dtbs * count if len(host_dtbs) == 1 else host_dtbs
    sizes = sizes * count if len(sizes) == 1 else sizes
    ram, grant = (), domains.parse_banks(gnttab, "--gnttab")[0] if gnttab else None
    if dom0_mem:
        ram = domains.parse_banks(dom0_mem, "--dom0-mem")
    if dom0_dtb:
        ram, found = domains.dom0_facts(_read_file(dom0_dtb), dom0_dtb)
        grant = grant or found
    options = domains.DomainOptions(
        domain=domain, iommu=iommu, dom0_ram=ram, grant_table=grant,
        bits=32 if guest_arch == "arm32" else 64,
        passthrough=_read_file(partial_dtb) if partial_dtb else None,
        passthrough_name=partial_dtb or "")
    hosts = [(path, _read_file(path), pa, ipa) for path, (pa, ipa) in zip(dtbs, sizes)]
    data, notes = hostout.render(fleet.host_regions(hosts, xen, options), fmt)
    for note in notes:
        click.echo(f"xendt: warning: {note}", err=True)
    write_output(output, data, binary=fmt == "dtb")


def _read_file(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise XendtError(f"cannot read {path}: {e.strerror}") from None


def _flag_keys(keys: dict) -> dict:
    """The xl.cfg settings the guest flags give (flags not given give nothing)."""
    out = {}
    for key, value in keys.items():  # the flags are named after the keys
        if value is None or value == ():
            continue
        if key == "vuart":
            value = "sbsa_uart" if value else None  # None removes the file's setting
        elif key == "acpi":
            value = int(value)
        out[key] = value
    return out


def _kernel_stand_in(size, text_offset, arch):
    from xendt.model import Kernel

    if size is None:
        if text_offset is not None or arch is not None:
            raise click.UsageError("--text-offset and --guest-arch go with --kernel-size")
        return None
    return Kernel(arch=arch or "arm64", size=size, text_offset=text_offset or 0)


def _rng_seed(text: str) -> bytes | None:
    if text == "random":
        return None
    if text == "none":
        return b""
    try:
        seed = bytes.fromhex(text)
    except ValueError:
        raise XendtError(f"--rng-seed: {text[:40]!r} is not random, none or hex bytes") from None
    if len(seed) != 128:
        raise XendtError(f"--rng-seed: libxl's seed is 128 bytes, got {len(seed)}")
    return seed


@cli.command()
@click.argument("file", metavar="FILE.dtb|-")
@click.option("--xen", metavar="VERSION",
              help="Name ranges from this Xen version's layout. [default: the version the tree's"
                   " compatible strings give]")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="DTS and the map as text, or both as JSON data.")
@click.option("--picture", type=click.Path(dir_okay=False), metavar="FILE.svg",
              help="Also draw the address map as SVG.")
def show(file, xen, fmt, picture) -> None:
    """Print a DTB as DTS (as dtc does), then its guest address map.

    The map lists every addressed thing (RAM, grant table, extended regions,
    GIC, UART, virtio-mmio, vPCI ECAM and windows, initrd, passthrough
    devices) by address, with its size, the node it comes from, the gaps
    between them and the names the Xen layout gives each range.
    """
    from xendt.inspect import addressmap
    from xendt.inspect import show as render

    from xendt.fdt.read import read_dtb

    tree = read_dtb(file)
    dts = str(tree) if fmt == "text" else None
    amap = addressmap.address_map(tree, xen)
    click.echo(render.json_text(tree, amap) if fmt == "json" else render.text(amap, dts), nl=False)
    if picture:
        from xendt.render.picture import svg

        write_output(picture, svg(amap).encode(), binary=False)


@cli.command()
@click.argument("file", metavar="FILE.dtb|-")
@click.option("--xen", metavar="VERSION",
              help="Check against this Xen version. [default: the version the tree reports]")
@click.option("--pa-bits", type=click.Choice(PA_BITS), metavar="N",
              help="Host physical-address bits: extended regions must fit the IPA size this Xen"
                   " derives from them. [default: the largest IPA size the Xen version gives]")
@click.option("--ipa-bits", type=click.Choice(IPA_BITS), metavar="N",
              help="The guest IPA size directly; excludes --pa-bits.")
@click.option("--page-size", type=click.Choice(["4k", "16k", "64k"]), default="4k",
              show_default=True,
              help="The guest kernel's page size: Linux hot-plugs 128 MiB sections (512 MiB with"
                   " 64k pages) into extended regions.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="One finding a line, or JSON (type, level, file, node, message).")
def check(file, xen, pa_bits, ipa_bits, page_size, fmt) -> int:
    """Check a guest DTB against the rules Xen guests (Linux above all) apply.

    Each finding gives its level (error, warning, info), node, property and
    reason. Exit status: 0 no errors, 1 errors found, 2 could not check.
    """
    from xendt.fdt.read import read_dtb
    from xendt.inspect.check import check as run_checks

    if pa_bits and ipa_bits:
        raise click.UsageError("--pa-bits and --ipa-bits are mutually exclusive")
    report = run_checks(read_dtb(file), xen=xen, pa_bits=int(pa_bits) if pa_bits else None,
                        ipa_bits=int(ipa_bits) if ipa_bits else None,
                        page_size=int(page_size[:-1]) * 1024)
    click.echo(report.json() if fmt == "json" else report.text(), nl=False)
    return 1 if report.errors else 0


@cli.command()
@click.argument("files", nargs=-1, metavar="[A.dtb [B.dtb]]")
@click.option("--xen", multiple=True, metavar="VERSION",
              help="Build for this Xen version; twice to compare two versions. With one FILE:"
                   " the version to compare it with. [default: the FILE's, else 4.22]")
@click.option("--pa-bits", multiple=True, type=click.Choice(PA_BITS), metavar="N",
              help="Host physical-address bits of the build; twice to compare two hosts.")
@click.option("--ipa-bits", multiple=True, type=click.Choice(IPA_BITS), metavar="N",
              help="Guest IPA size of the build; twice to compare two.")
@_guest_options
@click.option("--include-rng-seed", is_flag=True,
              help="Compare /chosen/rng-seed values too (libxl's are random).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Changes as text or as JSON.")
@click.pass_context
def diff(ctx, files, xen, pa_bits, ipa_bits, include_rng_seed, fmt, **options) -> int:
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

    default = click.core.ParameterSource.DEFAULT
    building = bool(xen or pa_bits or ipa_bits) or any(
        ctx.get_parameter_source(name) is not default for name in options)
    if len(files) > 2:
        raise click.UsageError(f"at most two files to compare, got {len(files)}")
    if len(files) == 2:
        if building:
            raise click.UsageError("build options go with one file or none, not two")
        a, b = read_dtb(files[0]), read_dtb(files[1])
    elif len(files) == 1:
        if max(len(xen), len(pa_bits), len(ipa_bits)) > 1:
            raise click.UsageError("with one file, give --xen, --pa-bits and --ipa-bits once each")
        a = read_dtb(files[0])
        version = xen[0] if xen else addressmap.xen_version(a).version or DEFAULT_XEN
        if ctx.get_parameter_source("rng_seed") is default:
            seed = (a.node("/chosen") or a.root).get("rng-seed")
            options["rng_seed"] = seed.hex() if seed and len(seed) == 128 else "none"
        b = _built_tree(version, pa_bits[0] if pa_bits else None,
                        ipa_bits[0] if ipa_bits else None, options)
    else:
        if max(len(xen), len(pa_bits), len(ipa_bits)) != 2:
            raise click.UsageError("give two DTB files, one file and build options, or two"
                                   " --xen, --pa-bits or --ipa-bits values to build")
        if ctx.get_parameter_source("rng_seed") is default:
            options["rng_seed"] = os.urandom(128).hex()  # the same guest: the same seed

        def pick(values: tuple, side: int):
            return values[side] if len(values) == 2 else (values[0] if values else None)

        a, b = (_built_tree(pick(xen, side) or DEFAULT_XEN, pick(pa_bits, side),
                            pick(ipa_bits, side), options) for side in (0, 1))
    result = compare(a, b, include_rng_seed=include_rng_seed)
    click.echo(result.json() if fmt == "json" else result.text(), nl=False)
    return 0 if result.same else 1


def _built_tree(xen: str, pa_bits: str | None, ipa_bits: str | None, options: dict):
    """The decoded tree of the guest the build options describe, named
    after the build; libxl's warnings go to stderr."""
    from xendt.guest import builder
    from xendt.fdt.read import parse

    guest, host, warnings = _guest_and_host(xen, pa_bits, ipa_bits, **options)
    result = builder.build(guest, host)
    for warning in (*warnings, *result.warnings):
        click.echo(f"xendt: warning: {warning}", err=True)
    host_bits = f", --pa-bits {pa_bits}" if pa_bits else f", --ipa-bits {ipa_bits}" if ipa_bits else ""
    return parse(result.dtb, f"xendt build --xen {xen}{host_bits}")


def write_output(path: str, data: bytes, *, binary: bool) -> None:
    """Write `data` to `path` ("-" for stdout) without ever leaving a
    half-written file: a regular file is replaced atomically by renaming a
    finished temporary file over it. Devices and pipes are written directly."""
    if path == "-":
        if binary and sys.stdout.isatty():
            raise XendtError("refusing to write a binary DTB to a terminal; use -o FILE")
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        if os.path.exists(path) and not os.path.isfile(path):
            with open(path, "wb") as f:
                f.write(data)
            return
        import tempfile

        directory = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".xendt-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            mode = os.stat(path).st_mode & 0o7777 if os.path.exists(path) else 0o666 & ~_umask()
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as e:
        raise XendtError(f"cannot write {path}: {e.strerror}") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning expected errors into one line."""
    args = sys.argv[1:] if argv is None else argv
    try:
        # No arguments at all: the overview, not a usage error.
        code = cli.main(args=args or ["--help"], prog_name="xendt", standalone_mode=False)
    except XendtError as e:
        click.echo(f"xendt: {e}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("xendt: aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        click.echo(f"xendt: {_one_line(e)}", err=True)
        sys.exit(2 if isinstance(e, click.UsageError) else e.exit_code)
    except BrokenPipeError:
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def _one_line(error: click.ClickException) -> str:
    message = error.format_message().replace("\n", " ")
    command = getattr(getattr(error, "ctx", None), "command_path", "")
    return f"{message} (see '{command} --help')" if command and isinstance(error, click.UsageError) else message


if __name__ == "__main__":
    main()
