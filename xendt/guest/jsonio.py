"""A guest and its host as JSON: the model's typed, nested round-trip.

`xendt build --guest-json FILE` and `xendt.guest_from_json()` read a guest
description an image builder can write without xl.cfg syntax:

    {"guest": {"memory_mib": 1024, "max_vcpus": 2, "gic_version": "v3",
               "kernel": {"arch": "arm64", "size": 31457280},
               "disks": [{"vdev": "xvda", "backend_domid": 1}]},
     "host": {"xen": "4.21", "pa_bits": 44}}

The keys are the dataclasses' fields (GuestConfig, Host and what they
hold), and the values are checked by the model itself when it is made
(xendt.guest.validate), as for every other route: a message names the
JSON path (guest.kernel.size) and the model's reason. A partial device
tree is named by file ("device_tree": "passthrough.dtb", read like
xl.cfg's) since JSON holds no bytes, and Host.rng_seed is hex. Refused in
one line: unknown, missing or repeated keys, values of the wrong type,
documents nested deeper than MAX_DEPTH, numbers longer than MAX_DIGITS
digits, NaN and Infinity.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from xendt.errors import ConfigError, FieldError
from xendt.guest.model import GuestConfig, Host, Iomem, Kernel, VirtioDevice, VirtioDisk

#: Largest guest description read.
MAX_SIZE = 1 << 20
#: Deepest nesting of objects and lists: a guest description has 4
#: ({"guest": {"disks": [{...}]}}); Python's parser would recurse to its limit.
MAX_DEPTH = 8
#: Longest number, in digits: every value of the model fits in 64 bits
#: (2**64 - 1 has 20 digits); Python refuses to convert more than 4300.
MAX_DIGITS = 20

#: The fields that hold model objects: one object, or a list of them.
_NESTED: dict[tuple[type, str], tuple[type, bool]] = {
    (GuestConfig, "kernel"): (Kernel, False), (GuestConfig, "disks"): (VirtioDisk, True),
    (GuestConfig, "virtio"): (VirtioDevice, True), (GuestConfig, "iomem"): (Iomem, True)}


def guest_to_json(guest: GuestConfig, host: Host | None = None) -> str:
    """`guest` (and `host`) as the JSON document guest_from_json reads.
    A partial device tree is written by file name only."""
    if not isinstance(guest, GuestConfig) or not isinstance(host, (Host, type(None))):
        raise TypeError(f"guest_to_json(GuestConfig, Host | None), got"
                        f" ({type(guest).__name__}, {type(host).__name__})")
    data = dataclasses.asdict(guest)
    data.pop("partial_dtb")
    name = data.pop("partial_dtb_name")
    if guest.partial_dtb is not None:
        data["device_tree"] = name
    out: dict[str, Any] = {"guest": data}
    if host is not None:
        h = dataclasses.asdict(host)
        h["rng_seed"] = None if host.rng_seed is None else host.rng_seed.hex()
        out["host"] = h
    return json.dumps(out, indent=2) + "\n"


def guest_from_json(text: str, name: str = "<json>") -> tuple[GuestConfig, Host | None]:
    """The GuestConfig (and Host, if the document has one) of a guest
    description; ConfigError naming `name` and the key when it is wrong."""
    if not isinstance(text, str) or not isinstance(name, str):
        raise TypeError(f"guest_from_json(str, str), got ({type(text).__name__},"
                        f" {type(name).__name__})")
    doc = _parse(text, name)
    if not isinstance(doc, dict) or "guest" not in doc or set(doc) - {"guest", "host"}:
        raise ConfigError(f'{name}: expected an object with "guest" (and optionally "host"),'
                          f" got {_shape(doc)}")
    guest_data = dict(_object(doc["guest"], f"{name}: guest"))
    device_tree = guest_data.pop("device_tree", None)
    guest = _decode(GuestConfig, guest_data, f"{name}: guest", skip=("partial_dtb",))
    if device_tree is not None:
        if not isinstance(device_tree, str) or "\0" in device_tree:
            raise ConfigError(f"{name}: guest.device_tree: expected a file name, got"
                              f" {_short(device_tree)}")
        from xendt.guest.images import read_device_tree

        path = os.path.join(os.path.dirname(name), device_tree) if name != "<json>" else device_tree
        guest = dataclasses.replace(guest, partial_dtb=read_device_tree(path),
                                    partial_dtb_name=device_tree)
    host = None
    if "host" in doc:
        host_data = dict(_object(doc["host"], f"{name}: host"))
        seed = host_data.get("rng_seed")
        if seed is not None:
            try:
                host_data["rng_seed"] = bytes.fromhex(seed)
            except (TypeError, ValueError):
                raise ConfigError(f"{name}: host.rng_seed: expected hex bytes, got {_short(seed)}") from None
        host = _decode(Host, host_data, f"{name}: host", skip=())
    return guest, host


def _parse(text: str, name: str) -> Any:
    """json.loads within the bounds (depth, digits, no NaN or Infinity, no
    repeated key)."""
    from xendt.inputs import nesting

    # Brackets inside strings do not nest (an unterminated string runs to the end).
    depth = nesting(text, r'"(?:[^"\\]|\\[\s\S]?)*(?:"|\Z)')
    if depth > MAX_DEPTH:
        raise ConfigError(f"{name}: nested {depth} deep; a guest description nests at most"
                          f" {MAX_DEPTH} deep")

    def number(literal: str) -> int | float:
        digits = sum(c.isdigit() for c in literal)
        if digits > MAX_DIGITS:
            raise ConfigError(f"{name}: a number of {digits} digits ({literal[:12]}...); every"
                              f" value fits in 64 bits, at most {MAX_DIGITS} digits")
        return int(literal) if literal.lstrip("-").isdigit() else float(literal)

    def constant(literal: str) -> None:
        raise ConfigError(f"{name}: {literal} is not a JSON number")

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ConfigError(f"{name}: key {_short(key)} given twice in one object")
            seen.add(key)
        return dict(pairs)

    try:
        return json.loads(text, parse_int=number, parse_float=number, parse_constant=constant,
                          object_pairs_hook=unique)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{name}: not JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    except RecursionError:  # the depth bound comes first; this is its backstop
        raise ConfigError(f"{name}: nested more than {MAX_DEPTH} deep") from None


def _decode(cls: type, data: dict[str, Any], where: str, *, skip: tuple[str, ...] = ()) -> Any:
    """cls made from the JSON object `data`, nested objects first; the
    model's checks decide the values."""
    fields = [f for f in dataclasses.fields(cls) if f.name not in skip]
    known = {f.name for f in fields}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key {_short(unknown[0])}; expected one of"
                          f" {', '.join(sorted(known))}")
    for f in fields:
        if f.name not in data and f.default is dataclasses.MISSING \
                and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{where}: missing key {f.name!r}")
    values = dict(data)
    for key, value in data.items():
        nested = _NESTED.get((cls, key))
        if nested is None:
            continue
        kind, many = nested
        if not many:
            values[key] = _decode(kind, _object(value, f"{where}.{key}"), f"{where}.{key}")
            continue
        if not isinstance(value, list):
            raise ConfigError(f"{where}.{key}: expected a list, got {_shape(value)}")
        values[key] = tuple(_decode(kind, _object(item, f"{where}.{key}[{i}]"),
                                    f"{where}.{key}[{i}]") for i, item in enumerate(value))
    try:
        return cls(**values)
    except FieldError as e:
        raise ConfigError(f"{where}.{e.field}: {e.problem}") from None
    except ConfigError as e:  # the model's checks across fields (e.g. PA and IPA bits)
        raise ConfigError(f"{where}: {e}") from None


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected an object, got {_shape(value)}")
    return value


def _short(value: Any) -> str:
    """repr(value), cut to 40 characters for a one-line message."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _shape(value: Any) -> str:
    return f"{type(value).__name__} {json.dumps(value)[:40]}"
