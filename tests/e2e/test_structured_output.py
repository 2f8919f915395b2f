"""Structured output end to end: `response_format` through the real openai SDK against the
live servers — the seed `parse` sample, json_object, generated schemas (stream and not, n=2;
four here, all 50 in the `panel` run) whose answers must all parse and validate, and
the 400s."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jsonschema
import openai
import pytest
from pydantic import BaseModel

from .helpers import GEMINI_FLASH, assert_well_formed_stream, collect
from .schema_generator import generate_schemas

pytestmark = pytest.mark.timeout(900)  # the first run may assemble the default model

SCHEMAS = generate_schemas(50)
# The schemas every run decodes, by mode (False: whole, True: streamed): between them
# every kind of the generator (string, integer, number, boolean, enum, const, array, nested
# object, anyOf, $defs/$ref), in four small schemas (~1,300 characters against ~4,500 for
# the first twelve, which this sample replaced). All fifty are the quality panel
# (`pytest -m panel`).
SAMPLED_SCHEMAS = {False: (3, 11), True: (34, 14)}
PROMPT = [{"role": "user", "content": "Fill in an example."}]


class CalendarEvent(BaseModel):
    name: str
    date: str
    participants: list[str]


def test_seed_parse_sample_returns_a_calendar_event(default_client: openai.OpenAI) -> None:
    client = default_client
    completion = client.beta.chat.completions.parse(
        model="google/gemini-2.0-flash",
        messages=[
            {"role": "system", "content": "Extract the event information."},
            {"role": "user", "content": "John and Susan are going to an AI conference on Friday."},
        ],
        response_format=CalendarEvent,
    )

    event = completion.choices[0].message.parsed
    assert isinstance(event, CalendarEvent)
    assert completion.choices[0].finish_reason == "stop"
    names = " ".join(event.participants)
    assert "John" in names and "Susan" in names


def test_json_object_answer_is_a_json_object(default_client: openai.OpenAI) -> None:
    response = default_client.chat.completions.with_raw_response.create(
        model=GEMINI_FLASH,
        messages=[{"role": "user", "content": "Give the capital of France and of Italy."}],
        response_format={"type": "json_object"},
        temperature=0,
        max_tokens=300,
    )
    assert "response_format" not in response.headers.get("x-vertexcompat-ignored-params", "")
    completion = response.parse()
    assert completion.choices[0].finish_reason == "stop"
    assert isinstance(json.loads(completion.choices[0].message.content), dict)


def _response_format(schema: dict[str, Any], i: int) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": f"s{i}", "schema": schema, "strict": True}}


def _run(client: openai.OpenAI, i: int, stream: bool, n: int) -> list[tuple[str, str]]:
    kwargs: dict[str, Any] = dict(
        model=GEMINI_FLASH,
        messages=PROMPT,
        response_format=_response_format(SCHEMAS[i], i),
        n=n,
        temperature=0.8,
        seed=i,
        max_tokens=400,
    )
    if stream:
        collected = collect(client.chat.completions.create(stream=True, **kwargs))
        assert_well_formed_stream(collected, n=n)
        return [(collected.text(c), collected.finish_reasons(c)[0]) for c in range(n)]
    completion = client.chat.completions.create(**kwargs)
    assert [c.index for c in completion.choices] == list(range(n))
    return [(c.message.content or "", c.finish_reason) for c in completion.choices]


@pytest.mark.parametrize(
    "panel", [False, pytest.param(True, marks=pytest.mark.panel, id="all")],
    ids=lambda panel: "all" if panel else "sampled-schemas",
)
@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
def test_generated_schemas_parse_and_validate(
    client: openai.OpenAI, stream: bool, panel: bool
) -> None:
    # Requests at a time fill the tiny server's slots.
    # The two modes share the schemas (in the panel, even ones without streaming, odd ones
    # streamed). The first streamed request asks for two choices (the stream's per-choice
    # framing is part of what is checked), the others for one.
    schemas = range(int(stream), len(SCHEMAS), 2) if panel else SAMPLED_SCHEMAS[stream]

    def run(k: int, i: int) -> tuple[int, list[tuple[str, str]]]:
        return i, _run(client, i, stream, 2 if stream and k == 0 else 1)

    with ThreadPoolExecutor(max_workers=2 if stream else 4) as pool:
        results = list(pool.map(run, range(len(schemas)), schemas))
    failures = []
    for i, answers in results:
        for c, (text, finish) in enumerate(answers):
            try:
                assert finish == "stop", f"finish_reason {finish}"
                jsonschema.validate(json.loads(text), SCHEMAS[i])
            except (AssertionError, ValueError, jsonschema.ValidationError) as exc:
                failures.append(f"schema {i} choice {c}: {exc!s:.200} in {text!r:.300}")
    assert not failures, "\n".join(failures)


def test_answer_cut_by_max_tokens_is_length_not_an_error(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model=GEMINI_FLASH,
        messages=PROMPT,
        response_format=_response_format(SCHEMAS[0], 0),
        max_tokens=3,
        temperature=0,
    )
    assert completion.choices[0].finish_reason == "length"
    assert completion.choices[0].message.content.startswith("{")


@pytest.mark.parametrize(
    ("response_format", "param"),
    [
        ({"type": "xml"}, "response_format.type"),
        ({"type": "json_schema"}, "response_format.json_schema"),
        ({"type": "json_schema", "json_schema": {"name": "x"}}, "response_format.json_schema.schema"),
        (
            {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "objekt"}}},
            "response_format.json_schema.schema",
        ),
        (
            # valid JSON Schema, but the reference goes nowhere: cannot become a grammar
            {"type": "json_schema", "json_schema": {"name": "x", "schema": {"$ref": "#/$defs/gone"}}},
            "response_format.json_schema.schema",
        ),
    ],
)
def test_invalid_response_format_is_400_with_param(
    client: openai.OpenAI, response_format: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model=GEMINI_FLASH, messages=PROMPT, response_format=response_format, max_tokens=5
        )
    assert info.value.status_code == 400
    assert info.value.param == param
