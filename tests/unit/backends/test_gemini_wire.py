"""Gemini's native wire: generateContent and countTokens bodies, whole answers, SSE chunks
and error bodies."""

from __future__ import annotations

import base64
import json
from types import MappingProxyType
from typing import Any

import pytest

from vertexcompat.backends.gemini_wire import (
    ChunkDecoder,
    count_from_count_tokens,
    error_fields,
    events_from_response,
    to_compute_tokens_body,
    to_count_tokens_body,
    to_gemini_body,
    tokens_info_from_compute_tokens,
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
from vertexcompat.domain.tokens import TokensInfo
from vertexcompat.domain.events import (
    Finished,
    FinishReason,
    FunctionCall,
    ImageOutput,
    PromptFeedback,
    SafetyRatings,
    StreamEvent,
    TextDelta,
    ThoughtDelta,
    ThoughtSignature,
    TokenChoice,
    TokenLogprobs,
    Usage,
)
from vertexcompat.domain.locations import FieldPath
from vertexcompat.domain.safety import HarmCategory, SafetyRating
from vertexcompat.domain.thinking import ThinkingConfig
from vertexcompat.domain.tools import FunctionCallingMode, FunctionDeclaration, ToolConfig

PARAMS = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
GET = FunctionDeclaration("get_weather", "Weather in a city.", PARAMS)
NOW = FunctionDeclaration("now")
STOP, LENGTH, OTHER = FinishReason.STOP, FinishReason.MAX_TOKENS, FinishReason.OTHER
SIG = "CiQB0e2Kb7Zx1yJ5Q0r6tq2m3n4b5v6c7x8z9a0s1d2f3g4h5j6k7l8="
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


def user(*parts: Part) -> Content:
    return Content("user", parts)


def model(*parts: Part) -> Content:
    return Content("model", parts)


def req(*contents: Content, **fields: Any) -> GenerateContentRequest:
    return GenerateContentRequest(model="gemini-2.5-flash", contents=contents, **fields)


def body(*contents: Content, **fields: Any) -> dict[str, Any]:
    got = to_gemini_body(req(*contents, **fields))
    json.dumps(got)  # every body is plain JSON
    return got


def config(**fields: Any) -> dict[str, Any]:
    return body(user(TextPart("Hi")), generation_config=GenerationConfig(**fields))[
        "generationConfig"
    ]


# --- generateContent bodies -------------------------------------------------------------


def test_a_plain_request_is_contents_only() -> None:
    got = body(user(TextPart("Hi")), project="p-1", cached_content="cachedContents/9",
               stream=True)
    assert got == {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}


def test_a_full_conversation_with_system_tools_calls_and_results() -> None:
    got = body(
        user(TextPart("Weather in Oslo?")),
        model(TextPart("Planning.", thought=True),
              FunctionCallPart("get_weather", {"city": "Oslo"}, id="c-1",
                               thought_signature=SIG)),
        user(FunctionResponsePart("get_weather", {"temp_c": 4}, id="c-1")),
        model(TextPart("It is 4 °C."), TextPart("", thought_signature="sig-2")),
        user(TextPart("Thanks")),
        system_instruction=Content("user", (TextPart("Be brief."),)),
        tools=(GET, NOW),
    )
    assert got == {
        "contents": [
            {"role": "user", "parts": [{"text": "Weather in Oslo?"}]},
            {"role": "model", "parts": [
                {"text": "Planning.", "thought": True},
                {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}, "id": "c-1"},
                 "thoughtSignature": SIG},
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"temp_c": 4},
                                      "id": "c-1"}},
            ]},
            {"role": "model", "parts": [
                {"text": "It is 4 °C."}, {"text": "", "thoughtSignature": "sig-2"},
            ]},
            {"role": "user", "parts": [{"text": "Thanks"}]},
        ],
        "systemInstruction": {"role": "user", "parts": [{"text": "Be brief."}]},
        "tools": [{"functionDeclarations": [
            {"name": "get_weather", "description": "Weather in a city.",
             "parametersJsonSchema": PARAMS},
            {"name": "now"},
        ]}],
    }


def test_a_signature_on_a_text_part_is_kept() -> None:
    got = body(model(TextPart("Done.", thought_signature=SIG)))
    assert got["contents"][0]["parts"] == [{"text": "Done.", "thoughtSignature": SIG}]


def test_perceived_media_becomes_text_parts() -> None:
    seen = ImageDescriptionPart("[Image: a red bicycle]", "image/png", 640, 480)
    heard = TranscriptPart("[Audio: hello there]", "audio/wav", "hello there", "en", 1.5)
    got = body(user(TextPart("What is this?"), seen, heard),
               system_instruction=Content("user", (TextPart("Sys"), seen)))
    assert got["contents"][0]["parts"] == [
        {"text": "What is this?"}, {"text": "[Image: a red bicycle]"},
        {"text": "[Audio: hello there]"},
    ]
    assert got["systemInstruction"]["parts"] == [{"text": "Sys"},
                                                 {"text": "[Image: a red bicycle]"}]


def test_a_data_uri_becomes_inline_data() -> None:
    data = base64.b64encode(PNG).decode()
    got = body(user(FileDataPart(f"data:image/png;base64,{data}", source="m[0].url"),
                    FileDataPart("data:,hello%20world", source="m[1].url"),
                    FileDataPart(f"data:;base64,{data}", source="m[2].url",
                                 mime_type="image/png")))
    assert got["contents"][0]["parts"] == [
        {"inlineData": {"mimeType": "image/png", "data": data}},
        {"inlineData": {"mimeType": "text/plain",
                        "data": base64.b64encode(b"hello world").decode()}},
        {"inlineData": {"mimeType": "image/png", "data": data}},
    ]


