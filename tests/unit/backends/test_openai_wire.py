"""The OpenAI-compatible upstream's wire: request bodies, completions and streamed chunks."""

from __future__ import annotations

import json
from types import MappingProxyType
from typing import Any

import pytest

from vertexcompat.backends.openai_wire import (
    ChunkDecoder,
    events_from_completion,
    to_openai_body,
)
from vertexcompat.domain.content import (
    Content,
    FileDataPart,
    FunctionCallPart,
    FunctionResponsePart,
    GenerateContentRequest,
    GenerationConfig,
    ImageConfig,
    ImageDescriptionPart,
    InlineDataPart,
    Part,
    TextPart,
    TranscriptPart,
)
from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.domain.events import (
    Finished,
    FinishReason,
    FunctionCall,
    StreamEvent,
    TextDelta,
    ThoughtDelta,
    TokenChoice,
    TokenLogprobs,
    Usage,
)
from vertexcompat.domain.locations import FieldPath
from vertexcompat.domain.thinking import ThinkingConfig
from vertexcompat.domain.tools import FunctionCallingMode, FunctionDeclaration, ToolConfig

PARAMS = {"type": "object", "properties": {"city": {"type": "string"}}}
GET = FunctionDeclaration("get_weather", "Weather in a city.", PARAMS)
NOW = FunctionDeclaration("now")
TIME = FunctionDeclaration("time_in", "", PARAMS)
STOP, LENGTH = FinishReason.STOP, FinishReason.MAX_TOKENS


def user(*parts: Part) -> Content:
    return Content("user", parts)


def model(*parts: Part) -> Content:
    return Content("model", parts)


def req(*contents: Content, **fields: Any) -> GenerateContentRequest:
    return GenerateContentRequest(model="m", contents=contents, **fields)


def body(request: GenerateContentRequest, *, stream: bool = False) -> dict[str, Any]:
    return to_openai_body(request, upstream_model="up/model", stream=stream)


def messages(*contents: Content, **fields: Any) -> list[dict[str, Any]]:
    return body(req(*contents, **fields))["messages"]


# --- request bodies ---------------------------------------------------------------------


def test_a_plain_request_has_only_model_messages_and_stream() -> None:
    got = body(req(user(TextPart("Hi"))))
    assert got == {
        "model": "up/model",
        "messages": [{"role": "user", "content": "Hi"}],
        "stream": False,
    }
    assert json.loads(json.dumps(got)) == got


