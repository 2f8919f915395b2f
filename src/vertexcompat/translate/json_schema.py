"""OpenAI `response_format` → Gemini `response_mime_type` + `response_schema`, and the
post-check of a finished answer against what was asked for.

Pure: no I/O, no llama.cpp. Whether a schema can be *enforced while decoding* is the
engine's business (`engine/constraints.py`); here a schema is only checked to be a valid
JSON Schema document, and final outputs are checked against it with `jsonschema`, which
also covers the keywords a grammar cannot express (`minimum`, `multipleOf`, `uniqueItems`,
most `format`s, ...).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, assert_never

import jsonschema
from jsonschema.exceptions import SchemaError

from vertexcompat.domain.content import JSON_MIME_TYPE, TEXT_MIME_TYPE
from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.openai_api.request import ResponseFormat

SCHEMA_PARAM = "response_format.json_schema.schema"


def to_response_mime_and_schema(
    response_format: ResponseFormat | None,
) -> tuple[str | None, Mapping[str, Any] | None]:
    """The Gemini pair for an OpenAI `response_format`; `(None, None)` when unset."""
    if response_format is None:
        return None, None
    match response_format.type:
        case "text":
            return TEXT_MIME_TYPE, None
        case "json_object":
            return JSON_MIME_TYPE, None
        case "json_schema":
            spec = response_format.json_schema
            if spec is None:
                raise InvalidArgument(
                    "Missing required parameter `response_format.json_schema`.",
                    param="response_format.json_schema",
                )
            if spec.schema_ is None:
                raise InvalidArgument(
                    f"Missing required parameter `{SCHEMA_PARAM}`.", param=SCHEMA_PARAM
                )
            check_schema(spec.schema_)
            return JSON_MIME_TYPE, spec.schema_
        case _:
            assert_never(response_format.type)


def check_schema(schema: Mapping[str, Any], *, param: str = SCHEMA_PARAM) -> None:
    """Raise `InvalidArgument(param=param)` unless `schema` is a valid JSON Schema document
    for the draft it declares (2020-12 when it declares none)."""
    try:
        validator = jsonschema.validators.validator_for(schema)
        validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path) or "(root)"
        raise InvalidArgument(
            f"Invalid JSON schema in `{param}` at {where}: {exc.message}",
            param=param,
        ) from None


def output_violation(text: str, schema: Mapping[str, Any] | None) -> str | None:
    """Why `text` is not a valid answer for a JSON request, or None when it is.

    With no schema (OpenAI `json_object`) the answer must be a JSON object."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        return f"not valid JSON: {exc}"
    if schema is None:
        return None if isinstance(value, dict) else "not a JSON object"
    validator_cls = jsonschema.validators.validator_for(schema)
    validator = validator_cls(schema, format_checker=validator_cls.FORMAT_CHECKER)
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return f"schema violation at {where}: {error.message}"
