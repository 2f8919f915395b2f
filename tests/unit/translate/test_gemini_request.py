"""Gemini's native generateContent / countTokens bodies → the domain request: both key
spellings at every level, round trips through the upstream backend's writer
(backends/gemini_wire.py), every refusal with its exact message and location, and a fuzz of
random JSON that may only ever give a request or an InvalidArgument."""

from __future__ import annotations

import copy
import random
import re
from typing import Any

import pytest

from vertexcompat.backends.gemini_wire import to_count_tokens_body, to_gemini_body
from vertexcompat.domain.content import (
    Content,
    FileDataPart,
    FunctionCallPart,
    FunctionResponsePart,
    GenerateContentRequest,
    GenerationConfig,
    ImageConfig,
    InlineDataPart,
    Part,
    TextPart,
)
from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.domain.locations import FieldPath
from vertexcompat.domain.safety import (
    HarmBlockMethod,
    HarmBlockThreshold,
    HarmCategory,
    SafetySetting,
)
from vertexcompat.domain.thinking import ThinkingConfig
from vertexcompat.domain.tools import FunctionCallingMode, FunctionDeclaration, ToolConfig
from vertexcompat.translate.gemini_request import (
    parse_count_tokens_request,
    parse_generate_request,
)

MODEL = "gemini-2.5-flash"
PARAMS = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
GET = FunctionDeclaration("get_weather", "Weather in a city.", PARAMS)
NOW = FunctionDeclaration("now")
SIG = "CiQB0e2Kb7Zx1yJ5Q0r6tq2m3n4b5v6c7x8z9a0s1d2f3g4h5j6k7l8="
B64 = "UklGRg=="
HI = [{"role": "user", "parts": [{"text": "Hi"}]}]


def user(*parts: Part) -> Content:
    return Content("user", parts)


def model(*parts: Part) -> Content:
    return Content("model", parts)


def req(*contents: Content, **fields: Any) -> GenerateContentRequest:
    return GenerateContentRequest(model=MODEL, contents=contents, **fields)


def parse(body: Any) -> GenerateContentRequest:
    return parse_generate_request(body, model=MODEL)


def config(**fields: Any) -> GenerationConfig:
    return parse({"contents": HI, "generationConfig": fields}).generation_config


def refusal(body: Any, *, count: bool = False) -> tuple[str, str | None]:
    parser = parse_count_tokens_request if count else parse_generate_request
    with pytest.raises(InvalidArgument) as caught:
        parser(body, model=MODEL)
    error = caught.value
    assert error.param is None
    return error.message, None if error.location is None else str(error.location)


def with_config(**fields: Any) -> dict[str, Any]:
    return {"contents": HI, "generationConfig": fields}


# --- what is read ---------------------------------------------------------------------


def test_a_minimal_body() -> None:
    assert parse({"contents": HI}) == req(user(TextPart("Hi")))


def test_the_caller_sets_stream_and_project() -> None:
    got = parse({"contents": HI})
    assert (got.stream, got.project, got.cached_content) == (True, None, None)


FULL_CAMEL: dict[str, Any] = {
    "contents": [
        {"role": "user", "parts": [{"text": "Weather in Oslo?"},
                                   {"inlineData": {"mimeType": "audio/wav", "data": B64}}]},
        {"role": "model", "parts": [
            {"text": "Planning.", "thought": True},
            {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}, "id": "c-1"},
             "thoughtSignature": SIG},
        ]},
        {"role": "user", "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"temp_c": 4},
                                  "id": "c-1"}},
        ]},
    ],
    "systemInstruction": {"parts": [{"text": "Be brief."}]},
    "tools": [{"functionDeclarations": [
        {"name": "get_weather", "description": "Weather in a city.",
         "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}},
                        "required": ["city"]}},
        {"name": "now"},
    ]}],
    "toolConfig": {"functionCallingConfig": {"mode": "ANY",
                                             "allowedFunctionNames": ["get_weather"]}},
    "generationConfig": {
        "temperature": 0.2, "topP": 0.9, "topK": 40, "candidateCount": 2,
        "maxOutputTokens": 256, "stopSequences": ["END"], "presencePenalty": 0.5,
        "frequencyPenalty": -0.5, "seed": 7, "responseMimeType": "application/json",
        "responseSchema": {"type": "OBJECT", "properties": {
            "temp": {"type": "NUMBER", "nullable": True},
            "tags": {"type": "ARRAY", "items": {"type": "STRING"}, "maxItems": 3},
        }, "propertyOrdering": ["temp", "tags"]},
        "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 512},
        "responseModalities": ["TEXT", "IMAGE"],
        "imageConfig": {"aspectRatio": "16:9"},
    },
    "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT",
                        "threshold": "BLOCK_ONLY_HIGH", "method": "SEVERITY"}],
    "labels": {"team": "search"},
}

