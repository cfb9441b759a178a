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
    from xendt import layouts

    return list(layouts.versions())


def _hex_or_int(ctx, param, value):
    if value is None:
        return None
    try:
        return int(value, 0)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a number") from None


@cli.command()
@click.option("--xl-config", "-c", type=click.Path(dir_okay=False), metavar="FILE",
              help="Guest configuration in xl.cfg syntax. Flags below override its keys.")
@click.option("--xen", default=DEFAULT_XEN, show_default=True, metavar="VERSION",
              help="Xen version of the host (hypervisor and toolstack): 4.14 ... 4.22.")
@click.option("--pa-bits", type=click.Choice(PA_BITS), metavar="N",
              help="Host physical-address bits (Arm PARange: 32, 36, 40, 42, 44, 48, 52);"
                   " the guest IPA size follows as this Xen derives it. [default: 40]")
@click.option("--ipa-bits", type=click.Choice(IPA_BITS), metavar="N",
              help="Guest IPA size directly (when an IOMMU lowers it); excludes --pa-bits.")
@click.option("--host-gic", type=click.Choice(["v2", "v3"]), default="v3", show_default=True,
              help="The host's GIC, used when gic_version is 'default' (xl's default).")
@click.option("--clock-frequency", type=click.IntRange(0, 0xFFFFFFFF), default=0, metavar="HZ",
              help="clock-frequency of the host DT's timer node; 0 (absent) is the usual case.")
@click.option("--rng-seed", default="random", show_default=True, metavar="random|none|HEX",
              help="/chosen/rng-seed: random bytes like libxl, none to leave it out, or exactly"
                   " 128 bytes in hex for reproducible output.")
@click.option("--acpi-size", callback=_hex_or_int, metavar="BYTES",
              help="Length of the ACPI tables libxl builds (needed with acpi=1).")
# Guest keys (xl.cfg names in brackets); absent keys take xl's defaults.
@click.option("--memory", type=int, metavar="MiB", help="[memory] Guest RAM. xl default: 32.")
@click.option("--maxmem", type=int, metavar="MiB", help="[maxmem] RAM populated (Arm: the banks hold this).")
@click.option("--vcpus", type=int, metavar="N", help="[vcpus] xl default: 1.")
@click.option("--maxvcpus", type=int, metavar="N", help="[maxvcpus] cpu nodes; defaults to vcpus.")
@click.option("--gic-version", type=click.Choice(["v2", "v3", "default"]),
              help="[gic_version] xl default: default (the host's GIC, see --host-gic).")
@click.option("--vuart/--no-vuart", default=None, help='[vuart="sbsa_uart"] Emulated SBSA UART.')
@click.option("--cmdline", metavar="TEXT", help="[cmdline] Kernel command line (wins over root/extra).")
@click.option("--root", metavar="TEXT", help="[root] Adds root=TEXT to the command line.")
@click.option("--extra", metavar="TEXT", help="[extra] Appended to the command line.")
@click.option("--kernel", type=click.Path(dir_okay=False), metavar="FILE",
              help="[kernel] arm64 Image (maybe gzipped) or arm32 zImage: its size places the ramdisk.")
@click.option("--kernel-size", callback=_hex_or_int, metavar="BYTES",
              help="Stand-in for the kernel file: the loaded kernel's size.")
@click.option("--text-offset", callback=_hex_or_int, metavar="BYTES",
              help="With --kernel-size: the arm64 Image's text_offset. [default: 0]")
@click.option("--guest-arch", type=click.Choice(["arm64", "arm32"]),
              help="With --kernel-size: the kernel's format. [default: arm64]")
@click.option("--ramdisk", type=click.Path(dir_okay=False), metavar="FILE", help="[ramdisk] Initial ramdisk.")
@click.option("--ramdisk-size", callback=_hex_or_int, metavar="BYTES",
              help="Stand-in for the ramdisk file: its size.")
@click.option("--device-tree", type=click.Path(dir_okay=False), metavar="FILE",
              help="[device_tree] Partial DTB whose /passthrough and /aliases are copied.")
@click.option("--disk", multiple=True, metavar="SPEC", help="[disk] Repeatable; specification=virtio disks become virtio-mmio nodes.")
@click.option("--virtio", multiple=True, metavar="SPEC", help="[virtio] Repeatable, e.g. 'type=virtio,device22,transport=mmio'.")
@click.option("--pci", multiple=True, metavar="BDF", help="[pci] Repeatable; any adds the vPCI host bridge (4.16+).")
@click.option("--iomem", multiple=True, metavar="SPEC", help="[iomem] Repeatable, 'START,PAGES[@GFN]' in hex; cut out of extended regions (4.21+).")
@click.option("--tee", type=click.Choice(["none", "optee", "ffa"]), help="[tee] xl default: none.")
@click.option("--acpi/--no-acpi", default=None, help="[acpi] ACPI tables (arm64). xl default: off.")
@click.option("--nr-spis", type=int, metavar="N", help="[nr_spis] SPIs requested (4.19+).")
@click.option("--output", "-o", default="-", show_default=True, metavar="FILE",
              help="Where to write; - is standard output.")
@click.option("--format", "fmt", type=click.Choice(["dtb", "dts", "json"]), default="dtb",
              show_default=True, help="DTB blob, DTS text (as dtc prints it) or the memory map as JSON.")
def build(xl_config, xen, pa_bits, ipa_bits, host_gic, clock_frequency, rng_seed, acpi_size,
          kernel_size, text_offset, guest_arch, ramdisk_size, output, fmt, **keys) -> None:
    """Build the device tree Xen's libxl would give an Arm guest.

    The guest comes from an xl.cfg file, flags, or both (flags win); with
    neither, xl's defaults apply: 32 MiB, one vCPU, the host's GIC, no
    devices. Host facts (Xen version, PA bits, timer frequency) are flags.
    """
    from xendt import builder, xlcfg
    from xendt.model import Host

    if pa_bits and ipa_bits:
        raise click.UsageError("--pa-bits and --ipa-bits are mutually exclusive")
    if xen not in _versions():
        raise XendtError(f"--xen: unknown Xen version {xen!r}; xendt knows {', '.join(_versions())}")
    from xendt.model import Kernel

    cfg = xlcfg.with_flags(xlcfg.load(xl_config) if xl_config else None, _flag_keys(keys))
    kernel = _kernel_stand_in(kernel_size, text_offset, guest_arch)
    if kernel is None and "kernel" not in cfg:
        kernel = Kernel()  # no kernel at all: a 64-bit guest; its size matters only with a ramdisk
    guest, warnings = xlcfg.guest_config(cfg, kernel=kernel, ramdisk_size=ramdisk_size)
    host = Host(xen=xen, pa_bits=int(pa_bits) if pa_bits else None,
                ipa_bits=int(ipa_bits) if ipa_bits else None, gic=host_gic,
                clock_frequency=clock_frequency, rng_seed=_rng_seed(rng_seed), acpi_size=acpi_size)
    result = builder.build(guest, host)
    for warning in (*warnings, *result.warnings):
        click.echo(f"xendt: warning: {warning}", err=True)
    if fmt == "dtb":
        data = result.dtb
    elif fmt == "dts":
        from xendt.dts import to_dts

        data = to_dts(result.dtb).encode()
    else:
        from xendt.jsonout import memory_map_json

        data = memory_map_json(result.memory_map).encode()
    write_output(output, data, binary=fmt == "dtb")


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
    try:
        code = cli.main(args=argv, prog_name="xendt", standalone_mode=False)
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
