"""OpenAI tools / tool_choice / functions → Gemini declarations + tool config, the tool-call
history, and every 400 with its exact `param`."""

import pytest

from vertexcompat.domain.content import (
    Content,
    FunctionCallPart,
    FunctionResponsePart,
    TextPart,
)
from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.domain.tools import FunctionCallingMode, FunctionDeclaration, ToolConfig
from vertexcompat.domain.locations import FieldPath
from vertexcompat.translate.chat_params import ChatParamNames
from vertexcompat.translate.request_to_gemini import to_generate_request
from vertexcompat.translate.tools import call_style
from vertexcompat.translate.validation import parse_chat_request


def to_openai_param(gemini: str, chat) -> str | None:
    """The Chat Completions surface's name for a Gemini location a backend reported."""
    return ChatParamNames(chat)(FieldPath.parse(gemini))


USER = {"role": "user", "content": "weather?"}
PARAMS = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def tool(name, parameters=None, description=None):
    fn = {"name": name}
    if parameters is not None:
        fn["parameters"] = parameters
    if description is not None:
        fn["description"] = description
    return {"type": "function", "function": fn}


def lower(**fields):
    raw = {"model": "google/gemini-2.5-flash", "messages": [USER], **fields}
    return to_generate_request(parse_chat_request(raw), backend_model="m")


def bad(**fields) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as info:
        lower(**fields)
    return info.value


def call(id_, name="get", arguments='{"city": "Oslo"}'):
    return {"id": id_, "type": "function", "function": {"name": name, "arguments": arguments}}


def test_tools_become_function_declarations_in_order():
    req = lower(tools=[tool("get", PARAMS, "Get it."), tool("put")])
    assert req.tools == (
        FunctionDeclaration("get", "Get it.", PARAMS),
        FunctionDeclaration("put", None, None),
    )
    assert req.tool_config == ToolConfig(mode=FunctionCallingMode.AUTO)


def test_no_tools_means_no_declarations_and_auto():
    req = lower()
    assert req.tools == ()
    assert req.tool_config.callable_names(req.tools) == ()


@pytest.mark.parametrize(
    ("choice", "mode", "allowed"),
    [
        ("auto", FunctionCallingMode.AUTO, ()),
        ("none", FunctionCallingMode.NONE, ()),
        ("required", FunctionCallingMode.ANY, ()),
        ({"type": "function", "function": {"name": "put"}}, FunctionCallingMode.ANY, ("put",)),
    ],
)
def test_tool_choice_maps_to_calling_mode(choice, mode, allowed):
    req = lower(tools=[tool("get"), tool("put")], tool_choice=choice)
    assert req.tool_config.mode is mode
    assert req.tool_config.allowed_function_names == allowed


def test_callable_names_follow_the_mode():
    req = lower(tools=[tool("get"), tool("put")], tool_choice={"type": "function", "function": {"name": "put"}})
    assert req.tool_config.callable_names(req.tools) == ("put",)
    none = lower(tools=[tool("get")], tool_choice="none")
    assert none.tool_config.callable_names(none.tools) == ()


def test_parallel_tool_calls_false_is_kept():
    assert lower(tools=[tool("get")]).tool_config.parallel_calls is True
    assert lower(tools=[tool("get")], parallel_tool_calls=False).tool_config.parallel_calls is False


def test_deprecated_functions_map_the_same_way_with_one_call_per_turn():
    chat = parse_chat_request({
        "model": "m", "messages": [USER], "functions": [{"name": "get", "parameters": PARAMS}],
        "function_call": {"name": "get"},
    })
    req = to_generate_request(chat, backend_model="m")
    assert req.tools == (FunctionDeclaration("get", None, PARAMS),)
    assert req.tool_config == ToolConfig(
        mode=FunctionCallingMode.ANY, allowed_function_names=("get",), parallel_calls=False
    )
    assert call_style(chat) == "function_call"
    assert lower(functions=[{"name": "get"}], function_call="none").tool_config.mode is FunctionCallingMode.NONE


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"tools": []}, "tools"),
        ({"tools": [tool("get"), tool("get")]}, "tools[1].function.name"),
        ({"tools": [tool("get it")]}, "tools[0].function.name"),
        ({"tools": [tool("x" * 65)]}, "tools[0].function.name"),
        ({"tools": [tool("")]}, "tools[0].function.name"),
        ({"tools": [tool("get", {"type": "array"})]}, "tools[0].function.parameters"),
        ({"tools": [tool("get", {"type": "object", "properties": 3})]}, "tools[0].function.parameters"),
        ({"tools": [{"type": "retrieval", "function": {"name": "x"}}]}, "tools[0].type"),
        ({"tools": [tool("get")], "tool_choice": {"type": "function", "function": {"name": "put"}}},
         "tool_choice.function.name"),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"tool_choice": "always"}, "tool_choice"),
        ({"tool_choice": 3}, "tool_choice"),
        ({"functions": [{"name": "get"}], "function_call": {"name": "put"}}, "function_call.name"),
        ({"functions": [{"name": "get"}], "tools": [tool("get")]}, "functions"),
        ({"functions": [{"name": "get"}], "tool_choice": "auto"}, "tool_choice"),
        ({"tools": [tool("get")], "function_call": "auto"}, "function_call"),
        ({"functions": [{"name": "a"}, {"name": "a"}]}, "functions[1].name"),
    ],
)
def test_invalid_tool_fields_are_400_with_param(fields, param):
    assert bad(**fields).param == param