FULL = req(
    user(TextPart("Weather in Oslo?"),
         InlineDataPart("audio/wav", B64, source="contents[0].parts[1].inline_data.data")),
    model(TextPart("Planning.", thought=True),
          FunctionCallPart("get_weather", {"city": "Oslo"}, id="c-1", thought_signature=SIG)),
    user(FunctionResponsePart("get_weather", {"temp_c": 4}, id="c-1")),
    system_instruction=user(TextPart("Be brief.")),
    tools=(GET, NOW),
    tool_config=ToolConfig(FunctionCallingMode.ANY, allowed_function_names=("get_weather",)),
    generation_config=GenerationConfig(
        temperature=0.2, top_p=0.9, top_k=40, candidate_count=2, max_output_tokens=256,
        stop_sequences=("END",), presence_penalty=0.5, frequency_penalty=-0.5, seed=7,
        response_mime_type="application/json",
        response_schema={"type": "object", "properties": {
            "temp": {"type": ["number", "null"]},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
        }, "propertyOrdering": ["temp", "tags"]},
        thinking_config=ThinkingConfig(budget=512, include_thoughts=True),
        response_modalities=("TEXT", "IMAGE"),
        image_config=ImageConfig(1344, 768, aspect_ratio="16:9"),
    ),
    safety_settings=(SafetySetting(HarmCategory.HARASSMENT, HarmBlockThreshold.BLOCK_ONLY_HIGH,
                                   HarmBlockMethod.SEVERITY),),
)


def snake(value: Any) -> Any:
    """Every key of a body in snake_case (leaving the values, schemas included, alone
    where Gemini's spelling is the same)."""
    if isinstance(value, dict):
        return {re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", k).lower(): snake(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [snake(v) for v in value]
    return value


def test_a_full_body_in_camel_case() -> None:
    assert parse(FULL_CAMEL) == FULL


def test_the_same_body_in_snake_case() -> None:
    body = snake(FULL_CAMEL)
    assert "generation_config" in body and "thinking_config" in body["generation_config"]
    # `args`, `response` and `labels` are data, not fields: put them back as they were.
    body["contents"][1]["parts"][1]["function_call"]["args"] = {"city": "Oslo"}
    assert parse(body) == FULL


def test_mixed_spellings_at_every_level() -> None:
    body = copy.deepcopy(FULL_CAMEL)
    body["system_instruction"] = body.pop("systemInstruction")
    generation = body.pop("generationConfig")
    del generation["thinkingConfig"], generation["imageConfig"]
    generation["thinking_config"] = {"include_thoughts": True, "thinkingBudget": 512}
    generation["top_p"] = generation.pop("topP")
    generation["image_config"] = {"aspect_ratio": "16:9"}
    body["generation_config"] = generation
    body["tool_config"] = {"function_calling_config": body.pop("toolConfig")[
        "functionCallingConfig"]}
    body["safety_settings"] = body.pop("safetySettings")
    assert parse(body) == FULL


def test_nulls_are_unset() -> None:
    body = {"contents": HI, "systemInstruction": None, "tools": None, "toolConfig": None,
            "generationConfig": {"temperature": None, "thinkingConfig": None,
                                 "imageConfig": None, "stopSequences": None},
            "safetySettings": None, "labels": None, "cachedContent": None, "model": None}
    assert parse(body) == req(user(TextPart("Hi")))


def test_cached_content_is_kept_as_named() -> None:
    name = "projects/p/locations/us-central1/cachedContents/123"
    got = parse({"contents": HI, "cachedContent": name})
    assert got == req(user(TextPart("Hi")), cached_content=name)


def test_with_a_cache_the_tool_config_is_left_to_the_cache_service() -> None:
    """The cache holds the declarations; the service refuses a request setting its own."""
    got = parse({"contents": HI, "cached_content": "cachedContents/9",
                 "toolConfig": {"functionCallingConfig": {"mode": "ANY",
                                                          "allowedFunctionNames": ["f"]}}})
    assert got.tool_config == ToolConfig(FunctionCallingMode.ANY, ("f",))


def test_model_in_the_body_is_ignored() -> None:
    assert parse({"contents": HI, "model": "models/other"}).model == MODEL


@pytest.mark.parametrize(("wire", "expected"), [
    ({"thinkingBudget": 0}, ThinkingConfig(budget=0)),
    ({"thinkingBudget": -1}, ThinkingConfig(budget=-1)),
    ({"thinkingBudget": 1}, ThinkingConfig(budget=1)),
    ({"includeThoughts": True}, ThinkingConfig(include_thoughts=True)),
    ({"includeThoughts": False}, ThinkingConfig()),
    ({"thinkingLevel": "LOW"}, ThinkingConfig(budget=1024, level="low")),
    ({"thinkingLevel": "minimal"}, ThinkingConfig(budget=1024, level="minimal")),
    ({"thinkingLevel": "Medium", "includeThoughts": True},
     ThinkingConfig(budget=8192, include_thoughts=True, level="medium")),
    ({"thinking_level": "HIGH"}, ThinkingConfig(budget=24576, level="high")),
    ({"thinkingLevel": "THINKING_LEVEL_UNSPECIFIED", "thinkingBudget": 64},
     ThinkingConfig(budget=64)),
    ({}, None),
    ({"thinkingBudget": None}, None),
])
def test_thinking_config(wire: dict[str, Any], expected: ThinkingConfig | None) -> None:
    assert config(thinkingConfig=wire).thinking_config == expected


@pytest.mark.parametrize(("wire", "expected"), [
    (["TEXT"], ("TEXT",)),
    (["IMAGE"], ("IMAGE",)),
    (["image", "Text", "IMAGE"], ("TEXT", "IMAGE")),
    (["MODALITY_UNSPECIFIED"], ()),
    ([], ()),
])
def test_response_modalities(wire: list[str], expected: tuple[str, ...]) -> None:
    assert config(responseModalities=wire).response_modalities == expected


@pytest.mark.parametrize(("ratio", "size"), [("1:1", (1024, 1024)), ("9:16", (768, 1344)),
                                             ("21:9", (1536, 672))])
def test_an_aspect_ratio_gets_its_pixel_size(ratio: str, size: tuple[int, int]) -> None:
    assert config(imageConfig={"aspectRatio": ratio}).image_config == ImageConfig(
        *size, aspect_ratio=ratio
    )


def test_an_empty_image_config_says_nothing() -> None:
    assert config(imageConfig={}).image_config is None


def test_json_schema_is_taken_as_it_is() -> None:
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "array",
              "items": {"$ref": "#/$defs/x"}, "$defs": {"x": {"type": "integer"}}}
    got = config(responseMimeType="application/json", responseJsonSchema=schema)
    assert (got.response_mime_type, got.response_schema) == ("application/json", schema)


def test_a_response_schema_need_not_be_an_object_schema() -> None:
    got = config(response_mime_type="application/json",
                 response_schema={"type": "ARRAY", "items": {"type": "STRING",
                                                             "enum": ["a", "b"],
                                                             "nullable": True}})
    assert got.response_schema == {"type": "array", "items": {
        "type": ["string", "null"], "enum": ["a", "b", None]}}


@pytest.mark.parametrize(("mime", "expected"), [
    ("text/plain", "text/plain"), ("application/json", "application/json"),
    ("Application/JSON", "application/json"),
])
def test_response_mime_types(mime: str, expected: str) -> None:
    assert config(responseMimeType=mime).response_mime_type == expected


def test_numbers_as_proto3_json_writes_them() -> None:
    got = config(temperature="0.5", topP=1, topK=40.0, candidateCount="3",
                 maxOutputTokens="1e3", seed="-42", presencePenalty=-2, frequencyPenalty=2)
    assert got == GenerationConfig(temperature=0.5, top_p=1.0, top_k=40, candidate_count=3,
                                   max_output_tokens=1000, seed=-42, presence_penalty=-2.0,
                                   frequency_penalty=2.0)
    assert isinstance(got.top_k, int) and isinstance(got.max_output_tokens, int)


def test_bounds_are_inclusive() -> None:
    assert config(temperature=0, topP=1e-9, candidateCount=8, maxOutputTokens=1,
                  stopSequences=["a", "b", "c", "d", "e"], seed=2**31 - 1) == GenerationConfig(
        temperature=0.0, top_p=1e-9, candidate_count=8, max_output_tokens=1,
        stop_sequences=("a", "b", "c", "d", "e"), seed=2**31 - 1,
    )
    assert config(temperature=2, seed=-(2**31)).temperature == 2.0


@pytest.mark.parametrize("field", [
    {"mediaResolution": None},
    {"mediaResolution": "MEDIA_RESOLUTION_UNSPECIFIED"}, {"speechConfig": {}},
    {"audioTimestamp": False}, {"routingConfig": None}, {"enableAffectiveDialog": False},
])
def test_unsupported_fields_holding_their_default_ask_for_nothing(field: dict[str, Any]) -> None:
    assert config(**field) == GenerationConfig()


@pytest.mark.parametrize("key", ["safetySettings", "safety_settings"])
def test_safety_settings_are_read_in_either_spelling(key: str) -> None:
    body = {"contents": HI, key: [
        {"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"},
        {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "threshold": "OFF",
         "method": "PROBABILITY"},
        {"category": "HARM_CATEGORY_HARASSMENT",
         "threshold": "HARM_BLOCK_THRESHOLD_UNSPECIFIED"},
    ]}
    assert parse(body) == req(user(TextPart("Hi")), safety_settings=(
        SafetySetting(HarmCategory.HATE_SPEECH, HarmBlockThreshold.BLOCK_NONE),
        SafetySetting(HarmCategory.DANGEROUS_CONTENT, HarmBlockThreshold.OFF,
                      HarmBlockMethod.PROBABILITY),
    ))


# --- round trips through the upstream backend's writer ---------------------------------


ROUND_TRIPS = [
    req(user(TextPart("Hi"))),
    FULL,
    req(
        user(TextPart("Look"), FileDataPart("gs://b/cat.png", "contents[0].parts[1].file_data."
                                            "file_uri", mime_type="image/png")),
        model(TextPart("A cat."), TextPart("", thought_signature="sig-2")),
        user(TextPart("Draw it")),
        generation_config=GenerationConfig(
            response_modalities=("IMAGE",),
            image_config=ImageConfig(832, 1248, aspect_ratio="2:3"),
        ),
    ),
    req(user(TextPart("x")), tools=(NOW,), tool_config=ToolConfig(FunctionCallingMode.NONE)),
    req(user(TextPart("x")), tools=(GET,), tool_config=ToolConfig(FunctionCallingMode.ANY)),
    req(user(TextPart("x")), generation_config=GenerationConfig(
        thinking_config=ThinkingConfig(budget=24576, include_thoughts=True, level="high"))),
    req(user(TextPart("x")), generation_config=GenerationConfig(
        thinking_config=ThinkingConfig(budget=0))),
    req(user(TextPart("x")), generation_config=GenerationConfig(
        thinking_config=ThinkingConfig(budget=-1, include_thoughts=True))),
    req(user(TextPart("x")), generation_config=GenerationConfig(
        response_mime_type="application/json",
        response_schema={"type": "object", "properties": {"n": {"type": ["integer", "null"]}},
                         "additionalProperties": False})),
    req(user(TextPart("x")), generation_config=GenerationConfig(response_mime_type="text/plain")),
    req(user(TextPart("x")), generation_config=GenerationConfig(
        temperature=0.0, top_p=0.5, top_k=1, max_output_tokens=9, seed=0,
        stop_sequences=("\n\n", "END"), presence_penalty=0.0, frequency_penalty=1.5)),
]


@pytest.mark.parametrize("request_", ROUND_TRIPS)
def test_round_trip_through_the_backends_generate_body(request_: GenerateContentRequest) -> None:
    assert parse(to_gemini_body(request_)) == request_


def test_round_trip_through_the_vertex_count_tokens_body() -> None:
    body = to_count_tokens_body(FULL, vertex=True, model_resource="unused")
    assert set(body) == {"contents", "systemInstruction", "tools"}
    assert parse_count_tokens_request(body, model=MODEL) == req(
        *FULL.contents, system_instruction=FULL.system_instruction, tools=FULL.tools
    )


WRAPPED_CONTENTS = (
    user(TextPart("Weather in Oslo?"),
         InlineDataPart("audio/wav", B64,
                        source="generate_content_request.contents[0].parts[1].inline_data.data")),
    *FULL.contents[1:],
)


def test_round_trip_through_the_developer_count_tokens_body() -> None:
    body = to_count_tokens_body(FULL, vertex=False, model_resource=f"models/{MODEL}")
    assert set(body) == {"generateContentRequest"}
    # The Developer API's form leaves `generationConfig` out; a media part's label is its
    # path inside the wrapper.
    assert parse_count_tokens_request(body, model=MODEL) == req(
        *WRAPPED_CONTENTS, system_instruction=FULL.system_instruction, tools=FULL.tools,
        tool_config=FULL.tool_config,
    )


# --- countTokens ------------------------------------------------------------------------


def test_count_tokens_reads_the_generation_config_too() -> None:
    got = parse_count_tokens_request(
        {"contents": HI, "generation_config": {"maxOutputTokens": 5}, "model": "x"}, model=MODEL
    )
    assert got == req(user(TextPart("Hi")),
                      generation_config=GenerationConfig(max_output_tokens=5))


def test_count_tokens_may_count_no_contents() -> None:
    got = parse_count_tokens_request({"systemInstruction": {"parts": [{"text": "s"}]}},
                                     model=MODEL)
    assert got == req(system_instruction=user(TextPart("s")))
    assert parse_count_tokens_request({}, model=MODEL) == req()


def test_count_tokens_wrapped_request_is_a_full_generate_request() -> None:
    body = {"generateContentRequest": {**FULL_CAMEL, "model": f"models/{MODEL}",
                                       "cachedContent": "cachedContents/1"}}
    got = parse_count_tokens_request(body, model=MODEL)
    assert got == GenerateContentRequest(
        model=MODEL, contents=WRAPPED_CONTENTS, system_instruction=FULL.system_instruction,
        generation_config=FULL.generation_config, tools=FULL.tools,
        tool_config=FULL.tool_config, cached_content="cachedContents/1",
        safety_settings=FULL.safety_settings,
    )


# --- refusals ---------------------------------------------------------------------------


UNKNOWN = 'Invalid JSON payload received. Unknown name "{}"{}: Cannot find field.'

