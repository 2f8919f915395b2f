"""Asking for a grounded answer (issue 18): the chat surface's `web_search_options` and
`google.tools` (translate/grounding.py, openai_api/request.py), the native surface's
grounding tools (translate/gemini_contents.py, gemini_request.py), and the names errors
about grounding get on the chat surface (translate/chat_params.py)."""

from __future__ import annotations

from typing import Any

import pytest

from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.domain.locations import FieldPath
from vertexcompat.translate.cached_contents import parse_create
from vertexcompat.translate.chat_params import ChatParamNames
from vertexcompat.translate.field_support import ignored_params
from vertexcompat.translate.gemini_contents import parse_request_tools, parse_tools
from vertexcompat.translate.gemini_request import (
    parse_count_tokens_request,
    parse_generate_request,
)
from vertexcompat.translate.request_to_gemini import to_generate_request
from vertexcompat.translate.validation import parse_chat_request

MESSAGES = [{"role": "user", "content": "Who won the 2022 World Cup?"}]
HI = [{"role": "user", "parts": [{"text": "hi"}]}]
DECL = {"name": "now", "description": "the time"}


def chat_body(**fields: Any) -> dict[str, Any]:
    return {"model": "google/gemini-2.5-flash", "messages": MESSAGES, **fields}


def lower(**fields: Any):
    return to_generate_request(parse_chat_request(chat_body(**fields)), backend_model="m")


def refusal(**fields: Any) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as caught:
        lower(**fields)
    return caught.value


def google(path: str, **options: Any) -> dict[str, Any]:
    """The `google` object in the form `path` names."""
    return {"google": options} if path == "google" else {"extra_body": {"google": options}}


# --- chat: web_search_options -----------------------------------------------------------


def test_a_chat_request_is_not_grounded_unless_it_asks() -> None:
    assert lower().grounding is False
    assert lower(web_search_options=None).grounding is False


@pytest.mark.parametrize("options", [
    {},
    {"search_context_size": "high"},
    {"user_location": {"type": "approximate", "approximate": {"country": "GB"}}},
])
def test_web_search_options_of_any_shape_ask_for_grounding(options: dict[str, Any]) -> None:
    assert lower(web_search_options=options).grounding is True


@pytest.mark.parametrize("value", [True, "high", 1, ["x"]])
def test_web_search_options_that_are_not_an_object_are_refused(value: Any) -> None:
    error = refusal(web_search_options=value)
    assert error.param == "web_search_options"
    assert "`web_search_options`" in error.message


def test_web_search_options_and_google_tools_are_honoured_fields() -> None:
    body = chat_body(web_search_options={}, google={"tools": [{"google_search": {}}]})
    assert ignored_params(body) == []
    body = chat_body(extra_body={"google": {"tools": [], "other": 1}})
    assert ignored_params(body) == ["extra_body.google.other"]


def test_the_options_of_web_search_options_are_reported_ignored() -> None:
    body = chat_body(web_search_options={
        "search_context_size": "high", "user_location": {"type": "approximate"}})
    assert ignored_params(body) == [
        "web_search_options.search_context_size", "web_search_options.user_location"]
    assert ignored_params(chat_body(web_search_options="x")) == []


# --- chat: google.tools -----------------------------------------------------------------


@pytest.mark.parametrize("path", ["google", "extra_body.google"])
@pytest.mark.parametrize("tool", [
    {"google_search": {}},
    {"googleSearch": {}},
    {"google_search_retrieval": {"dynamic_retrieval_config": {"dynamic_threshold": 0.3}}},
    {"googleSearchRetrieval": {}},
    {"retrieval": {"vertex_ai_search": {"datastore": "projects/p/x"}}},
])
def test_google_grounding_tools_ask_for_grounding(path: str, tool: dict[str, Any]) -> None:
    request = lower(**google(path, tools=[tool]))
    assert request.grounding is True
    assert request.tools == ()  # no function declarations come from them


def test_google_tools_beside_function_tools_and_web_search_options() -> None:
    request = lower(
        tools=[{"type": "function", "function": {"name": "now"}}],
        web_search_options={},
        google={"tools": [{"google_search": {}}, {"retrieval": {}}]},
    )
    assert request.grounding is True
    assert [d.name for d in request.tools] == ["now"]


