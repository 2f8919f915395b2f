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
import warnings
from collections.abc import Mapping
from typing import Any, assert_never

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


# JSON nesting (every object and array counts) a schema may have. jsonschema checks a
# schema recursively, ~10 Python frames per schema level: 95 levels exhausted the recursion
# limit (a 500). Real schemas stay far below; the local engine holds the same bound.
MAX_SCHEMA_DEPTH = 64


def check_schema(schema: Mapping[str, Any], *, param: str = SCHEMA_PARAM) -> None:
    """Raise `InvalidArgument(param=param)` unless `schema` is a valid JSON Schema document
    for the draft it declares (2020-12 when it declares none). Whatever the document holds,
    the answer is this 400 or nothing, never another exception."""
    if _nested_deeper_than(schema, MAX_SCHEMA_DEPTH):
        raise InvalidArgument(
            f"Invalid JSON schema in `{param}`: nested more than {MAX_SCHEMA_DEPTH} levels deep "
            "(counting every JSON object and array).",
            param=param,
        )
    dialect = schema.get("$schema") if isinstance(schema, Mapping) else None
    if dialect is not None and not isinstance(dialect, str):
        # jsonschema looks the dialect up as a URI and fails on anything but a string.
        raise InvalidArgument(
            f"Invalid JSON schema in `{param}` at $schema: must be a string (a dialect URI), "
            f"got {type(dialect).__name__}.",
            param=param,
        )
    import jsonschema  # here, not at start-up: a server never sent a schema never needs it

    try:
        with warnings.catch_warnings():
            # An unknown `$schema` URI falls back to the latest draft with a
            # DeprecationWarning; the fallback is what we want, the warning is noise.
            warnings.simplefilter("ignore", DeprecationWarning)
            validator = jsonschema.validators.validator_for(schema)
        validator.check_schema(schema)
    except jsonschema.exceptions.SchemaError as exc:
        where = "/".join(str(p) for p in exc.path) or "(root)"
        raise InvalidArgument(
            f"Invalid JSON schema in `{param}` at {where}: {_short(exc.message)}",
            param=param,
        ) from None
    except Exception as exc:  # noqa: BLE001 - jsonschema is foreign code: map it here, once
        raise InvalidArgument(
            f"Invalid JSON schema in `{param}`: it could not be checked "
            f"({type(exc).__name__}: {_short(str(exc))}).",
            param=param,
        ) from None


def _short(text: str) -> str:
    # jsonschema quotes offending values back, and a value can be megabytes long.
    return text if len(text) <= 300 else text[:300] + "…"


def _nested_deeper_than(value: Any, limit: int) -> bool:
    """Iterative, so measuring a deep document cannot itself exhaust the stack."""
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def output_violation(text: str, schema: Mapping[str, Any] | None) -> str | None:
    """Why `text` is not a valid answer for a JSON request, or None when it is. Never raises:
    its callers only log the answer, and an answer or schema jsonschema chokes on (nested
    past the recursion limit, a `$ref` it cannot resolve) is reported, not thrown.

    With no schema (OpenAI `json_object`) the answer must be a JSON object."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        return f"not valid JSON: {_short(str(exc))}"
    except RecursionError:
        return "nested too deeply to be checked"
    if schema is None:
        return None if isinstance(value, dict) else "not a JSON object"
    import jsonschema

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            validator_cls = jsonschema.validators.validator_for(schema)
        validator = validator_cls(schema, format_checker=validator_cls.FORMAT_CHECKER)
        error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    except Exception as exc:  # noqa: BLE001 - foreign code on request data; see above
        return f"could not be checked against the schema ({type(exc).__name__}: {_short(str(exc))})"
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return f"schema violation at {where}: {_short(error.message)}"