REFUSALS: list[tuple[Any, str, str | None]] = [
    # the body
    ([], "The request body must be a JSON object, got a list.", None),
    ("x", "The request body must be a JSON object, got a string.", None),
    ({}, "Missing required field `contents`.", "contents"),
    ({"contents": None}, "Missing required field `contents`.", "contents"),
    ({"contents": []}, "`contents` must not be empty: a request needs at least one content.",
     "contents"),
    # unknown names, in Google's words, at their snake_case path
    ({"contents": HI, "fooBar": 1}, UNKNOWN.format("fooBar", ""), "foo_bar"),
    ({"contents": HI, "a b": 1}, UNKNOWN.format("a b", ""), None),
    ({"contents": HI, "generationConfig": {"temprature": 1}},
     UNKNOWN.format("temprature", " at 'generation_config'"), "generation_config.temprature"),
    ({"contents": HI, "generationConfig": {"thinkingConfig": {"budget": 1}}},
     UNKNOWN.format("budget", " at 'generation_config.thinking_config'"),
     "generation_config.thinking_config.budget"),
    ({"contents": HI, "generationConfig": {"imageConfig": {"aspect": "1:1"}}},
     UNKNOWN.format("aspect", " at 'generation_config.image_config'"),
     "generation_config.image_config.aspect"),
    ({"contents": HI, "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT",
                                          "Threshold": "OFF"}]},
     "Invalid JSON payload received. Unknown name \"Threshold\" at 'safety_settings[0]': "
     "Cannot find field (expected one of: category, threshold, method).",
     "safety_settings[0].threshold"),
    # both spellings
    ({"contents": HI, "generationConfig": {}, "generation_config": {}},
     "`generation_config` is given twice (as `generation_config` and `generationConfig`).",
     "generation_config"),
    ({"contents": HI, "generationConfig": {"top_k": None, "topK": 3}},
     "`generation_config.top_k` is given twice (as `top_k` and `topK`).",
     "generation_config.top_k"),
    ({"contents": HI, "generationConfig": {"thinkingConfig": {
        "include_thoughts": True, "includeThoughts": True}}},
     "`generation_config.thinking_config.include_thoughts` is given twice (as "
     "`include_thoughts` and `includeThoughts`).",
     "generation_config.thinking_config.include_thoughts"),
    # types of the request's own fields
    ({"contents": HI, "generationConfig": []},
     "`generation_config` must be an object, got a list.", "generation_config"),
    ({"contents": HI, "cachedContent": 5},
     "`cached_content` must be a string, got a number.", "cached_content"),
    ({"contents": HI, "cachedContent": ""}, "`cached_content` must not be empty.",
     "cached_content"),
    ({"contents": HI, "model": {}}, "`model` must be a string, got an object.", "model"),
    ({"contents": HI, "safetySettings": {}},
     "`safety_settings` must be a list, got an object.", "safety_settings"),
    ({"contents": HI, "safetySettings": ["BLOCK_NONE"]},
     "`safety_settings[0]` must be an object (a safety setting), got a string.",
     "safety_settings[0]"),
    ({"contents": HI, "safetySettings": [{"category": 1}]},
     "`safety_settings[0].category` must be a string (one of HARM_CATEGORY_HARASSMENT, "
     "HARM_CATEGORY_HATE_SPEECH, HARM_CATEGORY_SEXUALLY_EXPLICIT, "
     "HARM_CATEGORY_DANGEROUS_CONTENT, HARM_CATEGORY_CIVIC_INTEGRITY), got a number.",
     "safety_settings[0].category"),
    ({"contents": HI, "labels": ["a"]},
     "`labels` must be an object (a map of strings), got a list.", "labels"),
    ({"contents": HI, "labels": {"team": 1}},
     '`labels` must map strings to strings; the value of "team" is a number.', "labels"),
    # unsupported request fields
    ({"contents": HI, "modelArmorConfig": {"promptTemplateName": "t"}},
     "`model_armor_config` is not supported yet by this server (Model Armor screening).",
     "model_armor_config"),
    ({"contents": HI, "serviceTier": "FLEX"},
     "`service_tier` is not supported yet by this server (service tiers).", "service_tier"),
    # contents, tools and tool config: gemini_contents' refusals at their paths
    ({"contents": [{"parts": []}]},
     "`contents[0].parts` must not be empty: a content needs at least one part.",
     "contents[0].parts"),
    ({"contents": HI, "systemInstruction": {"parts": [{"inlineData": {
        "mimeType": "image/png", "data": B64}}]}},
     "`system_instruction.parts[0].inline_data`: a system instruction holds text parts only.",
     "system_instruction.parts[0].inline_data"),
    ({"contents": HI, "tools": [{"codeExecution": {}}]},
     "`tools[0].code_execution`: this server does not support code execution; only function "
     "declarations (`function_declarations`) and grounding (`google_search`, "
     "`google_search_retrieval`, `retrieval`) are supported as tools.",
     "tools[0].code_execution"),
    # the tool config against the declarations
    ({"contents": HI, "tools": [{"functionDeclarations": [{"name": "now"}]}],
      "toolConfig": {"functionCallingConfig": {"mode": "ANY",
                                               "allowedFunctionNames": ["now", "later"]}}},
     "`tool_config.function_calling_config.allowed_function_names[1]` names \"later\", which "
     "is not a declared function (declared: 'now').",
     "tool_config.function_calling_config.allowed_function_names[1]"),
    ({"contents": HI, "toolConfig": {"functionCallingConfig": {"mode": "ANY"}}},
     "`tool_config.function_calling_config.mode` is ANY but the request declares no "
     "functions (`tools`).", "tool_config.function_calling_config.mode"),
    ({"contents": HI, "toolConfig": {"functionCallingConfig": {
        "mode": "ANY", "allowedFunctionNames": ["f"]}}},
     "`tool_config.function_calling_config.allowed_function_names[0]` names \"f\", which is "
     "not a declared function (declared: none).",
     "tool_config.function_calling_config.allowed_function_names[0]"),
    # generationConfig values
    (with_config(temperature=2.5),
     "`generation_config.temperature` must be between 0 and 2, got 2.5.",
     "generation_config.temperature"),
    (with_config(temperature=-0.1),
     "`generation_config.temperature` must be between 0 and 2, got -0.1.",
     "generation_config.temperature"),
    (with_config(temperature=float("nan")),
     "`generation_config.temperature` must be between 0 and 2, got NaN.",
     "generation_config.temperature"),
    (with_config(temperature="hot"),
     "`generation_config.temperature` must be a number, got a string.",
     "generation_config.temperature"),
    (with_config(temperature=True),
     "`generation_config.temperature` must be a number, got a boolean.",
     "generation_config.temperature"),
    (with_config(topP=0), "`generation_config.top_p` must be greater than 0 and at most 1, "
     "got 0.", "generation_config.top_p"),
    (with_config(top_p=1.5), "`generation_config.top_p` must be greater than 0 and at most 1, "
     "got 1.5.", "generation_config.top_p"),
    (with_config(topK=0), "`generation_config.top_k` must be an integer from 1 to 2147483647, "
     "got 0.", "generation_config.top_k"),
    (with_config(topK=2.5), "`generation_config.top_k` must be an integer, got a number.",
     "generation_config.top_k"),
    (with_config(topK="2.5"), "`generation_config.top_k` must be an integer, got a string.",
     "generation_config.top_k"),
    (with_config(candidateCount=9),
     "`generation_config.candidate_count` must be an integer from 1 to 8, got 9.",
     "generation_config.candidate_count"),
    (with_config(candidateCount=0),
     "`generation_config.candidate_count` must be an integer from 1 to 8, got 0.",
     "generation_config.candidate_count"),
    (with_config(maxOutputTokens=0),
     "`generation_config.max_output_tokens` must be an integer from 1 to 2147483647, got 0.",
     "generation_config.max_output_tokens"),
    (with_config(maxOutputTokens=2**31),
     "`generation_config.max_output_tokens` must be an integer from 1 to 2147483647, "
     "got 2147483648.", "generation_config.max_output_tokens"),
    (with_config(seed=-(2**31) - 1),
     "`generation_config.seed` must be an integer from -2147483648 to 2147483647, "
     "got -2147483649.", "generation_config.seed"),
    (with_config(seed=10**5000),
     "`generation_config.seed` must be an integer from -2147483648 to 2147483647, "
     "got a number.", "generation_config.seed"),
    (with_config(presencePenalty=2.01),
     "`generation_config.presence_penalty` must be between -2 and 2, got 2.01.",
     "generation_config.presence_penalty"),
    (with_config(frequency_penalty=-3),
     "`generation_config.frequency_penalty` must be between -2 and 2, got -3.",
     "generation_config.frequency_penalty"),
    (with_config(stopSequences="END"),
     "`generation_config.stop_sequences` must be a list, got a string.",
     "generation_config.stop_sequences"),
    (with_config(stopSequences=["a"] * 6),
     "`generation_config.stop_sequences` holds 6 sequences; at most 5 are allowed.",
     "generation_config.stop_sequences"),
    (with_config(stopSequences=["a", 1]),
     "`generation_config.stop_sequences[1]` must be a string, got a number.",
     "generation_config.stop_sequences[1]"),
    (with_config(stopSequences=["a", ""]),
     "`generation_config.stop_sequences[1]` must not be empty.",
     "generation_config.stop_sequences[1]"),
    # structured output
    (with_config(responseMimeType="text/x.enum"),
     '`generation_config.response_mime_type` is "text/x.enum"; this server supports '
     '"text/plain", "application/json".', "generation_config.response_mime_type"),
    (with_config(responseMimeType=["application/json"]),
     "`generation_config.response_mime_type` must be a string, got a list.",
     "generation_config.response_mime_type"),
    (with_config(responseMimeType="application/json", responseSchema={"type": "STRING"},
                 responseJsonSchema={"type": "string"}),
     "`generation_config.response_json_schema` and `generation_config.response_schema` "
     "cannot both be set.", "generation_config.response_json_schema"),
    (with_config(responseSchema={"type": "STRING"}),
     '`generation_config.response_schema` needs `generation_config.response_mime_type` to be '
     '"application/json".', "generation_config.response_schema"),
    (with_config(responseMimeType="text/plain", responseJsonSchema={"type": "string"}),
     '`generation_config.response_json_schema` needs `generation_config.response_mime_type` '
     'to be "application/json".', "generation_config.response_json_schema"),
    (with_config(responseMimeType="application/json", responseSchema="STRING"),
     "`generation_config.response_schema` must be an object (a schema), got a string.",
     "generation_config.response_schema"),
    (with_config(responseMimeType="application/json", responseJsonSchema=True),
     "`generation_config.response_json_schema` must be an object (a schema), got a boolean.",
     "generation_config.response_json_schema"),
    (with_config(responseMimeType="application/json", responseSchema={"type": "WORD"}),
     "Invalid JSON schema in `generation_config.response_schema` at type: 'WORD' is not "
     "valid under any of the given schemas", "generation_config.response_schema"),
    (with_config(responseMimeType="application/json", responseJsonSchema={"minItems": -1}),
     "Invalid JSON schema in `generation_config.response_json_schema` at minItems: -1 is less "
     "than the minimum of 0", "generation_config.response_json_schema"),
    (with_config(responseMimeType="application/json", responseSchema={
        "type": "STRING", "nullable": "yes"}),
     "Invalid schema in `generation_config.response_schema` at (root): `nullable` must be a "
     "boolean, got a string.", "generation_config.response_schema"),
    # thinking
    (with_config(thinkingConfig={"thinkingBudget": -2}),
     "`generation_config.thinking_config.thinking_budget` must be an integer from -1 to "
     "2147483647, got -2.", "generation_config.thinking_config.thinking_budget"),
    (with_config(thinkingConfig={"thinkingBudget": 1.5}),
     "`generation_config.thinking_config.thinking_budget` must be an integer, got a number.",
     "generation_config.thinking_config.thinking_budget"),
    (with_config(thinkingConfig={"includeThoughts": "true"}),
     "`generation_config.thinking_config.include_thoughts` must be a boolean, got a string.",
     "generation_config.thinking_config.include_thoughts"),
    (with_config(thinkingConfig={"thinkingLevel": "EXTREME"}),
     '`generation_config.thinking_config.thinking_level` is "EXTREME"; expected one of '
     "MINIMAL, LOW, MEDIUM, HIGH.", "generation_config.thinking_config.thinking_level"),
    (with_config(thinkingConfig={"thinkingLevel": 2}),
     "`generation_config.thinking_config.thinking_level` must be a string, got a number.",
     "generation_config.thinking_config.thinking_level"),
    (with_config(thinkingConfig={"thinkingLevel": "LOW", "thinkingBudget": 1024}),
     "`generation_config.thinking_config.thinking_budget` and "
     "`generation_config.thinking_config.thinking_level` cannot both be set; give a budget in "
     "tokens or a level, not both.", "generation_config.thinking_config"),
    (with_config(thinkingConfig=True),
     "`generation_config.thinking_config` must be an object, got a boolean.",
     "generation_config.thinking_config"),
    # modalities and images
    (with_config(responseModalities="TEXT"),
     "`generation_config.response_modalities` must be a list, got a string.",
     "generation_config.response_modalities"),
    (with_config(responseModalities=["TEXT", "AUDIO"]),
     "`generation_config.response_modalities[1]`: this server does not support AUDIO output; "
     "use TEXT or IMAGE.", "generation_config.response_modalities[1]"),
    (with_config(responseModalities=["PICTURE"]),
     '`generation_config.response_modalities[0]` is "PICTURE"; expected "TEXT" or "IMAGE".',
     "generation_config.response_modalities[0]"),
    (with_config(responseModalities=[None]),
     '`generation_config.response_modalities[0]` must be a string ("TEXT" or "IMAGE"), '
     "got null.", "generation_config.response_modalities[0]"),
    (with_config(imageConfig={"aspectRatio": "7:3"}),
     '`generation_config.image_config.aspect_ratio` is "7:3"; supported aspect ratios are: '
     "1:1, 2:3, 3:2, 3:4, 4:3, 4:5, 5:4, 9:16, 16:9, 21:9.",
     "generation_config.image_config.aspect_ratio"),
    (with_config(imageConfig={"imageSize": "2K"}),
     "`generation_config.image_config.image_size` is not supported yet by this server (image "
     "sizes other than the aspect ratio's default).", "generation_config.image_config.image_size"),
    # unsupported generation fields
    (with_config(logprobs=5),
     "`generation_config.logprobs` needs `generation_config.response_logprobs` to be true.",
     "generation_config.logprobs"),
    (with_config(responseLogprobs=True, logprobs=21),
     "`generation_config.logprobs` must be an integer from 0 to 20, got 21.",
     "generation_config.logprobs"),
    (with_config(media_resolution="MEDIA_RESOLUTION_LOW"),
     "`generation_config.media_resolution` is not supported yet by this server (media "
     "resolution).", "generation_config.media_resolution"),
    (with_config(speechConfig={"voiceConfig": {}}),
     "`generation_config.speech_config` is not supported yet by this server (speech output).",
     "generation_config.speech_config"),
    (with_config(audioTimestamp=True),
     "`generation_config.audio_timestamp` is not supported yet by this server (audio "
     "timestamps).", "generation_config.audio_timestamp"),
    (with_config(routingConfig={"autoMode": {}}),
     "`generation_config.routing_config` is not supported yet by this server (model routing).",
     "generation_config.routing_config"),
    (with_config(modelConfig={"featureSelectionPreference": "PRIORITIZE_COST"}),
     "`generation_config.model_config` is not supported yet by this server (model "
     "selection).", "generation_config.model_config"),
    (with_config(enableAffectiveDialog=True),
     "`generation_config.enable_affective_dialog` is not supported yet by this server "
     "(affective dialog).", "generation_config.enable_affective_dialog"),
    (with_config(enable_enhanced_civic_answers=True),
     "`generation_config.enable_enhanced_civic_answers` is not supported yet by this server "
     "(enhanced civic answers).", "generation_config.enable_enhanced_civic_answers"),
    (with_config(audioTranscriptionConfig={"x": 1}),
     "`generation_config.audio_transcription_config` is not supported yet by this server "
     "(audio transcription).", "generation_config.audio_transcription_config"),
]