def test_a_data_uri_with_parameters_keeps_only_its_type() -> None:
    got = body(user(FileDataPart("data:Image/JPEG;name=a.jpg;base64,/9j/4AAQ", source="u")))
    assert got["contents"][0]["parts"] == [
        {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/4AAQ"}}
    ]


def test_http_and_gs_uris_stay_file_data_with_a_guessed_type_when_none_was_given() -> None:
    got = body(user(FileDataPart("https://example.com/cat.png?size=l", source="a"),
                    FileDataPart("gs://bucket/clip.mp4", source="b", mime_type="video/mp4"),
                    FileDataPart("http://example.com/render", source="c")))
    assert got["contents"][0]["parts"] == [
        {"fileData": {"fileUri": "https://example.com/cat.png?size=l", "mimeType": "image/png"}},
        {"fileData": {"fileUri": "gs://bucket/clip.mp4", "mimeType": "video/mp4"}},
        {"fileData": {"fileUri": "http://example.com/render"}},
    ]


def test_inline_data_passes_through() -> None:
    got = body(user(InlineDataPart("audio/wav", "UklGRg==", source="input_audio.data")))
    assert got["contents"][0]["parts"] == [
        {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}}
    ]


@pytest.mark.parametrize("uri", ["ftp://example.com/a.png", "file:///etc/passwd", "cat.png"])
def test_a_uri_gemini_cannot_read_is_refused_by_its_label(uri: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        body(user(TextPart("x"), FileDataPart(uri, source="messages[0].content[1].image_url.url")))
    assert caught.value.param == "messages[0].content[1].image_url.url"
    assert caught.value.location is None
    assert caught.value.message.startswith("`messages[0].content[1].image_url.url`: ")


def test_an_unlabelled_refusal_names_the_gemini_location() -> None:
    with pytest.raises(InvalidArgument) as caught:
        body(user(TextPart("x")), user(TextPart("y"), FileDataPart("ftp://h/a.png", source="")))
    assert caught.value.param is None
    assert caught.value.location == FieldPath.of("contents", 1, "parts", 1)


@pytest.mark.parametrize("uri", ["data:image/png;base64", "data:image/png;base64,"])
def test_a_data_uri_without_data_is_refused(uri: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        body(user(FileDataPart(uri, source="img")))
    assert caught.value.param == "img"


def test_empty_unsigned_text_is_left_out_and_so_is_an_emptied_turn() -> None:
    got = body(user(TextPart("Hi")),
               model(TextPart(""), FunctionCallPart("now", {})),
               user(FunctionResponsePart("now", {"t": "12:00"})),
               model(TextPart("")),
               user(TextPart("ok")),
               system_instruction=Content("user", (TextPart(""),)))
    assert got == {"contents": [
        {"role": "user", "parts": [{"text": "Hi"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "now", "args": {}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "now",
                                                         "response": {"t": "12:00"}}}]},
        {"role": "user", "parts": [{"text": "ok"}]},
    ]}


def test_frozen_arguments_responses_and_schemas_serialise() -> None:
    args = MappingProxyType({"items": ("a", "b"), "nested": MappingProxyType({"k": 1})})
    schema = MappingProxyType({"type": "object", "required": ("a",),
                               "properties": MappingProxyType({"a": {"type": "string"}})})
    got = body(
        model(FunctionCallPart("f", args)),
        user(FunctionResponsePart("f", MappingProxyType({"ok": (True,)}))),
        tools=(FunctionDeclaration("f", None, schema),),
        generation_config=GenerationConfig(response_mime_type="application/json",
                                           response_schema=schema),
    )
    assert got["contents"][0]["parts"][0]["functionCall"]["args"] == {
        "items": ["a", "b"], "nested": {"k": 1}
    }
    assert got["contents"][1]["parts"][0]["functionResponse"]["response"] == {"ok": [True]}
    plain = {"type": "object", "required": ["a"], "properties": {"a": {"type": "string"}}}
    assert got["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"] == plain
    assert got["generationConfig"]["responseJsonSchema"] == plain


def test_the_default_tool_config_is_left_out() -> None:
    assert "toolConfig" not in body(user(TextPart("x")), tools=(GET,))
    parallel_off = ToolConfig(parallel_calls=False)
    assert "toolConfig" not in body(user(TextPart("x")), tools=(GET,), tool_config=parallel_off)


def test_any_with_names_and_none_are_written() -> None:
    forced = ToolConfig(FunctionCallingMode.ANY, ("get_weather",))
    got = body(user(TextPart("x")), tools=(GET, NOW), tool_config=forced)
    assert got["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}
    }
    off = body(user(TextPart("x")), tools=(GET,), tool_config=ToolConfig(FunctionCallingMode.NONE))
    assert off["toolConfig"] == {"functionCallingConfig": {"mode": "NONE"}}


def test_generation_config_is_left_out_when_nothing_is_set() -> None:
    assert "generationConfig" not in body(user(TextPart("x")))
    assert "generationConfig" not in body(
        user(TextPart("x")), generation_config=GenerationConfig(candidate_count=1)
    )


def test_generation_config_has_only_the_set_fields_in_camel_case() -> None:
    assert config(temperature=0.2, top_p=0.9, top_k=40, candidate_count=2,
                  max_output_tokens=256, stop_sequences=("END", "\n\n"),
                  presence_penalty=0.5, frequency_penalty=-0.5, seed=7) == {
        "temperature": 0.2, "topP": 0.9, "topK": 40, "candidateCount": 2,
        "maxOutputTokens": 256, "stopSequences": ["END", "\n\n"], "presencePenalty": 0.5,
        "frequencyPenalty": -0.5, "seed": 7,
    }
    assert config(temperature=0.0, seed=0) == {"temperature": 0.0, "seed": 0}


def test_a_schema_goes_as_response_json_schema() -> None:
    schema = {"type": "object", "properties": {"n": {"type": ["integer", "null"]}},
              "additionalProperties": False}
    assert config(response_mime_type="application/json", response_schema=schema) == {
        "responseMimeType": "application/json", "responseJsonSchema": schema,
    }
    assert config(response_mime_type="application/json") == {
        "responseMimeType": "application/json"
    }
    # A schema means something only with the JSON mime type.
    assert config(response_mime_type="text/plain", response_schema=schema) == {
        "responseMimeType": "text/plain"
    }


@pytest.mark.parametrize(("thinking", "wire"), [
    (ThinkingConfig(budget=1024), {"thinkingBudget": 1024}),
    (ThinkingConfig(budget=0), {"thinkingBudget": 0}),
    (ThinkingConfig(budget=-1, include_thoughts=True),
     {"thinkingBudget": -1, "includeThoughts": True}),
    (ThinkingConfig(budget=24576, level="high"), {"thinkingLevel": "HIGH"}),
    (ThinkingConfig(budget=1024, include_thoughts=True, level="low"),
     {"thinkingLevel": "LOW", "includeThoughts": True}),
    (ThinkingConfig(budget=128, level="minimal"), {"thinkingLevel": "MINIMAL"}),
    (ThinkingConfig(include_thoughts=True), {"includeThoughts": True}),
])
def test_thinking_config(thinking: ThinkingConfig, wire: dict[str, Any]) -> None:
    assert config(thinking_config=thinking) == {"thinkingConfig": wire}


def test_a_thinking_config_that_says_nothing_is_left_out() -> None:
    assert "generationConfig" not in body(
        user(TextPart("x")), generation_config=GenerationConfig(thinking_config=ThinkingConfig())
    )


def test_image_modalities_and_aspect_ratio() -> None:
    assert config(response_modalities=("TEXT", "IMAGE"),
                  image_config=ImageConfig(1344, 768, aspect_ratio="16:9")) == {
        "responseModalities": ["TEXT", "IMAGE"], "imageConfig": {"aspectRatio": "16:9"},
    }
    assert config(response_modalities=("IMAGE",), image_config=ImageConfig(512, 512)) == {
        "responseModalities": ["IMAGE"]
    }


def test_log_probabilities_are_asked_with_alternatives_only_when_there_are_some() -> None:
    assert config(response_logprobs=True, logprobs=3) == {"responseLogprobs": True,
                                                          "logprobs": 3}
    assert config(response_logprobs=True) == {"responseLogprobs": True}
    assert "generationConfig" not in body(  # alternatives mean nothing without the switch
        user(TextPart("x")), generation_config=GenerationConfig(logprobs=3)
    )


# --- countTokens bodies -----------------------------------------------------------------


def count_request() -> GenerateContentRequest:
    return req(
        user(TextPart("Weather?")),
        system_instruction=Content("user", (TextPart("Be brief."),)),
        tools=(NOW,),
        tool_config=ToolConfig(FunctionCallingMode.ANY),
        generation_config=GenerationConfig(temperature=0.5, max_output_tokens=10),
    )


def test_vertex_count_tokens_body_is_flat() -> None:
    got = to_count_tokens_body(count_request(), vertex=True,
                               model_resource="projects/p/locations/l/models/m")
    assert got == {
        "contents": [{"role": "user", "parts": [{"text": "Weather?"}]}],
        "systemInstruction": {"role": "user", "parts": [{"text": "Be brief."}]},
        "tools": [{"functionDeclarations": [{"name": "now"}]}],
    }


def test_vertex_count_tokens_body_without_system_or_tools() -> None:
    got = to_count_tokens_body(req(user(TextPart("a"))), vertex=True, model_resource="x")
    assert got == {"contents": [{"role": "user", "parts": [{"text": "a"}]}]}


def test_developer_api_count_tokens_body_wraps_a_generate_content_request() -> None:
    got = to_count_tokens_body(count_request(), vertex=False,
                               model_resource="models/gemini-2.5-flash")
    assert got == {"generateContentRequest": {
        "model": "models/gemini-2.5-flash",
        "contents": [{"role": "user", "parts": [{"text": "Weather?"}]}],
        "systemInstruction": {"role": "user", "parts": [{"text": "Be brief."}]},
        "tools": [{"functionDeclarations": [{"name": "now"}]}],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
    }}


def test_count_tokens_bodies_translate_parts_too() -> None:
    seen = ImageDescriptionPart("[Image: a cat]", "image/png", 1, 1)
    got = to_count_tokens_body(req(user(seen, FileDataPart("data:text/plain,hi", source="s"))),
                               vertex=True, model_resource="m")
    assert got["contents"][0]["parts"] == [
        {"text": "[Image: a cat]"}, {"inlineData": {"mimeType": "text/plain", "data": "aGk="}},
    ]


@pytest.mark.parametrize(("answer", "count"), [
    ({"totalTokens": 31, "totalBillableCharacters": 96,
      "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 31}]}, 31),
    ({"totalTokens": "42"}, 42),
    ({}, 0),
    ({"totalTokens": None}, 0),
    ({"totalTokens": "many"}, 0),
    ({"totalTokens": True}, 0),
    ({"totalTokens": -3}, 0),
])
def test_count_from_count_tokens(answer: dict[str, Any], count: int) -> None:
    assert count_from_count_tokens(answer) == count


# --- computeTokens ---------------------------------------------------------------------


def test_compute_tokens_body_is_the_contents_alone() -> None:
    request = req(
        user(TextPart("a")),
        Content("model", (TextPart(""),)),  # nothing Gemini would read: not sent
        Content("model", (FunctionCallPart("now", {}),)),
        system_instruction=Content("user", (TextPart("Be brief."),)),
        tools=(NOW,),
    )
    body, sent = to_compute_tokens_body(request)
    assert body == {"contents": [
        {"role": "user", "parts": [{"text": "a"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "now", "args": {}}}]},
    ]}
    assert sent == (0, 2)


def test_tokens_info_from_compute_tokens() -> None:
    answer = {"tokensInfo": [
        {"tokens": ["SGVsbG8=", "IHdvcmxk"], "tokenIds": ["9906", 1917], "role": "user"},
        {"tokens": ["-_8", "ww"], "tokenIds": ["5", "6"]},  # URL-safe, unpadded; no role
        {"role": "model"},  # proto3: empty lists left out
    ]}
    assert tokens_info_from_compute_tokens(answer) == [
        TokensInfo("user", (9906, 1917), (b"Hello", b" world")),
        TokensInfo("", (5, 6), (b"\xfb\xff", b"\xc3")),
        TokensInfo("model", (), ()),
    ]
    assert tokens_info_from_compute_tokens({}) == []


@pytest.mark.parametrize("answer", [
    [],
    {"tokensInfo": {}},
    {"tokensInfo": ["x"]},
    {"tokensInfo": [{"tokens": "SGk=", "tokenIds": ["1"]}]},
    {"tokensInfo": [{"tokens": ["not base64!"], "tokenIds": ["1"]}]},
    {"tokensInfo": [{"tokens": ["S"], "tokenIds": ["1"]}]},
    {"tokensInfo": [{"tokens": [7], "tokenIds": ["1"]}]},
    {"tokensInfo": [{"tokens": ["SGk="], "tokenIds": ["one"]}]},
    {"tokensInfo": [{"tokens": ["SGk="], "tokenIds": [True]}]},
    {"tokensInfo": [{"tokens": ["SGk="], "tokenIds": [1.5]}]},
    {"tokensInfo": [{"tokens": ["SGk=", "SGk="], "tokenIds": ["1"]}]},
    {"tokensInfo": [{"tokens": [], "tokenIds": [], "role": 3}]},
])
def test_tokens_info_from_compute_tokens_refuses_junk(answer: Any) -> None:
    with pytest.raises(ValueError):
        tokens_info_from_compute_tokens(answer)


# --- whole answers ----------------------------------------------------------------------


def candidate(*parts: dict[str, Any], finish: str | None = "STOP", index: int | None = 0,
              **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"content": {"role": "model", "parts": list(parts)}, **extra}
    if finish is not None:
        out["finishReason"] = finish
    if index is not None:
        out["index"] = index
    return out


def response(*candidates: dict[str, Any], usage: dict[str, Any] | None = None,
             **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"candidates": list(candidates), "modelVersion": "gemini-2.5-flash",
                           "responseId": "mXpCaO6bKbSIz7IPp5_o8Ac", **extra}
    if usage is not None:
        out["usageMetadata"] = usage
    return out


USAGE = {
    "promptTokenCount": 120, "candidatesTokenCount": 30, "totalTokenCount": 190,
    "cachedContentTokenCount": 64, "thoughtsTokenCount": 40,
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 120}],
}
USED = Usage(prompt_tokens=120, completion_tokens=70, cached_tokens=64, reasoning_tokens=40)


def test_a_text_answer_with_thoughts_a_signature_and_usage() -> None:
    got = events_from_response(response(
        candidate({"text": "**Greeting**\nThe user says hi.", "thought": True},
                  {"text": "Hello! How can I help?", "thoughtSignature": SIG},
                  avgLogprobs=-0.31),
        usage=USAGE,
    ))
    assert got == [
        ThoughtDelta(0, "**Greeting**\nThe user says hi."),
        TextDelta(0, "Hello! How can I help?"),
        ThoughtSignature(0, SIG), Finished(0, STOP), USED,
    ]


def test_function_calls_with_ids_and_the_signature_on_the_first() -> None:
    got = events_from_response(response(candidate(
        {"text": "I'll check both.", "thoughtSignature": "text-sig"},
        {"functionCall": {"id": "fc-1", "name": "get_weather", "args": {"city": "Oslo"}},
         "thoughtSignature": SIG},
        {"functionCall": {"name": "now"}},
    )))
    assert got == [
        TextDelta(0, "I'll check both."),
        FunctionCall(0, "get_weather", {"city": "Oslo"}, id="fc-1", thought_signature=SIG),
        FunctionCall(0, "now", {}),
        Finished(0, STOP), Usage(0, 0),
    ]


def test_an_unsigned_call_does_not_swallow_the_texts_signature() -> None:
    got = events_from_response(response(candidate(
        {"functionCall": {"name": "now", "args": {}}},
        {"text": "", "thoughtSignature": SIG},
    )))
    assert got == [FunctionCall(0, "now", {}), ThoughtSignature(0, SIG), Finished(0, STOP),
                   Usage(0, 0)]


def test_the_latest_text_signature_wins() -> None:
    got = events_from_response(response(candidate(
        {"text": "a", "thoughtSignature": "first"}, {"text": "b", "thoughtSignature": "last"},
    )))
    assert got[:4] == [TextDelta(0, "a"), TextDelta(0, "b"), ThoughtSignature(0, "last"),
                       Finished(0, STOP)]


def test_images_are_decoded_and_thought_images_skipped() -> None:
    data = base64.b64encode(PNG).decode()
    got = events_from_response(response(candidate(
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}, "thought": True},
        {"text": "Here is your cat:"},
        {"inlineData": {"mimeType": "image/png", "data": data}, "thoughtSignature": SIG},
    )))
    assert got == [
        TextDelta(0, "Here is your cat:"), ImageOutput(0, "image/png", PNG),
        ThoughtSignature(0, SIG), Finished(0, STOP), Usage(0, 0),
    ]


def test_multiple_candidates_each_finish_before_the_one_usage() -> None:
    got = events_from_response(response(
        candidate({"text": "Red."}, {"text": "", "thoughtSignature": "s0"}),
        candidate({"text": "Blue, and"}, finish="MAX_TOKENS", index=1),
        usage={"promptTokenCount": 5, "candidatesTokenCount": 9, "totalTokenCount": 14},
    ))
    assert got == [
        TextDelta(0, "Red."), ThoughtSignature(0, "s0"), Finished(0, STOP),
        TextDelta(1, "Blue, and"), Finished(1, LENGTH),
        Usage(prompt_tokens=5, completion_tokens=9),
    ]


