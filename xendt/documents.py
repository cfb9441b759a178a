"""The JSON documents of xendt: one convention for every command.

Every `--format json` output, and every result's to_dict() / to_json(), is
an object that starts with the same four keys:

* "schema": the document kind and its version, "xendt.KIND/N" (KINDS);
  N grows only when a key is removed or changes meaning;
* "xen": the Xen release string the result is for ("4.19", "4.17.7"), or
  null where no single version applies (a diff of two trees);
* "inputs": the names of the inputs, in the order given (a file's path,
  "<bytes>" for data handed over in memory, or what built a tree);
* "warnings": a list of objects {code, message, node, domain}
  (xendt.notices.Notice).

The other keys are the snake_case names of the result's attributes. A JSON
Schema per kind ships in xendt/schemas/ (schema(kind) reads it).

document() is the one JSON writer of xendt: every document is written in
one shape, snake_case keys, one top-level key a line and one element of a
top-level list a line (the same one level down, in a top-level object), so
that it reads well, diffs well, and is written by json's C encoder (an
indented dump of a 20,000-node tree takes seconds).

This module sits below every package that produces a document (guest,
host, inspect, render): it imports only xendt.notices and xendt.errors.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

#: Each document kind and its schema version.
KINDS: dict[str, int] = {"build": 1, "check": 1, "diff": 1, "show": 1, "host-regions": 1}


def schema_id(kind: str) -> str:
    """The "schema" string of a kind: "xendt.build/1"."""
    return f"xendt.{kind}/{KINDS[kind]}"


def envelope(kind: str, xen: str | None, inputs: Iterable[str], warnings: Iterable[str],
             source: str, body: dict[str, Any], domains: Iterable[str] = ()) -> dict[str, Any]:
    """The document of `kind`: the four common keys, then `body`. Warnings
    that are still plain lines get their codes here (`source`: the generic
    code, see xendt.notices)."""
    from xendt.notices import notices

    return {"schema": schema_id(kind), "xen": xen, "inputs": list(inputs),
            "warnings": [n.to_dict() for n in notices(warnings, source, domains)],
            **body}


def plain(value: Any) -> Any:
    """`value` as JSON holds it: tuples as lists, at any depth."""
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


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


def schema(kind: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the documents of `kind`."""
    from importlib import resources

    if kind not in KINDS:
        from xendt.errors import XendtError

        raise XendtError(f"no JSON document kind {kind!r}: expected one of {', '.join(KINDS)}")
    text = resources.files("xendt").joinpath("schemas", f"{kind}.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded
