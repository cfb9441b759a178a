"""The options several commands share, each parsed once into the value the
API takes: a Xen version, one address size, the guest and host flags."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from xendt.errors import FieldError, XendtError
from xendt.guest.validate import TEES
from xendt.xen.address import IPA_BITS, PA_BITS, AddressSize

if TYPE_CHECKING:
    from xendt.guest.model import GuestConfig, Host, Kernel

_SIZES = "xendt.address_sizes"


class XenVersion(click.ParamType):
    """A Xen release xendt has data for: "4.21" (meaning 4.21.0) or a point
    release "4.19.3"; None means the newest. The value is the text given."""

    name = "version"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from xendt.errors import ConfigError
        from xendt.xen import layouts, points

        text = str(value)
        try:
            version, _ = points.split(text)
            if version not in layouts.versions():
                raise ConfigError("unknown")
            layouts.load(text)
        except ConfigError as e:
            if str(e).startswith("unknown Xen release"):
                raise XendtError(f"--xen: {e}") from None
            raise XendtError(f"--xen: unknown Xen version {text!r}; xendt knows"
                             f" {', '.join(layouts.versions())}") from None
        return text

    def shell_complete(self, ctx: click.Context, param: click.Parameter, incomplete: str
                       ) -> list[click.shell_completion.CompletionItem]:
        """Every release the layouts cover, X.Y and X.Y.Z."""
        from click.shell_completion import CompletionItem

        from xendt.xen import layouts

        known = [r for v in layouts.versions() for r in (v, *layouts.releases(v))]
        return [CompletionItem(r) for r in dict.fromkeys(known) if r.startswith(incomplete)]


class XenOption(click.Option):
    """--xen, whose help lists the versions the layouts give, read only when
    help is shown (listing them costs a directory read at every start)."""

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        from xendt.xen import layouts

        record = super().get_help_record(ctx)
        if record is None:
            return None
        known = layouts.versions()
        return record[0], (f"{record[1]} X.Y means X.Y.0; X.Y.Z is a point release of it."
                           f" Known: {known[0]} ... {known[-1]}.")


def xen_option(help: str, *, multiple: bool = False) -> Callable[[Callable[..., Any]], Any]:
    """The --xen option: a known version, default None (the newest)."""
    return click.option("--xen", cls=XenOption, type=XenVersion(), multiple=multiple,
                        metavar="VERSION", help=help)


class AddressSizeType(click.ParamType):
    """`--pa-bits N` or `--ipa-bits N` as an AddressSize of that kind."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.name = f"{kind}-bits"
        self.valid = PA_BITS if kind == "pa" else IPA_BITS

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> AddressSize:
        if isinstance(value, AddressSize):
            return value
        try:
            return AddressSize(self.kind, int(value))
        except (ValueError, XendtError):
            self.fail(f"{value!r} is not one of {', '.join(map(str, self.valid))}", param, ctx)


def _collect(ctx: click.Context, param: click.Parameter, values: Any) -> None:
    """Gather --pa-bits and --ipa-bits into one list of AddressSize: a mix
    of kinds is refused here, so every command sees one kind."""
    values = values if isinstance(values, tuple) else (values,) if values else ()
    if not values:
        return
    sizes: list[AddressSize] = ctx.meta.setdefault(_SIZES, [])
    if sizes and sizes[0].kind != values[0].kind:
        raise click.UsageError("--pa-bits and --ipa-bits are mutually exclusive", ctx)
    sizes.extend(values)


