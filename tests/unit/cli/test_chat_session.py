"""`vertexcompat chat`'s pure side: lines → messages or commands, the conversation and the
request each turn sends, and streamed content split into thoughts and answer."""

import pytest

from vertexcompat.cli.chat_session import (
    HELP,
    Blank,
    Command,
    Conversation,
    Say,
    ThoughtSplitter,
    apply_command,
    describe_api_error,
    parse_input,
)

# -- lines ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "parsed"),
    [
        ("", Blank()),
        ("   \n", Blank()),
        ("Hello there\n", Say("Hello there")),
        ("  spaced out  ", Say("spaced out")),
        ("/reset", Command("reset")),
        ("/RESET\n", Command("reset")),
        ("/system You are terse.", Command("system", "You are terse.")),
        ("/system   padded   ", Command("system", "padded")),
        ("/effort low", Command("effort", "low")),
        ("//etc/hosts is a file", Say("/etc/hosts is a file")),
    ],
)
def test_parse_input(line: str, parsed: object) -> None:
    assert parse_input(line) == parsed


# -- the conversation and its requests -----------------------------------------------------


def test_a_fresh_conversation_sends_one_user_message_streamed_with_the_thought_marker() -> None:
    request = Conversation("google/gemini-2.5-flash").request("Hi")
    assert request == {
        "model": "google/gemini-2.5-flash",
        "messages": [{"role": "user", "content": "Hi"}],
        "stream": True,
        "extra_body": {"google": {"thought_tag_marker": "think"}},
    }


def test_turns_system_prompt_effort_and_max_tokens_shape_the_request() -> None:
    chat = Conversation("m", max_tokens=64)
    chat.record("Hi", "Hello!")
    assert apply_command(chat, Command("system", "You are terse.")).message == (
        "System prompt set: You are terse."
    )
    apply_command(chat, Command("effort", "low"))
    request = chat.request("And now?")
    assert request["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "And now?"},
    ]
    assert request["reasoning_effort"] == "low"
    assert request["max_tokens"] == 64


def test_reset_forgets_the_turns_but_keeps_system_prompt_and_effort() -> None:
    chat = Conversation("m", system="Be brief.", effort="high")
    chat.record("one", "1")
    chat.record("two", "2")
    outcome = apply_command(chat, Command("reset"))
    assert outcome.message == "Conversation cleared (2 turns forgotten)." and not outcome.quit
    request = chat.request("three")
    assert request["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "three"},
    ]
    assert request["reasoning_effort"] == "high"
    assert apply_command(chat, Command("reset", "now")).error


def test_system_alone_clears_the_system_prompt() -> None:
    chat = Conversation("m", system="Be brief.")
    assert apply_command(chat, Command("system")).message == "System prompt cleared."
    assert chat.request("x")["messages"] == [{"role": "user", "content": "x"}]


@pytest.mark.parametrize("level", ["none", "minimal", "low", "medium", "high", "LOW"])
def test_effort_levels_become_reasoning_effort(level: str) -> None:
    chat = Conversation("m")
    outcome = apply_command(chat, Command("effort", level))
    assert not outcome.error
    assert chat.request("x")["reasoning_effort"] == level.lower()


def test_effort_default_stops_sending_it_and_bad_levels_change_nothing() -> None:
    chat = Conversation("m", effort="low")
    bad = apply_command(chat, Command("effort", "extreme"))
    assert bad.error and "none, minimal, low, medium, high, default" in bad.message
    assert chat.effort == "low"
    assert apply_command(chat, Command("effort")).message == "Reasoning effort: low."
    apply_command(chat, Command("effort", "default"))
    assert "reasoning_effort" not in chat.request("x")
    assert "default" in apply_command(chat, Command("effort")).message


def test_help_quit_and_unknown_commands() -> None:
    chat = Conversation("m")
    assert apply_command(chat, Command("help")).message == HELP
    for name in ("/reset", "/system", "/effort", "/help", "/quit"):
        assert name in HELP
    assert apply_command(chat, Command("quit")).quit
    assert apply_command(chat, Command("exit")).quit
    unknown = apply_command(chat, Command("frobnicate"))
    assert unknown.error and not unknown.quit and "/frobnicate" in unknown.message


# -- thoughts and answer -------------------------------------------------------------------


def _split(chunks: list[str]) -> tuple[str, str]:
    splitter = ThoughtSplitter()
    pieces = [p for chunk in chunks for p in splitter.feed(chunk)] + splitter.flush()
    thought = "".join(text for kind, text in pieces if kind == "thought")
    answer = "".join(text for kind, text in pieces if kind == "answer")
    return thought, answer


def test_content_without_thoughts_is_all_answer() -> None:
    assert _split(["Hello", " world"]) == ("", "Hello world")
    assert _split(["<", "b>bold</b>"]) == ("", "<b>bold</b>")


def test_leading_thought_tags_are_taken_apart_however_the_chunks_fall() -> None:
    text = "<think>Let me see.</think>\nThe answer is 4."
    expected = ("Let me see.", "The answer is 4.")
    assert _split([text]) == expected
    assert _split(list(text)) == expected  # one character per delta
    assert _split(["<think>Let me", " see.", "</think>", "The answer", " is 4."]) == expected


def test_answer_streams_as_it_comes_and_only_a_possible_tag_is_held_back() -> None:
    splitter = ThoughtSplitter()
    assert splitter.feed("<th") == []  # could still be the tag
    assert splitter.feed("ink>pondering </th") == [("thought", "pondering ")]
    assert splitter.feed("ink>Four") == [("answer", "Four")]
    assert splitter.feed(" <think>") == [("answer", " <think>")]  # only a leading tag counts


def test_an_unfinished_stream_keeps_its_text() -> None:
    assert _split(["<think>half a thought</thi"]) == ("half a thought</thi", "")
    assert _split(["<thi"]) == ("", "<thi")


# -- errors --------------------------------------------------------------------------------


def test_describe_api_error_reads_google_error_bodies() -> None:
    body = {"error": {"code": 400, "message": "The prompt is too long.",
                      "status": "INVALID_ARGUMENT", "param": "messages"}}
    expected = "error 400 INVALID_ARGUMENT: The prompt is too long. (param: messages)"
    assert describe_api_error(400, body, "fallback") == expected
    assert describe_api_error(400, body["error"], "fallback") == expected  # as the SDK gives it
    assert describe_api_error(400, [body], "fallback") == expected
    assert describe_api_error(None, {"message": "boom"}, "x") == "error: boom"
    assert describe_api_error(502, "Bad gateway\n", "x") == "error 502: Bad gateway"
    assert describe_api_error(500, None, "Error code: 500") == "error 500: Error code: 500"
