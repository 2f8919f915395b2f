"""A deterministic generator of tool sets for the function-calling tests.

Tool set `i` declares 1-4 functions with distinct names; their parameters are object
schemas from `schema_generator` (bounded strings and arrays, enums, nested objects,
anyOf, `$defs`/`$ref`), and some functions take no parameters at all (`parameters`
omitted, or an object schema with no properties).
"""

from __future__ import annotations

import random
from typing import Any

from .schema_generator import generate_schemas

_VERBS = ["get", "find", "create", "update", "list", "book", "send", "check", "convert", "plan"]
_NOUNS = ["weather", "flight", "invoice", "user", "order", "meeting", "route", "price",
          "ticket", "stock", "recipe", "alarm"]


def generate_tool_sets(count: int) -> list[list[dict[str, Any]]]:
    rng = random.Random(4)
    schemas = generate_schemas(count * 4)
    sets = []
    for i in range(count):
        names = rng.sample([f"{v}_{n}" for v in _VERBS for n in _NOUNS], rng.randint(1, 4))
        tools = []
        for j, name in enumerate(names):
            function: dict[str, Any] = {
                "name": name,
                "description": f"{name.replace('_', ' ').capitalize()}.",
            }
            kind = rng.random()
            if kind < 0.1:
                pass  # no parameters at all
            elif kind < 0.2:
                function["parameters"] = {"type": "object", "properties": {}}
            else:
                function["parameters"] = schemas[i * 4 + j]
            tools.append({"type": "function", "function": function})
        sets.append(tools)
    return sets
