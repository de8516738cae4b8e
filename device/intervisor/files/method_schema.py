"""The JSON Schema of method files, generated from the loader's own table
(:mod:`intervisor.files.method_fields`), for editors: a method file that starts
with ``# yaml-language-server: $schema=PATH`` gets its keys completed and
its mistakes marked while it is written (VS Code's YAML extension, also
over SSH). The repository ships the result as ``schema/method.schema.json``;
a test keeps that file equal to what this module generates::

    .venv/bin/python -m intervisor.files.method_schema > schema/method.schema.json

What a schema cannot say (an id equal to the file name, ids used twice,
a range whose lower end is not below its upper end, a choice named but not
declared, the order of a clock-time programme) only ``intervisor check``
finds; docs/method-format.md lists it.

>>> schema = method_schema()
>>> schema["required"]
['id', 'title', 'language', 'phases']
>>> schema["$defs"]["rounds_fields"]["properties"]["count"]["maximum"]
12
"""

from __future__ import annotations

import json
from pathlib import Path

from intervisor.files import method_fields as F
from intervisor.files.method import ID_PATTERN
from intervisor.core.model import LANGUAGES

#: Where the repository keeps the generated file.
SHIPPED = Path(__file__).resolve().parent.parent.parent.parent / "schema" / "method.schema.json"

_NO_NUL = "^[^\\u0000]*$"
_SOME_TEXT = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"
_DIGITS = "[0-9]{1,7}"
_SINGLE = f"(?:{_DIGITS}h)?(?:{_DIGITS}m)?(?:{_DIGITS}s)?"
_NONZERO = f"(?=[^1-9]*[1-9]){_SINGLE}"
_RANGE = f"{_DIGITS}-{_DIGITS}[hms]"
_CLOCK = "^(?:[01]?[0-9]|2[0-3]):[0-5][0-9]$"
_ID = "^" + ID_PATTERN.pattern.removesuffix("\\Z") + "$"


def _text(required: bool) -> dict:
    # The loader takes a number or true/false as the text it was written as.
    kinds = ["string", "number", "boolean"] + ([] if required else ["null"])
    return {"type": kinds, "pattern": _SOME_TEXT if required else _NO_NUL}


def _value(field: F.Field) -> dict:
    """The schema of one field's value."""
    kind = field.kind
    if kind in ("text", "name"):
        return _text(field.required)
    if kind == "id":
        return {"anyOf": [{"type": "string", "pattern": _ID}, {"type": "integer", "minimum": 0}]}
    if kind == "texts":
        return {"anyOf": [_text(False), {"type": "array", "items": _text(True)}]}
    if kind == "language":
        return {"enum": list(LANGUAGES)}
    if kind == "times":
        return {"enum": list(F.TIMES)}
    if kind == "duration":
        return {"type": "string", "pattern": f"^(?:{_NONZERO}|{_RANGE})$"}
    if kind == "length0":
        return {"anyOf": [{"const": 0}, {"type": "string", "pattern": f"^(?:0|(?=.){_SINGLE})$"}]}
    if kind == "boolean":
        return {"type": ["boolean", "null"]}
    if kind == "integer":
        return {"type": ["integer", "null"], "minimum": field.lo, "maximum": field.hi}
    if kind == "clock":
        return {"type": "string", "pattern": _CLOCK}
    if kind == "questions":
        return {"type": ["array", "null"], "items": {"anyOf": [_text(True), {"$ref": "#/$defs/question"}]},
                "maxItems": field.hi}
    if kind == "rounds":
        return {"anyOf": [{"type": "boolean"}, {"$ref": "#/$defs/rounds_fields"}]}
    if kind == "when":
        return {"type": ["object", "null"], "additionalProperties": _text(True)}
    if kind == "list":
        out = {"type": "array" if field.required else ["array", "null"], "items": {"$ref": f"#/$defs/{field.of}"}}
        if field.lo:
            out["minItems"] = field.lo
        if field.hi:
            out["maxItems"] = field.hi
        return out
    raise ValueError(f"no schema for the kind {kind!r}")


def _part(fields: dict[str, F.Field]) -> dict:
    out = {
        "type": "object",
        "properties": {key: {"description": f.help, **_value(f)} for key, f in fields.items()},
        "additionalProperties": False,
    }
    required = [key for key, f in fields.items() if f.required]
    if required:
        out["required"] = required
    return out


def method_schema() -> dict:
    """The schema as a dict (JSON Schema draft 2020-12)."""
    defs = {name: _part(fields) for name, fields in F.PARTS.items() if name not in ("method", "rounds")}
    defs["rounds_fields"] = _part(F.ROUNDS)
    # A phase needs a length: its own duration, or a start time (at) that the next block ends.
    defs["phase"]["anyOf"] = [{"required": ["duration"]}, {"required": ["at"]}]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Intervisor method",
        "description": "A method file of Intervisor (docs/method-format.md). Generated from "
                       "device/intervisor/method_fields.py; intervisor check has the last word.",
        **_part(F.METHOD),
        "$defs": defs,
    }


def schema_text() -> str:
    """The schema as the shipped file holds it."""
    return json.dumps(method_schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    print(schema_text(), end="")