def test_streaming_asks_for_usage() -> None:
    # vLLM, SGLang, llama.cpp's server, TGI and OpenAI then end the stream with a usage
    # chunk; servers that do not know the field ignore it. A whole answer has its usage.
    got = body(req(user(TextPart("Hi"))), stream=True)
    assert got == {
        "model": "up/model",
        "messages": [{"role": "user", "content": "Hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert "stream_options" not in body(req(user(TextPart("Hi"))), stream=False)


def test_generation_config_fields_are_renamed_and_unset_ones_left_out() -> None:
    cfg = GenerationConfig(
        temperature=0.5, top_p=0.9, top_k=40, candidate_count=2, max_output_tokens=64,
        stop_sequences=("END", "##"), presence_penalty=0.1, frequency_penalty=-0.2, seed=7,
    )
    got = body(req(user(TextPart("Hi")), generation_config=cfg))
    assert {k: v for k, v in got.items() if k not in ("model", "messages", "stream")} == {
        "temperature": 0.5, "top_p": 0.9, "top_k": 40, "n": 2, "max_tokens": 64,
        "stop": ["END", "##"], "presence_penalty": 0.1, "frequency_penalty": -0.2, "seed": 7,
    }


def test_zero_values_are_set_values() -> None:
    cfg = GenerationConfig(temperature=0.0, seed=0, presence_penalty=0.0)
    got = body(req(user(TextPart("Hi")), generation_config=cfg))
    assert got["temperature"] == 0.0 and got["seed"] == 0 and got["presence_penalty"] == 0.0
    assert "n" not in got and "stop" not in got and "top_k" not in got


def test_log_probabilities_are_asked_with_alternatives_only_when_there_are_some() -> None:
    def fields(**cfg: Any) -> dict[str, Any]:
        got = body(req(user(TextPart("Hi")), generation_config=GenerationConfig(**cfg)))
        return {k: v for k, v in got.items() if k not in ("model", "messages", "stream")}

    assert fields(response_logprobs=True, logprobs=5) == {"logprobs": True, "top_logprobs": 5}
    assert fields(response_logprobs=True) == {"logprobs": True}
    assert fields(logprobs=5) == {}  # alternatives mean nothing without the switch


@pytest.mark.parametrize("budget", [0, -1, 512, None])
def test_the_thinking_config_is_not_forwarded(budget: int | None) -> None:
    cfg = GenerationConfig(thinking_config=ThinkingConfig(budget=budget, include_thoughts=True))
    got = body(req(user(TextPart("Hi")), generation_config=cfg))
    assert set(got) == {"model", "messages", "stream"}


def test_json_with_a_schema_is_a_strict_json_schema() -> None:
    schema = MappingProxyType({"type": "object", "required": ("a",)})
    cfg = GenerationConfig(response_mime_type="application/json", response_schema=schema)
    got = body(req(user(TextPart("Hi")), generation_config=cfg))
    assert got["response_format"] == {
        "type": "json_schema",
        "json_schema": {
            "name": "response", "schema": {"type": "object", "required": ["a"]}, "strict": True,
        },
    }
    json.dumps(got)


def test_json_without_a_schema_is_a_json_object() -> None:
    cfg = GenerationConfig(response_mime_type="application/json")
    got = body(req(user(TextPart("Hi")), generation_config=cfg))
    assert got["response_format"] == {"type": "json_object"}


def test_text_mime_type_and_a_schema_without_json_ask_for_nothing() -> None:
    for cfg in (
        GenerationConfig(response_mime_type="text/plain"),
        GenerationConfig(response_schema={"type": "object"}),
    ):
        assert "response_format" not in body(req(user(TextPart("Hi")), generation_config=cfg))


def test_other_mime_types_and_image_answers_are_refused() -> None:
    with pytest.raises(InvalidArgument) as exc:
        body(req(user(TextPart("Hi")),
                 generation_config=GenerationConfig(response_mime_type="text/x.enum")))
    assert exc.value.location == FieldPath.parse("generation_config.response_mime_type")
    image = GenerationConfig(response_modalities=("TEXT", "IMAGE"),
                             image_config=ImageConfig(512, 512))
    with pytest.raises(InvalidArgument) as exc:
        body(req(user(TextPart("Draw")), generation_config=image))
    assert exc.value.location == FieldPath.parse("generation_config.response_modalities")


def test_declarations_become_tools_without_empty_descriptions() -> None:
    got = body(req(user(TextPart("Hi")), tools=(GET, NOW, TIME)))
    assert got["tools"] == [
        {"type": "function", "function": {
            "name": "get_weather", "description": "Weather in a city.", "parameters": PARAMS}},
        {"type": "function", "function": {
            "name": "now", "parameters": {"type": "object", "properties": {}}}},
        {"type": "function", "function": {"name": "time_in", "parameters": PARAMS}},
    ]
    assert "tool_choice" not in got and "parallel_tool_calls" not in got


def test_no_declarations_means_no_tools_and_no_tool_choice() -> None:
    got = body(req(user(TextPart("Hi")), tool_config=ToolConfig(FunctionCallingMode.NONE)))
    assert "tools" not in got and "tool_choice" not in got


def tool_fields(
    config: ToolConfig, tools: tuple[FunctionDeclaration, ...] = (GET, NOW, TIME)
) -> tuple[list[str], Any]:
    got = body(req(user(TextPart("Hi")), tools=tools, tool_config=config))
    return [t["function"]["name"] for t in got["tools"]], got.get("tool_choice")


def test_tool_choice_variants() -> None:
    every = ["get_weather", "now", "time_in"]
    assert tool_fields(ToolConfig()) == (every, None)
    assert tool_fields(ToolConfig(FunctionCallingMode.NONE)) == (every, "none")
    assert tool_fields(ToolConfig(FunctionCallingMode.ANY)) == (every, "required")
    assert tool_fields(ToolConfig(FunctionCallingMode.ANY, ("now",))) == (
        every, {"type": "function", "function": {"name": "now"}},
    )
    assert tool_fields(ToolConfig(FunctionCallingMode.ANY, ("time_in", "get_weather"))) == (
        ["get_weather", "time_in"], "required",
    )
    # A non-default AUTO config says so explicitly.
    assert tool_fields(ToolConfig(FunctionCallingMode.AUTO, parallel_calls=False)) == (
        every, "auto",
    )


def test_parallel_calls_off_is_forwarded() -> None:
    got = body(req(user(TextPart("Hi")), tools=(GET,),
                   tool_config=ToolConfig(FunctionCallingMode.ANY, parallel_calls=False)))
    assert got["parallel_tool_calls"] is False
    assert got["tool_choice"] == "required"


def test_tool_configs_that_cannot_be_honoured_are_refused() -> None:
    with pytest.raises(InvalidArgument) as exc:
        body(req(user(TextPart("Hi")), tool_config=ToolConfig(FunctionCallingMode.ANY)))
    assert exc.value.location == FieldPath.parse("tool_config.mode")
    with pytest.raises(InvalidArgument) as exc:
        tool_fields(ToolConfig(FunctionCallingMode.ANY, ("now", "missing")))
    assert exc.value.location == FieldPath.parse("tool_config.allowed_function_names[1]")


def test_the_system_instruction_comes_first_without_thoughts() -> None:
    system = Content("user", (TextPart("Be brief."), TextPart("hidden", thought=True),
                              TextPart("Use metric units.")))
    got = messages(user(TextPart("Hi")), system_instruction=system)
    assert got[0] == {"role": "system", "content": "Be brief.\nUse metric units."}
    assert got[1] == {"role": "user", "content": "Hi"}


def test_an_empty_system_instruction_is_left_out_and_media_in_it_is_refused() -> None:
    assert messages(user(TextPart("Hi")), system_instruction=Content("user", ()))[0]["role"] == (
        "user"
    )
    with pytest.raises(InvalidArgument) as exc:
        messages(user(TextPart("Hi")), system_instruction=Content(
            "user", (TextPart("x"), FileDataPart("https://a/b.png", source="")),
        ))
    assert exc.value.location == FieldPath.parse("system_instruction.parts[1]")


def test_a_multi_turn_tool_conversation_pairs_ids() -> None:
    got = messages(
        user(TextPart("Weather in Oslo and Bergen, and the time?")),
        model(
            TextPart("Let me think.", thought=True, thought_signature="sig"),
            TextPart("Checking."),
            FunctionCallPart("get_weather", {"city": "Oslo"}, id="up-1"),
            FunctionCallPart("get_weather", {"city": "Bergen"}),
            FunctionCallPart("now", {}),
        ),
        user(
            FunctionResponsePart("now", {"time": "12:00"}),
            FunctionResponsePart("get_weather", {"content": "Rain"}, id="up-1"),
            FunctionResponsePart("get_weather", {"temp": 5, "sky": "ø"}),
            TextPart("Thanks!"),
        ),
        model(TextPart("Rainy in Oslo, 5° in Bergen, noon.")),
        tools=(GET, NOW),
    )
    assert got == [
        {"role": "user", "content": "Weather in Oslo and Bergen, and the time?"},
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "up-1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}},
            {"id": "call_1_1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Bergen"}'}},
            {"id": "call_1_2", "type": "function",
             "function": {"name": "now", "arguments": "{}"}},
        ]},
        {"role": "tool", "tool_call_id": "call_1_2", "content": '{"time": "12:00"}'},
        {"role": "tool", "tool_call_id": "up-1", "content": "Rain"},
        {"role": "tool", "tool_call_id": "call_1_1", "content": '{"temp": 5, "sky": "ø"}'},
        {"role": "user", "content": "Thanks!"},
        {"role": "assistant", "content": "Rainy in Oslo, 5° in Bergen, noon."},
    ]


def test_parallel_calls_of_one_function_are_answered_in_order_in_the_latest_turn() -> None:
    got = messages(
        user(TextPart("a")),
        model(FunctionCallPart("get_weather", {"city": "A"})),  # never answered
        user(TextPart("b")),
        model(FunctionCallPart("get_weather", {"city": "B"}),
              FunctionCallPart("get_weather", {"city": "C"})),
        user(FunctionResponsePart("get_weather", {"t": "B"}),
             FunctionResponsePart("get_weather", {"t": "C"})),
    )
    assert [m["tool_call_id"] for m in got if m["role"] == "tool"] == ["call_3_0", "call_3_1"]
    assert got[-1]["role"] == "tool"  # no empty user message after the results


def test_a_calling_turn_without_text_has_null_content() -> None:
    got = messages(user(TextPart("a")), model(FunctionCallPart("now", {}, id="x")),
                   user(FunctionResponsePart("now", {"t": 1}, id="x")))
    assert got[1]["content"] is None
    assert got[2] == {"role": "tool", "tool_call_id": "x", "content": '{"t": 1}'}


def test_a_model_turn_of_only_thoughts_is_an_empty_assistant_message() -> None:
    got = messages(user(TextPart("a")), model(TextPart("hmm", thought=True)), user(TextPart("b")))
    assert got[1] == {"role": "assistant", "content": ""}


def test_a_response_that_answers_no_call_is_refused() -> None:
    with pytest.raises(InvalidArgument) as exc:
        messages(user(TextPart("a")), model(FunctionCallPart("now", {})),
                 user(FunctionResponsePart("get_weather", {"t": 1})))
    assert exc.value.location == FieldPath.parse("contents[2].parts[0]")
    with pytest.raises(InvalidArgument):  # each call is answered once
        messages(model(FunctionCallPart("now", {})),
                 user(FunctionResponsePart("now", {"t": 1}), FunctionResponsePart("now", {})))


def test_parts_in_the_wrong_turn_are_refused() -> None:
    with pytest.raises(InvalidArgument) as exc:
        messages(user(TextPart("a"), FunctionCallPart("now", {})))
    assert exc.value.location == FieldPath.parse("contents[0].parts[1]")
    with pytest.raises(InvalidArgument) as exc:
        messages(model(FunctionResponsePart("now", {})))
    assert exc.value.location == FieldPath.parse("contents[0].parts[0]")


def test_adjacent_text_parts_join_and_signature_carriers_vanish() -> None:
    got = messages(user(TextPart("Hel"), TextPart("lo"), TextPart("", thought_signature="s")))
    assert got == [{"role": "user", "content": "Hello"}]


def test_images_and_audio_use_the_list_form() -> None:
    got = messages(user(
        TextPart("What is "), TextPart("this?"),
        InlineDataPart("image/png", "iVBORw0KGgo=", source="messages[0].content[1]"),
        FileDataPart("https://example.com/cat.jpg", source="messages[0].content[2]"),
        FileDataPart("data:image/jpeg;base64,/9j/", source="s", mime_type="image/jpeg"),
        InlineDataPart("audio/wav", "UklGRg==", source="a"),
        InlineDataPart("audio/mpeg", "SUQz", source="b"),
        TextPart("Answer briefly."),
    ))
    assert got == [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/"}},
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
        {"type": "input_audio", "input_audio": {"data": "SUQz", "format": "mp3"}},
        {"type": "text", "text": "Answer briefly."},
    ]}]