@pytest.mark.parametrize(("body", "message", "location"), REFUSALS)
def test_refusals(body: Any, message: str, location: str | None) -> None:
    assert refusal(body) == (message, location)


COUNT_REFUSALS: list[tuple[Any, str, str | None]] = [
    (None, "The request body must be a JSON object, got null.", None),
    ({"contents": HI, "instances": [{"prompt": "x"}]},
     "`instances` is not supported yet by this server (`instances` (send `contents`)).",
     "instances"),
    ({"contents": HI, "toolConfig": {}},
     UNKNOWN.format("toolConfig", ""), "tool_config"),
    ({"contents": HI, "cachedContent": "c"}, UNKNOWN.format("cachedContent", ""),
     "cached_content"),
    ({"contents": HI, "generateContentRequest": {"contents": HI}},
     "`contents` and `generate_content_request` cannot both be set: send the request's fields "
     "at the top level or inside `generate_content_request`.", "contents"),
    ({"generateContentRequest": {}},
     "Missing required field `generate_content_request.contents`.",
     "generate_content_request.contents"),
    ({"generateContentRequest": []},
     "`generate_content_request` must be an object, got a list.", "generate_content_request"),
    ({"generateContentRequest": {"contents": HI, "generationConfig": {"topK": 0}}},
     "`generate_content_request.generation_config.top_k` must be an integer from 1 to "
     "2147483647, got 0.", "generate_content_request.generation_config.top_k"),
    ({"generateContentRequest": {"contents": HI, "tool_config": {"functionCallingConfig": {
        "mode": "ANY"}}}},
     "`generate_content_request.tool_config.function_calling_config.mode` is ANY but the "
     "request declares no functions (`tools`).",
     "generate_content_request.tool_config.function_calling_config.mode"),
    ({"generateContentRequest": {"contents": [{"role": "bot", "parts": [{"text": "x"}]}]}},
     '`generate_content_request.contents[0].role` must be "user" or "model", got \'bot\'.',
     "generate_content_request.contents[0].role"),
    ({"generateContentRequest": {"contents": HI, "x": 1}},
     UNKNOWN.format("x", " at 'generate_content_request'"), "generate_content_request.x"),
    ({"contents": HI, "generationConfig": {"candidateCount": 10}},
     "`generation_config.candidate_count` must be an integer from 1 to 8, got 10.",
     "generation_config.candidate_count"),
    ({"contents": [{"parts": [{"text": 1}]}]},
     "`contents[0].parts[0].text` must be a string, got a number.", "contents[0].parts[0].text"),
]


