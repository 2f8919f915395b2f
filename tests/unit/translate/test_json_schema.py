"""response_format → response_mime_type/response_schema, its 400s, and the post-check."""

import pytest

from vertexcompat.domain.content import JSON_MIME_TYPE, TEXT_MIME_TYPE
from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.translate.field_support import ignored_params
from vertexcompat.translate.json_schema import output_violation
from vertexcompat.translate.request_to_gemini import to_generate_request, to_openai_param
from vertexcompat.translate.validation import parse_chat_request

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