def test_a_missing_index_is_the_position_or_zero_beside_explicit_ones() -> None:
    got = events_from_response(response(candidate({"text": "a"}, index=None),
                                        candidate({"text": "b"}, index=None)))
    assert got[:4] == [TextDelta(0, "a"), Finished(0, STOP), TextDelta(1, "b"), Finished(1, STOP)]
    got = events_from_response(response(candidate({"text": "b"}, index=1),
                                        candidate({"text": "a"}, index=None)))
    assert got[:4] == [TextDelta(1, "b"), Finished(1, STOP), TextDelta(0, "a"), Finished(0, STOP)]


@pytest.mark.parametrize(("wire", "reason"), [
    ("STOP", STOP), ("MAX_TOKENS", LENGTH), ("SAFETY", FinishReason.SAFETY),
    ("RECITATION", FinishReason.RECITATION),
    ("PROHIBITED_CONTENT", FinishReason.PROHIBITED_CONTENT),
    ("BLOCKLIST", FinishReason.BLOCKLIST), ("SPII", FinishReason.SPII),
    ("MALFORMED_FUNCTION_CALL", FinishReason.MALFORMED_FUNCTION_CALL),
    ("IMAGE_SAFETY", FinishReason.SAFETY), ("IMAGE_PROHIBITED_CONTENT", FinishReason.SAFETY),
    ("IMAGE_RECITATION", FinishReason.RECITATION),
    ("OTHER", OTHER), ("LANGUAGE", OTHER), ("FINISH_REASON_UNSPECIFIED", OTHER),
    ("UNEXPECTED_TOOL_CALL", OTHER), ("NO_IMAGE", OTHER), (None, OTHER),
])
def test_finish_reasons(wire: str | None, reason: FinishReason) -> None:
    got = events_from_response(response(candidate({"text": "x"}, finish=wire)))
    assert got == [TextDelta(0, "x"), Finished(0, reason), Usage(0, 0)]


def test_a_safety_stop_without_content() -> None:
    got = events_from_response(response({
        "finishReason": "SAFETY", "index": 0,
        "safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH",
                           "blocked": True}],
    }, usage={"promptTokenCount": 8, "totalTokenCount": 8}))
    assert got == [
        SafetyRatings(0, (SafetyRating(HarmCategory.HARASSMENT, 0.875, blocked=True),)),
        Finished(0, FinishReason.SAFETY), Usage(8, 0),
    ]


