"""The seed documents' two Python samples, run unchanged (but for `base_url`) against the
default model: the basic request and the streaming request."""

from __future__ import annotations

import re

import openai
import pytest

from .helpers import (
    GEMINI_FLASH,
    GEMINI_FLASH_001,
    assert_well_formed_stream,
    collect,
    post_stream_frames,
)
from .server import ServerProcess

pytestmark = pytest.mark.timeout(900)  # the first run assembles the default model

COMMON_WORDS = {"the", "a", "an", "is", "of", "to", "and", "in", "that", "it", "data", "can",
                "are", "on", "with", "as", "for", "by", "be", "this", "learn", "computer"}

HELLO_REQUEST = {
    "model": GEMINI_FLASH,
    "messages": [{"role": "user", "content": "Hello!"}],
    "temperature": 0,
    "max_tokens": 60,
}


def test_seed_basic_sample_explains_ai_in_english(default_client: openai.OpenAI) -> None:
    response = default_client.chat.completions.create(
        model=GEMINI_FLASH_001,
        messages=[
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Explain to me how AI works"},
        ],
        temperature=0,
        max_tokens=120,
    )

    assert response.object == "chat.completion"
    assert response.id.startswith("chatcmpl-")
    assert response.model == GEMINI_FLASH_001
    assert len(response.choices) == 1
    choice = response.choices[0]
    assert choice.index == 0
    assert choice.message.role == "assistant"
    assert choice.finish_reason in ("stop", "length")
    content = choice.message.content
    assert content and content.strip()
    words = re.findall(r"[a-z]+", content.lower())
    assert len(words) >= 20, content
    assert len(COMMON_WORDS & set(words)) >= 5, content
    assert "AI" in content or "intelligence" in content.lower(), content
    usage = response.usage
    assert usage is not None
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.completion_tokens <= 120
    if choice.finish_reason == "length":
        assert usage.completion_tokens == 120


def test_seed_streaming_sample_deltas_concatenate_to_the_non_stream_answer(
    default_client: openai.OpenAI,
) -> None:
    whole = default_client.chat.completions.create(**HELLO_REQUEST)
    expected = whole.choices[0].message.content
    assert expected

    collected = collect(default_client.chat.completions.create(**HELLO_REQUEST, stream=True))

    assert_well_formed_stream(collected, n=1)
    assert collected.text(0) == expected
    assert collected.finish_reasons(0) == [whole.choices[0].finish_reason]
    assert all(chunk.model == GEMINI_FLASH for chunk in collected.chunks)
    assert all(chunk.usage is None for chunk in collected.chunks)
    assert all(chunk.choices for chunk in collected.chunks)


def test_seed_streaming_sample_on_the_wire_ends_with_done_and_has_no_usage(
    default_server: ServerProcess,
) -> None:
    url = f"{default_server.vertex_base()}/chat/completions"
    response, frames = post_stream_frames(url, {**HELLO_REQUEST, "stream": True}, timeout=300)
    assert response.headers["content-type"].startswith("text/event-stream")

    assert frames[-1] == "[DONE]"
    assert frames.count("[DONE]") == 1
    chunks = frames[:-1]
    assert chunks and all(isinstance(c, dict) for c in chunks)
    for chunk in chunks:
        assert isinstance(chunk, dict)
        assert chunk["object"] == "chat.completion.chunk"
        assert "usage" not in chunk or chunk["usage"] is None, chunk
        assert "error" not in chunk, chunk
    last = chunks[-1]
    assert isinstance(last, dict)
    assert last["choices"][0]["finish_reason"] in ("stop", "length")
