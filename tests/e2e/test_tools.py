"""Function calling end to end: `tools` / `tool_choice` / `functions` through the real openai
SDK against the live servers — the seed's weather sample, a multi-turn call → result →
answer (also accumulated from a stream by the SDK's own `ChatCompletionStreamState`),
generated tool sets whose calls must all name a declared function with arguments that
validate (stream and not, n=2: four sets here, all 20 in the `panel` run), each
tool_choice mode, the deprecated shape, and the 400s."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jsonschema
import openai
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState

from .helpers import GEMINI_FLASH, assert_well_formed_stream, collect, post_stream_frames
from .toolset_generator import generate_tool_sets

pytestmark = pytest.mark.timeout(900)  # the first run may assemble the default model

WEATHER_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the weather in a given location",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {
                        "type": "string",
                        "description": "The city and state, e.g. Chicago, IL",
                    },
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["location"],
            },
        },
    }
]
WEATHER_QUESTION = [{"role": "user", "content": "What's the weather like in Chicago today?"}]
TOOL_SETS = generate_tool_sets(20)
# The sets every run decodes, by mode (False: whole, True: streamed). Between them 1, 2
# and 3 functions, no parameters (set 1), empty parameters (5), enums, arrays, anyOf,
# const and $defs/$ref (17, 13): every kind sets 0-5 held, in the four of the twenty that
# cost least to read and answer (measured: ~21 s of CPU against ~38 s for sets 0-5). All
# twenty are the quality panel (`pytest -m panel`).
SAMPLED_SETS = {False: (5, 17), True: (1, 13)}
TOOL_PROMPT = [{"role": "user", "content": "Use a function with example arguments."}]
# The shortest set with three functions: for naming one of several, and parallel calls.
MULTI_FUNCTION_SET = 18


def _schema_of(tools: list[dict[str, Any]], name: str) -> dict[str, Any]:
    for tool in tools:
        if tool["function"]["name"] == name:
            return tool["function"].get("parameters") or {"type": "object"}
    raise AssertionError(f"the call names {name!r}, which is not declared")


def test_seed_function_calling_sample_calls_get_weather(default_client: openai.OpenAI) -> None:
    client = default_client
    # The seed's sample, verbatim but for the client.
    tools = [
      {
        "type": "function",
        "function": {
          "name": "get_weather",
          "description": "Get the weather in a given location",
          "parameters": {
            "type": "object",
            "properties": {
              "location": {
                "type": "string",
                "description": "The city and state, e.g. Chicago, IL",
              },
              "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location"],
          },
        }
      }
    ]

    messages = [{"role": "user", "content": "What's the weather like in Chicago today?"}]
    response = client.chat.completions.create(
      model="google/gemini-3.5-flash",
      messages=messages,
      tools=tools,
      tool_choice="auto"
    )

    print(response)
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls", choice
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == "get_weather"
    arguments = json.loads(call.function.arguments)
    jsonschema.validate(arguments, tools[0]["function"]["parameters"])
    assert "Chicago" in arguments["location"]


def _weather_turns(client: openai.OpenAI) -> list[dict[str, Any]]:
    first = client.chat.completions.create(
        model=GEMINI_FLASH, messages=WEATHER_QUESTION, tools=WEATHER_TOOLS,
        tool_choice="required", temperature=0,
    )
    call = first.choices[0].message.tool_calls[0]
    return [
        *WEATHER_QUESTION,
        first.choices[0].message.model_dump(exclude_none=True),
        {
            "role": "tool",
            "tool_call_id": call.id,
            "content": json.dumps({"temperature": 23, "unit": "fahrenheit", "sky": "heavy snow"}),
        },
    ]


def test_tool_result_feeds_the_final_answer(default_client: openai.OpenAI) -> None:
    messages = _weather_turns(default_client)
    final = default_client.chat.completions.create(
        model=GEMINI_FLASH, messages=messages, tools=WEATHER_TOOLS, temperature=0,
    )
    choice = final.choices[0]
    assert choice.finish_reason == "stop", choice
    assert choice.message.tool_calls is None
    text = choice.message.content.lower()
    assert "23" in text or "snow" in text, text


def test_streamed_calls_accumulate_with_the_sdk_stream_state(default_client: openai.OpenAI) -> None:
    state = ChatCompletionStreamState(input_tools=WEATHER_TOOLS)
    stream = default_client.chat.completions.create(
        model=GEMINI_FLASH, messages=WEATHER_QUESTION, tools=WEATHER_TOOLS,
        tool_choice="required", temperature=0, stream=True,
    )
    for chunk in stream:
        state.handle_chunk(chunk)
    completion = state.get_final_completion()
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    # A turn that only called has no content, as in the non-stream message (and OpenAI).
    assert choice.message.content is None
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert "Chicago" in json.loads(call.function.arguments)["location"]
    # The accumulated message goes straight back into the conversation.
    messages = [
        *WEATHER_QUESTION,
        choice.message.model_dump(exclude_none=True, exclude={"parsed"}),
        {"role": "tool", "tool_call_id": call.id, "content": "Sunny, 31 degrees fahrenheit."},
    ]
    final = default_client.chat.completions.create(
        model=GEMINI_FLASH, messages=messages, tools=WEATHER_TOOLS, temperature=0,
    )
    assert final.choices[0].finish_reason == "stop"
    assert "31" in final.choices[0].message.content or "sunny" in final.choices[0].message.content.lower()


def _calls(
    client: openai.OpenAI, i: int, stream: bool, choice: Any, max_tokens: int = 800
) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """(finish_reason, [(id, name, arguments)]) per choice of one request for tool set i."""
    # The first streamed request (set 1) asks for two choices (per-choice framing is part of
    # what is checked); the rest for one, as the non-streamed ones do (set 3's second choice
    # decoded ~140 tokens more and framed nothing new).
    n = 2 if stream and i < 2 else 1
    kwargs: dict[str, Any] = dict(
        model=GEMINI_FLASH, messages=TOOL_PROMPT, tools=TOOL_SETS[i], tool_choice=choice,
        n=n, temperature=0.8, seed=i, max_tokens=max_tokens,
    )
    if not stream:
        completion = client.chat.completions.create(**kwargs)
        return [
            (c.finish_reason, [(t.id, t.function.name, t.function.arguments) for t in c.message.tool_calls or ()])
            for c in completion.choices
        ]
    chunks = list(client.chat.completions.create(stream=True, **kwargs))
    collected = collect(chunks)
    assert_well_formed_stream(collected, n=n)
    out = []
    for c in range(n):
        calls: dict[int, list[str]] = {}
        for _, delta, _ in collected.per_choice[c]:
            for tc in delta.tool_calls or ():
                if tc.id is not None:  # the first delta of a call
                    assert tc.index not in calls and tc.type == "function"
                    assert tc.function.name and tc.function.arguments == ""
                    calls[tc.index] = [tc.id, tc.function.name, ""]
                else:
                    calls[tc.index][2] += tc.function.arguments or ""
        assert sorted(calls) == list(range(len(calls)))
        out.append((collected.finish_reasons(c)[0], [tuple(calls[k]) for k in sorted(calls)]))
    return out


@pytest.mark.parametrize(
    "panel", [False, pytest.param(True, marks=pytest.mark.panel, id="all")],
    ids=lambda panel: "all" if panel else "sampled-sets",
)
@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
def test_generated_tool_sets_give_declared_calls_with_valid_arguments(
    client: openai.OpenAI, stream: bool, panel: bool
) -> None:
    # The two modes share the sets (in the panel, even ones without streaming, odd ones
    # streamed): every set and both paths are covered, at half the decoding.
    sets = range(int(stream), len(TOOL_SETS), 2) if panel else SAMPLED_SETS[stream]
    with ThreadPoolExecutor(max_workers=2 if stream else 4) as pool:  # four slots busy
        results = list(pool.map(lambda i: (i, _calls(client, i, stream, "required")), sets))
    failures = []
    ids = set()
    for i, choices in results:
        for c, (finish, calls) in enumerate(choices):
            try:
                assert finish == "tool_calls", f"finish_reason {finish}"
                assert calls, "no call"
                for call_id, name, arguments in calls:
                    assert call_id.startswith("call_") and call_id not in ids
                    ids.add(call_id)
                    jsonschema.validate(json.loads(arguments), _schema_of(TOOL_SETS[i], name))
            except (AssertionError, ValueError, jsonschema.ValidationError) as exc:
                failures.append(f"tool set {i} choice {c}: {exc!s:.200} in {calls!r:.300}")
    assert not failures, "\n".join(failures)


def test_auto_answers_are_text_or_valid_calls(client: openai.OpenAI) -> None:
    # The four sampled sets: the generated-sets test above has read them already.
    sets = sorted({*SAMPLED_SETS[False], *SAMPLED_SETS[True]})
    with ThreadPoolExecutor(max_workers=4) as pool:
        # A text answer may run to the limit ("length" is accepted); a call is short.
        # (Measured on sets 0-3 with 240 and 120: all four seeded answers were text that
        # ran to the limit; 60 tokens decide text or call as well, at half the decoding.)
        results = list(pool.map(lambda i: _calls(client, i, False, "auto", 60), sets))
    for i, choices in zip(sets, results):
        for finish, calls in choices:
            assert finish in ("stop", "tool_calls", "length")
            assert (finish == "tool_calls") == bool(calls) or finish == "length"
            for _, name, arguments in calls:
                jsonschema.validate(json.loads(arguments), _schema_of(TOOL_SETS[i], name))


def test_named_tool_choice_calls_exactly_that_function(client: openai.OpenAI) -> None:
    # Three functions (one without parameters), declared in ~230 prompt tokens: set 14's
    # four took ~610 to read before the first token.
    tools = TOOL_SETS[MULTI_FUNCTION_SET]
    target = tools[2]["function"]["name"]
    completion = client.chat.completions.create(
        model=GEMINI_FLASH, messages=TOOL_PROMPT, tools=tools, n=2, temperature=1, seed=1,
        tool_choice={"type": "function", "function": {"name": target}}, max_tokens=400,
    )
    for choice in completion.choices:
        assert choice.finish_reason == "tool_calls"
        assert {t.function.name for t in choice.message.tool_calls} == {target}


def test_tool_choice_none_never_calls(default_client: openai.OpenAI) -> None:
    completion = default_client.chat.completions.create(
        model=GEMINI_FLASH, messages=WEATHER_QUESTION, tools=WEATHER_TOOLS, tool_choice="none",
        n=2, seed=5, max_tokens=60,
    )
    for choice in completion.choices:
        assert choice.message.tool_calls is None
        assert choice.finish_reason in ("stop", "length")
        assert choice.message.content


def test_parallel_tool_calls_false_allows_one_call(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model=GEMINI_FLASH, messages=TOOL_PROMPT, tools=TOOL_SETS[MULTI_FUNCTION_SET],
        tool_choice="required",
        parallel_tool_calls=False, n=4, temperature=1, seed=3, max_tokens=400,
    )
    for choice in completion.choices:
        assert choice.finish_reason == "tool_calls"
        assert len(choice.message.tool_calls) == 1


def test_deprecated_functions_answer_with_function_call(default_client: openai.OpenAI) -> None:
    functions = [WEATHER_TOOLS[0]["function"]]
    completion = default_client.chat.completions.create(
        model=GEMINI_FLASH, messages=WEATHER_QUESTION, functions=functions,
        function_call={"name": "get_weather"}, temperature=0,
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "function_call"
    assert choice.message.tool_calls is None
    assert choice.message.function_call.name == "get_weather"
    assert "Chicago" in json.loads(choice.message.function_call.arguments)["location"]
    # ... and a `function` result message continues the conversation.
    final = default_client.chat.completions.create(
        model=GEMINI_FLASH, functions=functions, temperature=0,
        messages=[
            *WEATHER_QUESTION,
            {"role": "assistant", "content": None,
             "function_call": choice.message.function_call.model_dump()},
            {"role": "function", "name": "get_weather", "content": "Foggy and 12 degrees."},
        ],
    )
    assert final.choices[0].finish_reason == "stop"
    assert final.choices[0].message.content


def test_first_streamed_call_delta_has_index_id_type_name_and_empty_arguments(
    tiny_server: Any,
) -> None:
    # Set 17 (one function, its arguments several deltas long): read already by the
    # generated-sets test.
    _, frames = post_stream_frames(
        f"{tiny_server.vertex_base()}/chat/completions",
        {"model": GEMINI_FLASH, "messages": TOOL_PROMPT, "tools": TOOL_SETS[17],
         "tool_choice": "required", "stream": True, "temperature": 0, "max_tokens": 400},
    )
    deltas = [f["choices"][0] for f in frames if isinstance(f, dict) and f["choices"]]
    call_deltas = [d["delta"]["tool_calls"][0] for d in deltas if "tool_calls" in d["delta"]]
    head = call_deltas[0]
    assert set(head) == {"index", "id", "type", "function"}
    assert head["index"] == 0 and head["type"] == "function" and head["id"].startswith("call_")
    assert head["function"]["arguments"] == "" and head["function"]["name"]
    assert set(call_deltas[1]) == {"index", "function"} and set(call_deltas[1]["function"]) == {"arguments"}
    json.loads("".join(d["function"].get("arguments", "") for d in call_deltas if d["index"] == 0))
    assert [d["finish_reason"] for d in deltas if d["finish_reason"]] == ["tool_calls"]
    assert frames[-1] == "[DONE]"


_CALL = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"tools": []}, "tools"),
        ({"tools": [{"type": "function", "function": {"name": "f"}}] * 2}, "tools[1].function.name"),
        ({"tools": [{"type": "function", "function": {"name": "bad name"}}]}, "tools[0].function.name"),
        ({"tools": [{"type": "function", "function": {"name": "f" * 65}}]}, "tools[0].function.name"),
        ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "string"}}}]},
         "tools[0].function.parameters"),
        ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "objekt"}}}]},
         "tools[0].function.parameters"),
        ({"tools": [{"type": "function", "function": {"name": "f"}}],
          "tool_choice": {"type": "function", "function": {"name": "g"}}}, "tool_choice.function.name"),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"tool_choice": "sometimes"}, "tool_choice"),
        ({"functions": [{"name": "f"}], "function_call": {"name": "g"}}, "function_call.name"),
        ({"functions": [{"name": "f"}], "tools": [{"type": "function", "function": {"name": "f"}}]},
         "functions"),
        ({"messages": [{"role": "user", "content": "hi"},
                       {"role": "tool", "tool_call_id": "call_nope", "content": "x"}]},
         "messages[1].tool_call_id"),
        ({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "tool_calls": [_CALL]},
                       {"role": "tool", "content": "x"}]}, "messages[2].tool_call_id"),
        ({"messages": [{"role": "user", "content": "hi"},
                       {"role": "assistant", "tool_calls": [{**_CALL, "function": {"name": "f", "arguments": "{oops"}}]},
                       {"role": "tool", "tool_call_id": "call_1", "content": "x"}]},
         "messages[1].tool_calls[0].function.arguments"),
        ({"tools": [{"type": "function", "function": {"name": "f"}}],
          "response_format": {"type": "json_object"}}, "response_format.type"),
    ],
)
def test_invalid_tool_requests_are_400_with_param(
    client: openai.OpenAI, extra: dict[str, Any], param: str
) -> None:
    body = {"messages": TOOL_PROMPT, **extra}
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=GEMINI_FLASH, max_tokens=5, **body)
    assert info.value.status_code == 400
    assert info.value.param == param