def test_an_empty_google_tools_list_asks_for_nothing() -> None:
    assert lower(google={"tools": []}).grounding is False
    assert lower(google={"tools": None}).grounding is False


@pytest.mark.parametrize("path", ["google", "extra_body.google"])
@pytest.mark.parametrize(("tools", "param", "said"), [
    ({"google_search": {}}, "tools", "must be a list"),
    ("google_search", "tools", "must be a list"),
    (["google_search"], "tools[0]", "must be an object naming a tool"),
    ([{}], "tools[0]", "names no tool"),
    ([{"google_search": {}}, {"code_execution": {}}], "tools[1]",
     "the tool `code_execution` is not supported"),
    ([{"url_context": {}}], "tools[0]", "the tool `url_context` is not supported"),
    ([{"google_search": {}, "enterpriseWebSearch": {}}], "tools[0]",
     "the tool `enterpriseWebSearch` is not supported"),
    ([{"function_declarations": [DECL]}], "tools[0]", "declare functions in the request's"),
    ([{"google_search": True}], "tools[0].google_search", "must be an object"),
    ([{"googleSearch": None}], "tools[0].googleSearch", "must be an object"),
    ([{"retrieval": []}], "tools[0].retrieval", "must be an object"),
])
def test_google_tools_that_are_not_grounding_are_refused_at_their_item(
    path: str, tools: Any, param: str, said: str
) -> None:
    error = refusal(**google(path, tools=tools))
    assert error.param == f"{path}.{param}"
    assert error.message.startswith(f"`{path}.{param}`")
    assert said in error.message
    assert error.location is None


def test_a_refused_tool_is_refused_even_beside_web_search_options() -> None:
    error = refusal(web_search_options={}, google={"tools": [{"code_execution": {}}]})
    assert error.param == "google.tools[0]"


def test_the_google_object_keeps_tools_as_sent() -> None:
    tools = [{"googleSearch": {"x": 1}}]
    chat = parse_chat_request(chat_body(extra_body={"google": {"tools": tools}}))
    assert chat.google_options.tools == tools
    assert parse_chat_request(chat_body()).google_options.tools is None


# --- chat: where errors about grounding point -------------------------------------------


@pytest.mark.parametrize(("fields", "expected"), [
    ({"web_search_options": {}}, "web_search_options"),
    ({"web_search_options": {}, "google": {"tools": [{"google_search": {}}]}},
     "web_search_options"),
    ({"google": {"tools": [{"google_search": {}}]}}, "google.tools"),
    ({"extra_body": {"google": {"tools": [{"retrieval": {}}]}}}, "extra_body.google.tools"),
    ({}, None),
])
@pytest.mark.parametrize("location", [
    "grounding", "tools[0].google_search", "tools[1].retrieval.vertex_ai_search",
    "tools.google_search_retrieval",
])
def test_grounding_locations_name_what_the_client_sent(
    fields: dict[str, Any], expected: str | None, location: str
) -> None:
    chat = parse_chat_request(chat_body(**fields))
    assert ChatParamNames(chat)(FieldPath.parse(location)) == expected


def test_declaration_locations_still_name_the_function_tools() -> None:
    chat = parse_chat_request(chat_body(
        web_search_options={}, tools=[{"type": "function", "function": {"name": "now"}}],
    ))
    names = ChatParamNames(chat)
    assert names(FieldPath.parse("tools[0].function_declarations[0].name")) == \
        "tools[0].function.name"
    assert names(FieldPath.parse("tools")) == "tools"


# --- native: tools ----------------------------------------------------------------------


def generate(**fields: Any):
    return parse_generate_request({"contents": HI, **fields}, model="m")


@pytest.mark.parametrize("tool", [
    {"googleSearch": {}},
    {"google_search": {}},
    {"googleSearch": {"timeRangeFilter": {"startTime": "2024-01-01T00:00:00Z"}}},
    {"googleSearchRetrieval": {"dynamicRetrievalConfig": {"mode": "MODE_DYNAMIC"}}},
    {"google_search_retrieval": {}},
    {"retrieval": {"vertexRagStore": {"ragResources": [{"ragCorpus": "c"}]}}},
])
def test_native_grounding_tools_ask_for_grounding(tool: dict[str, Any]) -> None:
    request = generate(tools=[tool])
    assert request.grounding is True
    assert request.tools == ()


