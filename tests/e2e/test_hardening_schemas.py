"""Issue 12, the schema half: whatever `response_format` or a tool's `parameters` holds, the
server answers 400 naming the field (the bound stated in the message) or serves the request,
and stays up. Each schema below once segfaulted the server (llama.cpp's grammar parser ran
out of stack), raised a 500, or made llama.cpp print a 136 KB grammar into the log."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jsonschema
import openai
import pytest

from .helpers import AUTH, GEMINI_FLASH_001, HELLO
from .server import ServerProcess

pytestmark = pytest.mark.timeout(300)

SCHEMA_PARAM = "response_format.json_schema.schema"


def _object(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties)}


def _nested(levels: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "maxLength": 5}
    for _ in range(levels):
        schema = _object(a=schema)
    return schema


def _exponential_defs(n: int) -> dict[str, Any]:
    defs: dict[str, Any] = {
        f"d{i}": _object(a={"$ref": f"#/$defs/d{i + 1}"}, b={"$ref": f"#/$defs/d{i + 1}"})
        for i in range(n)
    }
    defs[f"d{n}"] = {"type": "integer"}
    return {"$defs": defs, **_object(root={"$ref": "#/$defs/d0"})}


# (id, an object schema, what the 400's message says)
REPRODUCERS = [
    ("maxLength-20000", _object(text={"type": "string", "maxLength": 20000}),
     "maxLength 20000 exceeds the limit of 1000 that can be enforced while decoding"),
    ("maxItems-50000", _object(xs={"type": "array", "items": {"type": "integer"}, "maxItems": 50000}),
     "maxItems 50000 exceeds the limit of 1000"),
    ("pattern-50000", _object(code={"type": "string", "pattern": "^a{0,50000}$"}),
     "pattern quantifier {0,50000} exceeds the limit of 1000"),
    ("maxLength-17000", _object(text={"type": "string", "maxLength": 17000}),
     "maxLength 17000 exceeds the limit of 1000"),
    ("maxLength-1e12", _object(text={"type": "string", "maxLength": 1e12}),
     "maxLength 1000000000000 exceeds the limit of 1000"),
    # 40 schema levels are 81 JSON levels: past the schema check's 64, within the 100 the
    # body reader allows (web/body.py refuses deeper bodies first: see below).
    ("nested-40", _nested(40), "nested more than 64 levels deep"),
    ("schema-dialect-5", {"$schema": 5, **_object(a={"type": "integer"})}, "$schema: must be a string"),
    ("required-false", _object(user=False), "no JSON value satisfies it"),
    ("exponential-defs", _exponential_defs(40), "more than 10000 subschemas"),
]
IDS = [r[0] for r in REPRODUCERS]


def _response_format(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}


def _tools(schema: dict[str, Any]) -> list[dict[str, Any]]:
    # The bad one second: the param must name its index, not the first tool's.
    return [
        {"type": "function", "function": {"name": "ok", "parameters": _object(n={"type": "integer"})}},
        {"type": "function", "function": {"name": "bad", "parameters": schema}},
    ]


def _assert_alive(server: ServerProcess) -> None:
    assert server.alive, f"the server died\n{server.log_tail()}"
    response = httpx.get(f"{server.base_url}/healthz", timeout=10)
    assert response.status_code == 200, server.log_tail()


def _assert_log_has_no_grammar_dump(server: ServerProcess, since: int) -> None:
    new = server.log_text()[since:]
    assert "error parsing grammar" not in new, new[-3000:]
    assert "(char (char (char (char" not in new, new[-3000:]
    longest = max((len(line) for line in new.splitlines()), default=0)
    assert longest < 4096, f"a log line of {longest} characters"


@pytest.mark.parametrize(("name", "schema", "says"), REPRODUCERS, ids=IDS)
def test_response_format_reproducer_is_400_naming_the_schema_and_the_server_lives(
    client: openai.OpenAI, tiny_server: ServerProcess, name: str, schema: dict[str, Any], says: str
) -> None:
    since = len(tiny_server.log_text())
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model=GEMINI_FLASH_001, messages=HELLO, max_tokens=5,
            response_format=_response_format(schema),  # type: ignore[arg-type]
        )
    assert info.value.status_code == 400
    assert info.value.param == SCHEMA_PARAM
    assert says in info.value.message
    _assert_alive(tiny_server)
    _assert_log_has_no_grammar_dump(tiny_server, since)


@pytest.mark.parametrize(("name", "schema", "says"), REPRODUCERS, ids=IDS)
@pytest.mark.parametrize("tool_choice", ["required", "auto"])
def test_tool_parameters_reproducer_is_400_naming_that_tool_and_the_server_lives(
    client: openai.OpenAI, tiny_server: ServerProcess, name: str, schema: dict[str, Any],
    says: str, tool_choice: str,
) -> None:
    since = len(tiny_server.log_text())
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model=GEMINI_FLASH_001, messages=HELLO, max_tokens=5,
            tools=_tools(schema), tool_choice=tool_choice,  # type: ignore[arg-type]
        )
    assert info.value.param == "tools[1].function.parameters"
    assert says in info.value.message
    _assert_alive(tiny_server)
    _assert_log_has_no_grammar_dump(tiny_server, since)


@pytest.mark.parametrize(("name", "schema", "says"), REPRODUCERS, ids=IDS)
def test_raw_reproducer_gets_the_google_error_body(
    tiny_server: ServerProcess, name: str, schema: dict[str, Any], says: str
) -> None:
    body = {"model": GEMINI_FLASH_001, "messages": HELLO, "max_tokens": 5,
            "response_format": _response_format(schema)}
    response = httpx.post(
        f"{tiny_server.vertex_base()}/chat/completions",
        # Serialized here, not by httpx: `1e12` goes over the wire as a JSON number either way.
        content=json.dumps(body), headers={**AUTH, "Content-Type": "application/json"}, timeout=120,
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["status"], error["param"]) == (400, "INVALID_ARGUMENT", SCHEMA_PARAM)
    assert says in error["message"]
    assert len(error["message"]) < 1000  # the schema is never quoted back whole
    _assert_alive(tiny_server)


def test_a_schema_95_levels_deep_is_refused_with_the_top_level_field(
    client: openai.OpenAI, tiny_server: ServerProcess
) -> None:
    # 190 JSON levels: the body reader refuses it before any field is read, naming the
    # top-level field it is in (a RecursionError in check_schema once made this a 500).
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model=GEMINI_FLASH_001, messages=HELLO, max_tokens=5,
            response_format=_response_format(_nested(95)),  # type: ignore[arg-type]
        )
    assert info.value.param == "response_format"
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model=GEMINI_FLASH_001, messages=HELLO, max_tokens=5, tools=_tools(_nested(95)),  # type: ignore[arg-type]
        )
    assert info.value.param == "tools"
    _assert_alive(tiny_server)


def test_limits_themselves_are_served(client: openai.OpenAI, tiny_server: ServerProcess) -> None:
    schema = _object(
        text={"type": "string", "maxLength": 1000},
        xs={"type": "array", "items": {"type": "integer"}, "maxItems": 1000},
        code={"type": "string", "pattern": "^[a-z]{0,1000}$"},
    )
    completion = client.chat.completions.create(
        model=GEMINI_FLASH_001, messages=HELLO, max_tokens=5, temperature=0,
        response_format=_response_format(schema),  # type: ignore[arg-type]
    )
    assert completion.choices[0].finish_reason in ("stop", "length")
    _assert_alive(tiny_server)


def test_boolean_subschemas_are_served(client: openai.OpenAI, tiny_server: ServerProcess) -> None:
    schema = {
        "type": "object",
        "properties": {"ok": {"type": "boolean"}, "note": True, "never": False},
        "required": ["ok"],
        "additionalProperties": False,
    }
    completion = client.chat.completions.create(
        model=GEMINI_FLASH_001, messages=[{"role": "user", "content": "Is water wet? Answer."}],
        max_tokens=200, temperature=0, response_format=_response_format(schema),  # type: ignore[arg-type]
    )
    choice = completion.choices[0]
    if choice.finish_reason == "stop":
        answer = json.loads(choice.message.content or "")
        jsonschema.validate(answer, schema)
        assert "never" not in answer
    tools_completion = client.chat.completions.create(
        model=GEMINI_FLASH_001, messages=[{"role": "user", "content": "Save a note."}],
        max_tokens=100, temperature=0, tool_choice="required",
        tools=[{"type": "function", "function": {"name": "save", "parameters": schema}}],
    )
    assert tools_completion.choices[0].finish_reason in ("tool_calls", "length", "stop")


def test_after_every_reproducer_the_server_still_answers(
    client: openai.OpenAI, tiny_server: ServerProcess
) -> None:
    for _, schema, _ in REPRODUCERS:
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(
                model=GEMINI_FLASH_001, messages=HELLO, max_tokens=5,
                response_format=_response_format(schema),  # type: ignore[arg-type]
            )
    completion = client.chat.completions.create(
        model=GEMINI_FLASH_001, messages=HELLO, max_tokens=8, temperature=0
    )
    assert completion.choices[0].message.content
    _assert_alive(tiny_server)
