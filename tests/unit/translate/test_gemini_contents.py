"""Gemini wire `contents` / `systemInstruction` / `tools` / `toolConfig` ⇄ domain objects:
every part kind in both key spellings, the round trip, and every 400 with its exact
location."""

import re

import pytest

from vertexcompat.domain.content import (
    Content,
    FileDataPart,
    FunctionCallPart,
    FunctionResponsePart,
    ImageDescriptionPart,
    InlineDataPart,
    TextPart,
    TranscriptPart,
)
from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.domain.tools import FunctionCallingMode, FunctionDeclaration, ToolConfig
from vertexcompat.translate.gemini_contents import (
    contents_to_wire,
    parse_contents,
    parse_system_instruction,
    parse_tool_config,
    parse_tools,
    system_instruction_to_wire,
    tool_config_to_wire,
    tools_to_wire,
)

TEXT = {"text": "hi"}
B64 = "UklGRg=="  # b"RIFF"
PARAMS = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def one_part(part, role="user"):
    """The single part of a single content."""
    (content,) = parse_contents([{"role": role, "parts": [part]}])
    (parsed,) = content.parts
    return parsed


# --- parts, camelCase and snake_case ---------------------------------------------------


@pytest.mark.parametrize("key", ["thoughtSignature", "thought_signature"])
def test_text_part_with_thought_and_signature(key):
    assert one_part({"text": "hmm", "thought": True, key: "sig"}, role="model") == TextPart(
        "hmm", thought=True, thought_signature="sig"
    )


def test_text_part_signature_source_is_its_wire_path():
    content = parse_contents([{"role": "model", "parts": [TEXT, {"text": "a", "thoughtSignature": "s"}]}])
    assert content[0].parts[1].signature_source == "contents[0].parts[1].thought_signature"


def test_plain_text_part():
    assert one_part({"text": ""}) == TextPart("")
    assert one_part(TEXT) == TextPart("hi")


@pytest.mark.parametrize(
    "part",
    [
        {"inlineData": {"mimeType": "audio/wav", "data": B64}},
        {"inline_data": {"mime_type": "audio/wav", "data": B64}},
        {"inlineData": {"mime_type": "audio/wav", "data": B64}},
    ],
)
def test_inline_data_part(part):
    assert one_part(part) == InlineDataPart(
        mime_type="audio/wav", data=B64, source="contents[0].parts[0].inline_data.data"
    )


@pytest.mark.parametrize(
    "part",
    [
        {"fileData": {"mimeType": "image/png", "fileUri": "gs://b/cat.png"}},
        {"file_data": {"mime_type": "image/png", "file_uri": "gs://b/cat.png"}},
    ],
)
def test_file_data_part(part):
    assert one_part(part) == FileDataPart(
        file_uri="gs://b/cat.png", source="contents[0].parts[0].file_data.file_uri",
        mime_type="image/png",
    )


def test_file_data_mime_type_is_optional():
    part = one_part({"fileData": {"fileUri": "https://x/cat.png"}})
    assert part == FileDataPart("https://x/cat.png", "contents[0].parts[0].file_data.file_uri")


@pytest.mark.parametrize(
    "part",
    [
        {"functionCall": {"name": "f", "args": {"a": 1}, "id": "c1"}, "thoughtSignature": "s"},
        {"function_call": {"name": "f", "args": {"a": 1}, "id": "c1"}, "thought_signature": "s"},
    ],
)
def test_function_call_part(part):
    parsed = one_part(part, role="model")
    assert parsed == FunctionCallPart(name="f", args={"a": 1}, id="c1", thought_signature="s")
    assert parsed.signature_source == "contents[0].parts[0].thought_signature"


def test_function_call_args_and_id_are_optional():
    assert one_part({"functionCall": {"name": "f"}}, role="model") == FunctionCallPart("f", {})