def test_native_requests_without_grounding_tools_are_not_grounded() -> None:
    assert generate().grounding is False
    assert generate(tools=[{"functionDeclarations": [DECL]}]).grounding is False
    assert generate(tools=[]).grounding is False


def test_declarations_come_beside_grounding_in_one_tool_or_apart() -> None:
    apart = generate(tools=[{"functionDeclarations": [DECL]}, {"googleSearch": {}}])
    together = generate(tools=[{"functionDeclarations": [DECL], "googleSearch": {}}])
    for request in (apart, together):
        assert request.grounding is True
        assert [d.name for d in request.tools] == ["now"]


def test_a_grounding_tool_with_a_tool_config_that_needs_declarations() -> None:
    request = generate(
        tools=[{"googleSearch": {}}, {"functionDeclarations": [DECL]}],
        toolConfig={"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["now"]}},
    )
    assert request.grounding is True
    with pytest.raises(InvalidArgument) as caught:
        generate(tools=[{"googleSearch": {}}],
                 toolConfig={"functionCallingConfig": {"mode": "ANY"}})
    assert str(caught.value.location) == "tool_config.function_calling_config.mode"


@pytest.mark.parametrize(("tool", "location", "said"), [
    ({"codeExecution": {}}, "tools[0].code_execution", "does not support code execution"),
    ({"urlContext": {}}, "tools[0].url_context", "does not support URL context"),
    ({"enterpriseWebSearch": {}}, "tools[0].enterprise_web_search",
     "does not support enterprise web search"),
    ({"googleMaps": {}}, "tools[0].google_maps", "does not support Google Maps"),
    ({"googleSearch": True}, "tools[0].google_search", "must be an object (its options)"),
    ({"retrieval": "corpus"}, "tools[0].retrieval", "must be an object (its options)"),
    ({"googleSearch": None}, "tools[0]", "declares no tool"),
    ({}, "tools[0]", "declares no tool"),
    ({"googleSearch": {}, "google_search": {}}, "tools[0].google_search", "given twice"),
])
def test_other_native_tools_are_refused_by_name(
    tool: dict[str, Any], location: str, said: str
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        generate(tools=[tool])
    assert str(caught.value.location) == location
    assert said in caught.value.message
    assert f"`{location}" in caught.value.message


def test_count_tokens_reads_grounding_too() -> None:
    request = parse_count_tokens_request({"contents": HI, "tools": [{"googleSearch": {}}]},
                                         model="m")
    assert request.grounding is True
    wrapped = parse_count_tokens_request(
        {"generateContentRequest": {"contents": HI, "tools": [{"googleSearch": {}}]}},
        model="m",
    )
    assert wrapped.grounding is True
    with pytest.raises(InvalidArgument) as caught:
        parse_count_tokens_request(
            {"generateContentRequest": {"contents": HI, "tools": [{"codeExecution": {}}]}},
            model="m",
        )
    assert str(caught.value.location) == "generate_content_request.tools[0].code_execution"


def test_parse_request_tools_returns_declarations_and_the_switch() -> None:
    parsed = parse_request_tools([{"retrieval": {}}, {"functionDeclarations": [DECL]}])
    assert parsed.grounding is True
    assert [d.name for d in parsed.declarations] == ["now"]
    assert parse_request_tools(None).grounding is False


# --- cached contents keep refusing grounding ----------------------------------------------


@pytest.mark.parametrize(("tool", "location"), [
    ({"googleSearch": {}}, "tools[0].google_search"),
    ({"retrieval": {}}, "tools[0].retrieval"),
    ({"googleSearchRetrieval": {}}, "tools[0].google_search_retrieval"),
])
def test_a_cached_content_cannot_hold_a_grounding_tool(
    tool: dict[str, Any], location: str
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_tools([tool])
    assert str(caught.value.location) == location
    assert "in a cached content" in caught.value.message
    with pytest.raises(InvalidArgument):
        parse_create({"model": "m", "contents": HI, "tools": [tool]})