@pytest.mark.parametrize(("body", "message", "location"), COUNT_REFUSALS)
def test_count_tokens_refusals(body: Any, message: str, location: str | None) -> None:
    assert refusal(body, count=True) == (message, location)


def test_a_long_unknown_name_is_cut_short() -> None:
    message, location = refusal({"contents": HI, "x" * 300: 1})
    assert message == UNKNOWN.format("x" * 100 + "…", "")
    assert location == "x" * 300


def test_every_location_is_a_field_path() -> None:
    for body, _, location in REFUSALS:
        if location is not None:
            assert str(FieldPath.parse(location)) == location
        with pytest.raises(InvalidArgument) as caught:
            parse(body)
        assert caught.value.location is None or caught.value.location.steps


# --- fuzz -------------------------------------------------------------------------------


KEYS = [
    "contents", "role", "parts", "text", "thought", "thoughtSignature", "inlineData",
    "mimeType", "data", "fileData", "fileUri", "functionCall", "functionResponse", "name",
    "args", "response", "id", "systemInstruction", "system_instruction", "tools",
    "functionDeclarations", "parameters", "parametersJsonSchema", "toolConfig",
    "functionCallingConfig", "mode", "allowedFunctionNames", "generationConfig",
    "generation_config", "temperature", "topP", "top_p", "topK", "candidateCount",
    "maxOutputTokens", "stopSequences", "presencePenalty", "frequencyPenalty", "seed",
    "responseMimeType", "responseSchema", "responseJsonSchema", "type", "properties", "items",
    "nullable", "enum", "anyOf", "required", "thinkingConfig", "thinkingBudget",
    "includeThoughts", "thinkingLevel", "responseModalities", "imageConfig", "aspectRatio",
    "safetySettings", "category", "threshold", "method", "labels", "cachedContent", "model",
    "generateContentRequest", "speechConfig", "responseLogprobs", "x", "", "a b", "$ref",
]
STRINGS = [
    "", "user", "model", "bot", "TEXT", "IMAGE", "AUDIO", "OBJECT", "STRING", "ARRAY",
    "object", "string", "ANY", "AUTO", "NONE", "VALIDATED", "LOW", "high", "16:9", "7:3",
    "application/json", "text/plain", "image/png", B64, "not base64!", "gs://b/x.png",
    "0.5", "1e3", "-1", "nan", "Infinity", "f", "get_weather", "cachedContents/1", "\x00", "é",
    "HARM_CATEGORY_HARASSMENT", "BLOCK_NONE", "SEVERITY", "HARM_BLOCK_THRESHOLD_UNSPECIFIED",
]


