"""virtio=, iomem= and pci= entries: parse_virtio(), parse_iomem(),
parse_pci() (and _domid(), the backend= reader disk.py shares).

Each list entry is a spec string with a small syntax of its own, read by
xl or libxlu with C's strtok, sscanf and strtoul; the parsers here follow
those calls, quirks included (sscanf's %x taking a sign or a 0x prefix,
strtok skipping empty parts):

* virtio=: tools/xl/xl_parse.c parse_virtio_list (virtio= @ RELEASE-4.18.0
  and later).
* iomem=: tools/xl/xl_parse.c parse_config_data, its sscanf of three
  hexadecimal numbers ``START,PAGES[@GFN]``.
* pci=: tools/libs/util/libxlu_pci.c xlu_pci_parse_spec_string.
* backend=: libxl_domain_qualifier_to_domid (tools/libs/light/libxl_utils.c),
  limited to what can be known offline, a domain ID.

The results are model values (VirtioDevice, Iomem) or PciDevice; how many of
them reach the guest is config.py's business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from xendt.errors import ConfigError
from xendt.guest.model import Iomem, VirtioDevice
from xendt.guest.xlcfg.settings import _C_SPACE, _UINT32_MAX, _strtol

#: DOMID_FIRST_RESERVED (xen/include/public/xen.h): domids from here on are special.
_DOMID_FIRST_RESERVED = 0x7FF0
#: LIBXL_INVALID_GFN: an iomem @GFN of this value means "no GFN given".
_INVALID_GFN = (1 << 64) - 1


def _domid(backend: str | None, what: str) -> int:
    """libxl_domain_qualifier_to_domid for a backend= value: all digits
    (even none) is a domid; anything else is a name libxl would look up."""
    if backend is None:
        return 0
    if not backend.isascii() or not (backend == "" or backend.isdigit()):
        raise ConfigError(f"{what}: backend={backend!r} is a domain name; xendt cannot look up"
                          " running domains, give the backend's domain ID (a number)")
    digits = backend.lstrip("0")
    domid = int(digits or "0") if len(digits) <= 5 else _DOMID_FIRST_RESERVED  # past any domid
    if domid >= _DOMID_FIRST_RESERVED:
        raise ConfigError(f"{what}: backend={backend!r} is not a domain ID: expected"
                          f" 0 to {_DOMID_FIRST_RESERVED - 1}")
    return domid


def parse_virtio(spec: str) -> VirtioDevice:
    """A virtio= entry (xl_parse.c parse_virtio_list): comma-separated
    ``backend=``, ``type=``, ``transport=`` and ``grant_usage=`` settings,
    where a type value starting with "virtio" takes the next comma-separated
    part too (``type=virtio,device22``).

    transport is "mmio" or, when absent, "unknown" (libxl then gives the
    device no virtio-mmio node). backend must be a domain ID; grant_usage is
    None unless given. ConfigError quoting the spec for anything xl or libxl
    would refuse.
    """
    what = f"virtio spec {spec!r}"
    parts = [p for p in spec.split(",") if p]  # strtok skips empty parts
    backend: str | None = None
    type_: str | None = None
    transport = "unknown"
    grant_usage: bool | None = None
    i = 0
    while i < len(parts):
        part = parts[i].lstrip(" ")
        if part.startswith("type=") and part[len("type="):].startswith("virtio"):
            if i + 1 == len(parts):
                raise ConfigError(f"{what}: {part!r} lacks the ',device<N>' part of its type")
            i += 1
            part = f"{part},{parts[i]}"
        key, equals, value = part.partition("=")
        if not equals or key not in ("backend", "type", "transport", "grant_usage"):
            raise ConfigError(f"{what}: unknown setting {part!r}: expected backend=, type=,"
                              " transport= or grant_usage=")
        if key == "backend":
            backend = value
        elif key == "type":
            type_ = value
        elif key == "transport":
            if value.lower() not in ("mmio", "unknown"):
                raise ConfigError(f"{what}: transport={value!r}: expected 'mmio'")
            transport = value.lower()
        else:
            number = _strtol(value)
            if number is None:
                raise ConfigError(f"{what}: grant_usage={value!r}: expected 0 or 1")
            grant_usage = number != 0
        i += 1
    if type_ is None and transport == "mmio":
        raise ConfigError(f"{what}: no type= (e.g. type=virtio,device22)")
    return VirtioDevice(type=type_ or "", transport=transport,
                        backend_domid=_domid(backend, what), grant_usage=grant_usage)


def _scan_hex(text: str, i: int) -> tuple[int, int] | None:
    """sscanf's %x at text[i:]: (signed value, end index), or None."""
    j = i
    while j < len(text) and text[j] in _C_SPACE:
        j += 1
    negative = j < len(text) and text[j] == "-"
    if j < len(text) and text[j] in "+-":
        j += 1
    if text[j:j + 2] in ("0x", "0X") and j + 2 < len(text) and text[j + 2] in _HEX_DIGITS:
        j += 2
    start = j
    while j < len(text) and text[j] in _HEX_DIGITS:
        j += 1
    if j == start:
        return None
    value = int(text[start:j], 16)
    return (-value if negative else value), j


_HEX_DIGITS = "0123456789abcdefABCDEF"