def test_tool_call_history_becomes_call_and_response_parts():
    req = lower(messages=[
        USER,
        {"role": "assistant", "content": "Let me look.", "tool_calls": [call("c1"), call("c2", "put", "")]},
        {"role": "tool", "tool_call_id": "c1", "content": '{"temp": 3}'},
        {"role": "tool", "tool_call_id": "c2", "content": "done"},
        {"role": "user", "content": "thanks"},
    ])
    assert req.contents[1] == Content(role="model", parts=(
        TextPart("Let me look."),
        FunctionCallPart("get", {"city": "Oslo"}, id="c1"),
        FunctionCallPart("put", {}, id="c2"),
    ))
    # Consecutive results are one user content; a JSON object stays structured, text is wrapped.
    assert req.contents[2] == Content(role="user", parts=(
        FunctionResponsePart("get", {"temp": 3}, id="c1"),
        FunctionResponsePart("put", {"content": "done"}, id="c2"),
    ))
    assert req.contents[3] == Content(role="user", parts=(TextPart("thanks"),))


def test_a_json_result_that_is_not_an_object_is_wrapped_as_text():
    req = lower(messages=[
        USER, {"role": "assistant", "tool_calls": [call("c1")]},
        {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "[1, 2]"}]},
    ])
    assert req.contents[-1].parts == (FunctionResponsePart("get", {"content": "[1, 2]"}, id="c1"),)


def test_deprecated_function_messages_are_calls_and_results_by_name():
    req = lower(messages=[
        USER,
        {"role": "assistant", "content": None, "function_call": {"name": "get", "arguments": '{"city": "Rome"}'}},
        {"role": "function", "name": "get", "content": "sunny"},
    ])
    assert req.contents[1].parts == (FunctionCallPart("get", {"city": "Rome"}),)
    assert req.contents[2].parts == (FunctionResponsePart("get", {"content": "sunny"}),)


@pytest.mark.parametrize(
    ("messages", "param"),
    [
        ([USER, {"role": "tool", "tool_call_id": "nope", "content": "x"}], "messages[1].tool_call_id"),
        ([USER, {"role": "assistant", "tool_calls": [call("c1")]}, {"role": "tool", "content": "x"}],
         "messages[2].tool_call_id"),
        ([USER, {"role": "assistant", "tool_calls": [call("c1")]},
          {"role": "tool", "tool_call_id": "c2", "content": "x"}], "messages[2].tool_call_id"),
        ([USER, {"role": "assistant", "tool_calls": [call("c1")]}, {"role": "tool", "tool_call_id": "c1"}],
         "messages[2].content"),
        ([USER, {"role": "assistant", "tool_calls": [call("c1", arguments="{nope")]}],
         "messages[1].tool_calls[0].function.arguments"),
        ([USER, {"role": "assistant", "tool_calls": [call("c1", arguments="[1]")]}],
         "messages[1].tool_calls[0].function.arguments"),
        ([USER, {"role": "assistant", "function_call": {"name": "f", "arguments": "1"}}],
         "messages[1].function_call.arguments"),
        ([USER, {"role": "function", "content": "x"}], "messages[1].name"),
        ([USER, {"role": "assistant", "tool_calls": [{"id": "", "type": "function",
                                                      "function": {"name": "f", "arguments": "{}"}}]}],
         "messages[1].tool_calls[0].id"),
    ],
)

def test_bad_tool_history_is_400_with_the_message_index(messages, param):
    assert bad(messages=messages).param == param


def test_backend_parameter_errors_map_to_the_client_field_names():
    tools_chat = parse_chat_request({"model": "m", "messages": [USER], "tools": [tool("a"), tool("b")]})
    assert to_openai_param("tools.function_declarations[1].parameters", tools_chat) == "tools[1].function.parameters"
    functions_chat = parse_chat_request({"model": "m", "messages": [USER], "functions": [{"name": "a"}]})
    assert to_openai_param("tools.function_declarations[0].parameters", functions_chat) == "functions[0].parameters"
    assert to_openai_param("generation_config.response_mime_type", tools_chat) == "response_format.type"
