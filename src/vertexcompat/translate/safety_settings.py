"""Gemini `safetySettings` as JSON → the domain's `SafetySetting`s, for both surfaces: the
native body's `safetySettings` (translate/gemini_request.py) and the chat request's
`google.safety_settings` (translate/request_to_gemini.py), which share one reading.

The value is a list of `{"category", "threshold", "method"?}` objects, keys in either
spelling, `null` as "not set". `category` is one of the five `HarmCategory` names;
`threshold` one of the five `HarmBlockThreshold` names, or
`HARM_BLOCK_THRESHOLD_UNSPECIFIED`, which sets nothing (the entry is dropped); `method`
`SEVERITY`, `PROBABILITY` or `HARM_BLOCK_METHOD_UNSPECIFIED` (none: Vertex's default).
Names are read in any case. Anything else — another name, a missing category or threshold,
a value of the wrong type, an unknown key, a category set twice — is an `InvalidArgument`
located at the exact path below the `path` given (`safety_settings[1].threshold`; a
repeated category at the second entry's `category`), whose message lists what is accepted.

Pure: no I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, TypeVar

from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.domain.locations import FieldPath
from vertexcompat.domain.safety import (
    HarmBlockMethod,
    HarmBlockThreshold,
    HarmCategory,
    SafetySetting,
)
from vertexcompat.translate.gemini_contents import _fields, _list, _short, _wrong_type

_FIELDS = ("category", "threshold", "method")
# The proto3 "not set" names: no threshold is no setting; no method is the default one.
_NO_THRESHOLD = "HARM_BLOCK_THRESHOLD_UNSPECIFIED"
_NO_METHOD = "HARM_BLOCK_METHOD_UNSPECIFIED"

_E = TypeVar("_E", bound=enum.Enum)


def safety_settings(value: object, path: FieldPath) -> tuple[SafetySetting, ...]:
    """The settings of a `safetySettings` list at `path`, in the order sent (entries with
    an unspecified threshold left out); `None` (not set) → `()`."""
    if value is None:
        return ()
    out: list[SafetySetting] = []
    first_at: dict[HarmCategory, int] = {}
    for i, item in enumerate(_list(value, path)):
        at = path / i
        fields = _fields(item, at, _FIELDS, what="a safety setting")
        category = _required(fields, "category", at, HarmCategory)
        threshold = _required(fields, "threshold", at, HarmBlockThreshold, _NO_THRESHOLD)
        method = _optional(fields, "method", at, HarmBlockMethod, _NO_METHOD)
        assert category is not None  # required, and it has no "unspecified" name
        if category in first_at:
            raise InvalidArgument(
                f"`{at / 'category'}` is {category.value} again (set by "
                f"`{path / first_at[category]}`); each category may be set once.",
                location=at / "category",
            )
        first_at[category] = i
        if threshold is not None:
            out.append(SafetySetting(category, threshold, method))
    return tuple(out)


def _required(
    fields: Mapping[str, Any], name: str, path: FieldPath, names: type[_E], unset: str = ""
) -> _E | None:
    if name not in fields:
        at = path / name
        raise InvalidArgument(
            f"Missing required field `{at}`; expected one of {_valid(names, unset)}.",
            location=at,
        )
    return _optional(fields, name, path, names, unset)


def _optional(
    fields: Mapping[str, Any], name: str, path: FieldPath, names: type[_E], unset: str
) -> _E | None:
    """The member of `names` that `fields[name]` names; None when it is missing or `unset`."""
    value = fields.get(name)
    if value is None:
        return None
    at = path / name
    if not isinstance(value, str):
        raise _wrong_type(at, f"a string (one of {_valid(names, unset)})", value)
    wanted = value.upper()
    if unset and wanted == unset:
        return None
    for member in names:
        if member.value == wanted:
            return member
    raise InvalidArgument(
        f"`{at}` is {_short(value)!r}; expected one of {_valid(names, unset)}.", location=at
    )


def _valid(names: type[enum.Enum], unset: str) -> str:
    return ", ".join([*(m.value for m in names), *([unset] if unset else [])])
