"""Thoughts and thought signatures in the history a client sends back (SPEC §5): an
assistant message's thoughts become thought parts, never answer text, and every signature
lands on the part it belongs to, named by the path the client sent it under."""

from __future__ import annotations

import pytest

from vertexcompat.domain.content import FunctionCallPart, FunctionResponsePart, TextPart
from vertexcompat.translate.request_to_gemini import to_generate_request
from vertexcompat.translate.validation import parse_chat_request

USER = {"role": "user", "content": "weather?"}
LATER = {"role": "user", "content": "thanks"}


def lower(*messages, **fields):
    raw = {"model": "google/gemini-2.5-flash", "messages": [USER, *messages, LATER], **fields}
    return to_generate_request(parse_chat_request(raw), backend_model="m")


def model_parts(*messages, **fields):
    """The parts of the one model content the assistant message (messages[1]) became."""
    req = lower(*messages, **fields)
    [model] = [c for c in req.contents if c.role == "model"]
    return model.parts


def google(**extras):
    return {"google": extras}


def call(id_, name="get", arguments='{"city": "Oslo"}', **extra):
    return {"id": id_, "type": "function", "function": {"name": name, "arguments": arguments},
            **extra}


def assistant(content=None, **fields):
    return {"role": "assistant", "content": content, **fields}


def text(value, **extra):
    return {"type": "text", "text": value, **extra}


TAGS = {"google": {"thought_tag_marker": "think"}}


# --- thoughts --------------------------------------------------------------------------


def test_reasoning_content_becomes_the_first_part_as_a_thought():
    assert model_parts(assistant("Sunny.", reasoning_content="Check Oslo.")) == (
        TextPart("Check Oslo.", thought=True),
        TextPart("Sunny."),
    )


def test_reasoning_content_with_calls_comes_before_the_calls():
    parts = model_parts(assistant(None, reasoning_content="Need a tool.", tool_calls=[call("a")]))
    assert parts == (
        TextPart("Need a tool.", thought=True),
        FunctionCallPart("get", {"city": "Oslo"}, id="a"),
    )


def test_empty_reasoning_content_adds_no_part():
    assert model_parts(assistant("Sunny.", reasoning_content="")) == (TextPart("Sunny."),)


@pytest.mark.parametrize("key", ["extra_content", "extra_part"])
def test_a_content_part_marked_as_thought_is_a_thought(key):
    parts = model_parts(
        assistant([text("Check Oslo.", **{key: google(thought=True)}), text("Sunny.")])
    )
    assert parts == (TextPart("Check Oslo.", thought=True), TextPart("Sunny."))


@pytest.mark.parametrize("key", ["extra_content", "extra_part"])
def test_a_content_part_marked_thought_false_is_answer(key):
    parts = model_parts(assistant([text("Sunny.", **{key: google(thought=False)})]))
    assert parts == (TextPart("Sunny."),)


def test_extra_content_wins_over_extra_part_on_a_part():
    part = text("x", extra_content=google(thought=False), extra_part=google(thought=True))
    assert model_parts(assistant([part])) == (TextPart("x"),)


@pytest.mark.parametrize("key", ["extra_content", "extra_part"])
def test_a_message_marked_as_thought_makes_all_its_text_thought(key):
    parts = model_parts(
        assistant([text("one"), text("two")], **{key: google(thought=True)})
    )
    assert parts == (TextPart("one", thought=True), TextPart("two", thought=True))


def test_a_string_message_marked_as_thought_is_a_thought():
    parts = model_parts(assistant("all of it", extra_content=google(thought=True)))
    assert parts == (TextPart("all of it", thought=True),)


def test_a_tag_marker_splits_thoughts_out_of_the_text():
    parts = model_parts(assistant("<think>plan</think>Answer"), **TAGS)
    assert parts == (TextPart("plan", thought=True), TextPart("Answer"))


def test_text_around_and_between_tags_stays_answer():
    parts = model_parts(assistant("a<think>b</think>c<think>d</think>e"), **TAGS)
    assert parts == (
        TextPart("a"), TextPart("b", thought=True), TextPart("c"), TextPart("d", thought=True),
        TextPart("e"),
    )