@pytest.mark.parametrize(
    "part",
    [
        {"functionResponse": {"name": "f", "response": {"t": 20}, "id": "c1"}},
        {"function_response": {"name": "f", "response": {"t": 20}, "id": "c1"}},
    ],
)
def test_function_response_part(part):
    assert one_part(part) == FunctionResponsePart(name="f", response={"t": 20}, id="c1")


def test_roles():
    contents = parse_contents(
        [
            {"parts": [TEXT]},  # unset: the user's
            {"role": "model", "parts": [TEXT]},
            {"role": "function", "parts": [{"functionResponse": {"name": "f", "response": {}}}]},
            {"role": None, "parts": [TEXT]},
        ]
    )
    assert [c.role for c in contents] == ["user", "model", "user", "user"]


def test_empty_and_unset_contents():
    assert parse_contents([]) == ()
    assert parse_contents(None) == ()


def test_null_fields_are_unset():
    part = one_part({"text": "x", "inlineData": None, "thought": None, "thoughtSignature": None})
    assert part == TextPart("x")


def test_several_contents_and_parts_keep_their_order():
    contents = parse_contents(
        [
            {"role": "user", "parts": [{"text": "a"}, {"fileData": {"fileUri": "gs://b/x.png"}}]},
            {"role": "model", "parts": [{"text": "b"}]},
        ]
    )
    assert contents[0].parts[0] == TextPart("a")
    assert contents[0].parts[1].source == "contents[0].parts[1].file_data.file_uri"
    assert contents[1] == Content(role="model", parts=(TextPart("b"),))


def test_field_names_the_location_prefix():
    (content,) = parse_contents(
        [{"parts": [{"inlineData": {"mimeType": "audio/wav", "data": B64}}]}],
        field="cached_content.contents",
    )
    assert content.parts[0].source == "cached_content.contents[0].parts[0].inline_data.data"
    with pytest.raises(InvalidArgument) as info:
        parse_contents([{"parts": []}], field="cached_content.contents")
    assert str(info.value.location) == "cached_content.contents[0].parts"


# --- system instruction ----------------------------------------------------------------


def test_system_instruction():
    assert parse_system_instruction(None) is None
    for role in ({}, {"role": "system"}, {"role": "user"}):
        parsed = parse_system_instruction({**role, "parts": [{"text": "be brief"}, {"text": "ok"}]})
        assert parsed == Content(role="user", parts=(TextPart("be brief"), TextPart("ok")))


# --- tools -----------------------------------------------------------------------------


def test_tools_are_flattened_across_tools_in_either_spelling():
    decls = parse_tools(
        [
            {"functionDeclarations": [{"name": "a", "description": "A", "parameters": PARAMS}]},
            {"function_declarations": [{"name": "b"}, {"name": "c.d:e-f", "parameters_json_schema": PARAMS}]},
            {"functionDeclarations": []},
        ]
    )
    assert decls == (
        FunctionDeclaration("a", "A", PARAMS),
        FunctionDeclaration("b"),
        FunctionDeclaration("c.d:e-f", None, PARAMS),
    )
    assert parse_tools(None) == ()
    assert parse_tools([]) == ()


def test_gemini_schema_parameters_become_json_schema():
    gemini = {
        "type": "OBJECT",
        "properties": {
            "unit": {"type": "STRING", "enum": ["C", "F"], "nullable": True},
            "days": {"type": "ARRAY", "items": {"type": "INTEGER"}, "max_items": 7},
            "where": {"any_of": [{"type": "STRING"}, {"type": "NUMBER", "format": "double"}]},
        },
        "required": ["days"],
        "propertyOrdering": ["unit", "days", "where"],
    }
    (decl,) = parse_tools([{"functionDeclarations": [{"name": "f", "parameters": gemini}]}])
    assert decl.parameters == {
        "type": "object",
        "properties": {
            "unit": {"type": ["string", "null"], "enum": ["C", "F", None]},
            "days": {"type": "array", "items": {"type": "integer"}, "maxItems": 7},
            "where": {"anyOf": [{"type": "string"}, {"type": "number", "format": "double"}]},
        },
        "required": ["days"],
        "propertyOrdering": ["unit", "days", "where"],
    }
    assert gemini["type"] == "OBJECT"  # the client's dict is left as it was


