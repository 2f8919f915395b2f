"""response_format → response_mime_type/response_schema, its 400s, and the post-check."""

import pytest

from vertexcompat.domain.content import JSON_MIME_TYPE, TEXT_MIME_TYPE
from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.translate.field_support import ignored_params
from vertexcompat.translate.json_schema import output_violation
from vertexcompat.domain.locations import FieldPath
from vertexcompat.translate.chat_params import ChatParamNames
from vertexcompat.translate.request_to_gemini import to_generate_request
from vertexcompat.translate.validation import parse_chat_request


def to_openai_param(gemini: str, chat) -> str | None:
    """The Chat Completions surface's name for a Gemini location a backend reported."""
    return ChatParamNames(chat)(FieldPath.parse(gemini))


USER = {"role": "user", "content": "hi"}
SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "n": {"type": "integer", "minimum": 1}},
    "required": ["name", "n"],
    "additionalProperties": False,
}


def lower(response_format):
    chat = parse_chat_request(
        {"model": "m", "messages": [USER], "response_format": response_format}
    )
    return to_generate_request(chat, backend_model="m").generation_config


def param_of(response_format) -> str | None:
    with pytest.raises(InvalidArgument) as caught:
        lower(response_format)
    return caught.value.param


def test_json_schema_lowers_to_json_mime_type_and_the_schema():
    cfg = lower({"type": "json_schema", "json_schema": {"name": "x", "schema": SCHEMA, "strict": True}})
    assert cfg.response_mime_type == JSON_MIME_TYPE
    assert cfg.response_schema == SCHEMA
    assert cfg.wants_json


def test_json_object_lowers_to_json_without_schema_and_text_to_plain_text():
    cfg = lower({"type": "json_object"})
    assert (cfg.response_mime_type, cfg.response_schema) == (JSON_MIME_TYPE, None)
    cfg = lower({"type": "text"})
    assert (cfg.response_mime_type, cfg.response_schema, cfg.wants_json) == (TEXT_MIME_TYPE, None, False)


def test_response_format_is_honoured_not_ignored():
    assert ignored_params({"model": "m", "messages": [], "response_format": {}}) == []


@pytest.mark.parametrize(
    ("response_format", "param"),
    [
        ({"type": "yaml"}, "response_format.type"),
        ({}, "response_format.type"),
        ("json", "response_format"),
        ({"type": "json_schema"}, "response_format.json_schema"),
        ({"type": "json_schema", "json_schema": {"schema": SCHEMA}}, "response_format.json_schema.name"),
        ({"type": "json_schema", "json_schema": {"name": "x"}}, "response_format.json_schema.schema"),
        (
            {"type": "json_schema", "json_schema": {"name": "x", "schema": "{}"}},
            "response_format.json_schema.schema",
        ),
        (
            {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "strnig"}}},
            "response_format.json_schema.schema",
        ),
        (
            {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object", "required": "a"}}},
            "response_format.json_schema.schema",
        ),
        (
            {"type": "json_schema", "json_schema": {"name": "x", "schema": {"minItems": -1}}},
            "response_format.json_schema.schema",
        ),
        (
            {"type": "json_schema", "json_schema": {"name": "x", "schema": SCHEMA, "strict": "yes"}},
            "response_format.json_schema.strict",
        ),
    ],
)
def test_invalid_response_format_names_the_exact_param(response_format, param):
    assert param_of(response_format) == param


def test_backend_schema_errors_name_the_openai_param():
    chat = parse_chat_request({"model": "m", "messages": [USER]})
    assert to_openai_param("generation_config.response_schema", chat) == "response_format.json_schema.schema"


@pytest.mark.parametrize(
    ("text", "schema", "ok"),
    [
        ('{"name": "a", "n": 2}', SCHEMA, True),
        ('{"name": "a", "n": 0}', SCHEMA, False),  # `minimum`: only the post-check sees it
        ('{"name": "a"}', SCHEMA, False),
        ('{"name": "a", "n": 2, "x": 1}', SCHEMA, False),
        ('{"name": "a", "n": ', SCHEMA, False),  # cut by max_tokens
        ('{"anything": [1, 2]}', None, True),
        ("[1, 2]", None, False),
        ("not json", None, False),
    ],
)
def test_output_violation(text, schema, ok):
    assert (output_violation(text, schema) is None) is ok


