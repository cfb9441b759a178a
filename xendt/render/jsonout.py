"""The computed memory map as JSON, through dataclasses-json.

dataclasses-json (and marshmallow under it) is slow to import, so only the
JSON output path imports this module.
"""

from __future__ import annotations

from xendt.guest.model import MemoryMap
from xendt.render.jsondoc import document


def memory_map_json(mmap: MemoryMap, explain: tuple[str, ...] = ()) -> str:
    """Every field of the map (addresses and sizes as integers), and with
    `explain` where its extended regions come from."""
    from dataclasses_json import DataClassJsonMixin

    # The mixin's to_dict works on any dataclass instance; the model stays
    # free of the import.
    data = DataClassJsonMixin.to_dict(mmap, encode_json=False)  # type: ignore[arg-type]
    if explain:
        data["explain"] = list(explain)
    return document(data)