def test_parameters_json_schema_is_kept_as_sent():
    schema = {"type": "object", "properties": {"x": {"type": "string", "nullable": True}}}
    (decl,) = parse_tools([{"functionDeclarations": [{"name": "f", "parametersJsonSchema": schema}]}])
    assert decl.parameters == schema


# --- tool config -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ({}, ToolConfig()),
        ({"functionCallingConfig": {}}, ToolConfig()),
        ({"functionCallingConfig": {"mode": "MODE_UNSPECIFIED"}}, ToolConfig()),
        ({"function_calling_config": {"mode": "NONE"}}, ToolConfig(FunctionCallingMode.NONE)),
        ({"functionCallingConfig": {"mode": "auto"}}, ToolConfig(FunctionCallingMode.AUTO)),
        (
            {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f", "g"]}},
            ToolConfig(FunctionCallingMode.ANY, ("f", "g")),
        ),
        (
            {"function_calling_config": {"mode": "ANY", "allowed_function_names": ["f"]}},
            ToolConfig(FunctionCallingMode.ANY, ("f",)),
        ),
    ],
)
def test_tool_config(wire, expected):
    assert parse_tool_config(wire) == expected


def test_unset_tool_config():
    assert parse_tool_config(None) is None
    assert tool_config_to_wire(None) is None


# --- writing and the round trip --------------------------------------------------------

ALL_PARTS_WIRE = [
    {"role": "user", "parts": [
        {"text": "look"},
        {"inlineData": {"mimeType": "audio/wav", "data": B64}},
        {"fileData": {"fileUri": "gs://b/cat.png", "mimeType": "image/png"}},
        {"fileData": {"fileUri": "https://x/dog.png"}},
    ]},
    {"role": "model", "parts": [
        {"text": "thinking", "thought": True},
        {"text": "answer", "thoughtSignature": "sig-text"},
        {"functionCall": {"name": "f", "args": {"a": [1, {"b": None}]}, "id": "c1"},
         "thoughtSignature": "sig-call"},
        {"functionCall": {"name": "g", "args": {}}},
    ]},
    {"role": "user", "parts": [
        {"functionResponse": {"name": "f", "response": {"ok": True}, "id": "c1"}},
        {"functionResponse": {"name": "g", "response": {"content": "text"}}},
    ]},
]


def test_contents_to_wire_is_camel_case_gemini():
    assert contents_to_wire(parse_contents(ALL_PARTS_WIRE)) == ALL_PARTS_WIRE


def test_contents_round_trip_for_every_part_kind():
    contents = parse_contents(ALL_PARTS_WIRE)
    kinds = {type(p) for c in contents for p in c.parts}
    assert kinds == {TextPart, InlineDataPart, FileDataPart, FunctionCallPart, FunctionResponsePart}
    assert parse_contents(contents_to_wire(contents)) == contents


def test_snake_case_input_writes_back_camel_case():
    snake = [{"role": "user", "parts": [{"inline_data": {"mime_type": "audio/wav", "data": B64}}]}]
    assert contents_to_wire(parse_contents(snake)) == [
        {"role": "user", "parts": [{"inlineData": {"mimeType": "audio/wav", "data": B64}}]}
    ]


def test_system_instruction_round_trip():
    system = parse_system_instruction({"parts": [{"text": "a"}, {"text": "b"}]})
    wire = system_instruction_to_wire(system)
    assert wire == {"role": "user", "parts": [{"text": "a"}, {"text": "b"}]}
    assert parse_system_instruction(wire) == system
    assert system_instruction_to_wire(None) is None