@pytest.mark.parametrize("block", [
    "SAFETY", "OTHER", "BLOCKLIST", "PROHIBITED_CONTENT", "IMAGE_SAFETY", "SOMETHING_NEW",
])
def test_a_blocked_prompt_is_prompt_feedback_with_its_reason(block: str) -> None:
    got = events_from_response({
        "promptFeedback": {"blockReason": block, "safetyRatings": [
            {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"}]},
        "usageMetadata": {"promptTokenCount": 11, "totalTokenCount": 11},
        "modelVersion": "gemini-2.5-flash",
    })
    ratings = (SafetyRating(HarmCategory.DANGEROUS_CONTENT, 0.875),)
    assert got == [PromptFeedback(ratings, reason=block), Usage(11, 0)]


def test_prompt_feedback_without_a_block_or_beside_candidates_adds_nothing() -> None:
    assert events_from_response({"promptFeedback": {"safetyRatings": []}}) == [Usage(0, 0)]
    got = events_from_response(response(candidate({"text": "x"}),
                                        promptFeedback={"blockReason": "SAFETY"}))
    assert got == [TextDelta(0, "x"), Finished(0, STOP), Usage(0, 0)]


def test_usage_fields_default_to_zero() -> None:
    got = events_from_response(response(candidate({"text": "x"}),
                                        usage={"promptTokenCount": 3}))
    assert got[-1] == Usage(3, 0, 0, 0)
    assert events_from_response(response(candidate({"text": "x"})))[-1] == Usage(0, 0)
    thoughts_only = events_from_response(response(
        candidate({"text": "x"}), usage={"promptTokenCount": 3, "thoughtsTokenCount": 5}))
    assert thoughts_only[-1] == Usage(3, 5, 0, 5)


def test_bad_calls_are_dropped_and_a_stop_becomes_malformed() -> None:
    got = events_from_response(response(candidate(
        {"functionCall": {"name": "now", "args": {}}},
        {"functionCall": {"args": {"a": 1}}},
        {"functionCall": {"name": "f", "args": [1, 2]}},
    )))
    assert got == [FunctionCall(0, "now", {}),
                   Finished(0, FinishReason.MALFORMED_FUNCTION_CALL), Usage(0, 0)]
    cut = events_from_response(response(candidate({"functionCall": "junk"}, finish="MAX_TOKENS")))
    assert cut == [Finished(0, LENGTH), Usage(0, 0)]


def test_junk_is_skipped() -> None:
    assert events_from_response({"candidates": "nope", "usageMetadata": [1]}) == [Usage(0, 0)]
    got = events_from_response(response(
        "junk",  # type: ignore[arg-type]
        candidate("part", None, {"text": 5}, {"text": ""},
                  {"inlineData": {"mimeType": "image/png", "data": "!!!not base64!!!"}},
                  {"inlineData": {"data": "aGk="}}, {"executableCode": {"code": "1"}},
                  {"text": "ok"}),
    ))
    assert got == [TextDelta(0, "ok"), Finished(0, STOP), Usage(0, 0)]
    assert events_from_response({"candidates": [{"content": "x", "finishReason": 7}]}) == [
        Finished(0, OTHER), Usage(0, 0)
    ]
    assert events_from_response([]) == [Usage(0, 0)]  # type: ignore[arg-type]


# --- streamed chunks --------------------------------------------------------------------


def decode(*chunks: dict[str, Any]) -> list[StreamEvent]:
    decoder = ChunkDecoder()
    out = [event for c in chunks for event in decoder.feed(c)]
    return out + decoder.finish()


def sse_chunk(*parts: dict[str, Any], finish: str | None = None, index: int | None = 0,
              usage: dict[str, Any] | None = None) -> dict[str, Any]:
    cand: dict[str, Any] = {"content": {"role": "model", "parts": list(parts)}}
    if index is not None:
        cand["index"] = index
    if finish is not None:
        cand["finishReason"] = finish
    out: dict[str, Any] = {"candidates": [cand], "modelVersion": "gemini-2.5-flash",
                           "responseId": "r-1"}
    if usage is not None:
        out["usageMetadata"] = usage
    return out


def test_a_streamed_text_answer_as_gemini_sends_it() -> None:
    decoder = ChunkDecoder()
    fed = [
        sse_chunk({"text": "**Weighing**\nShort answer.", "thought": True},
                  usage={"promptTokenCount": 9, "totalTokenCount": 9,
                         "thoughtsTokenCount": 12}),
        sse_chunk({"text": "The capital"},
                  usage={"promptTokenCount": 9, "candidatesTokenCount": 2,
                         "thoughtsTokenCount": 12, "totalTokenCount": 23}),
        sse_chunk({"text": " of France is Paris."},
                  usage={"promptTokenCount": 9, "candidatesTokenCount": 8,
                         "thoughtsTokenCount": 12, "totalTokenCount": 29}),
        sse_chunk({"text": "", "thoughtSignature": SIG}, finish="STOP",
                  usage={"promptTokenCount": 9, "candidatesTokenCount": 8,
                         "thoughtsTokenCount": 12, "totalTokenCount": 29,
                         "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 9}]}),
    ]
    assert [decoder.feed(c) for c in fed] == [
        [ThoughtDelta(0, "**Weighing**\nShort answer.")],
        [TextDelta(0, "The capital")],
        [TextDelta(0, " of France is Paris.")],
        [ThoughtSignature(0, SIG), Finished(0, STOP)],
    ]
    assert decoder.finish() == [Usage(prompt_tokens=9, completion_tokens=20, reasoning_tokens=12)]
    assert decoder.finish() == []
    assert decoder.feed(sse_chunk({"text": "late"})) == []


def test_a_streamed_call_is_emitted_at_once_and_carries_its_signature() -> None:
    decoder = ChunkDecoder()
    first = decoder.feed(sse_chunk(
        {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}},
         "thoughtSignature": SIG}))
    assert first == [FunctionCall(0, "get_weather", {"city": "Oslo"}, thought_signature=SIG)]
    last = decoder.feed(sse_chunk({"functionCall": {"name": "now", "args": {}}}, finish="STOP",
                                  usage={"promptTokenCount": 40, "candidatesTokenCount": 11}))
    assert last == [FunctionCall(0, "now", {}), Finished(0, STOP)]
    assert decoder.finish() == [Usage(40, 11)]


def test_the_finish_reason_may_come_alone_in_the_last_chunk() -> None:
    got = decode(sse_chunk({"text": "Hi"}),
                 {"candidates": [{"finishReason": "STOP", "index": 0}],
                  "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1}})
    assert got == [TextDelta(0, "Hi"), Finished(0, STOP), Usage(1, 1)]


def test_a_stream_that_breaks_off_finishes_open_candidates_other() -> None:
    decoder = ChunkDecoder()
    assert decoder.feed(sse_chunk({"text": "Once upon", "thoughtSignature": "s"})) == [
        TextDelta(0, "Once upon")
    ]
    assert decoder.feed(sse_chunk({"text": "x"}, index=1, finish="STOP")) == [
        TextDelta(1, "x"), Finished(1, STOP)
    ]
    assert decoder.finish() == [ThoughtSignature(0, "s"), Finished(0, OTHER), Usage(0, 0)]


def test_two_candidates_interleaved_in_one_stream() -> None:
    def two(first: dict[str, Any], second: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {"candidates": [{**first, "index": 0}, {**second, "index": 1}], **extra}

    def say(text: str, **fields: Any) -> dict[str, Any]:
        return {"content": {"role": "model", "parts": [{"text": text}]}, **fields}

    got = decode(
        two(say("Ro"), say("Vio")),
        two(say("ses."), say("lets.", finishReason="STOP")),
        two(say("", finishReason="MAX_TOKENS"), say("ignored")),
        {"candidates": [], "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 6}},
    )
    assert got == [
        TextDelta(0, "Ro"), TextDelta(1, "Vio"), TextDelta(0, "ses."), TextDelta(1, "lets."),
        Finished(1, STOP), Finished(0, LENGTH), Usage(4, 6),
    ]


def test_an_unspecified_reason_leaves_a_streamed_candidate_open() -> None:
    got = decode(sse_chunk({"text": "a"}, finish="FINISH_REASON_UNSPECIFIED"),
                 sse_chunk({"text": "b"}, finish="STOP"))
    assert got == [TextDelta(0, "a"), TextDelta(0, "b"), Finished(0, STOP), Usage(0, 0)]


def test_a_blocked_prompt_in_a_stream() -> None:
    decoder = ChunkDecoder()
    assert decoder.feed({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
                         "usageMetadata": {"promptTokenCount": 7, "totalTokenCount": 7}}) == [
        PromptFeedback((), reason="PROHIBITED_CONTENT")
    ]
    assert decoder.feed(sse_chunk({"text": "late"}, finish="STOP")) == []
    assert decoder.feed({"promptFeedback": {"blockReason": "SAFETY"}}) == []
    assert decoder.finish() == [Usage(7, 0)]


def test_block_feedback_after_a_candidate_adds_no_second_finish() -> None:
    got = decode(sse_chunk({"text": "a"}, finish="STOP"),
                 {"promptFeedback": {"blockReason": "SAFETY"}})
    assert got == [TextDelta(0, "a"), Finished(0, STOP), Usage(0, 0)]


def test_a_stream_with_no_candidates_at_all_still_ends_with_usage() -> None:
    assert decode({"usageMetadata": {"promptTokenCount": 2}}) == [Usage(2, 0)]
    assert decode() == [Usage(0, 0)]


def test_a_streamed_image() -> None:
    data = base64.b64encode(PNG).decode()
    got = decode(sse_chunk({"text": "Drawing."}),
                 sse_chunk({"inlineData": {"mimeType": "image/png", "data": data}},
                           finish="STOP"))
    assert got == [TextDelta(0, "Drawing."), ImageOutput(0, "image/png", PNG),
                   Finished(0, STOP), Usage(0, 0)]


def test_a_malformed_streamed_call() -> None:
    got = decode(sse_chunk({"functionCall": {"name": "", "args": {}}}),
                 sse_chunk({"text": ""}, finish="STOP"))
    assert got == [Finished(0, FinishReason.MALFORMED_FUNCTION_CALL), Usage(0, 0)]


# --- error bodies -----------------------------------------------------------------------


def test_a_google_error_with_a_field_violation() -> None:
    raw = json.dumps({"error": {
        "code": 400,
        "message": "Invalid value at 'contents[0].parts[0]' (oneof), oneof field 'data' is "
                   "already set.",
        "status": "INVALID_ARGUMENT",
        "details": [
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "X",
             "domain": "googleapis.com"},
            {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [
                {"field": "contents[0].parts[0]", "description": "oneof already set"},
                {"field": "contents[1]", "description": "second"},
            ]},
        ],
    }}).encode()
    assert error_fields(raw) == (
        "Invalid value at 'contents[0].parts[0]' (oneof), oneof field 'data' is already set.",
        "contents[0].parts[0]", "INVALID_ARGUMENT",
    )


def test_a_google_error_without_details() -> None:
    raw = (b'{\n  "error": {\n    "code": 429,\n    "message": "Resource exhausted. Please '
           b'try again later.",\n    "status": "RESOURCE_EXHAUSTED"\n  }\n}\n')
    assert error_fields(raw) == (
        "Resource exhausted. Please try again later.", None, "RESOURCE_EXHAUSTED"
    )


def test_a_streamed_error_wrapped_in_an_array() -> None:
    raw = json.dumps([{"error": {"code": 404, "message": "models/x is not found",
                                 "status": "NOT_FOUND"}}]).encode()
    assert error_fields(raw) == ("models/x is not found", None, "NOT_FOUND")


@pytest.mark.parametrize(("raw", "expected"), [
    (b"<html><body>502 Bad Gateway</body></html>",
     ("<html><body>502 Bad Gateway</body></html>", None, None)),
    (b"x" * 900, ("x" * 500, None, None)),
    (b'{"detail": "nope"}', ('{"detail": "nope"}', None, None)),
    (b"[]", ("[]", None, None)),
    (b'{"error": {"code": 500}}', ('{"error": {"code": 500}}', None, None)),
    (b'{"error": {"message": "m", "status": 3, "details": "x"}}', ("m", None, None)),
    (b"\xff\xfe bad bytes", ("\ufffd\ufffd bad bytes", None, None)),
])
def test_other_error_bodies(raw: bytes, expected: tuple[str, str | None, str | None]) -> None:
    assert error_fields(raw) == expected


# --- log probabilities ------------------------------------------------------------------


def gc(token: str, token_id: int, logprob: float | None) -> dict[str, Any]:
    """A `LogprobsResult.Candidate`; proto3 JSON leaves a log probability of 0 out."""
    out: dict[str, Any] = {"token": token, "tokenId": token_id}
    if logprob is not None:
        out["logProbability"] = logprob
    return out


def logprobs_result(*positions: tuple[dict[str, Any], list[dict[str, Any]]]) -> dict[str, Any]:
    return {"topCandidates": [{"candidates": top} for _, top in positions],
            "chosenCandidates": [chosen for chosen, _ in positions]}


def tl(candidate: int, token: str, token_id: int, logprob: float,
       *top: tuple[str, int, float]) -> TokenLogprobs:
    return TokenLogprobs(candidate, TokenChoice(token.encode(), logprob, token_id),
                         tuple(TokenChoice(t.encode(), p, i) for t, i, p in top))


def test_a_whole_answer_with_logprobs_as_gemini_sends_it() -> None:
    # gemini-2.0-flash, responseLogprobs=true, logprobs=2: the chosen token need not be
    # among the top ones, and a certain token has no logProbability.
    result = logprobs_result(
        (gc("Paris", 29437, -0.0012), [gc("Paris", 29437, -0.0012), gc("It", 1718, -7.2)]),
        (gc(" 🇫🇷", 235248, -3.9), [gc(".", 235265, -0.03), gc("!", 235341, -3.6)]),
        (gc(".", 235265, None), [gc(".", 235265, None), gc("\n", 108, -20.1)]),
    )
    got = events_from_response(response(
        candidate({"text": "Paris 🇫🇷."}, avgLogprobs=-1.3004, logprobsResult=result),
        usage={"promptTokenCount": 7, "candidatesTokenCount": 3, "totalTokenCount": 10},
    ))
    assert got == [
        tl(0, "Paris", 29437, -0.0012, ("Paris", 29437, -0.0012), ("It", 1718, -7.2)),
        tl(0, " 🇫🇷", 235248, -3.9, (".", 235265, -0.03), ("!", 235341, -3.6)),
        tl(0, ".", 235265, 0.0, (".", 235265, 0.0), ("\n", 108, -20.1)),
        TextDelta(0, "Paris 🇫🇷."), Finished(0, STOP), Usage(7, 3),
    ]


def test_logprobs_come_after_thoughts_and_before_calls_without_alternatives() -> None:
    # logprobs=0: no topCandidates at all.
    got = events_from_response(response(candidate(
        {"text": "Weather lookup.", "thought": True},
        {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}},
         "thoughtSignature": SIG},
        logprobsResult={"chosenCandidates": [gc("get", 818, -0.01), gc("_weather", 9, -0.02)]},
    )))
    assert got == [
        ThoughtDelta(0, "Weather lookup."), tl(0, "get", 818, -0.01),
        tl(0, "_weather", 9, -0.02),
        FunctionCall(0, "get_weather", {"city": "Oslo"}, thought_signature=SIG),
        Finished(0, STOP), Usage(0, 0),
    ]


def test_each_candidate_has_its_own_logprobs_and_junk_is_skipped() -> None:
    got = events_from_response(response(
        candidate({"text": "A"}, logprobsResult=logprobs_result(
            (gc("A", 235280, -0.2), [gc("A", 235280, -0.2), {"token": 7}, "junk"]))),
        candidate({"text": "B"}, index=1, logprobsResult={
            "chosenCandidates": ["junk", {"token": "B", "logProbability": "x"},
                                 {"token": "B", "tokenId": 235305, "logProbability": -0.9}],
            "topCandidates": [{}]}),
    ))
    assert got == [
        tl(0, "A", 235280, -0.2, ("A", 235280, -0.2)), TextDelta(0, "A"), Finished(0, STOP),
        # the third position's entry: the first two were junk
        tl(1, "B", 235305, -0.9), TextDelta(1, "B"), Finished(1, STOP), Usage(0, 0),
    ]


def test_a_stream_carries_each_chunks_logprobs_with_its_text() -> None:
    decoder = ChunkDecoder()

    def lp_chunk(text: str, *positions: tuple[dict[str, Any], list[dict[str, Any]]],
                 finish: str | None = None) -> dict[str, Any]:
        out = sse_chunk({"text": text}, finish=finish)
        out["candidates"][0]["logprobsResult"] = logprobs_result(*positions)
        return out

    fed = [
        lp_chunk("The", (gc("The", 651, -0.05), [gc("The", 651, -0.05), gc("A", 235280, -3.1)])),
        lp_chunk(" sky is blue.",
                 (gc(" sky", 8203, -0.3), [gc(" sky", 8203, -0.3), gc(" sea", 9404, -1.5)]),
                 (gc(" is", 603, None), [gc(" is", 603, None), gc(" looks", 4713, -9.0)]),
                 (gc(" blue.", 3868, -0.1), [gc(" blue.", 3868, -0.1), gc(" grey", 13, -2.5)]),
                 finish="STOP"),
    ]
    assert [decoder.feed(c) for c in fed] == [
        [tl(0, "The", 651, -0.05, ("The", 651, -0.05), ("A", 235280, -3.1)),
         TextDelta(0, "The")],
        [tl(0, " sky", 8203, -0.3, (" sky", 8203, -0.3), (" sea", 9404, -1.5)),
         tl(0, " is", 603, 0.0, (" is", 603, 0.0), (" looks", 4713, -9.0)),
         tl(0, " blue.", 3868, -0.1, (" blue.", 3868, -0.1), (" grey", 13, -2.5)),
         TextDelta(0, " sky is blue."), Finished(0, STOP)],
    ]
    assert decoder.finish() == [Usage(0, 0)]
