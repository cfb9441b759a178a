"""The public Python API: one function per thing the CLI does.

Inputs: a path (str or os.PathLike; "-" is standard input), the bytes
themselves, or for the text formats (xl.cfg, guest JSON) the text as
`text=`. An address size is `pa_bits=` or `ipa_bits=` (on a Host, or as
keywords). Results are frozen dataclasses; each has to_dict() and
to_json(), exactly what the command's `--format json` prints (see
xendt.documents). Warnings are xendt.Notice lines with a stable
`code`.

Errors: every input a user can get wrong raises an XendtError subclass with
a one-line message naming the API's arguments (ConfigError and its
ImageError, XlConfigSyntaxError; DtbError; LayoutError; BuildError and its
XenFailure where Xen itself fails); an argument of the wrong Python type
raises TypeError (tests/test_api_arguments.py drives every one).

    import xendt
    tree = xendt.read_dtb("guest.dtb")
    print(tree)                               # DTS, as dtc prints it
    report = xendt.check(tree, pa_bits=40)
    guest = xendt.build_xl(text='memory = 512\\n', kernel_size=20 << 20)
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import TYPE_CHECKING

from xendt.api_host import host_fleet, host_regions
from xendt.api_inspect import address_map, check, diff, read_dtb, show, versions
from xendt.apiargs import BYTES, PATH, Source, api_errors, blob, expect, optional_blob
from xendt.apiargs import text as _text

if TYPE_CHECKING:
    from collections.abc import Mapping

    from xendt.dom0.memory import Boot
    from xendt.guest.libxl_build import GuestDT
    from xendt.guest.model import GuestConfig, Host, Kernel
    from xendt.notices import Notice
    from xendt.ranges import Range

__all__ = ["address_map", "build", "build_dom0", "build_dom0less", "build_json", "build_xl", "check",
           "diff", "dom0less_domains", "host_dt", "host_facts", "host_fleet", "host_regions",
           "load_xl_config", "read_dtb", "show", "versions"]


def _host(function: str, host: object) -> None:
    from xendt.guest.model import Host

    expect(function, "host", host, Host, optional=True)


def build(guest: GuestConfig, host: Host | None = None, *, explain: bool = False) -> GuestDT:
    """The device tree libxl of `host`'s Xen version builds for `guest`,
    byte for byte (default host: the newest Xen, a 40-bit PA host). With
    `explain`, the result's `explain` says where each extended region comes
    from. Raises ConfigError, BuildError (what libxl refuses)."""
    from xendt.guest.libxl_build import build as run
    from xendt.guest.model import GuestConfig, Host
    from xendt.xen.context import resolve

    expect("build", "guest", guest, GuestConfig)
    _host("build", host)
    expect("build", "explain", explain, bool)
    with api_errors():
        resolved = resolve(host.xen if host else None)
        result = run(guest, host or Host(), xen=resolved)
        if not explain:
            return result
        from xendt.guest import regions

        mmap = result.memory_map
        notes = regions.explain(resolved.layout,
                                tuple(r.size for r in mmap.ram), mmap.ipa_bits, guest.iomem)
    return replace(result, explain=notes)


def host_facts(host_dtb: Source, host: Host | None = None) -> Host:
    """`host` (default: Host()) with what libxl learns from the hypervisor
    about the board whose DTB is `host_dtb` (a path or bytes): its GIC
    version (for a guest's gic_version "default") and its timer's
    clock-frequency, as Xen reads them; what `xendt build --host-dtb` does
    for an xl guest. Raises ConfigError when no Xen GIC driver matches the
    board (Xen panics at boot), DtbError."""
    from xendt.errors import ConfigError
    from xendt.guest.model import Host
    from xendt.host.libxl_facts import host_facts as facts
    from xendt.host.xen_dt import read_host
    from xendt.inputs import HOST_DTB_MAX

    _host("host_facts", host)
    with api_errors():
        data, label = blob("host_facts", "host_dtb", host_dtb, HOST_DTB_MAX, "Xen's MAX_FDT_SIZE")
        gic, frequency = facts(read_host(data, label))
        if gic is None:
            raise ConfigError(f"{label}: no interrupt controller a Xen GIC driver matches (Xen"
                              " panics: \"Unable to find compatible GIC in the device tree\")")
    return replace(host or Host(), gic=gic, clock_frequency=frequency)


def _stand_in(f: str, size: object, text_offset: object, arch: object) -> Kernel | None:
    """The kernel kernel_size (text_offset, guest_arch) stands in for."""
    from xendt.errors import ConfigError, FieldError
    from xendt.guest.images import checked_size
    from xendt.guest.model import Kernel

    expect(f, "kernel_size", size, int, optional=True)
    expect(f, "text_offset", text_offset, int, optional=True)
    _text(f, "guest_arch", arch, optional=True)
    if size is None:
        if text_offset is not None or arch is not None:
            raise ConfigError("text_offset and guest_arch go with kernel_size")
        return None
    assert isinstance(size, int)
    try:
        return Kernel(arch=str(arch or "arm64"), size=checked_size(size, "--kernel-size"),
                      text_offset=int(text_offset or 0))  # type: ignore[call-overload]
    except FieldError as e:
        raise ConfigError(f"{e.field}: {e.problem}") from None


def load_xl_config(source: Source | None = None, *, text: str | None = None,
                   name: str | None = None, kernel_size: int | None = None,
                   ramdisk_size: int | None = None, text_offset: int | None = None,
                   guest_arch: str | None = None) -> tuple[GuestConfig, tuple[Notice, ...]]:
    """The GuestConfig of an xl.cfg (`source`: its path or bytes; or its
    `text`; `name` names it in messages) and xl's warnings. The kernel,
    ramdisk and partial DT it names are read, as xl does, relative to the
    current directory, unless `kernel_size` (with `text_offset` and
    `guest_arch` for a kernel other than an arm64 Image at offset 0) or
    `ramdisk_size` stand in for them, as `xendt build --kernel-size` does;
    an xl.cfg without kernel= builds with a 64-bit kernel of no size, as the
    command does. Raises ConfigError (XlConfigSyntaxError, ImageError)."""
    from xendt.apiargs import document
    from xendt.errors import ConfigError
    from xendt.guest import images, xlcfg
    from xendt.guest.model import Kernel
    from xendt.inputs import XL_CONFIG_MAX
    from xendt.notices import notices

    f = "load_xl_config"
    with api_errors():
        if isinstance(source, PATH) and text is None and name is None:
            cfg = xlcfg.load(source)  # the command's reader: "-" and devices as it has them
        else:
            content, label = document(f, source, text, "xl.cfg", XL_CONFIG_MAX, ConfigError, name,
                                      errors="surrogateescape")  # as xl reads bytes
            cfg = xlcfg.parse(content, label)
        kernel = _stand_in(f, kernel_size, text_offset, guest_arch)
        if kernel is None and "kernel" not in cfg:
            kernel = Kernel()
        expect(f, "ramdisk_size", ramdisk_size, int, optional=True)
        if ramdisk_size is not None:
            ramdisk_size = images.checked_size(ramdisk_size, "--ramdisk-size")
        guest, warnings = xlcfg.guest_config(cfg, kernel=kernel, ramdisk_size=ramdisk_size)
    return guest, notices(warnings, "xl-config")


def build_xl(source: Source | None = None, host: Host | None = None, *, text: str | None = None,
             name: str | None = None, kernel_size: int | None = None,
             ramdisk_size: int | None = None, text_offset: int | None = None,
             guest_arch: str | None = None, explain: bool = False) -> GuestDT:
    """The device tree of the guest an xl.cfg describes (see
    load_xl_config for `source`, `text`, `name` and the sizes), as `xl
    create` on `host` would hand it over; xl's warnings come first in the
    result's warnings. Raises ConfigError, BuildError."""
    _host("build_xl", host)
    guest, warnings = load_xl_config(source, text=text, name=name, kernel_size=kernel_size,
                                     ramdisk_size=ramdisk_size, text_offset=text_offset,
                                     guest_arch=guest_arch)
    result = build(guest, host, explain=explain)
    label = name or ("<text>" if text is not None else
                     BYTES if isinstance(source, (bytes, bytearray)) else os.fspath(source or ""))
    return replace(result, warnings=(*warnings, *result.warnings), inputs=(str(label),))


def build_json(source: Source | None = None, host: Host | None = None, *,
               text: str | None = None, name: str | None = None,
               explain: bool = False) -> GuestDT:
    """The device tree of the guest a JSON description gives
    (`{"guest": {...}, "host": {...}}`, see guest_to_json; `source` its
    path or bytes, or its `text`). `host` replaces the document's host.
    Raises ConfigError naming the key."""
    from xendt.apiargs import document
    from xendt.errors import ConfigError
    from xendt.guest.jsonio import MAX_SIZE, guest_from_json

    f = "build_json"
    _host(f, host)
    with api_errors():
        content, label = document(f, source, text, "guest description", MAX_SIZE, ConfigError, name)
        guest, found = guest_from_json(content, label)
    result = build(guest, host or found, explain=explain)
    return replace(result, inputs=(label,))


def build_dom0less(host_dtb: Source, domain: str, host: Host | None = None, *,
                   partial_dtb: Source | None = None, kernel: Source | None = None,
                   iommu: bool | None = None, host_name: str | None = None) -> GuestDT:
    """The DTB Xen `host.xen` builds at boot for the dom0less domain
    `domain` of `host_dtb` (a path or bytes; see host_dt for a U-Boot
    script's edits), with its memory map (kernel, ramdisk and DTB as Xen
    places them; the /hypervisor grant table and extended regions).
    `kernel` is the domain's kernel module file (else an arm64 Image the
    size of the module's reg is assumed). Raises ConfigError, DtbError,
    XenFailure (where Xen panics or does not build the domain)."""
    from xendt.dom0less import api
    from xendt.inputs import DOMU_PARTIAL_DTB_MAX, HOST_DTB_MAX
    from xendt.xen.context import resolve

    f = "build_dom0less"
    _text(f, "domain", domain)
    _host(f, host)
    expect(f, "iommu", iommu, bool, optional=True)
    _text(f, "host_name", host_name, optional=True)
    with api_errors():
        data, label = blob(f, "host_dtb", host_dtb, HOST_DTB_MAX, "Xen's MAX_FDT_SIZE",
                           host_name or BYTES)
        partial, _ = optional_blob(f, "partial_dtb", partial_dtb, DOMU_PARTIAL_DTB_MAX,
                                   "partial device tree", "partial.dtb")
        image = _kernel(f, kernel)
        return api.build_dom0less(data, domain, host, iommu=iommu, host_name=host_name or label,
                                  partial_dtb=partial, kernel=image,
                                  xen=resolve(host.xen if host else None))


def _kernel(f: str, kernel: object) -> bytes | None:
    """A kernel argument's bytes: read from its path, or as given."""
    from xendt.apiargs import SOURCE
    from xendt.errors import ConfigError
    from xendt.inputs import read_capped

    expect(f, "kernel", kernel, SOURCE, optional=True)
    if kernel is None or isinstance(kernel, (bytes, bytearray)):
        return None if kernel is None else bytes(kernel)
    assert isinstance(kernel, (str, os.PathLike))
    return read_capped(os.fspath(kernel), "kernel", 1 << 30, ConfigError)[0]


def build_dom0(host_dtb: Source, dom0_ram: tuple[Range, ...] | str,
               grant_table: Range | str, host: Host | None = None, *,
               xen_cmdline: str | None = None, kernel: Source | None = None,
               v2m_spis: tuple[tuple[int, int], ...] = (),
               host_name: str | None = None, boot: Boot | None = None) -> GuestDT:
    """The DTB Xen `host.xen` writes for dom0 at boot from `host_dtb`
    (a path or bytes), given what Xen's console printed at that boot:
    dom0's RAM banks (BANK[n]) and grant table ("Grant table range"), as
    Ranges or "BASE:SIZE" text; with no banks and `boot`
    (xendt.dom0.memory.Boot: where Xen's image and the host DTB were
    loaded), the banks are predicted. Raises XenFailure (a BuildError)
    where Xen fails to build dom0; ConfigError, DtbError for bad input."""
    from xendt.api_host import _banks
    from xendt.dom0 import api
    from xendt.inputs import HOST_DTB_MAX
    from xendt.xen.context import resolve

    f = "build_dom0"
    _host(f, host)
    _text(f, "xen_cmdline", xen_cmdline, optional=True)
    expect(f, "v2m_spis", v2m_spis, tuple)
    for spis in v2m_spis:
        expect(f, "v2m_spis item", spis, tuple)
        for value in spis:
            expect(f, "a v2m_spis base or count", value, int)
    _text(f, "host_name", host_name, optional=True)
    from xendt.dom0.memory import Boot
    from xendt.ranges import Range as _Range

    expect(f, "boot", boot, Boot, optional=True)
    if boot is not None:
        expect(f, "boot.xen_image", boot.xen_image, _Range)
        expect(f, "boot.dtb", boot.dtb, _Range)
    with api_errors():
        ram = _banks(f, "dom0_ram", dom0_ram)
        grant = _banks(f, "grant_table", grant_table if isinstance(grant_table, str)
                       else (grant_table,))
        data, label = blob(f, "host_dtb", host_dtb, HOST_DTB_MAX, "Xen's MAX_FDT_SIZE",
                           host_name or BYTES)
        result = api.build_dom0(data, ram, grant[0], host, xen_cmdline=xen_cmdline,
                                kernel=_kernel(f, kernel), v2m_spis=v2m_spis,
                                host_name=host_name or label, boot=boot,
                                xen=resolve(host.xen if host else None))
    from xendt.notices import notices

    return replace(result, warnings=notices(result.warnings, "xen", ("dom0",)),
                   inputs=(host_name or label,))


def dom0less_domains(host_dtb: Source, host_name: str | None = None) -> tuple[str, ...]:
    """The dom0less domains of a host DTB (a path or bytes), in the order
    Xen builds them."""
    from xendt.dom0less import api
    from xendt.inputs import HOST_DTB_MAX

    _text("dom0less_domains", "host_name", host_name, optional=True)
    with api_errors():
        data, label = blob("dom0less_domains", "host_dtb", host_dtb, HOST_DTB_MAX,
                           "Xen's MAX_FDT_SIZE", host_name or BYTES)
        return api.dom0less_domains(data, host_name or label)


def host_dt(host_dtb: Source, uboot_script: Source | None = None, *,
            uboot_files: Mapping[str, int] | None = None, uboot_version: str | None = None,
            host_name: str | None = None) -> bytes:
    """The host DTB Xen receives after a U-Boot script (ImageBuilder's
    boot.source: a path or its bytes) edits `host_dtb`: the DTB as the
    script leaves it when it boots, or with `uboot_version` (U-Boot's
    PLAIN_VERSION) after its booti's own edits too, byte for byte.
    `uboot_files` maps each file the script loads to its size (its
    ${filesize}): no file needs to be at hand. `host_name` is the file name
    the script loads the DTB from (default: the path's; for bytes, any).
    Raises ConfigError naming the script's line for what U-Boot would
    refuse."""
    from xendt.apiargs import document
    from xendt.errors import ConfigError
    from xendt.inputs import HOST_DTB_MAX

    f = "host_dt"
    _text(f, "host_name", host_name, optional=True)
    _text(f, "uboot_version", uboot_version, optional=True)
    expect(f, "uboot_files", uboot_files, dict, optional=True)
    for loaded, size in (uboot_files or {}).items():
        _text(f, "uboot_files key", loaded)
        expect(f, "uboot_files size", size, int)
    with api_errors():
        data, label = blob(f, "host_dtb", host_dtb, HOST_DTB_MAX, "Xen's MAX_FDT_SIZE",
                           host_name or BYTES)
        if uboot_script is None:
            if uboot_files or uboot_version is not None:
                raise ConfigError("uboot_files and uboot_version go with uboot_script")
            from xendt.fdt.header import validated

            return bytes(validated(data, label))
        from xendt.uboot.script import MAX_SCRIPT_BYTES, apply_script

        script, script_name = document(f, uboot_script, None, "U-Boot script", MAX_SCRIPT_BYTES,
                                       ConfigError, None)
        return apply_script(data, script, script_name, dict(uboot_files or {}),
                            dtb_name=os.path.basename(host_name or label) if host_name or
                            label != BYTES else None,
                            uboot_version=uboot_version)