def test_tools_round_trip():
    decls = parse_tools(
        [
            {"functionDeclarations": [{"name": "a", "description": "A", "parameters": {
                "type": "OBJECT", "properties": {"x": {"type": "STRING", "nullable": True}}}}]},
            {"functionDeclarations": [{"name": "b"}, {"name": "c", "parametersJsonSchema": PARAMS}]},
        ]
    )
    wire = tools_to_wire(decls)
    assert wire == [{"functionDeclarations": [
        {"name": "a", "description": "A", "parametersJsonSchema": {
            "type": "object", "properties": {"x": {"type": ["string", "null"]}}}},
        {"name": "b"},
        {"name": "c", "parametersJsonSchema": PARAMS},
    ]}]
    assert parse_tools(wire) == decls
    assert tools_to_wire(()) == []


@pytest.mark.parametrize(
    "config",
    [
        ToolConfig(),
        ToolConfig(FunctionCallingMode.NONE),
        ToolConfig(FunctionCallingMode.ANY),
        ToolConfig(FunctionCallingMode.ANY, ("f", "g")),
    ],
)
def test_tool_config_round_trip(config):
    assert parse_tool_config(tool_config_to_wire(config)) == config


def test_tool_config_to_wire_shape():
    config = ToolConfig(FunctionCallingMode.ANY, ("f",))
    assert tool_config_to_wire(config) == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}
    }
    assert tool_config_to_wire(ToolConfig()) == {"functionCallingConfig": {"mode": "AUTO"}}


@pytest.mark.parametrize(
    "part",
    [
        ImageDescriptionPart("a cat", "image/png", 10, 10),
        TranscriptPart("speech", "audio/wav", "hello", "en", 1.0),
    ],
)
def test_server_only_parts_have_no_wire_form(part):
    with pytest.raises(ValueError):
        contents_to_wire((Content(role="user", parts=(part,)),))


# --- malformed input: always InvalidArgument, at the exact location ---------------------


def contents_with(part, role="user"):
    return [{"role": role, "parts": [part]}]


