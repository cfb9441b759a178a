"""The one JSON writer of xendt.

Every `--format json` (build's memory map, show, check, diff, host-regions)
is written here, in one shape: an object whose keys are snake_case, one
top-level key a line and one element of a top-level list a line, so that
it reads well, diffs well, and is written by json's C encoder (an indented
dump of a 20,000-node tree takes seconds).
"""

from __future__ import annotations

import json
from typing import Any


def document(data: dict[str, Any]) -> str:
    """`data` as a JSON document, ending in a newline."""
    def dump(value: Any) -> str:
        return json.dumps(value, ensure_ascii=True)

    lines = []
    for key, value in data.items():
        if isinstance(value, list) and value:
            items = ",\n".join(f"    {dump(item)}" for item in value)
            lines.append(f"  {dump(key)}: [\n{items}\n  ]")
        else:
            lines.append(f"  {dump(key)}: {dump(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"
