"""Streaming wire rules on the tiny model: the usage chunk, several choices, raw SSE."""

from __future__ import annotations

import openai

from .helpers import (
    GEMINI_FLASH_001,
    HELLO,
    assert_well_formed_stream,
    collect,
    post_stream_frames,
)
from .server import ServerProcess

REQUEST = {
    "model": GEMINI_FLASH_001,
    "messages": HELLO,
    "temperature": 0,
    "seed": 7,
    "max_tokens": 40,
}


def test_include_usage_sends_one_usage_chunk_last_with_no_choices(client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(**REQUEST)

    collected = collect(
        client.chat.completions.create(
            **REQUEST, stream=True, stream_options={"include_usage": True}
        )
    )

    usage_chunks = collected.usage_chunks()
    assert len(usage_chunks) == 1
    last = collected.chunks[-1]
    assert last is usage_chunks[0]
    assert last.choices == []
    for chunk in collected.chunks[:-1]:
        assert chunk.usage is None
        assert chunk.choices, "only the usage chunk may have no choices"
    assert_well_formed_stream(collected, n=1)  # also: the usage chunk shares id/created/model
    usage = last.usage
    assert usage is not None and whole.usage is not None
    assert usage.completion_tokens == whole.usage.completion_tokens
    assert usage.prompt_tokens == whole.usage.prompt_tokens
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert collected.text(0) == whole.choices[0].message.content


def test_include_usage_chunk_is_the_last_frame_before_done_on_the_wire(
    tiny_server: ServerProcess,
) -> None:
    body = {**REQUEST, "stream": True, "stream_options": {"include_usage": True}}
    _, frames = post_stream_frames(f"{tiny_server.vertex_base()}/chat/completions", body)

    assert frames[-1] == "[DONE]"
    usage_frame = frames[-2]
    assert isinstance(usage_frame, dict)
    assert usage_frame["choices"] == []
    assert usage_frame["usage"]["completion_tokens"] > 0
    for frame in frames[:-2]:
        assert isinstance(frame, dict)
        # With include_usage, OpenAI sends `"usage": null` on every other chunk.
        assert frame.get("usage") is None, frame
        assert frame["choices"], frame


def test_stream_with_n_3_gives_every_choice_a_role_first_and_one_finish_reason(
    client: openai.OpenAI,
) -> None:
    collected = collect(
        client.chat.completions.create(
            model=GEMINI_FLASH_001,
            messages=HELLO,
            n=3,
            temperature=1.0,
            seed=1234,
            max_tokens=30,
            stream=True,
        )
    )

    assert_well_formed_stream(collected, n=3)
    for index in range(3):
        assert collected.text(index).strip(), f"choice {index} streamed no text"
        assert collected.finish_reasons(index)[0] in ("stop", "length")
    for chunk in collected.chunks:
        assert len(chunk.choices) == 1, "each chunk carries one choice's delta"


def test_stream_without_include_usage_has_no_usage_key_on_the_wire(
    tiny_server: ServerProcess,
) -> None:
    body = {**REQUEST, "stream": True}
    _, frames = post_stream_frames(f"{tiny_server.vertex_base()}/chat/completions", body)

    assert frames[-1] == "[DONE]"
    for frame in frames[:-1]:
        assert isinstance(frame, dict)
        assert frame.get("usage") is None, frame
        assert frame["choices"], frame