INLINE = {"mimeType": "audio/wav", "data": B64}
DECL = {"name": "f"}
MALFORMED = [
    # contents
    (parse_contents, "hi", "contents"),
    (parse_contents, {"role": "user", "parts": [TEXT]}, "contents"),
    (parse_contents, [None], "contents[0]"),
    (parse_contents, [[TEXT]], "contents[0]"),
    (parse_contents, [{"role": "user"}], "contents[0].parts"),
    (parse_contents, [{"role": "user", "parts": []}], "contents[0].parts"),
    (parse_contents, [{"parts": "hi"}], "contents[0].parts"),
    (parse_contents, [{"role": "system", "parts": [TEXT]}], "contents[0].role"),
    (parse_contents, [{"role": 5, "parts": [TEXT]}], "contents[0].role"),
    (parse_contents, [{"parts": [TEXT], "foo": 1}], "contents[0].foo"),
    (parse_contents, [{"parts": [TEXT]}, {"parts": [TEXT], "fooBar": 1}], "contents[1].foo_bar"),
    # parts
    (parse_contents, contents_with({}), "contents[0].parts[0]"),
    (parse_contents, contents_with("hi"), "contents[0].parts[0]"),
    (parse_contents, contents_with({"text": "a", "fileData": {"fileUri": "gs://b/x"}}),
     "contents[0].parts[0]"),
    (parse_contents, contents_with({"text": 5}), "contents[0].parts[0].text"),
    (parse_contents, contents_with({"text": "a", "bogus-key": 1}), "contents[0].parts[0]"),
    (parse_contents, contents_with({"text": "a", "thought": "yes"}),
     "contents[0].parts[0].thought"),
    (parse_contents, contents_with({"text": "a", "thoughtSignature": 5}),
     "contents[0].parts[0].thought_signature"),
    (parse_contents, contents_with({"functionCall": DECL, "thought": True}, "model"),
     "contents[0].parts[0].thought"),
    (parse_contents, contents_with({"inlineData": INLINE, "thoughtSignature": "s"}),
     "contents[0].parts[0].thought_signature"),
    (parse_contents, contents_with({"executableCode": {"code": "1"}}),
     "contents[0].parts[0].executable_code"),
    (parse_contents, contents_with({"videoMetadata": {}, "text": "a"}),
     "contents[0].parts[0].video_metadata"),
    (parse_contents, contents_with({"inlineData": INLINE, "inline_data": INLINE}),
     "contents[0].parts[0].inline_data"),
    # inline data
    (parse_contents, contents_with({"inlineData": []}), "contents[0].parts[0].inline_data"),
    (parse_contents, contents_with({"inlineData": {"data": B64}}),
     "contents[0].parts[0].inline_data.mime_type"),
    (parse_contents, contents_with({"inlineData": {"mimeType": "png", "data": B64}}),
     "contents[0].parts[0].inline_data.mime_type"),
    (parse_contents, contents_with({"inlineData": {"mimeType": "audio/wav"}}),
     "contents[0].parts[0].inline_data.data"),
    (parse_contents, contents_with({"inlineData": {"mimeType": "audio/wav", "data": "not base64!"}}),
     "contents[0].parts[0].inline_data.data"),
    (parse_contents, contents_with({"inlineData": {"mimeType": "audio/wav", "data": "UklGR"}}),
     "contents[0].parts[0].inline_data.data"),
    (parse_contents, contents_with({"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=é"}}),
     "contents[0].parts[0].inline_data.data"),
    (parse_contents, contents_with({"inlineData": {"mimeType": "audio/wav", "data": ""}}),
     "contents[0].parts[0].inline_data.data"),
    (parse_contents, contents_with({"inlineData": {"mimeType": "audio/wav", "data": 1234}}),
     "contents[0].parts[0].inline_data.data"),
    # file data
    (parse_contents, contents_with({"fileData": {"mimeType": "image/png"}}),
     "contents[0].parts[0].file_data.file_uri"),
    (parse_contents, contents_with({"fileData": {"fileUri": ""}}),
     "contents[0].parts[0].file_data.file_uri"),
    (parse_contents, contents_with({"fileData": {"fileUri": "gs://b/x", "displayName": "x"}}),
     "contents[0].parts[0].file_data.display_name"),
    # function calls and responses
    (parse_contents, contents_with({"functionCall": {"args": {}}}, "model"),
     "contents[0].parts[0].function_call.name"),
    (parse_contents, contents_with({"functionCall": {"name": ""}}, "model"),
     "contents[0].parts[0].function_call.name"),
    (parse_contents, contents_with({"functionCall": {"name": "f", "args": "{}"}}, "model"),
     "contents[0].parts[0].function_call.args"),
    (parse_contents, contents_with({"functionCall": {"name": "f", "id": 7}}, "model"),
     "contents[0].parts[0].function_call.id"),
    (parse_contents, contents_with({"functionResponse": {"name": "f"}}),
     "contents[0].parts[0].function_response.response"),
    (parse_contents, contents_with({"functionResponse": {"name": "f", "response": "ok"}}),
     "contents[0].parts[0].function_response.response"),
    (parse_contents, contents_with({"functionResponse": {"response": {}}}),
     "contents[0].parts[0].function_response.name"),
    (parse_contents,
     contents_with({"functionResponse": {"name": "f", "response": {}, "parts": []}}),
     "contents[0].parts[0].function_response.parts"),
    # system instruction
    (parse_system_instruction, "be brief", "system_instruction"),
    (parse_system_instruction, {"role": "user"}, "system_instruction.parts"),
    (parse_system_instruction, {"parts": []}, "system_instruction.parts"),
    (parse_system_instruction, {"role": 1, "parts": [TEXT]}, "system_instruction.role"),
    (parse_system_instruction, {"parts": [TEXT, {"inlineData": INLINE}]},
     "system_instruction.parts[1].inline_data"),
    (parse_system_instruction, {"parts": [{"text": "a", "thought": True}]},
     "system_instruction.parts[0].thought"),
    (parse_system_instruction, {"parts": [{"text": "a", "thoughtSignature": "s"}]},
     "system_instruction.parts[0].thought_signature"),
    # tools
    (parse_tools, {"functionDeclarations": [DECL]}, "tools"),
    (parse_tools, [{}], "tools[0]"),
    (parse_tools, ["f"], "tools[0]"),
    (parse_tools, [{"googleSearch": {}}], "tools[0].google_search"),
    (parse_tools, [{"functionDeclarations": [DECL]}, {"code_execution": {}}],
     "tools[1].code_execution"),
    (parse_tools, [{"retrieval": {"vertexAiSearch": {}}}], "tools[0].retrieval"),
    (parse_tools, [{"functionDeclarations": DECL}], "tools[0].function_declarations"),
    (parse_tools, [{"functionDeclarations": [{"description": "x"}]}],
     "tools[0].function_declarations[0].name"),
    (parse_tools, [{"functionDeclarations": [{"name": "1 bad name"}]}],
     "tools[0].function_declarations[0].name"),
    (parse_tools, [{"functionDeclarations": [{"name": "f", "description": 5}]}],
     "tools[0].function_declarations[0].description"),
    (parse_tools, [{"functionDeclarations": [DECL]}, {"functionDeclarations": [DECL]}],
     "tools[1].function_declarations[0].name"),
    (parse_tools, [{"functionDeclarations": [{"name": "f", "parameters": "x"}]}],
     "tools[0].function_declarations[0].parameters"),
    (parse_tools, [{"functionDeclarations": [{"name": "f", "parameters": {"type": "STRING"}}]}],
     "tools[0].function_declarations[0].parameters"),
    (parse_tools, [{"functionDeclarations": [
        {"name": "f", "parameters": {"type": "object", "properties": {"a": {"type": "strin"}}}}]}],
     "tools[0].function_declarations[0].parameters"),
    (parse_tools, [{"functionDeclarations": [
        {"name": "f", "parameters": {"type": "OBJECT", "properties": {"a": {"ref": "#/defs/a"}}}}]}],
     "tools[0].function_declarations[0].parameters"),
    (parse_tools, [{"functionDeclarations": [
        {"name": "f", "parameters": {"type": "OBJECT", "nullable": "yes"}}]}],
     "tools[0].function_declarations[0].parameters"),
    (parse_tools, [{"functionDeclarations": [
        {"name": "f", "parameters": PARAMS, "parametersJsonSchema": PARAMS}]}],
     "tools[0].function_declarations[0].parameters_json_schema"),
    (parse_tools, [{"functionDeclarations": [{"name": "f", "parametersJsonSchema": ["x"]}]}],
     "tools[0].function_declarations[0].parameters_json_schema"),
    (parse_tools, [{"functionDeclarations": [{"name": "f", "response": "STRING"}]}],
     "tools[0].function_declarations[0].response"),
    # tool config
    (parse_tool_config, "AUTO", "tool_config"),
    (parse_tool_config, {"functionCallingConfig": []}, "tool_config.function_calling_config"),
    (parse_tool_config, {"functionCallingConfig": {"mode": "SOMETIMES"}},
     "tool_config.function_calling_config.mode"),
    (parse_tool_config, {"functionCallingConfig": {"mode": 1}},
     "tool_config.function_calling_config.mode"),
    (parse_tool_config, {"functionCallingConfig": {"mode": "VALIDATED"}},
     "tool_config.function_calling_config.mode"),
    (parse_tool_config, {"functionCallingConfig": {"mode": "AUTO", "allowedFunctionNames": ["f"]}},
     "tool_config.function_calling_config.allowed_function_names"),
    (parse_tool_config, {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": "f"}},
     "tool_config.function_calling_config.allowed_function_names"),
    (parse_tool_config, {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [1]}},
     "tool_config.function_calling_config.allowed_function_names[0]"),
    (parse_tool_config, {"retrievalConfig": {}}, "tool_config.retrieval_config"),
]