# -- hardening (issue 12): whatever the schema, a 400 with its param or a pass, never a 500 ----


def _deep(levels):
    schema = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


def _json_schema(schema):
    return {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}


def _tools_param_of(parameters) -> str | None:
    chat = parse_chat_request({
        "model": "m", "messages": [USER],
        "tools": [{"type": "function", "function": {"name": "ok"}},
                  {"type": "function", "function": {"name": "f", "parameters": parameters}}],
    })
    with pytest.raises(InvalidArgument) as caught:
        to_generate_request(chat, backend_model="m")
    return caught.value.param


@pytest.mark.parametrize(
    ("schema", "says"),
    [
        ({"$schema": 5, "type": "object"}, "at $schema: must be a string"),
        ({"$schema": ["https://json-schema.org/draft/2020-12/schema"]}, "at $schema: must be a string"),
        ({"$schema": {"a": 1}}, "at $schema: must be a string"),
        (_deep(95), "nested more than 64 levels deep"),
        (_deep(3000), "nested more than 64 levels deep"),
    ],
    ids=["int", "list", "object", "deep-95", "deep-3000"],
)
def test_schemas_jsonschema_chokes_on_are_400_naming_the_param(schema, says):
    with pytest.raises(InvalidArgument) as caught:
        lower(_json_schema(schema))
    assert caught.value.param == "response_format.json_schema.schema"
    assert says in str(caught.value)
    assert _tools_param_of({"type": "object", **schema}) == "tools[1].function.parameters"


def test_anything_else_jsonschema_raises_is_a_400_too(monkeypatch):
    import jsonschema

    def boom(schema):
        raise KeyError("internal")

    monkeypatch.setattr(jsonschema.validators, "validator_for", boom)
    with pytest.raises(InvalidArgument) as caught:
        lower(_json_schema({"type": "object"}))
    assert caught.value.param == "response_format.json_schema.schema"
    assert "could not be checked (KeyError" in str(caught.value)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"user": True}},
        {"type": "object", "properties": {"user": False}},
        {"type": "object", "items": True, "additionalProperties": False, "not": False},
        # Valid JSON Schema, however large: enforcing it is the engine's call (a 400 there).
        {"type": "string", "maxLength": 20000},
        {"type": "string", "maxLength": 1e12},
        # An unknown dialect falls back to the latest draft, without a warning.
        {"$schema": "https://example.com/my-dialect", "type": "object"},
    ],
)
def test_valid_schemas_pass_the_check(schema, recwarn):
    assert lower(_json_schema(schema)).response_schema == schema
    assert not [w for w in recwarn if issubclass(w.category, DeprecationWarning)]


@pytest.mark.parametrize(
    ("text", "schema"),
    [
        ("[" * 100_000 + "]" * 100_000, {"type": "array"}),  # past json's recursion limit
        ('{"a": 1}', {"$ref": "https://example.com/elsewhere.json"}),  # unresolvable
        ('{"a": 1}', {"$schema": 5}),
        ('{"a": 1}', {"type": "object", "properties": {"a": {"pattern": "("}}}),
        ('{"a": 1}', _deep(3000)),
        ('{"a": "x"}', {"type": "object", "properties": {"a": True, "b": False}}),
    ],
    ids=["deep-answer", "remote-ref", "bad-dialect", "bad-regex", "deep-schema", "booleans"],
)

def test_output_violation_never_raises(text, schema):
    problem = output_violation(text, schema)
    assert problem is None or isinstance(problem, str)


def test_output_violation_says_why_it_could_not_check():
    assert output_violation("[" * 100_000 + "]" * 100_000, {"type": "array"}) == "nested too deeply to be checked"
    assert output_violation('{"a": 1}', {"$schema": 5}).startswith("could not be checked against the schema")
    assert output_violation('{"a": "x"}', {"type": "object", "properties": {"a": True}}) is None
    assert "False schema does not allow 1" in output_violation(
        '{"b": 1}', {"type": "object", "properties": {"b": False}}
    )
