"""A guest and its host as JSON: the model's typed, nested round-trip.

`xendt build --guest-json FILE` and `xendt.guest_from_json()` read a guest
description an image builder can write without xl.cfg syntax:

    {"guest": {"memory_mib": 1024, "max_vcpus": 2, "gic_version": "v3",
               "kernel": {"arch": "arm64", "size": 31457280},
               "disks": [{"vdev": "xvda", "backend_domid": 1}]},
     "host": {"xen": "4.21", "pa_bits": 44}}

The keys are the dataclasses' fields (GuestConfig, Host and what they
hold); dataclasses-json decodes them, imported only on this path (it is
slow to import). A partial device tree is named by file
("device_tree": "passthrough.dtb", read like xl.cfg's) since JSON holds no
bytes, and Host.rng_seed is hex. Unknown keys and values of the wrong type
are refused in one line: decoding must give back exactly what was written.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from xendt.errors import ConfigError
from xendt.guest.model import GuestConfig, Host

#: Largest guest description read.
MAX_SIZE = 1 << 20


def guest_to_json(guest: GuestConfig, host: Host | None = None) -> str:
    """`guest` (and `host`) as the JSON document guest_from_json reads.
    A partial device tree is written by file name only."""
    from dataclasses_json import DataClassJsonMixin

    data = DataClassJsonMixin.to_dict(guest, encode_json=False)  # type: ignore[arg-type]
    data.pop("partial_dtb")
    name = data.pop("partial_dtb_name")
    if guest.partial_dtb is not None:
        data["device_tree"] = name
    out: dict[str, Any] = {"guest": data}
    if host is not None:
        h = DataClassJsonMixin.to_dict(host, encode_json=False)  # type: ignore[arg-type]
        h["rng_seed"] = None if host.rng_seed is None else host.rng_seed.hex()
        out["host"] = h
    return json.dumps(out, indent=2) + "\n"


def guest_from_json(text: str, name: str = "<json>") -> tuple[GuestConfig, Host | None]:
    """The GuestConfig (and Host, if the document has one) of a guest
    description; ConfigError naming `name` and the key when it is wrong."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{name}: not JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    if not isinstance(doc, dict) or "guest" not in doc or set(doc) - {"guest", "host"}:
        raise ConfigError(f'{name}: expected an object with "guest" (and optionally "host"),'
                          f" got {_shape(doc)}")
    guest_data = dict(_object(doc["guest"], f"{name}: guest"))
    device_tree = guest_data.pop("device_tree", None)
    guest = _decode(GuestConfig, guest_data, f"{name}: guest", skip=("partial_dtb",))
    if device_tree is not None:
        if not isinstance(device_tree, str):
            raise ConfigError(f"{name}: guest.device_tree: expected a file name, got {device_tree!r}")
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
                raise ConfigError(f"{name}: host.rng_seed: expected hex bytes, got {seed!r}") from None
        host = _decode(Host, host_data, f"{name}: host", skip=(), raw={"rng_seed": seed})
    return guest, host


def _decode(cls: type, data: dict[str, Any], where: str, *, skip: tuple[str, ...],
            raw: dict[str, Any] | None = None) -> Any:
    from dataclasses_json import DataClassJsonMixin

    known = {f.name for f in dataclasses.fields(cls)} - set(skip)
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; expected one of"
                          f" {', '.join(sorted(known))}")
    try:
        value = DataClassJsonMixin.from_dict.__func__(cls, data, infer_missing=True)  # type: ignore[attr-defined]
    except (TypeError, ValueError, KeyError, AttributeError) as e:
        raise ConfigError(f"{where}: {e}") from None
    except ConfigError as e:  # the model's own checks (e.g. PA and IPA bits)
        raise ConfigError(f"{where}: {e}") from None
    back = DataClassJsonMixin.to_dict(value, encode_json=False)
    for key, given in data.items():
        if key not in (raw or {}):
            _same(back[key], given, f"{where}.{key}")
    return value


def _same(back: Any, given: Any, where: str) -> None:
    """ConfigError at the first place where decoding changed `given`: a
    coerced value, or a key the dataclass does not have."""
    if isinstance(back, dict) and isinstance(given, dict):
        for key, value in given.items():
            if key not in back:
                raise ConfigError(f"{where}: unknown key {key!r}; expected one of"
                                  f" {', '.join(sorted(back))}")
            _same(back[key], value, f"{where}.{key}")
    elif isinstance(back, (list, tuple)) and isinstance(given, list) and len(back) == len(given):
        for i, (b, g) in enumerate(zip(back, given)):
            _same(b, g, f"{where}[{i}]")
    elif _normal(back) != _normal(given):
        raise ConfigError(f"{where}: expected {_kind(back)}, got {given!r}")


def _normal(value: Any) -> Any:
    """Lists for tuples, and no bool standing in for an int, for comparing."""
    if isinstance(value, (list, tuple)):
        return [_normal(v) for v in value]
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    return (type(value), value) if isinstance(value, bool) else value


def _kind(value: Any) -> str:
    return {bool: "true or false", int: "an integer", str: "a string", list: "a list",
            dict: "an object", type(None): "null"}.get(type(value), type(value).__name__)


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected an object, got {_shape(value)}")
    return value


def _shape(value: Any) -> str:
    return f"{type(value).__name__} {json.dumps(value)[:40]}"