def parse_iomem(spec: str) -> Iomem:
    """An iomem= entry ``"IOMEM_START,NUM_PAGES[@GFN]"``, all hexadecimal
    (with or without 0x), as xl's ``sscanf("%lx,%lx%n@%lx%n")`` reads it.
    gfn is None without @GFN (libxl then maps at IOMEM_START)."""
    def bad(reason: str) -> ConfigError:
        return ConfigError(f"iomem spec {spec!r}: {reason}")

    numbers: list[int] = []
    pos = 0
    for separator in ("", ",", "@"):
        start = pos + len(separator)
        if not spec.startswith(separator, pos):
            break
        scanned = _scan_hex(spec, start)
        if scanned is None:
            break
        value, pos = scanned
        if not 0 <= value <= _INVALID_GFN:
            raise bad(f"{spec[start:pos].strip()!r} is out of range: expected 0 to"
                      f" 0x{_INVALID_GFN:x}")
        numbers.append(value)
    if len(numbers) < 2 or pos != len(spec):
        raise bad('expected "IOMEM_START,NUM_PAGES[@GFN]" in hexadecimal')
    gfn = numbers[2] if len(numbers) == 3 and numbers[2] != _INVALID_GFN else None
    return Iomem(start=numbers[0], pages=numbers[1], gfn=gfn)


@dataclass(frozen=True)
class PciDevice:
    """A pci= entry (libxlu_pci.c, 4.16+ syntax): a host device given by BDF
    or by name (exactly one of them).

    domain, bus, dev, func:
      the host BDF (all 0 when given by name).
    all_functions:
      True for ``BB:DD.*``.
    vslot:
      the guest slot from ``@VSLOT`` or ``vslot=``, or None.
    name:
      the assignable device name from ``name=``, or None.
    """

    domain: int = 0
    bus: int = 0
    dev: int = 0
    func: int = 0
    all_functions: bool = False
    vslot: int | None = None
    name: str | None = None


def _scan_hex32(text: str, i: int) -> tuple[int, int] | None:
    """%x into an unsigned int (negative wraps, overflow saturates)."""
    scanned = _scan_hex(text, i)
    if scanned is None:
        return None
    value, j = scanned
    value = min(value, _UINT32_MAX)
    return value % (1 << 32), j


def _parse_bdf(text: str) -> tuple[PciDevice, int] | None:
    """libxlu's parse_bdf: ``[DDDD:]BB:DD.F`` or ``.*``; the device and the
    index after it, or None."""
    prefix = re.match(r"[0-9a-fA-F:]*", text)
    assert prefix is not None
    colons = prefix.group().count(":")
    if colons not in (1, 2):
        return None
    fields: list[int] = []
    pos = 0
    for separator in ([":", "."] if colons == 1 else [":", ":", "."]):
        scanned = _scan_hex32(text, pos)
        if scanned is None or not text.startswith(separator, scanned[1]):
            return None
        fields.append(scanned[0])
        pos = scanned[1] + 1
    domain, bus, dev = [0, *fields] if colons == 1 else fields
    if domain > 0xFFFF or bus > 0xFF or dev > 0x1F:
        return None
    if text.startswith("*", pos):
        return PciDevice(domain, bus, dev, 0, all_functions=True), pos + 1
    scanned = _scan_hex32(text, pos)
    if scanned is None or scanned[0] > 7:
        return None
    return PciDevice(domain, bus, dev, scanned[0]), scanned[1]


def _parse_vslot(text: str) -> tuple[int, int] | None:
    scanned = _scan_hex32(text, 0)
    if scanned is None or scanned[0] > 0x1F:
        return None
    return scanned


def parse_pci(spec: str) -> PciDevice:
    """A pci= entry as xl accepts it (libxlu_pci.c xlu_pci_parse_spec_string,
    4.16+): an optional positional ``[DDDD:]BB:DD.F[@VSLOT]`` (F may be
    ``*``), then ``key=value`` settings bdf=, vslot=, permissive=,
    msitranslate=, seize=, power_mgmt=, rdm_policy=, name=; a BDF or a name
    but not both. ConfigError quoting the spec otherwise."""
    def bad(reason: str) -> ConfigError:
        return ConfigError(f"pci spec {spec!r}: {reason}")

    device = PciDevice()
    has_bdf = has_name = False
    rest = spec
    positional = _parse_bdf(spec)
    if positional is not None:
        device, pos = positional
        has_bdf = True
        if spec.startswith("@", pos):
            slot = _parse_vslot(spec[pos + 1:])
            if slot is None:
                raise bad(f"bad @VSLOT {spec[pos:]!r}: expected a slot 0 to 1f")
            device = replace(device, vslot=slot[0])
            pos += 1 + slot[1]
        if spec.startswith(",", pos):
            pos += 1
        elif pos != len(spec):
            raise bad(f"unexpected {spec[pos:]!r} after the BDF")
        rest = spec[pos:]
    while rest:
        key, equals, rest = rest.partition("=")
        if not equals:
            raise bad(f"expected key=value, got {key!r}")
        value, _, rest = rest.partition(",")
        if key == "bdf":
            parsed = _parse_bdf(value)
            if parsed is None:
                raise bad(f"bdf={value!r}: expected [DDDD:]BB:DD.F")
            device = replace(parsed[0], vslot=device.vslot, name=device.name)
            has_bdf = True
        elif key == "vslot":
            slot = _parse_vslot(value)
            if slot is None:
                raise bad(f"vslot={value!r}: expected a slot 0 to 1f")
            device = replace(device, vslot=slot[0])
        elif key == "rdm_policy":
            if value.lower() not in ("strict", "relaxed", "invalid"):
                raise bad(f"rdm_policy={value!r}: expected 'strict' or 'relaxed'")
        elif key == "name":
            has_name = True
            device = replace(device, name=value)
        elif key not in ("permissive", "msitranslate", "seize", "power_mgmt"):
            raise bad(f"unknown setting {key!r}")
    if has_bdf == has_name:
        raise bad("expected a BDF ([DDDD:]BB:DD.F) or name=, not "
                  + ("both" if has_bdf else "neither"))
    return device