def test_multiline_thoughts_inside_tags_are_one_thought():
    parts = model_parts(assistant("<think>line 1\nline 2</think>\nAnswer"), **TAGS)
    assert parts == (TextPart("line 1\nline 2", thought=True), TextPart("\nAnswer"))


def test_an_unclosed_tag_is_thought_to_the_end():
    assert model_parts(assistant("<think>x"), **TAGS) == (TextPart("x", thought=True),)
    assert model_parts(assistant("pre<think>cut off"), **TAGS) == (
        TextPart("pre"), TextPart("cut off", thought=True),
    )


def test_the_marker_the_request_names_is_the_one_split_on():
    parts = model_parts(
        assistant("<think>t</think><plan>p</plan>A"), google={"thought_tag_marker": "plan"}
    )
    assert parts == (TextPart("<think>t</think>"), TextPart("p", thought=True), TextPart("A"))


def test_the_marker_works_in_the_literal_extra_body_form():
    parts = model_parts(assistant("<think>plan</think>Answer"), extra_body=TAGS)
    assert parts == (TextPart("plan", thought=True), TextPart("Answer"))


def test_without_a_marker_tags_stay_answer_text():
    assert model_parts(assistant("<think>plan</think>Answer")) == (
        TextPart("<think>plan</think>Answer"),
    )


def test_tags_inside_list_content_parts_are_split_too():
    parts = model_parts(assistant([text("<think>p</think>A"), text("B")]), **TAGS)
    assert parts == (TextPart("p", thought=True), TextPart("A"), TextPart("B"))


# --- signatures ------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["extra_content", "extra_part"])
def test_a_tool_calls_signature_goes_on_its_call(key):
    parts = model_parts(
        assistant(None, tool_calls=[call("a", **{key: google(thought_signature="sig-a")}),
                                    call("b", name="put")]),
        {"role": "tool", "tool_call_id": "a", "content": "1"},
        {"role": "tool", "tool_call_id": "b", "content": "2"},
    )
    first, second = parts
    assert first == FunctionCallPart("get", {"city": "Oslo"}, id="a", thought_signature="sig-a")
    assert first.signature_source == f"messages[1].tool_calls[0].{key}.google.thought_signature"
    assert second.thought_signature is None
    assert second.signature_source == (
        "messages[1].tool_calls[1].extra_content.google.thought_signature"
    )


def test_a_message_signature_goes_to_the_first_call_when_the_calls_have_none():
    parts = model_parts(
        assistant("Checking.", tool_calls=[call("a"), call("b", name="put")],
                  extra_content=google(thought_signature="sig-m")),
    )
    answer, first, second = parts
    assert answer == TextPart("Checking.")
    assert first.thought_signature == "sig-m"
    assert first.signature_source == "messages[1].extra_content.google.thought_signature"
    assert second.thought_signature is None


def test_a_message_signature_goes_to_the_last_answer_text_when_the_calls_have_their_own():
    parts = model_parts(
        assistant(
            [text("Checking"), text(" now.")],
            reasoning_content="plan",
            tool_calls=[call("a", extra_content=google(thought_signature="sig-call"))],
            extra_content=google(thought_signature="sig-m"),
        ),
    )
    thought, first_text, last_text, the_call = parts
    assert thought == TextPart("plan", thought=True)
    assert first_text == TextPart("Checking")
    assert last_text == TextPart(" now.", thought_signature="sig-m")
    assert last_text.signature_source == "messages[1].extra_content.google.thought_signature"
    assert the_call.thought_signature == "sig-call"
    assert the_call.signature_source == (
        "messages[1].tool_calls[0].extra_content.google.thought_signature"
    )


def test_a_text_turns_message_signature_goes_on_its_answer_not_its_thoughts():
    parts = model_parts(
        assistant("<think>plan</think>Answer", extra_content=google(thought_signature="sig")),
        **TAGS,
    )
    assert parts == (TextPart("plan", thought=True), TextPart("Answer", thought_signature="sig"))
    assert parts[1].signature_source == "messages[1].extra_content.google.thought_signature"


def test_a_message_signature_under_extra_part_is_named_so():
    parts = model_parts(assistant("Answer", extra_part=google(thought_signature="sig")))
    assert parts == (TextPart("Answer", thought_signature="sig"),)
    assert parts[0].signature_source == "messages[1].extra_part.google.thought_signature"


