"""The one JSON writer of xendt.

Every `--format json` (build's memory map, show, check, diff, host-regions)
is written here, in one shape: an object whose keys are snake_case, one
top-level key a line and one element of a top-level list a line (the
same one level down, in a top-level object), so that
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

    def block(obj: dict[str, Any], indent: str) -> str:
        lines = []
        for key, value in obj.items():
            if isinstance(value, (list, tuple)) and value:
                items = ",\n".join(f"{indent}  {dump(item)}" for item in value)
                lines.append(f"{indent}{dump(key)}: [\n{items}\n{indent}]")
            elif isinstance(value, dict) and value and indent == "  ":
                lines.append(f"{indent}{dump(key)}: {block(value, indent + '  ')}")
            else:
                lines.append(f"{indent}{dump(key)}: {dump(value)}")
        return "{\n" + ",\n".join(lines) + "\n" + indent[:-2] + "}"

    return block(data, "  ") + "\n"
