"""A small deterministic generator of JSON Schemas for the structured-output tests.

Schema `i` is an object of 2-5 required properties drawn from: bounded string, integer,
number, boolean, enum, const, bounded array (minItems/maxItems), nested object, anyOf and
a `$defs` entry used through `$ref` (sometimes from array items). Every string and array is
bounded, so any answer the grammar admits finishes in a few dozen tokens.
"""

from __future__ import annotations

import json
import random
from typing import Any

_WORDS = ["alpha", "beta", "city", "color", "count", "date", "email", "flag", "height",
          "label", "level", "mode", "name", "note", "owner", "price", "rank", "score",
          "size", "status", "tag", "title", "total", "unit", "value", "weight", "year"]
_KINDS = ["string", "integer", "number", "boolean", "enum", "const", "array", "object",
          "anyOf", "ref"]


def _leaf(rng: random.Random) -> dict[str, Any]:
    match rng.choice(["string", "integer", "boolean", "enum"]):
        case "string":
            return {"type": "string", "maxLength": rng.randint(3, 10)}
        case "integer":
            return {"type": "integer"}
        case "boolean":
            return {"type": "boolean"}
        case _:
            return {"enum": rng.sample(["red", "green", "blue", "small", "large", "on", "off"], 3)}


def _property(kind: str, rng: random.Random, defs: dict[str, Any]) -> dict[str, Any]:
    match kind:
        case "string":
            return {"type": "string", "maxLength": rng.randint(3, 12)}
        case "integer":
            return {"type": "integer"}
        case "number":
            return {"type": "number"}
        case "boolean":
            return {"type": "boolean"}
        case "enum":
            return {"enum": rng.sample(["a", "b", "c", "yes", "no", "maybe", 1, 2, None], 3)}
        case "const":
            return {"const": rng.choice(["fixed", 42, True, "v1"])}
        case "array":
            lo = rng.randint(0, 2)
            return {"type": "array", "items": _leaf(rng), "minItems": lo, "maxItems": lo + rng.randint(0, 2)}
        case "object":
            a, b = rng.sample(_WORDS, 2)
            return {
                "type": "object",
                "properties": {a: _leaf(rng), b: _leaf(rng)},
                "required": [a, b],
                "additionalProperties": False,
            }
        case "anyOf":
            return {"anyOf": [_leaf(rng), {"type": "null"}]}
        case "ref":
            name = f"D{len(defs)}"
            p = rng.choice(_WORDS)
            defs[name] = {
                "type": "object",
                "properties": {p: _leaf(rng)},
                "required": [p],
                "additionalProperties": False,
            }
            ref = {"$ref": f"#/$defs/{name}"}
            if rng.random() < 0.5:
                return {"type": "array", "items": ref, "minItems": 1, "maxItems": 2}
            return ref
        case _:
            raise AssertionError(kind)


def generate_schema(i: int) -> dict[str, Any]:
    rng = random.Random(i)
    defs: dict[str, Any] = {}
    names = rng.sample(_WORDS, rng.randint(2, 5))
    # Cycle through the kinds so every kind appears in the first few schemas.
    kinds = [_KINDS[(i + k) % len(_KINDS)] if k == 0 else rng.choice(_KINDS) for k in range(len(names))]
    properties = {name: _property(kind, rng, defs) for name, kind in zip(names, kinds)}
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": names,
        "additionalProperties": False,
    }
    if defs:
        schema["$defs"] = defs
    return schema


def generate_schemas(count: int) -> list[dict[str, Any]]:
    schemas = [generate_schema(i) for i in range(count)]
    assert len({json.dumps(s, sort_keys=True) for s in schemas}) == count, "duplicate schemas"
    return schemas