def test_a_signature_on_a_turn_with_only_thoughts_gets_an_empty_answer_part():
    parts = model_parts(
        assistant(None, reasoning_content="plan", extra_content=google(thought_signature="sig"))
    )
    assert parts == (TextPart("plan", thought=True), TextPart("", thought_signature="sig"))


def test_a_content_parts_signature_stays_on_that_part_and_names_it():
    parts = model_parts(
        assistant([text("A", extra_content=google(thought_signature="sig-p")), text("B")])
    )
    assert parts == (TextPart("A", thought_signature="sig-p"), TextPart("B"))
    assert parts[0].signature_source == (
        "messages[1].content[0].extra_content.google.thought_signature"
    )


def test_a_tagged_parts_signature_moves_to_its_answer_text():
    parts = model_parts(
        assistant([text("<think>p</think>A", extra_content=google(thought_signature="sig"))]),
        **TAGS,
    )
    assert parts == (TextPart("p", thought=True), TextPart("A", thought_signature="sig"))
    assert parts[1].signature_source == (
        "messages[1].content[0].extra_content.google.thought_signature"
    )


def test_the_deprecated_function_calls_signature_is_the_messages():
    parts = model_parts(
        assistant(None, function_call={"name": "get", "arguments": "{}"},
                  extra_content=google(thought_signature="sig-fc")),
        {"role": "function", "name": "get", "content": "1"},
    )
    [the_call] = parts
    assert the_call.thought_signature == "sig-fc"
    assert the_call.signature_source == "messages[1].extra_content.google.thought_signature"


def test_an_unsigned_call_still_names_where_its_signature_belongs():
    [the_call] = model_parts(assistant(None, tool_calls=[call("a")]),
                             {"role": "tool", "tool_call_id": "a", "content": "1"})
    assert the_call.thought_signature is None
    assert the_call.signature_source == (
        "messages[1].tool_calls[0].extra_content.google.thought_signature"
    )


def test_signature_sources_use_the_messages_own_index():
    req = lower(
        assistant("first", extra_content=google(thought_signature="s1")),
        {"role": "user", "content": "again"},
        assistant("second", extra_content=google(thought_signature="s3")),
    )
    signed = [c.parts[-1] for c in req.contents if c.role == "model"]
    assert [p.signature_source for p in signed] == [
        "messages[1].extra_content.google.thought_signature",
        "messages[3].extra_content.google.thought_signature",
    ]


# --- user messages ---------------------------------------------------------------------


def user_parts(message, **fields):
    req = to_generate_request(
        parse_chat_request({"model": "g", "messages": [message], **fields}), backend_model="m"
    )
    [content] = req.contents
    assert content.role == "user"
    return content.parts


def test_a_users_tags_stay_text_even_with_a_marker():
    assert user_parts({"role": "user", "content": "<think>x</think>y"}, **TAGS) == (
        TextPart("<think>x</think>y"),
    )


def test_a_users_reasoning_content_is_not_a_thought():
    parts = user_parts({"role": "user", "content": "q", "reasoning_content": "r"})
    assert parts == (TextPart("q"),)


def test_a_user_message_marked_as_thought_stays_the_users_text():
    parts = user_parts({"role": "user", "content": "q", "extra_content": google(thought=True)})
    assert parts == (TextPart("q"),)


def test_a_user_part_marked_as_thought_stays_the_users_text():
    """Only an assistant message can hold the model's thoughts; a user's text marked so is
    still what the user said (a thought part in a user content is dropped from the local
    model's prompt, so the question would silently vanish)."""
    parts = user_parts(
        {"role": "user", "content": [text("q", extra_content=google(thought=True)), text("r")]}
    )
    assert parts == (TextPart("q"), TextPart("r"))


def test_tool_results_are_not_touched_by_thought_markers():
    req = lower(
        assistant(None, tool_calls=[call("a")]),
        {"role": "tool", "tool_call_id": "a", "content": "<think>x</think>y"},
        **TAGS,
    )
    [result] = req.contents[2].parts
    assert result == FunctionResponsePart("get", {"content": "<think>x</think>y"}, id="a")
