"""The `cachedContents` wire shapes: create and patch bodies in either key style, durations,
timestamps, the stored parts' round trip, and the resource as responses show it."""

import pytest

from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.translate.cached_contents import (
    WireCodec,
    cached_content_to_wire,
    format_timestamp,
    parse_create,
    parse_duration,
    parse_timestamp,
    parse_update,
)

BODY = {
    "model": "projects/p/locations/l/publishers/google/models/gemini-2.5-flash",
    "contents": [{"role": "user", "parts": [{"text": "a document"}]}],
    "systemInstruction": {"parts": [{"text": "Be brief."}]},
    "tools": [{"functionDeclarations": [{"name": "f", "parametersJsonSchema": {
        "type": "object", "properties": {"x": {"type": "integer"}}}}]}],
    "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}},
    "ttl": "300s",
    "displayName": "docs",
}


def test_a_create_body_parses_in_either_key_style():
    camel = parse_create(BODY)
    snake = parse_create({
        "model": BODY["model"], "contents": BODY["contents"],
        "system_instruction": BODY["systemInstruction"], "tools": BODY["tools"],
        "tool_config": {"function_calling_config": {"mode": "ANY",
                                                    "allowed_function_names": ["f"]}},
        "ttl": "300s", "display_name": "docs",
    })
    assert camel == snake
    assert camel.ttl_s == 300 and camel.expire_time is None and camel.display_name == "docs"
    assert camel.parts.tools[0].name == "f"


def test_the_stored_parts_read_back_equal():
    parts = parse_create(BODY).parts
    codec = WireCodec()
    assert codec.decode(codec.encode(parts)) == parts


def test_output_fields_echoed_back_are_ignored_and_unknown_ones_refused():
    echoed = {**BODY, "name": "x", "createTime": "2025-01-01T00:00:00Z",
              "usageMetadata": {"totalTokenCount": 5}}
    assert parse_create(echoed) == parse_create(BODY)
    with pytest.raises(InvalidArgument) as caught:
        parse_create({**BODY, "colour": "red"})
    assert caught.value.param == "colour"


@pytest.mark.parametrize(("body", "param"), [
    ({k: v for k, v in BODY.items() if k != "model"}, "model"),
    ({**BODY, "model": ""}, "model"),
    ({**BODY, "ttl": "5m"}, "ttl"),
    ({**BODY, "ttl": 300}, "ttl"),
    ({**BODY, "ttl": "0s"}, "ttl"),
    ({**BODY, "expireTime": "2030-01-01T00:00:00Z"}, "ttl"),  # both
    ({**BODY, "ttl": None, "expireTime": "yesterday"}, "expire_time"),
    ({**BODY, "displayName": "x" * 129}, "display_name"),
    ({**BODY, "display_name": "again"}, "display_name"),  # both key styles
])
def test_bad_create_bodies_name_the_field(body, param):
    with pytest.raises(InvalidArgument) as caught:
        parse_create({k: v for k, v in body.items() if v is not None})
    assert caught.value.param == param


def test_contents_errors_carry_their_gemini_location():
    with pytest.raises(InvalidArgument) as caught:
        parse_create({**BODY, "contents": [{"role": "user", "parts": [{"bogus": 1}]}]})
    assert str(caught.value.location).startswith("contents[0].parts[0]")


def test_only_the_expiry_can_be_patched():
    assert parse_update({"ttl": "60s"}, None) == (60.0, None)
    assert parse_update({"expireTime": "2030-01-01T00:00:00Z"}, "expireTime")[1] == (
        parse_timestamp("2030-01-01T00:00:00Z", "t"))
    for body, mask, param in [({"contents": []}, None, "contents"),
                              ({"displayName": "x"}, None, "displayName"),
                              ({"ttl": "60s"}, "ttl,model", "update_mask"),
                              ({}, None, "ttl")]:
        with pytest.raises(InvalidArgument) as caught:
            parse_update(body, mask)
        assert caught.value.param == param


def test_durations_and_timestamps():
    assert parse_duration("1.5s", "ttl") == 1.5
    assert parse_timestamp("2025-01-01T00:00:00.123456789Z", "t") == pytest.approx(1735689600.123456)
    assert parse_timestamp("2025-01-01T01:00:00+01:00", "t") == 1735689600.0
    with pytest.raises(InvalidArgument):
        parse_timestamp("2025-01-01T00:00:00", "t")  # no zone
    assert format_timestamp(1735689600.5) == "2025-01-01T00:00:00.500000Z"


def test_the_resource_as_responses_show_it():
    wire = cached_content_to_wire(
        name="projects/p/locations/l/cachedContents/1", model_resource="m", display_name="",
        total_tokens=1200, created_at=0, updated_at=1, expires_at=3600,
    )
    assert wire == {
        "name": "projects/p/locations/l/cachedContents/1", "model": "m",
        "createTime": "1970-01-01T00:00:00.000000Z", "updateTime": "1970-01-01T00:00:01.000000Z",
        "expireTime": "1970-01-01T01:00:00.000000Z", "usageMetadata": {"totalTokenCount": 1200},
    }
