"""The public API's argument checks and input conventions (xendt.api).

One convention for every input: a path (str or os.PathLike; "-" is
standard input), the bytes themselves, or, for the text formats (xl.cfg,
guest JSON, U-Boot scripts), the text given as `text=`. A wrong Python type
is a TypeError naming the function and the argument; everything else a user
can get wrong is an XendtError whose message names the API's arguments,
never the command line's flags (api_words()).
"""

from __future__ import annotations

import os
import re
from types import TracebackType
from typing import TYPE_CHECKING

from xendt.errors import ConfigError, XendtError

if TYPE_CHECKING:
    from xendt.xen.address import AddressSize

Source = str | os.PathLike[str] | bytes | bytearray
PATH = (str, os.PathLike)
SOURCE = (str, os.PathLike, bytes, bytearray)
#: The name a blob handed over in memory goes by in messages and "inputs".
BYTES = "<bytes>"


def expect(function: str, name: str, value: object, kinds: type | tuple[type, ...],
           optional: bool = False) -> None:
    """TypeError naming the argument unless `value` is one of `kinds` (or
    None when `optional`); a bool is no int."""
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    if value is None and optional:
        return
    if isinstance(value, kinds) and (bool in kinds or not isinstance(value, bool)):
        return
    names = " or ".join(k.__name__ for k in kinds) + (" or None" if optional else "")
    raise TypeError(f"xendt.{function}: {name} must be {names}, not {type(value).__name__}")


def text(function: str, name: str, value: object, optional: bool = False) -> None:
    """expect() a str, and refuse a NUL in it (no name or option has one)."""
    expect(function, name, value, str, optional)
    if isinstance(value, str) and "\0" in value:
        raise ConfigError(f"{name} {value[:40]!r}: a NUL character (no such name or option)")


def blob(function: str, name: str, source: object, cap: int, why: str,
         label: str = BYTES) -> tuple[bytes, str]:
    """A DTB argument's bytes and name: read from its path (as far as its
    header's totalsize, at most `cap` bytes, `why` the cap's reason), or
    the bytes given (named `label`)."""
    expect(function, name, source, SOURCE)
    if isinstance(source, (bytes, bytearray)):
        return bytes(source), label
    from xendt.fdt.read import read_blob

    assert isinstance(source, (str, os.PathLike))
    return read_blob(os.fspath(source), cap, why)


def optional_blob(function: str, name: str, source: object, cap: int, why: str,
                  label: str) -> tuple[bytes | None, str]:
    """blob(), or (None, "") for None."""
    if source is None:
        return None, ""
    return blob(function, name, source, cap, why, label)


def document(function: str, source: object, given_text: object, what: str, cap: int,
             kind: type[XendtError], name: object, errors: str = "strict") -> tuple[str, str]:
    """A text input's text and name: exactly one of `source` (a path, or
    its UTF-8 bytes) and `given_text`; `name` names it in messages
    (default: the path, or "<text>" / "<bytes>"); bytes are decoded as
    UTF-8 with `errors`."""
    from xendt.inputs import read_capped

    if (source is None) == (given_text is None):
        raise TypeError(f"xendt.{function}: give the {what} as a path or bytes, or as text=,"
                        " not both or neither")
    text(function, "name", name, optional=True)
    if given_text is not None:
        text(function, "text", given_text)
        assert isinstance(given_text, str)
        label = str(name or "<text>")
        if len(given_text) > cap:
            raise kind(f"{label}: more than the {cap} bytes xendt reads for {_a(what)}")
        return given_text, label
    expect(function, "source", source, SOURCE)
    if isinstance(source, (bytes, bytearray)):
        data, label = bytes(source), str(name or BYTES)
        if len(data) > cap:
            raise kind(f"{label}: more than the {cap} bytes xendt reads for {_a(what)}")
    else:
        assert isinstance(source, (str, os.PathLike))
        data, label = read_capped(os.fspath(source), what, cap, kind, label=None)
        label = str(name or label)
    try:
        return data.decode("utf-8", errors), label
    except UnicodeDecodeError as e:
        raise kind(f"{label}: not UTF-8 text (byte {e.start})") from None


def _a(what: str) -> str:
    return f"{'an' if what[0] in 'aeiox' else 'a'} {what}"


def size(function: str, name: str, value: object) -> None:
    """An address size in bits (pa_bits, ipa_bits), or None."""
    expect(function, name, value, int, optional=True)


def address_size(function: str, pa_bits: object, ipa_bits: object) -> AddressSize | None:
    """The AddressSize of pa_bits= or ipa_bits= (not both), or None."""
    from xendt.xen.address import AddressSize

    size(function, "pa_bits", pa_bits)
    size(function, "ipa_bits", ipa_bits)
    if pa_bits is not None and ipa_bits is not None:
        raise ConfigError("pa_bits and ipa_bits both give the address size: give one")
    if pa_bits is None and ipa_bits is None:
        return None
    kind, bits = ("pa", pa_bits) if pa_bits is not None else ("ipa", ipa_bits)
    assert isinstance(bits, int)
    if bits.bit_length() > 16:
        raise ConfigError(f"{kind}_bits of {bits.bit_length()} bits: not an address size")
    return AddressSize(kind, bits)


#: The command line's flags, as the API's arguments name the same thing.
_FLAGS = {
    "--dom0-mem": "dom0_ram", "--dom0-dtb": "dom0_dtb", "--gnttab": "grant_table",
    "--host-ram": "host_ram", "--uefi": "uefi=True", "--pa-bits": "pa_bits",
    "--ipa-bits": "ipa_bits", "--xen": "xen", "--iommu": "iommu=True",
    "--no-iommu": "iommu=False", "--kernel-size": "kernel_size", "--ramdisk-size": "ramdisk_size",
    "--kernel": "kernel", "--ramdisk": "ramdisk", "--partial-dtb": "partial_dtb",
    "--xen-cmdline": "xen_cmdline", "--domain": "domain", "--text-offset": "text_offset",
    "--guest-arch": "guest_arch", "--rng-seed": "Host.rng_seed", "--v2m-spis": "v2m_spis",
    "--host-dtb": "host_dtb", "--xl-config": "source", "--guest-json": "source",
    "--uboot-script": "uboot_script", "--uboot-file": "uboot_files",
    "--uboot-version": "uboot_version", "--acpi-size": "Host.acpi_size",
    "--host-gic": "Host.gic", "--clock-frequency": "Host.clock_frequency", "--explain": "explain=True",
}
_FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def api_words(message: str) -> str:
    """`message` with each command-line flag named as the API argument."""
    return _FLAG.sub(lambda m: _FLAGS.get(m.group(0), m.group(0)), message)


class api_errors:
    """Re-raise an XendtError with its message in the API's words (a class,
    not a generator: it wraps every call, so it costs next to nothing)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if isinstance(error, XendtError) and error.args and isinstance(error.args[0], str):
            error.args = (api_words(error.args[0]), *error.args[1:])
