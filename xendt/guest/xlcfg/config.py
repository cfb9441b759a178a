"""The guest an xl.cfg describes: an XlConfig in, a model.GuestConfig and
xl-style warnings out (guest_config(), load_guest(), kernel_cmdline()).

This is the meaning layer over syntax.py: it reads the settings that decide
an Arm guest's device tree the way tools/xl/xl_parse.c (parse_config_data,
parse_cmdline) reads them with libxlu's getters (xlu_cfg_get_long,
xlu_cfg_get_string, xlu_cfg_get_list, xlu_cfg_get_defbool in
tools/libs/util/libxlu_cfg.c), and applies what libxl then does to them on
Arm (tools/libs/light/libxl_dom.c libxl__build_dom for the RAM size,
libxl_arm.c libxl__arch_domain_create_info_setdefault turning PV into PVH;
HVM is refused). Spec strings inside the
list settings go to disk.py and devices.py; the kernel, ramdisk and partial
device tree files to xendt.guest.images.

Every error and warning names the file and line (or the command-line flag)
of the setting, and quotes its value.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from xendt.errors import ConfigError, FieldError, ImageError
from xendt.guest import validate
from xendt.guest.model import GuestConfig, Iomem, Kernel, VirtioDevice, VirtioDisk
from xendt.guest.xlcfg.settings import _INT_MAX, _LONG_MAX, _LONG_MIN, XlConfig, _strtol

if TYPE_CHECKING:
    from xendt.guest.xlcfg.devices import PciDevice
    from xendt.xen.layout import Layout

_T = TypeVar("_T")


def kernel_cmdline(cmdline: str | None, root: str | None, extra: str | None) -> str | None:
    """The kernel command line xl hands libxl (xl_parse.c parse_cmdline):
    cmdline when set (root and extra are then ignored), else ``"root=R E"``,
    ``"root=R"`` or ``"E"``, else None (no /chosen/bootargs). Empty strings
    count as set, as in xl."""
    if cmdline is not None:
        return cmdline
    if root is not None and extra is not None:
        return f"root={root} {extra}"
    if root is not None:
        return f"root={root}"
    return extra




def guest_config(cfg: XlConfig, *, read_files: bool = True, kernel: Kernel | None = None,
                 ramdisk_size: int | None = None, partial_dtb: bytes | None = None,
                 ) -> tuple[GuestConfig, list[str]]:
    """The GuestConfig xl and libxl derive from cfg, and xl-style warnings
    (``"file:line: message"``).

    Settings read: type (and the old builder), memory, maxmem, videoram,
    vcpus, maxvcpus, gic_version, vuart, cmdline, root, extra, kernel,
    ramdisk, device_tree, disk, virtio, pci, iomem, tee, acpi, nr_spis, vpmu.
    Every other setting is ignored, as xl ignores names it does not know.

    The files cfg names are handled like this, each on its own:

    * kernel (a Kernel), ramdisk_size (bytes) and partial_dtb (the blob):
      when given, used instead of the file cfg names (or added when cfg
      names none); the file is then not opened. This is how a caller
      replaces the kernel or the ramdisk.
    * read_files=True (default): a named file not replaced is read
      (images.read_kernel, images.ramdisk_size, images.read_device_tree), its
      path used as given, relative to the current directory like xl.
    * read_files=False: nothing is opened; a named file not replaced is a
      ConfigError. Use it to build from known facts (tests, --kernel-size …).

    memory_mib is the RAM libxl gives an Arm guest: it builds it as PVH with
    maxmem − videoram MiB (libxl__build_dom), maxmem defaulting to memory and
    memory to 32; a warning says so when maxmem or videoram change it.
    Raises ConfigError (XlConfigSyntaxError, ImageError are kinds of it)
    naming the file, line, setting and value.
    """
    warnings: list[str] = []
    _check_domain_type(cfg, warnings)
    memory_mib = _memory(cfg, warnings)
    max_vcpus = _vcpus(cfg, warnings)
    _grant_frames(cfg, warnings)

    gic = _choice(cfg, "gic_version", validate.GIC_VERSIONS, "default")
    vuart = _choice(cfg, "vuart", ("sbsa_uart", "unknown"), "unknown") == "sbsa_uart"
    tee = _choice(cfg, "tee", validate.TEES, "none")

    command_line = _command_line(cfg, warnings)
    if kernel is None:
        kernel = _kernel(cfg, read_files)
    if ramdisk_size is None and _string(cfg, "ramdisk"):  # libxl skips ramdisk = ""
        ramdisk_size = _file(cfg, "ramdisk", _ramdisk_size, read_files)
    dtb_path = _string(cfg, "device_tree")
    if partial_dtb is None:
        partial_dtb = _file(cfg, "device_tree", _read_device_tree, read_files)

    disks = tuple(d for d in _specs(cfg, "disk", _parse_disk) if d is not None)
    virtio = _virtio(cfg, warnings)

    guest = _model(
        cfg, memory_mib=memory_mib, max_vcpus=max_vcpus, gic_version=gic, vuart=vuart,
        cmdline=command_line, kernel=kernel, ramdisk_size=ramdisk_size, partial_dtb=partial_dtb,
        partial_dtb_name=dtb_path if dtb_path is not None else
        ("<partial_dtb>" if partial_dtb is not None else ""),
        disks=disks, virtio=virtio, pci_devices=len(_specs(cfg, "pci", _parse_pci)),
        iomem=tuple(_specs(cfg, "iomem", _parse_iomem)), tee=tee, acpi=_flag(cfg, "acpi"),
        nr_spis=_number(cfg, "nr_spis"), vpmu=_flag(cfg, "vpmu"))
    return guest, warnings


def _command_line(cfg: XlConfig, warnings: list[str]) -> str | None:
    """The guest's command line from cmdline=, else root= and extra= (xl
    warns when cmdline= overrides them)."""
    cmdline = _string(cfg, "cmdline")
    root, extra = _string(cfg, "root"), _string(cfg, "extra")
    if cmdline is not None and (root is not None or extra is not None):
        key = "root" if root is not None else "extra"
        warnings.append(f"{cfg.where(key)}: ignoring root= and extra= in favour of cmdline=")
    return kernel_cmdline(cmdline, root, extra)


def _kernel(cfg: XlConfig, read_files: bool) -> Kernel:
    """The kernel= file; libxl builds no Arm guest without one."""
    kernel = _file(cfg, "kernel", _read_kernel, read_files)
    if kernel is None:
        raise ConfigError(f"{cfg.filename}: no kernel= setting (libxl needs a kernel to"
                          " build an Arm guest)")
    return kernel


def _virtio(cfg: XlConfig, warnings: list[str]) -> tuple[VirtioDevice, ...]:
    """The virtio= entries; libxl gives those without transport=mmio no node."""
    virtio = tuple(_specs(cfg, "virtio", _parse_virtio))
    for i, device in enumerate(virtio):
        if device.transport != "mmio":
            warnings.append(f"{cfg.where('virtio')}: virtio entry {i + 1} has no transport=mmio:"
                            " libxl gives it no virtio-mmio node")
    return virtio


def _model(cfg: XlConfig, **fields: Any) -> GuestConfig:
    """The GuestConfig of `fields`; the model's refusal located at the
    setting the field came from."""
    try:
        return GuestConfig(**fields)
    except FieldError as e:
        key = {"cmdline": next((k for k in ("cmdline", "root", "extra") if k in cfg), "cmdline"),
               "partial_dtb_name": "device_tree", "memory_mib": "memory",
               "max_vcpus": "vcpus"}.get(e.field, e.field)
        if key in cfg and not cfg.line(key):  # a flag names the key itself: --nr-spis
            raise ConfigError(f"{cfg.where(key)}: {e.problem}") from None
        where = cfg.where(key) if key in cfg else cfg.filename
        raise ConfigError(f"{where}: {key}: {e.problem}") from None


def _shown(cfg: XlConfig, key: str) -> str:
    s = cfg.setting(key)
    if isinstance(s.value, tuple):
        text = repr(list(s.value))
    else:
        text = s.text if isinstance(s.value, int) and s.text is not None else repr(s.text)
    return text if len(text) <= 80 else f"{text[:40]}... ({len(text)} characters)"


def _bad(cfg: XlConfig, key: str, expected: str) -> ConfigError:
    return ConfigError(f"{cfg.where(key)}: {key} = {_shown(cfg, key)}: expected {expected}")


def _number(cfg: XlConfig, key: str, lo: int = _LONG_MIN, hi: int = _LONG_MAX) -> int | None:
    """xlu_cfg_get_long: a number (a string strtol reads whole is one too)."""
    if key not in cfg:
        return None
    s = cfg.setting(key)
    if isinstance(s.value, tuple):
        raise _bad(cfg, key, "a number, not a list")
    if s.added:
        raise ConfigError(f"{cfg.where(key)}: {key} += …: xl does not accept += for a number")
    value = s.value if isinstance(s.value, int) else _strtol(s.value)
    if value is None:
        raise _bad(cfg, key, "a number")
    if not lo <= value <= hi:
        raise _bad(cfg, key, f"a number from {lo} to {hi}")
    return value


def _flag(cfg: XlConfig, key: str) -> bool:
    """xlu_cfg_get_defbool: a number, true when not 0."""
    return bool(_number(cfg, key))


def _string(cfg: XlConfig, key: str) -> str | None:
    """xlu_cfg_get_string: a single value, as libxlu stores it."""
    if key not in cfg:
        return None
    s = cfg.setting(key)
    if s.text is None:
        raise _bad(cfg, key, "a string, not a list")
    return s.text


def _choice(cfg: XlConfig, key: str, choices: tuple[str, ...], default: str) -> str:
    """A libxl enumeration name, matched without regard to case."""
    value = _string(cfg, key)
    if value is None:
        return default
    if value.lower() not in choices:
        raise _bad(cfg, key, "one of " + ", ".join(repr(c) for c in choices))
    return value.lower()


def _strings(cfg: XlConfig, key: str) -> tuple[str, ...]:
    """xlu_cfg_get_list of strings (xl stops at a nested list; xendt refuses it)."""
    if key not in cfg:
        return ()
    value = cfg[key]
    if not isinstance(value, tuple):
        raise _bad(cfg, key, f'a list: {key} = [ "…", … ]')
    for i, item in enumerate(value):
        if not isinstance(item, str):
            shown = list(item) if isinstance(item, tuple) else item
            raise ConfigError(f"{cfg.where(key)}: {key} item {i + 1} = {shown!r}:"
                              " expected a string, not a list")
    return value  # type: ignore[return-value]


# The spec parsers, imported only for a guest that has such a list: most
# builds have none, and the CLI's start-up is measured.
def _parse_disk(spec: str) -> VirtioDisk | None:
    from xendt.guest.xlcfg.disk import parse_disk

    return parse_disk(spec)


def _parse_virtio(spec: str) -> VirtioDevice:
    from xendt.guest.xlcfg.devices import parse_virtio

    return parse_virtio(spec)


def _parse_pci(spec: str) -> PciDevice:
    from xendt.guest.xlcfg.devices import parse_pci

    return parse_pci(spec)


def _parse_iomem(spec: str) -> Iomem:
    from xendt.guest.xlcfg.devices import parse_iomem

    return parse_iomem(spec)


def _specs(cfg: XlConfig, key: str, parser: Callable[[str], _T]) -> list[_T]:
    """parser applied to every string of the list key, errors located."""
    results = []
    for spec in _strings(cfg, key):
        try:
            results.append(parser(spec))
        except ConfigError as e:
            raise ConfigError(f"{cfg.where(key)}: {e}") from e
    return results


def _file(cfg: XlConfig, key: str, reader: Callable[[str], _T], read_files: bool) -> _T | None:
    """reader(path) for the file cfg names under key, or None if none."""
    path = _string(cfg, key)
    if path is None:
        return None
    if not read_files:
        raise ConfigError(f"{cfg.where(key)}: {key} = {path!r}: not read (read_files=False)"
                          f" and no replacement given")
    try:
        return reader(path)
    except ImageError as e:
        raise ImageError(f"{cfg.where(key)}: {e}") from e


# The image readers (xendt.guest.images), imported when a file is named:
# a build from flags names none.

def _read_kernel(path: str) -> Kernel:
    from xendt.guest.images import read_kernel

    return read_kernel(path)


def _ramdisk_size(path: str) -> int:
    from xendt.guest.images import ramdisk_size

    return ramdisk_size(path)


def _read_device_tree(path: str) -> bytes:
    from xendt.guest.images import read_device_tree

    return read_device_tree(path)


def _check_domain_type(cfg: XlConfig, warnings: list[str]) -> None:
    """type= (and the deprecated builder=) as xl matches them: any prefix of
    the name. libxl turns PV into PVH on Arm and refuses HVM."""
    def kind(key: str, names: dict[str, str]) -> str | None:
        value = _string(cfg, key)
        if value is None:
            return None
        for name, result in names.items():
            if name.startswith(value):
                return result
        raise _bad(cfg, key, "'pvh'")

    type_ = kind("type", {"hvm": "hvm", "pv": "pv", "pvh": "pvh"})
    builder = kind("builder", {"hvm": "hvm", "generic": "pv"})
    if type_ is not None and builder is not None and type_ != builder:
        raise ConfigError(f"{cfg.where('builder')}: builder = {_shown(cfg, 'builder')}"
                          f" contradicts type = {_shown(cfg, 'type')}")
    key = "type" if type_ is not None else "builder"
    if (type_ or builder) == "hvm":
        raise _bad(cfg, key, "'pvh' (libxl refuses HVM guests on Arm)")
    if (type_ or builder) == "pv":
        warnings.append(f"{cfg.where(key)}: {key} = {_shown(cfg, key)}: libxl converts a PV"
                        " guest to PVH on Arm")


def _memory(cfg: XlConfig, warnings: list[str]) -> int:
    """The guest RAM in MiB: (max_memkb − video_memkb) / 1024, as
    libxl__build_dom computes it for the HVM container Arm PVH guests use."""
    hi = _LONG_MAX // 1024
    memory = _number(cfg, "memory", 0, hi)
    maxmem = _number(cfg, "maxmem", 0, hi)
    videoram = _number(cfg, "videoram", 0, hi)
    max_mib = maxmem if maxmem is not None else memory if memory is not None else 32
    ram = max_mib - (videoram or 0)
    if ram < 0:
        raise ConfigError(f"{cfg.where('videoram')}: videoram = {_shown(cfg, 'videoram')}:"
                          f" more than the guest's {max_mib} MiB of memory")
    if maxmem is not None and memory is not None and ram > memory:
        # libxl__build_pre sets max_pages to memory + LIBXL_MAXMEM_CONSTANT
        # (1 MiB), libxl__build_dom populates maxmem - videoram (libxl_dom.c);
        # Arm has no populate-on-demand, so assign_pages refuses the excess
        # (xen/common/page_alloc.c) and meminit fails. Xen 4.14 … 4.22.
        raise ConfigError(f"{cfg.where('maxmem')}: maxmem = {maxmem} > memory = {memory}: libxl"
                          " populates maxmem MiB but Xen caps an Arm guest at memory + 1 MiB (no"
                          " populate-on-demand on Arm), so xl create fails"
                          " (\"xc_dom_boot_mem_init: can't allocate low memory for domain\")")
    if maxmem is not None and maxmem != (memory if memory is not None else maxmem):
        warnings.append(f"{cfg.where('maxmem')}: maxmem = {maxmem} differs from memory ="
                        f" {memory}: libxl gives an Arm guest maxmem MiB of RAM, while Xen"
                        " limits it to memory + 1 MiB")
    if videoram:
        warnings.append(f"{cfg.where('videoram')}: videoram = {videoram}: libxl takes it off"
                        f" the Arm guest's RAM ({max_mib} - {videoram} MiB)")
    return ram


def _vcpus(cfg: XlConfig, warnings: list[str]) -> int:
    """maxvcpus, defaulting to vcpus (tools/xl/xl_parse.c). A vcpus below 1
    is kept, for the builder to refuse or take it as 1 as the version's xl
    and libxl do (with a warning)."""
    vcpus = _number(cfg, "vcpus", -_INT_MAX - 1, _INT_MAX)
    vcpus = 1 if vcpus is None else vcpus
    maxvcpus = _number(cfg, "maxvcpus", -_INT_MAX - 1, _INT_MAX)
    if not maxvcpus:  # absent or 0: xl takes vcpus
        return vcpus
    if vcpus < 0:  # the GuestConfig keeps maxvcpus only: say what older xl does
        # libxl_cpu_bitmap_alloc(…, vcpus) refuses a negative count (libxl_utils.c @
        # RELEASE-4.21.0); xl_parse.c @ RELEASE-4.22.0 takes it as 1 first.
        oldest, before, since = _until(
            lambda later: later.setting("dt", "negative-vcpus") == "one")
        warnings.append(f"{cfg.where('vcpus')}: vcpus = {_shown(cfg, 'vcpus')}: xl {oldest}"
                        f" to {before} refuse a negative vcpus (\"Unable to allocate cpumap\");"
                        f" {since} takes it as 1")
    if maxvcpus < max(vcpus, 1):
        raise ConfigError(f"{cfg.where('maxvcpus')}: maxvcpus = {_shown(cfg, 'maxvcpus')}:"
                          f" fewer than vcpus ({vcpus}); xl refuses maxvcpus < vcpus")
    return maxvcpus


def _until(has: Callable[[Layout], bool]) -> tuple[str, str, str | None]:
    """The oldest known version, the last one before the first that `has`
    something, and that first (None if none has it), from the layouts."""
    from xendt.xen import layouts

    known = layouts.versions()
    since = layouts.first(has)
    return known[0], known[known.index(since) - 1] if since else known[-1], since


def _grant_frames(cfg: XlConfig, warnings: list[str]) -> None:
    """max_grant_frames, which decides no part of the tree but whether Xen
    creates the guest: xl reads it as a bounded long (0 … INT_MAX, and exits
    without a word otherwise; tools/xl/xl_parse.c), grant_table_init
    (xen/common/grant_table.c) refuses 0 in every version and, up to 4.17,
    more than the hypervisor's gnttab_max_frames (64 unless booted with a
    larger one; commit b2ea81d2b9 made it a default in 4.18)."""
    if "max_grant_frames" not in cfg:
        return
    where = cfg.where("max_grant_frames")
    value = _strtol(str(cfg["max_grant_frames"])) if not isinstance(cfg["max_grant_frames"],
                                                                    tuple) else None
    if value is None or not 0 <= value <= _INT_MAX:
        raise ConfigError(f"{where}: max_grant_frames = {_shown(cfg, 'max_grant_frames')}: xl"
                          f" accepts 0 to {_INT_MAX} (and exits without a message otherwise)")
    if value == 0:
        raise ConfigError(f"{where}: max_grant_frames = 0: Xen refuses a grant table without"
                          " frames (\"Bad grant table size\"; xl: \"domain creation fail: Invalid"
                          " argument\")")
    if value > 64:
        oldest, before, since = _until(
            lambda later: not later.setting("limits", "grant-frames-capped"))
        warnings.append(f"{where}: max_grant_frames = {value}: Xen {oldest} to {before} refuse"
                        " more than gnttab_max_frames (64 unless Xen was booted with a larger"
                        f" gnttab_max_frames=); {since} and later accept it")
    if value > 4096:
        warnings.append(f"{where}: max_grant_frames = {value}: the 16 MiB grant-table region of"
                        " /hypervisor holds 4096 frames; a guest mapping more runs into the magic"
                        " pages above it (console and xenstore rings)")


def load_guest(path: str | os.PathLike[str], *, read_files: bool = True,
               kernel: Kernel | None = None, ramdisk_size: int | None = None,
               partial_dtb: bytes | None = None) -> tuple[GuestConfig, list[str]]:
    """The GuestConfig of the xl.cfg file at `path`, and xl's warnings:
    load() then guest_config() (keyword arguments go to guest_config)."""
    from xendt.guest.xlcfg.syntax import load

    return guest_config(load(path), read_files=read_files, kernel=kernel,
                        ramdisk_size=ramdisk_size, partial_dtb=partial_dtb)