@pytest.mark.parametrize(("parse", "value", "location"), MALFORMED)
def test_malformed_input_is_invalid_argument_at_its_location(parse, value, location):
    with pytest.raises(InvalidArgument) as info:
        parse(value)
    assert str(info.value.location) == location
    assert info.value.param is None
    # The message names the field, or the object it sits in.
    quoted = re.findall(r"[`']([^`']+)[`']", info.value.message)
    assert any(location.startswith(q) for q in quoted), info.value.message


def test_messages_say_what_was_expected():
    with pytest.raises(InvalidArgument, match=r"`contents\[0\]\.parts` must be a list, got a string"):
        parse_contents([{"parts": "hi"}])
    with pytest.raises(InvalidArgument, match=r"exactly one of text, .*; it sets none"):
        parse_contents(contents_with({}))
    with pytest.raises(InvalidArgument, match=r"not valid base64"):
        parse_contents(contents_with({"inlineData": {"mimeType": "a/b", "data": "!!!!"}}))
    with pytest.raises(InvalidArgument, match=r"does not support Google Search"):
        parse_tools([{"googleSearch": {}}])


ODD_VALUES = [None, 0, 1.5, True, "x", [], [None], {}, {"x": 1}]
TEMPLATES = [
    (parse_contents, lambda v: v),
    (parse_contents, lambda v: [v]),
    (parse_contents, lambda v: [{"role": v, "parts": [TEXT]}]),
    (parse_contents, lambda v: [{"parts": v}]),
    (parse_contents, lambda v: [{"parts": [v]}]),
    (parse_contents, lambda v: contents_with({"text": v})),
    (parse_contents, lambda v: contents_with({"inlineData": v})),
    (parse_contents, lambda v: contents_with({"inlineData": {"mimeType": v, "data": B64}})),
    (parse_contents, lambda v: contents_with({"fileData": {"fileUri": v}})),
    (parse_contents, lambda v: contents_with({"functionCall": v})),
    (parse_contents, lambda v: contents_with({"functionCall": {"name": "f", "args": v}})),
    (parse_contents, lambda v: contents_with({"functionResponse": {"name": v, "response": v}})),
    (parse_system_instruction, lambda v: v),
    (parse_system_instruction, lambda v: {"parts": [v]}),
    (parse_tools, lambda v: v),
    (parse_tools, lambda v: [{"functionDeclarations": v}]),
    (parse_tools, lambda v: [{"functionDeclarations": [v]}]),
    (parse_tools, lambda v: [{"functionDeclarations": [{"name": "f", "parameters": v}]}]),
    (parse_tools, lambda v: [{"functionDeclarations": [
        {"name": "f", "parameters": {"type": "OBJECT", "properties": v, "items": v, "anyOf": v}}]}]),
    (parse_tool_config, lambda v: v),
    (parse_tool_config, lambda v: {"functionCallingConfig": v}),
    (parse_tool_config, lambda v: {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": v}}),
]


@pytest.mark.parametrize(("parse", "build"), TEMPLATES)
def test_wrong_types_anywhere_raise_only_invalid_argument(parse, build):
    for value in ODD_VALUES:
        try:
            parse(build(value))
        except InvalidArgument as exc:
            assert exc.location is not None


def test_deeply_nested_parameters_are_refused_not_a_crash():
    for key, kind in (("parameters", "OBJECT"), ("parametersJsonSchema", "object")):
        schema = {"type": kind}
        for _ in range(5000):
            schema = {"type": kind, "properties": {"a": schema}}
        with pytest.raises(InvalidArgument) as info:
            parse_tools([{"functionDeclarations": [{"name": "f", key: schema}]}])
        assert "nested more than" in info.value.message


def test_base64_comes_in_either_alphabet_padded_or_not():
    # The google-genai SDK sends bytes URL-safe (pydantic); Google's parser takes both.
    [content] = parse_contents([{"parts": [{"inlineData": {"mimeType": "image/png",
                                                           "data": "-_8"}}]}])
    assert content.parts[0].data == "+/8="


def test_a_functions_return_schema_is_accepted_and_not_kept():
    [declaration] = parse_tools([{"functionDeclarations": [{
        "name": "f", "responseJsonSchema": {"type": "object"}, "response": {"type": "STRING"}}]}])
    assert declaration == FunctionDeclaration(name="f")
