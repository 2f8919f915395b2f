"""What a local chat template is given for tools: native dicts, the generic text format,
and the plain-sentence form of a turn that reads function results."""

import json

from vertexcompat.backends.local_prompt import CALL_OPEN, to_template_input
from vertexcompat.domain.content import (
    Content,
    FunctionCallPart,
    FunctionResponsePart,
    GenerateContentRequest,
    TextPart,
)
from vertexcompat.domain.tools import FunctionCallingMode, FunctionDeclaration, ToolConfig

PARAMS = {"type": "object", "properties": {"city": {"type": "string"}}}
DECLS = (FunctionDeclaration("get", "Get weather.", PARAMS), FunctionDeclaration("now"))
QUESTION = Content("user", (TextPart("Weather in Oslo?"),))
CALLED = Content("model", (FunctionCallPart("get", {"city": "Oslo"}, id="c1"),))
RESULT = Content("user", (FunctionResponsePart("get", {"temp": -3}, id="c1"),))
TEXT_RESULT = Content("user", (FunctionResponsePart("get", {"content": "cold"}, id="c1"),))


def request(*contents, mode=FunctionCallingMode.AUTO, tools=DECLS):
    return GenerateContentRequest(
        model="m", contents=contents, tools=tools, tool_config=ToolConfig(mode=mode)
    )


def test_native_templates_get_tool_dicts_and_structured_history():
    got = to_template_input(request(QUESTION, CALLED, RESULT, QUESTION), native_tools=True)
    assert got.tools == [
        {"type": "function", "function": {"name": "get", "description": "Get weather.", "parameters": PARAMS}},
        {"type": "function", "function": {"name": "now", "parameters": {"type": "object", "properties": {}}}},
    ]
    assert got.messages[1] == {
        "role": "assistant", "content": "",
        "tool_calls": [{"type": "function", "function": {"name": "get", "arguments": {"city": "Oslo"}}}],
    }
    assert got.messages[2] == {"role": "tool", "content": json.dumps({"temp": -3})}


def test_generic_templates_get_the_functions_and_call_syntax_in_the_system_message():
    got = to_template_input(request(QUESTION), native_tools=False)
    assert got.tools is None
    system = got.messages[0]
    assert system["role"] == "system"
    assert '"name": "get"' in system["content"] and CALL_OPEN in system["content"]


def test_generic_history_writes_calls_and_results_as_text():
    got = to_template_input(request(QUESTION, CALLED, TEXT_RESULT, QUESTION), native_tools=False)
    assert got.messages[2]["role"] == "assistant"
    assert got.messages[2]["content"].startswith(CALL_OPEN)
    assert got.messages[3] == {"role": "user", "content": "<tool_response>\ncold\n</tool_response>"}


def test_tool_choice_none_keeps_declarations_but_says_not_to_call():
    generic = to_template_input(request(QUESTION, mode=FunctionCallingMode.NONE), native_tools=False)
    assert "do not call" in generic.messages[0]["content"]
    assert CALL_OPEN not in generic.messages[0]["content"]
    native = to_template_input(request(QUESTION, mode=FunctionCallingMode.NONE), native_tools=True)
    assert native.tools is not None and "Do not call" in native.messages[0]["content"]


def test_a_turn_reading_results_gets_them_as_information_after_the_question():
    got = to_template_input(
        request(QUESTION, CALLED, TEXT_RESULT), native_tools=True, answer_from_results=True
    )
    assert got.tools is None
    # No assistant turn of ours to copy: the default model answered `I called get(...).`
    # back when the call was written as its own sentence (bench/tool_results.py).
    assert got.messages == [
        {"role": "user", "content": "Weather in Oslo?\n\nInformation from get: cold"},
    ]


def test_a_structured_result_is_information_as_json():
    got = to_template_input(request(QUESTION, CALLED, RESULT), native_tools=False,
                            answer_from_results=True)
    assert got.messages == [
        {"role": "user", "content": 'Weather in Oslo?\n\nInformation from get: {"temp": -3}'},
    ]