def address_options(*, multiple: bool, pa_help: str, ipa_help: str
                    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--pa-bits and --ipa-bits, handed to the command as one keyword
    argument `sizes`: a tuple of AddressSize of one kind (empty if neither
    was given; at most one unless `multiple`)."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        def run(*args: Any, **kwargs: Any) -> Any:
            return command(*args, sizes=tuple(click.get_current_context().meta.get(_SIZES, ())),
                           **kwargs)

        for kind, help in (("ipa", ipa_help), ("pa", pa_help)):
            run = click.option(f"--{kind}-bits", f"{kind}_bits", type=AddressSizeType(kind),
                               multiple=multiple, callback=_collect, expose_value=False,
                               metavar="N", help=help)(run)
        return run

    return decorate


def hex_or_int(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    """A number in C syntax (0x… hex, else decimal), or None."""
    if value is None:
        return None
    try:
        return int(value, 0)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a number") from None


#: The build options other than the Xen version and the PA or IPA size (which
#: `diff` takes twice): the guest, from an xl.cfg file and flags named after
#: its keys, and the other host facts. Shared by build and diff.
GUEST_OPTIONS = (
    click.option("--xl-config", "-c", type=click.Path(dir_okay=False, allow_dash=True), metavar="FILE",
                 help="Guest configuration in xl.cfg syntax (- reads standard input). Flags below"
                      " override its keys."),
    click.option("--host-gic", type=click.Choice(["v2", "v3"]), default="v3", show_default=True,
                 help="The host's GIC, used when gic_version is 'default' (xl's default)."),
    click.option("--clock-frequency", type=click.IntRange(0, 0xFFFFFFFF), default=0, metavar="HZ",
                 help="clock-frequency of the host DT's timer node; 0 (absent) is the usual case."),
    click.option("--rng-seed", default="random", show_default=True, metavar="random|none|HEX",
                 help="/chosen/rng-seed: random bytes like libxl, none to leave it out, or exactly"
                      " 128 bytes in hex for reproducible output."),
    click.option("--acpi-size", callback=hex_or_int, metavar="BYTES",
                 help="Length of the ACPI tables libxl builds (needed with acpi=1)."),
    # Guest keys (xl.cfg names in brackets); absent keys take xl's defaults.
    click.option("--memory", type=int, metavar="MiB", help="[memory] Guest RAM. xl default: 32."),
    click.option("--maxmem", type=int, metavar="MiB",
                 help="[maxmem] RAM populated (Arm: the banks hold this)."),
    click.option("--vcpus", type=int, metavar="N", help="[vcpus] xl default: 1."),
    click.option("--maxvcpus", type=int, metavar="N", help="[maxvcpus] cpu nodes; defaults to vcpus."),
    click.option("--gic-version", type=click.Choice(["v2", "v3", "default"]),
                 help="[gic_version] xl default: default (the host's GIC, see --host-gic)."),
    click.option("--vuart/--no-vuart", default=None, help='[vuart="sbsa_uart"] Emulated SBSA UART.'),
    click.option("--cmdline", metavar="TEXT", help="[cmdline] Kernel command line (wins over root/extra)."),
    click.option("--root", metavar="TEXT", help="[root] Adds root=TEXT to the command line."),
    click.option("--extra", metavar="TEXT", help="[extra] Appended to the command line."),
    click.option("--kernel", type=click.Path(dir_okay=False, allow_dash=True), metavar="FILE",
                 multiple=True,  # once, but for dom0less domains: --kernel NAME=FILE each
                 help="[kernel] arm64 Image (maybe gzipped) or arm32 zImage: its size places the"
                      " ramdisk. Dom0less: [NAME=]FILE, repeatable, the domain's kernel module."),
    click.option("--kernel-size", callback=hex_or_int, metavar="BYTES",
                 help="Stand-in for the kernel file: the loaded kernel's size (or the size of"
                      " a --kernel read from a pipe)."),
    click.option("--text-offset", callback=hex_or_int, metavar="BYTES",
                 help="With --kernel-size: the arm64 Image's text_offset. [default: 0]"),
    click.option("--guest-arch", type=click.Choice(["arm64", "arm32"]),
                 help="With --kernel-size: the kernel's format. [default: arm64]"),
    click.option("--ramdisk", type=click.Path(dir_okay=False, allow_dash=True), metavar="FILE",
                 help="[ramdisk] Initial ramdisk."),
    click.option("--ramdisk-size", callback=hex_or_int, metavar="BYTES",
                 help="Stand-in for the ramdisk file: its size (or the size of a --ramdisk"
                      " read from a pipe)."),
    click.option("--device-tree", type=click.Path(dir_okay=False, allow_dash=True), metavar="FILE",
                 help="[device_tree] Partial DTB whose /passthrough and /aliases are copied."),
    click.option("--disk", multiple=True, metavar="SPEC",
                 help="[disk] Repeatable; specification=virtio disks become virtio-mmio nodes."),
    click.option("--virtio", multiple=True, metavar="SPEC",
                 help="[virtio] Repeatable, e.g. 'type=virtio,device22,transport=mmio'."),
    click.option("--pci", multiple=True, metavar="BDF",
                 help="[pci] Repeatable; any adds the vPCI host bridge where the version has vPCI."),
    click.option("--iomem", multiple=True, metavar="SPEC",
                 help="[iomem] Repeatable, 'START,PAGES[@GFN]' in hex; cut out of extended regions"
                      " where the version does (layouts: extended-regions scheme)."),
    click.option("--tee", type=click.Choice(TEES), help="[tee] xl default: none."),
    click.option("--acpi/--no-acpi", default=None, help="[acpi] ACPI tables (arm64). xl default: off."),
    click.option("--nr-spis", type=int, metavar="N",
                 help="[nr_spis] SPIs requested, where xl knows the key."),
)


def guest_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give `command` the GUEST_OPTIONS."""
    for option in reversed(GUEST_OPTIONS):
        command = option(command)
    return command


def guest_and_host(xen: str | None, size: AddressSize | None, *, xl_config: str | None,
                   host_gic: str, clock_frequency: int, rng_seed: str, acpi_size: int | None,
                   kernel_size: int | None, text_offset: int | None, guest_arch: str | None,
                   ramdisk_size: int | None, **keys: Any) -> tuple[GuestConfig, Host, list[str]]:
    """The GuestConfig, the Host and the xl.cfg warnings the build options give."""
    from xendt.guest import xlcfg
    from xendt.guest.model import Host, Kernel

    keys["kernel"] = single_kernel(keys.get("kernel"))
    _refuse_conflicts(xl_config, keys, kernel_size, ramdisk_size, text_offset, guest_arch)
    cfg = xlcfg.with_flags(xlcfg.load(xl_config) if xl_config else None, _flag_keys(keys))
    kernel = _kernel_stand_in(kernel_size, text_offset, guest_arch)
    if kernel is not None and keys.get("kernel") is not None:  # --kernel from a pipe
        from xendt.guest import images

        kernel = images.read_kernel(keys["kernel"], size=kernel_size)
    if kernel is None and "kernel" not in cfg:
        kernel = Kernel()  # no kernel at all: a 64-bit guest; its size matters only with a ramdisk
    if ramdisk_size is not None:
        from xendt.guest import images

        ramdisk_size = (images.ramdisk_size(keys["ramdisk"], size=ramdisk_size)
                        if keys.get("ramdisk") is not None  # --ramdisk from a pipe
                        else images.checked_size(ramdisk_size, "--ramdisk-size"))
    guest, warnings = xlcfg.guest_config(cfg, kernel=kernel, ramdisk_size=ramdisk_size)
    try:
        host = Host(xen=xen, pa_bits=size.bits if size and size.kind == "pa" else None,
                    ipa_bits=size.bits if size and size.kind == "ipa" else None, gic=host_gic,
                    clock_frequency=clock_frequency, rng_seed=parse_rng_seed(rng_seed),
                    acpi_size=acpi_size)
    except FieldError as e:  # the model's check, named by its flag
        raise XendtError(f"--{e.field.replace('_', '-')}: {e.problem}") from None
    return guest, host, warnings


def single_kernel(values: tuple[str, ...] | str | None) -> str | None:
    """The one --kernel of a guest (the option repeats for dom0less domains)."""
    if isinstance(values, str):
        return values
    if not values:
        return None
    if len(values) > 1:
        raise click.UsageError(f"--kernel given {len(values)} times: this guest has one kernel")
    return values[0]


def _flag_keys(keys: dict[str, Any]) -> dict[str, Any]:
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


def _refuse_conflicts(xl_config: str | None, keys: dict[str, Any], kernel_size: int | None,
                      ramdisk_size: int | None, text_offset: int | None,
                      guest_arch: str | None) -> None:
    """One line naming both flags when two say the same thing or contend
    for standard input."""
    readers = [flag for flag, value in (("--xl-config", xl_config), ("--kernel", keys.get("kernel")),
                                        ("--ramdisk", keys.get("ramdisk")),
                                        ("--device-tree", keys.get("device_tree")))
               if value == "-"]
    if len(readers) > 1:
        raise click.UsageError(f"{readers[0]} - and {readers[1]} -: standard input can be read"
                               " once; give - to one of them")
    for flag, size_flag, path, size in (("--kernel", "--kernel-size", keys.get("kernel"), kernel_size),
                                        ("--ramdisk", "--ramdisk-size", keys.get("ramdisk"),
                                         ramdisk_size)):
        if path is not None and size is not None and path != "-" and os.path.isfile(path):
            raise click.UsageError(f"{flag} {path} and {size_flag} both give its size: give one"
                                   f" ({size_flag} stands in for the file, or sizes one read from"
                                   " a pipe)")
    if keys.get("kernel") is not None:
        for flag, value in (("--text-offset", text_offset), ("--guest-arch", guest_arch)):
            if value is not None:
                raise click.UsageError(f"--kernel and {flag}: the kernel's header says what"
                                       f" {flag} would; {flag} goes with --kernel-size alone")


def _kernel_stand_in(size: int | None, text_offset: int | None, arch: str | None) -> Kernel | None:
    if size is None:
        if text_offset is not None or arch is not None:
            raise click.UsageError("--text-offset and --guest-arch go with --kernel-size")
        return None
    from xendt.guest.images import checked_size
    from xendt.guest.model import Kernel

    try:
        return Kernel(arch=arch or "arm64", size=checked_size(size, "--kernel-size"),
                      text_offset=text_offset or 0)
    except FieldError as e:  # the model's check, named by its flag
        flag = {"text_offset": "--text-offset", "arch": "--guest-arch"}.get(e.field, e.field)
        raise XendtError(f"{flag}: {e.problem}") from None


def parse_rng_seed(text: str) -> bytes | None:
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