def junk(rng: random.Random, depth: int) -> Any:
    kind = rng.random()
    if depth <= 0 or kind < 0.35:
        return rng.choice([
            None, True, False, 0, 1, -1, 2, 9, 2**31, -(2**40), 0.5, 1.5, -0.0, 1e308,
            float("nan"), float("inf"), rng.choice(STRINGS), rng.choice(KEYS),
        ])
    if kind < 0.6:
        return [junk(rng, depth - 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice(KEYS): junk(rng, depth - 1) for _ in range(rng.randint(0, 4))}


def mutate(rng: random.Random, value: Any, depth: int = 0) -> Any:
    """A well-formed body with a random value somewhere replaced by junk."""
    if rng.random() < 0.15 or depth > 6:
        return junk(rng, 3)
    if isinstance(value, dict):
        out = {k: mutate(rng, v, depth + 1) if rng.random() < 0.5 else v
               for k, v in value.items()}
        if rng.random() < 0.2:
            out[rng.choice(KEYS)] = junk(rng, 2)
        if out and rng.random() < 0.1:
            del out[rng.choice(list(out))]
        return out
    if isinstance(value, list):
        return [mutate(rng, v, depth + 1) if rng.random() < 0.5 else v for v in value]
    return value


def only_invalid_argument(parser: Any, body: Any) -> None:
    try:
        got = parser(body, model=MODEL)
    except InvalidArgument as exc:
        assert exc.param is None, body
        assert exc.location is None or (
            exc.location.steps and str(FieldPath.parse(str(exc.location))) == str(exc.location)
        ), body
    else:
        assert isinstance(got, GenerateContentRequest)


def test_fuzz_random_bodies_give_a_request_or_an_invalid_argument() -> None:
    rng = random.Random(20240611)
    for _ in range(3000):
        body = junk(rng, 5) if rng.random() < 0.3 else mutate(rng, FULL_CAMEL)
        only_invalid_argument(parse_generate_request, body)
        only_invalid_argument(parse_count_tokens_request, body)
        only_invalid_argument(parse_count_tokens_request, {"generateContentRequest": body})


def test_fuzz_random_generation_configs() -> None:
    rng = random.Random(7)
    generation = FULL_CAMEL["generationConfig"]
    for _ in range(2000):
        fields = {rng.choice(list(generation) + KEYS): junk(rng, 3)
                  for _ in range(rng.randint(1, 4))}
        only_invalid_argument(parse_generate_request, {"contents": HI,
                                                       "generationConfig": fields})


def test_log_probabilities_are_asked_for_as_gemini_spells_them() -> None:
    cfg = parse(with_config(responseLogprobs=True, logprobs=3)).generation_config
    assert (cfg.response_logprobs, cfg.logprobs) == (True, 3)
    cfg = parse(with_config(response_logprobs=True)).generation_config
    assert (cfg.response_logprobs, cfg.logprobs) == (True, 0)
    cfg = parse(with_config(responseLogprobs=False, logprobs=0)).generation_config
    assert (cfg.response_logprobs, cfg.logprobs) == (False, 0)