def test_the_answer_turn_never_writes_the_calls_or_our_own_sentences():
    two_calls = Content("model", (TextPart("Let me check."), FunctionCallPart("get", {"city": "Oslo"}),
                                  FunctionCallPart("now", {})))
    two_results = Content("user", (FunctionResponsePart("get", {"content": "cold"}),
                                   FunctionResponsePart("now", {"content": "09:00"})))
    second_call = Content("model", (FunctionCallPart("get", {"city": "Rome"}),))
    second_result = Content("user", (FunctionResponsePart("get", {"content": "warm"}),))
    got = to_template_input(
        request(QUESTION, two_calls, two_results, second_call, second_result),
        native_tools=True, answer_from_results=True,
    )
    assert got.messages == [{"role": "user", "content": (
        "Weather in Oslo?\n\nInformation from get: cold\nInformation from now: 09:00"
        "\n\nInformation from get: warm"
    )}]
    rendered = json.dumps(got.messages)
    for ours in ("I called", "returned:", "get(", '{\\"city\\"', "Let me check"):
        assert ours not in rendered


def test_an_earlier_tool_loop_keeps_its_answer_and_each_question_gets_its_results():
    answer = Content("model", (TextPart("It is cold."),))
    rome = Content("user", (TextPart("And Rome?"),))
    called = Content("model", (FunctionCallPart("get", {"city": "Rome"}),))
    warm = Content("user", (FunctionResponsePart("get", {"content": "warm"}),))
    got = to_template_input(
        request(QUESTION, CALLED, TEXT_RESULT, answer, rome, called, warm),
        native_tools=False, answer_from_results=True,
    )
    assert got.messages == [
        {"role": "user", "content": "Weather in Oslo?\n\nInformation from get: cold"},
        {"role": "assistant", "content": "It is cold."},
        {"role": "user", "content": "And Rome?\n\nInformation from get: warm"},
    ]


def test_a_calling_turns_restored_thoughts_stay_and_the_results_follow_them():
    thought = Content("model", (TextPart("Oslo needs a lookup.", thought=True),
                                FunctionCallPart("get", {"city": "Oslo"})))
    got = to_template_input(
        request(QUESTION, thought, TEXT_RESULT), native_tools=True, answer_from_results=True
    )
    assert got.messages[0] == {"role": "user", "content": "Weather in Oslo?"}
    assert got.messages[1]["role"] == "assistant"
    assert "Oslo needs a lookup." in got.messages[1]["content"]
    assert "get(" not in got.messages[1]["content"]
    assert got.messages[2:] == [{"role": "user", "content": "Information from get: cold"}]


def test_results_keep_the_native_form_when_a_call_is_required_or_configured():
    required = to_template_input(
        request(QUESTION, CALLED, RESULT, mode=FunctionCallingMode.ANY),
        native_tools=True, answer_from_results=True,
    )
    assert required.tools is not None
    native = to_template_input(request(QUESTION, CALLED, RESULT), native_tools=True)
    assert native.tools is not None
    # A later user turn is not a results turn.
    later = to_template_input(
        request(QUESTION, CALLED, RESULT, QUESTION), native_tools=True, answer_from_results=True
    )
    assert later.tools is not None


def test_perceived_media_comes_first_as_its_own_paragraphs():
    from vertexcompat.domain.content import ImageDescriptionPart, TranscriptPart

    content = Content("user", (
        TextPart("What is this?"),
        ImageDescriptionPart(description="(Attached image: red.)", mime_type="image/png", width=1, height=1),
        TranscriptPart(description="(Attached audio: hi.)", mime_type="audio/wav", transcript="hi",
                       language="en", duration_s=1.0),
    ))
    got = to_template_input(GenerateContentRequest(model="m", contents=(content,)), native_tools=False)
    assert got.messages == [
        {"role": "user", "content": "(Attached image: red.)\n\n(Attached audio: hi.)\n\nWhat is this?"}
    ]


def test_raw_media_never_reaches_the_local_model():
    import pytest

    from vertexcompat.domain.content import FileDataPart
    from vertexcompat.domain.errors import Internal

    content = Content("user", (FileDataPart(file_uri="https://x/y.png", source="messages[0]"),))
    with pytest.raises(Internal):
        to_template_input(GenerateContentRequest(model="m", contents=(content,)), native_tools=False)