def test_perceived_media_is_text() -> None:
    image = ImageDescriptionPart("An image: a red square.", "image/png", 8, 8)
    speech = TranscriptPart("An audio clip: someone says hello.", "audio/wav", "hello", "en", 1.0)
    got = messages(user(image, speech, TextPart("Describe both.")))
    assert got == [{"role": "user", "content":
                    "An image: a red square.\n\nAn audio clip: someone says hello.\n\n"
                    "Describe both."}]
    with_image = messages(user(image, FileDataPart("http://x/y.png", source="s")))
    assert with_image[0]["content"][0] == {"type": "text", "text": "An image: a red square."}


@pytest.mark.parametrize("part", [
    FileDataPart("gs://bucket/a.png", source="messages[0].content[0].image_url.url"),
    FileDataPart("data:text/plain;base64,aGk=", source="messages[0].content[0].image_url.url"),
    FileDataPart("https://a/b.pdf", source="messages[0].content[0].image_url.url",
                 mime_type="application/pdf"),
    InlineDataPart("audio/flac", "ZkxhQw==", source="messages[0].content[0].image_url.url"),
])
def test_media_the_wire_cannot_carry_is_refused_by_its_label(part: Part) -> None:
    with pytest.raises(InvalidArgument) as exc:
        messages(user(part))
    assert exc.value.param == "messages[0].content[0].image_url.url"
    assert exc.value.location is None
    assert exc.value.message.startswith("`messages[0].content[0].image_url.url`: ")


def test_unlabelled_media_is_refused_by_location_and_media_in_a_model_turn_too() -> None:
    with pytest.raises(InvalidArgument) as exc:
        messages(user(TextPart("x"), InlineDataPart("video/mp4", "AAAA")))
    assert exc.value.location == FieldPath.parse("contents[0].parts[1]")
    with pytest.raises(InvalidArgument) as exc:
        messages(user(TextPart("x")), model(FileDataPart("https://a/b.png", source="")))
    assert exc.value.location == FieldPath.parse("contents[1].parts[0]")


def test_frozen_arguments_and_responses_serialise() -> None:
    args = MappingProxyType({"items": ("a", "b"), "nested": MappingProxyType({"k": 1})})
    got = messages(model(FunctionCallPart("f", args, id="i")),
                   user(FunctionResponsePart("f", MappingProxyType({"ok": True}), id="i")))
    arguments = got[0]["tool_calls"][0]["function"]["arguments"]
    assert json.loads(arguments) == {"items": ["a", "b"], "nested": {"k": 1}}
    assert got[1]["content"] == '{"ok": true}'


# --- non-streaming completions ----------------------------------------------------------


def completion(*choices: dict[str, Any], usage: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"object": "chat.completion", "choices": list(choices)}
    if usage is not None:
        out["usage"] = usage
    return out


def choice(index: int = 0, finish: str | None = "stop", **message: Any) -> dict[str, Any]:
    return {"index": index, "message": {"role": "assistant", **message}, "finish_reason": finish}


def tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function",
            "function": {"name": name, "arguments": arguments}}


def test_a_completion_with_reasoning_text_and_usage_details() -> None:
    got = events_from_completion(completion(
        choice(content="Hello.", reasoning_content="Greet back."),
        usage={"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21,
               "prompt_tokens_details": {"cached_tokens": 8},
               "completion_tokens_details": {"reasoning_tokens": 4}},
    ))
    assert got == [
        ThoughtDelta(0, "Greet back."), TextDelta(0, "Hello."), Finished(0, STOP),
        Usage(prompt_tokens=12, completion_tokens=9, cached_tokens=8, reasoning_tokens=4),
    ]


def test_reasoning_is_read_under_either_name_but_once() -> None:
    assert events_from_completion(completion(choice(content="a", reasoning="r")))[0] == (
        ThoughtDelta(0, "r")
    )
    both = events_from_completion(completion(choice(reasoning_content="r", reasoning="r")))
    assert [e for e in both if isinstance(e, ThoughtDelta)] == [ThoughtDelta(0, "r")]


def test_usage_details_default_to_zero_and_absent_usage_is_zero() -> None:
    got = events_from_completion(completion(
        choice(content="x"), usage={"prompt_tokens": 3, "completion_tokens": 1,
                                    "prompt_tokens_details": None},
    ))
    assert got[-1] == Usage(3, 1, 0, 0)
    assert events_from_completion(completion(choice(content="x")))[-1] == Usage(0, 0)


def test_tool_calls_become_function_calls_with_upstream_ids() -> None:
    got = events_from_completion(completion(choice(
        finish="tool_calls", content=None,
        tool_calls=[tool_call("chatcmpl-tool-1", "get_weather", '{"city": "Oslo"}'),
                    tool_call("chatcmpl-tool-2", "now", "")],
    )))
    assert got == [
        FunctionCall(0, "get_weather", {"city": "Oslo"}, id="chatcmpl-tool-1"),
        FunctionCall(0, "now", {}, id="chatcmpl-tool-2"),
        Finished(0, STOP), Usage(0, 0),
    ]


def test_the_legacy_function_call_is_read_too() -> None:
    got = events_from_completion(completion(choice(
        finish="function_call", function_call={"name": "now", "arguments": "{}"},
    )))
    assert got[:2] == [FunctionCall(0, "now", {}), Finished(0, STOP)]


@pytest.mark.parametrize("arguments", ['{"city": "Os', "[1, 2]", '"text"', "null"])
def test_arguments_that_are_not_an_object_finish_malformed(arguments: str) -> None:
    got = events_from_completion(completion(choice(
        finish="tool_calls", content="Calling.",
        tool_calls=[tool_call("a", "now", "{}"), tool_call("b", "get_weather", arguments)],
    )))
    assert got == [
        TextDelta(0, "Calling."), FunctionCall(0, "now", {}, id="a"),
        Finished(0, FinishReason.MALFORMED_FUNCTION_CALL), Usage(0, 0),
    ]


def test_a_call_cut_off_by_the_token_limit_keeps_max_tokens() -> None:
    got = events_from_completion(completion(choice(
        finish="length", tool_calls=[tool_call("a", "get_weather", '{"ci')],
    )))
    assert got == [Finished(0, LENGTH), Usage(0, 0)]


@pytest.mark.parametrize(("wire", "reason"), [
    ("stop", STOP), ("length", LENGTH), ("tool_calls", STOP), ("function_call", STOP),
    ("content_filter", FinishReason.SAFETY), (None, FinishReason.OTHER),
    ("abort", FinishReason.OTHER), ("eos_token", STOP),
])
def test_finish_reasons(wire: str | None, reason: FinishReason) -> None:
    assert events_from_completion(completion(choice(finish=wire, content="x")))[1] == (
        Finished(0, reason)
    )


def test_every_choice_finishes_before_the_one_usage() -> None:
    got = events_from_completion(completion(
        choice(0, content="a"), choice(1, finish="length", content="b"),
        usage={"prompt_tokens": 1, "completion_tokens": 2},
    ))
    assert got == [TextDelta(0, "a"), Finished(0, STOP), TextDelta(1, "b"),
                   Finished(1, LENGTH), Usage(1, 2)]


# --- streamed chunks --------------------------------------------------------------------


def chunk(*choices: dict[str, Any], usage: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"object": "chat.completion.chunk", "choices": list(choices)}
    if usage is not None:
        out["usage"] = usage
    return out


def delta(index: int, finish: str | None = None, **fields: Any) -> dict[str, Any]:
    return {"index": index, "delta": fields, "finish_reason": finish}


def piece(
    k: int, arguments: str, call_id: str | None = None, name: str | None = None
) -> dict[str, Any]:
    function: dict[str, Any] = {"arguments": arguments}
    if name is not None:
        function["name"] = name
    out: dict[str, Any] = {"index": k, "function": function}
    if call_id is not None:
        out.update(id=call_id, type="function")
    return out


def decode(*chunks: dict[str, Any]) -> list[StreamEvent]:
    decoder = ChunkDecoder()
    out = [event for c in chunks for event in decoder.feed(c)]
    return out + decoder.finish()


USAGE = {"prompt_tokens": 20, "completion_tokens": 11,
         "prompt_tokens_details": {"cached_tokens": 16},
         "completion_tokens_details": {"reasoning_tokens": 3}}


def test_two_interleaved_choices_split_mid_text_and_mid_arguments() -> None:
    decoder = ChunkDecoder()
    fed = [
        chunk(delta(0, role="assistant", content=""), delta(1, role="assistant", content="")),
        chunk(delta(0, reasoning_content="Hm")),
        chunk(delta(1, content="Sun")),
        chunk(delta(0, reasoning_content="m.")),
        chunk(delta(1, content="ny in Os")),
        chunk(delta(0, tool_calls=[piece(0, "", "call-a", "get_weather")])),
        chunk(delta(0, tool_calls=[piece(0, '{"ci')])),
        chunk(delta(1, content="lo.")),
        chunk(delta(0, tool_calls=[piece(0, 'ty": "Os')])),
        chunk(delta(0, tool_calls=[piece(1, '{}', "call-b", "now")])),
        chunk(delta(0, tool_calls=[piece(0, 'lo"}')])),
        chunk(delta(1, "stop")),
        chunk(delta(0, "tool_calls")),
        chunk(usage=USAGE),
    ]
    per_chunk = [decoder.feed(c) for c in fed]
    assert per_chunk == [
        [], [ThoughtDelta(0, "Hm")], [TextDelta(1, "Sun")], [ThoughtDelta(0, "m.")],
        [TextDelta(1, "ny in Os")], [], [], [TextDelta(1, "lo.")], [], [], [],
        [Finished(1, STOP)],
        [FunctionCall(0, "get_weather", {"city": "Oslo"}, id="call-a"),
         FunctionCall(0, "now", {}, id="call-b"), Finished(0, STOP)],
        [],
    ]
    assert decoder.finish() == [Usage(20, 11, 16, 3)]
    assert decoder.finish() == []


def test_usage_before_the_finish_reasons_still_comes_last() -> None:
    got = decode(
        chunk(delta(0, content="a"), delta(1, content="b")),
        chunk(usage=USAGE),
        chunk(delta(1, "length"), delta(0, "stop")),
    )
    assert got == [TextDelta(0, "a"), TextDelta(1, "b"), Finished(1, LENGTH),
                   Finished(0, STOP), Usage(20, 11, 16, 3)]


def test_usage_on_the_last_choice_chunk_is_kept_and_the_latest_wins() -> None:
    got = decode(
        chunk(delta(0, content="a"), usage={"prompt_tokens": 5, "completion_tokens": 1}),
        chunk(delta(0, "stop", content="b"), usage={"prompt_tokens": 5, "completion_tokens": 2}),
    )
    assert got == [TextDelta(0, "a"), TextDelta(0, "b"), Finished(0, STOP), Usage(5, 2)]


def test_a_stream_that_breaks_off_finishes_open_choices_other() -> None:
    decoder = ChunkDecoder()
    assert decoder.feed(chunk(delta(0, role="assistant"), delta(1, content="x"))) == [
        TextDelta(1, "x")
    ]
    decoder.feed(chunk(delta(0, tool_calls=[piece(0, '{"city": "Oslo"}', "c", "get_weather")]),
                       delta(1, tool_calls=[piece(0, '{"ci', "d", "get_weather")])))
    assert decoder.finish() == [
        FunctionCall(0, "get_weather", {"city": "Oslo"}, id="c"), Finished(0, FinishReason.OTHER),
        Finished(1, FinishReason.OTHER), Usage(0, 0),
    ]
    assert decoder.finish() == []
    assert decoder.feed(chunk(delta(0, content="late"))) == []


def test_a_finished_choice_takes_no_more_events() -> None:
    got = decode(
        chunk(delta(0, "stop", content="done")),
        chunk(delta(0, content="more")),
        chunk(delta(0, "stop")),
    )
    assert got == [TextDelta(0, "done"), Finished(0, STOP), Usage(0, 0)]


def test_streamed_malformed_arguments_finish_malformed() -> None:
    got = decode(
        chunk(delta(0, tool_calls=[piece(0, '{"city": ', "c", "get_weather")])),
        chunk(delta(0, tool_calls=[piece(0, "Oslo}")])),
        chunk(delta(0, "tool_calls")),
    )
    assert got == [Finished(0, FinishReason.MALFORMED_FUNCTION_CALL), Usage(0, 0)]


def test_repeated_ids_and_names_are_not_concatenated() -> None:
    got = decode(
        chunk(delta(0, tool_calls=[piece(0, '{"a"', "c", "f")])),
        chunk(delta(0, tool_calls=[piece(0, ": 1}", "c", "f")])),
        chunk(delta(0, "tool_calls")),
    )
    assert got[0] == FunctionCall(0, "f", {"a": 1}, id="c")


def test_reasoning_deltas_under_the_newer_name() -> None:
    got = decode(chunk(delta(0, reasoning="r", content="")), chunk(delta(0, "stop", content="t")))
    assert got == [ThoughtDelta(0, "r"), TextDelta(0, "t"), Finished(0, STOP), Usage(0, 0)]


def test_a_stream_with_no_choices_at_all_still_ends_with_usage() -> None:
    assert decode(chunk(usage={"prompt_tokens": 2, "completion_tokens": 0})) == [Usage(2, 0)]


# --- log probabilities ------------------------------------------------------------------


def lp(token: str, logprob: float, *top: dict[str, Any], raw: list[int] | None = None,
       ) -> dict[str, Any]:
    """One `logprobs.content` entry as OpenAI and vLLM write it (`bytes` the token's UTF-8
    unless given; `top_logprobs` an empty list when none were asked)."""
    return {"token": token, "logprob": logprob,
            "bytes": list(token.encode()) if raw is None else raw, "top_logprobs": list(top)}


def alt(token: str, logprob: float) -> dict[str, Any]:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode())}


def tl(candidate: int, token: bytes, logprob: float, *top: tuple[bytes, float]
       ) -> TokenLogprobs:
    return TokenLogprobs(candidate, TokenChoice(token, logprob),
                         tuple(TokenChoice(t, p) for t, p in top))


def test_an_openai_completion_with_logprobs_and_a_character_cut_in_two() -> None:
    # gpt-4o-mini, logprobs=true, top_logprobs=2: "日" is two tokens, whose `token` is
    # OpenAI's "bytes:\x.." spelling and whose `bytes` are the real ones.
    answer = {
        "id": "chatcmpl-B9", "object": "chat.completion", "created": 1741570283,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": "Hi 日", "refusal": None,
                        "annotations": []},
            "logprobs": {"content": [
                lp("Hi", -0.0018, alt("Hi", -0.0018), alt("Hello", -6.41)),
                lp(" ", -0.52, alt(" ", -0.52), alt("!", -0.9)),
                lp("bytes:\\xe6\\x97", -0.3, {"token": "bytes:\\xe6\\x97", "logprob": -0.3,
                   "bytes": [230, 151]}, raw=[230, 151]),
                lp("bytes:\\xa5", -0.0001, raw=[165]),
            ], "refusal": None},
            "finish_reason": "stop",
        }],
        "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13},
        "system_fingerprint": "fp_06737a9306",
    }
    assert events_from_completion(answer) == [
        tl(0, b"Hi", -0.0018, (b"Hi", -0.0018), (b"Hello", -6.41)),
        tl(0, b" ", -0.52, (b" ", -0.52), (b"!", -0.9)),
        tl(0, b"\xe6\x97", -0.3, (b"\xe6\x97", -0.3)),
        tl(0, b"\xa5", -0.0001),
        TextDelta(0, "Hi 日"), Finished(0, STOP), Usage(9, 4),
    ]


def test_null_bytes_are_the_tokens_utf8_alternatives_are_ranked_and_junk_skipped() -> None:
    answer = completion({
        "index": 0, "message": {"role": "assistant", "content": "né"},
        "logprobs": {"content": [
            {"token": "n", "logprob": -1, "bytes": None,
             "top_logprobs": [alt("m", -3.0), alt("n", -1.0), {"token": "x"}]},
            {"token": "é", "logprob": "-0.1", "bytes": None},  # not a number: skipped
            {"logprob": -0.2, "bytes": None},  # no token at all: skipped
            "junk",
            {"token": "é", "logprob": -0.5, "bytes": None},
        ]},
        "finish_reason": "stop",
    })
    assert events_from_completion(answer)[:3] == [
        tl(0, b"n", -1.0, (b"n", -1.0), (b"m", -3.0)),
        tl(0, "é".encode(), -0.5),
        TextDelta(0, "né"),
    ]


def test_each_choice_has_its_own_logprobs_and_a_choice_without_them_none() -> None:
    answer = completion(
        {"index": 0, "message": {"role": "assistant", "content": "A"},
         "logprobs": {"content": [lp("A", -0.1)]}, "finish_reason": "stop"},
        {"index": 1, "message": {"role": "assistant", "content": "B"},
         "logprobs": None, "finish_reason": "length"},
    )
    assert events_from_completion(answer) == [
        tl(0, b"A", -0.1), TextDelta(0, "A"), Finished(0, STOP),
        TextDelta(1, "B"), Finished(1, LENGTH), Usage(0, 0),
    ]


def qwen3_thinking(content: str | None, finish: str = "stop") -> dict[str, Any]:
    """vLLM serving Qwen3 with `--reasoning-parser qwen3`, logprobs=true: every token the
    model wrote is listed, `<think>` and `</think>` included."""
    tokens = [lp("<think>", 0.0), lp("\n", -0.01), lp("Greet", -1.3), lp(".", -0.2),
              lp("\n", -0.05), lp("</think>", -0.001), lp("\n\n", 0.0), lp("Hello", -0.4),
              lp("!", -0.7)]
    if content is None:
        tokens = tokens[:4]
    message: dict[str, Any] = {"role": "assistant", "reasoning_content": "\nGreet.\n",
                               "content": content, "tool_calls": []}
    return {"id": "chatcmpl-6f", "object": "chat.completion", "created": 1745000000,
            "model": "Qwen/Qwen3-8B",
            "choices": [{"index": 0, "message": message,
                         "logprobs": {"content": tokens}, "finish_reason": finish,
                         "stop_reason": None}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 9, "total_tokens": 19}}


def test_vllm_lists_the_thoughts_tokens_too_and_only_the_answers_are_kept() -> None:
    kept = [tl(0, b"\n\n", 0.0), tl(0, b"Hello", -0.4), tl(0, b"!", -0.7)]
    # The qwen3 parser keeps what follows `</think>` as it is …
    assert events_from_completion(qwen3_thinking("\n\nHello!")) == [
        ThoughtDelta(0, "\nGreet.\n"), *kept, TextDelta(0, "\n\nHello!"),
        Finished(0, STOP), Usage(10, 9),
    ]
    # … other parsers strip it: the whitespace token is not the answer's.
    assert events_from_completion(qwen3_thinking("Hello!"))[1:4] == [
        *kept[1:], TextDelta(0, "Hello!"),
    ]
    # Cut off while thinking: every token was a thought.
    assert events_from_completion(qwen3_thinking(None, "length")) == [
        ThoughtDelta(0, "\nGreet.\n"), Finished(0, LENGTH), Usage(10, 9),
    ]


def test_tokens_that_spell_no_tail_of_the_content_all_pass() -> None:
    # A content the tokens do not spell (as when vLLM writes a token cut mid-character as
    # U+FFFD): the thoughts' tokens cannot be told apart, so nothing is dropped.
    answer = qwen3_thinking("Hallo!")
    got = events_from_completion(answer)
    assert [e for e in got if isinstance(e, TokenLogprobs)] == [
        tl(0, e["token"].encode(), e["logprob"])
        for e in answer["choices"][0]["logprobs"]["content"]
    ]


def sdelta(index: int, finish: str | None = None, logprobs: list[dict[str, Any]] | None = None,
           **fields: Any) -> dict[str, Any]:
    """A streamed choice with its `logprobs` beside the delta, as OpenAI and vLLM send it."""
    out = delta(index, finish, **fields)
    out["logprobs"] = None if logprobs is None else {"content": logprobs}
    return out


def test_an_openai_stream_carries_each_chunks_logprobs_before_its_text() -> None:
    decoder = ChunkDecoder()
    fed = [
        chunk(sdelta(0, role="assistant", content="", refusal=None, logprobs=[])),
        chunk(sdelta(0, content="Hello", logprobs=[lp("Hello", -0.02, alt("Hello", -0.02),
                                                       alt("Hi", -4.1))])),
        chunk(sdelta(0, content=" world", logprobs=[lp(" world", -1.5, alt(" world", -1.5),
                                                        alt(" there", -0.4))])),
        chunk(sdelta(0, "stop")),
        chunk(usage={"prompt_tokens": 8, "completion_tokens": 2, "total_tokens": 10}),
    ]
    assert [decoder.feed(c) for c in fed] == [
        [],
        [tl(0, b"Hello", -0.02, (b"Hello", -0.02), (b"Hi", -4.1)), TextDelta(0, "Hello")],
        # most likely first, whatever the upstream's order
        [tl(0, b" world", -1.5, (b" there", -0.4), (b" world", -1.5)), TextDelta(0, " world")],
        [Finished(0, STOP)],
        [],
    ]
    assert decoder.finish() == [Usage(8, 2)]


def test_a_vllm_reasoning_stream_drops_the_thoughts_logprobs() -> None:
    # vLLM streams each thought token's logprob with its reasoning delta, and sends no
    # chunk at all for `</think>`; a chunk may carry several tokens.
    got = decode(
        chunk(sdelta(0, role="assistant", content="")),
        chunk(sdelta(0, reasoning_content="Greet", logprobs=[lp("Greet", -1.3)])),
        chunk(sdelta(0, reasoning_content=".", logprobs=[lp(".", -0.2)])),
        chunk(sdelta(0, content="\n\nHello", logprobs=[lp("\n\n", 0.0), lp("Hello", -0.4)])),
        chunk(sdelta(0, content="!", logprobs=[lp("!", -0.7)])),
        chunk(sdelta(0, "stop", content="", logprobs=[])),
        chunk(usage={"prompt_tokens": 10, "completion_tokens": 8, "total_tokens": 18,
                     "completion_tokens_details": {"reasoning_tokens": 4}}),
    )
    assert got == [
        ThoughtDelta(0, "Greet"), ThoughtDelta(0, "."),
        tl(0, b"\n\n", 0.0), tl(0, b"Hello", -0.4), TextDelta(0, "\n\nHello"),
        tl(0, b"!", -0.7), TextDelta(0, "!"),
        Finished(0, STOP), Usage(10, 8, reasoning_tokens=4),
    ]


def test_a_chunk_with_thoughts_and_text_passes_its_logprobs_after_the_thoughts() -> None:
    # Both in one chunk: nothing tells the tokens apart.
    got = decode(chunk(sdelta(0, "stop", reasoning_content="k.", content="Hi",
                              logprobs=[lp("k", -2.0), lp(".", -0.1), lp("Hi", -0.3)])))
    assert got == [ThoughtDelta(0, "k."), tl(0, b"k", -2.0), tl(0, b".", -0.1),
                   tl(0, b"Hi", -0.3), TextDelta(0, "Hi"), Finished(0, STOP), Usage(0, 0)]


def test_streamed_logprobs_of_two_choices_and_of_a_call() -> None:
    got = decode(
        chunk(sdelta(0, content="A", logprobs=[lp("A", -0.1)])),
        chunk(sdelta(1, tool_calls=[piece(0, '{"x":', "c1", "f")],
                     logprobs=[lp('{"', -0.01), lp("x", -0.2), lp('":', 0.0)])),
        chunk(sdelta(1, "tool_calls", tool_calls=[piece(0, " 1}")], logprobs=[lp(" 1}", -0.3)])),
        chunk(sdelta(0, "stop", logprobs=[])),
    )
    assert got == [
        tl(0, b"A", -0.1), TextDelta(0, "A"),
        tl(1, b'{"', -0.01), tl(1, b"x", -0.2), tl(1, b'":', 0.0),
        tl(1, b" 1}", -0.3), FunctionCall(1, "f", {"x": 1}, id="c1"), Finished(1, STOP),
        Finished(0, STOP), Usage(0, 0),
    ]
