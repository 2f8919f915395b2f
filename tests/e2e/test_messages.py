"""The `messages` forms of SPEC §4 reach the model as the same conversation, and text
comes back as whole UTF-8 characters, streamed or not."""

from __future__ import annotations

from typing import Any

import openai

from .helpers import GEMINI_FLASH_001, collect


def _answer(client: openai.OpenAI, messages: list[dict[str, Any]], **kw: Any) -> str:
    response = client.chat.completions.create(
        model=GEMINI_FLASH_001, messages=messages, temperature=0, max_tokens=20, **kw
    )
    assert response.choices[0].finish_reason in ("stop", "length")
    return response.choices[0].message.content or ""


def test_content_as_text_parts_is_the_same_prompt_as_a_string(client: openai.OpenAI) -> None:
    as_string = _answer(client, [{"role": "user", "content": "Name three colours."}])
    as_parts = _answer(
        client,
        [{"role": "user", "content": [{"type": "text", "text": "Name three colours."}]}],
    )
    assert as_string
    assert as_parts == as_string


def test_developer_role_is_a_system_instruction(client: openai.OpenAI) -> None:
    user = {"role": "user", "content": "Who are you?"}
    with_system = _answer(client, [{"role": "system", "content": "You are a pirate."}, user])
    with_developer = _answer(
        client, [{"role": "developer", "content": "You are a pirate."}, user]
    )
    without = _answer(client, [user])
    assert with_developer == with_system
    assert with_system != without, "the system instruction did not reach the model"


def test_multi_turn_history_reaches_the_model(client: openai.OpenAI) -> None:
    last = {"role": "user", "content": "And what did I just ask you?"}
    with_history = _answer(
        client,
        [
            {"role": "user", "content": "What is the capital of France?"},
            {"role": "assistant", "content": "The capital of France is Paris."},
            last,
        ],
    )
    without_history = _answer(client, [last])
    assert with_history and with_history != without_history


def test_multibyte_characters_stream_whole_and_match_the_non_stream_answer(
    client: openai.OpenAI,
) -> None:
    messages = [{"role": "user", "content": "Reply with three emoji only: 😀🎉🚀"}]
    whole = _answer(client, messages)
    streamed = collect(
        client.chat.completions.create(
            model=GEMINI_FLASH_001, messages=messages, temperature=0, max_tokens=20, stream=True
        )
    )

    assert any(ord(ch) > 0xFFFF for ch in whole), f"expected emoji in {whole!r}"
    assert streamed.text(0) == whole
    # Emoji span several tokens: no character may be split into replacement characters,
    # not even one cut off by `max_tokens` (its incomplete bytes are dropped).
    assert "\ufffd" not in whole, whole
    contents = [delta.content or "" for _, delta, _ in streamed.per_choice[0]]
    for content in contents:
        assert "\ufffd" not in content, contents
