"""A stream and the non-streaming response say the same thing: the chunks of a turn,
accumulated by openai-python's own `ChatCompletionStreamState` (what `client.chat.
completions.stream()` and many agents use), give the message `to_chat_completion` gives for
the same events — `content: null` for a turn that only called, `""` for an empty one, the
text otherwise, and one image per choice (the first)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk as SdkChunk

from vertexcompat.domain.events import (
    Finished,
    FinishReason,
    FunctionCall,
    ImageOutput,
    StreamEvent,
    TextDelta,
    ThoughtDelta,
    ThoughtSignature,
    Usage,
)
from vertexcompat.domain.thinking import ThoughtTagMarker
from vertexcompat.translate.response_to_openai import to_chat_completion
from vertexcompat.translate.stream_transcoder import ChunkTranscoder
from vertexcompat.translate.thinking import HIDDEN_THOUGHTS, ThoughtPresentation

STOP = FinishReason.STOP
REASONING = ThoughtPresentation(show=True)
TAGS = ThoughtPresentation(show=True, marker=ThoughtTagMarker("think"))
CALL = FunctionCall(0, "get_weather", {"city": "Oslo"})
SIGNED_CALL = FunctionCall(0, "get_weather", {"city": "Oslo"}, thought_signature="sig")


def _ids() -> Any:
    count = iter(range(100))
    return lambda: f"call_{next(count)}"


def streamed(
    events: list[StreamEvent], *, n: int = 1, style: str = "tool_calls",
    thoughts: ThoughtPresentation = HIDDEN_THOUGHTS,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the wire chunks, the choices the SDK accumulates from them)."""
    transcoder = ChunkTranscoder(
        completion_id="chatcmpl-x", created=1, model="m", n=n, include_usage=True,
        call_style=style, new_id=_ids(), thoughts=thoughts,  # type: ignore[arg-type]
    )
    chunks = transcoder.start()
    for event in events:
        chunks += transcoder.feed(event)
    chunks += transcoder.finish()
    wire = [c.to_wire() for c in chunks]
    state = ChatCompletionStreamState()
    for chunk in wire:
        state.handle_chunk(SdkChunk.model_validate(chunk))
    # The snapshot, not get_final_completion(): that one raises on finish_reason "length".
    final = state.current_completion_snapshot.model_dump(mode="json")
    return wire, final["choices"]


def non_streamed(
    events: list[StreamEvent], *, n: int = 1, style: str = "tool_calls",
    thoughts: ThoughtPresentation = HIDDEN_THOUGHTS,
) -> list[dict[str, Any]]:
    completion = to_chat_completion(
        events, completion_id="chatcmpl-x", created=1, model="m", n=n,
        call_style=style, new_id=_ids(), thoughts=thoughts,  # type: ignore[arg-type]
    )
    return completion.to_wire()["choices"]


def said(choice: dict[str, Any]) -> dict[str, Any]:
    """What a choice tells the client, in one shape for both (the SDK's snapshot adds
    `index`, `parsed`, `refusal`... with nothing in them)."""
    message = choice["message"]
    calls = [
        {"id": c["id"], "name": c["function"]["name"], "arguments": c["function"]["arguments"],
         "extra_content": c.get("extra_content")}
        for c in message.get("tool_calls") or ()
    ]
    function_call = message.get("function_call")
    return {
        "finish_reason": choice["finish_reason"],
        "content": message.get("content"),
        "reasoning_content": message.get("reasoning_content"),
        "tool_calls": calls,
        "function_call": None if function_call is None else
        {"name": function_call["name"], "arguments": function_call["arguments"]},
        "extra_content": message.get("extra_content"),
        "image": message.get("image"),
    }


PNG_A, PNG_B = b"\x89PNG first", b"\x89PNG second"

TURNS = {
    "text": ([TextDelta(0, "Sun"), TextDelta(0, "ny."), Finished(0, STOP)], {}),
    "only a call": ([CALL, Finished(0, STOP)], {}),
    "two calls": ([CALL, FunctionCall(0, "get_time", {}), Finished(0, STOP)], {}),
    "text then a call": ([TextDelta(0, "Let me look."), CALL, Finished(0, STOP)], {}),
    "a call cut by max_tokens": ([CALL, Finished(0, FinishReason.MAX_TOKENS)], {}),
    "a call, no Finished": ([CALL], {}),
    "empty": ([Finished(0, STOP)], {}),
    "nothing at all": ([], {}),
    "deprecated function_call": ([CALL, Finished(0, STOP)], {"style": "function_call"}),
    "a signed call": ([SIGNED_CALL, Finished(0, STOP)], {}),
    "text with a signature": (
        [TextDelta(0, "Hi."), ThoughtSignature(0, "sig"), Finished(0, STOP)], {}),
    "a signature, no text": ([ThoughtSignature(0, "sig"), Finished(0, STOP)], {}),
    "reasoning then a call": (
        [ThoughtDelta(0, "Think."), CALL, Finished(0, STOP)], {"thoughts": REASONING}),
    "reasoning then text": (
        [ThoughtDelta(0, "Think."), TextDelta(0, "Hi."), Finished(0, STOP)],
        {"thoughts": REASONING}),
    "reasoning only": ([ThoughtDelta(0, "Think."), Finished(0, STOP)], {"thoughts": REASONING}),
    "thoughts in tags then a call": (
        [ThoughtDelta(0, "Think."), CALL, Finished(0, STOP)], {"thoughts": TAGS}),
    "hidden thoughts then a call": ([ThoughtDelta(0, "Think."), CALL, Finished(0, STOP)], {}),
    "an image": ([ImageOutput(0, "image/png", PNG_A), Finished(0, STOP)], {}),
    "text and two images": (
        [TextDelta(0, "Two: "), ImageOutput(0, "image/png", PNG_A),
         ImageOutput(0, "image/jpeg", PNG_B), Finished(0, STOP)], {}),
    "n=2, one calls and one writes": (
        [TextDelta(1, "Checking."), CALL, FunctionCall(1, "get_time", {}), TextDelta(1, " Ok."),
         Finished(0, STOP), Finished(1, STOP)], {"n": 2}),
    "n=2, one empty": ([TextDelta(0, "Hi."), Finished(0, STOP), Finished(1, STOP)], {"n": 2}),
}


@pytest.mark.parametrize("name", list(TURNS))
def test_the_accumulated_stream_is_the_non_stream_message(name: str) -> None:
    events, options = TURNS[name]
    events = [*events, Usage(prompt_tokens=3, completion_tokens=4)]
    _, accumulated = streamed(events, **options)
    expected = non_streamed(events, **options)
    assert [said(c) for c in accumulated] == [said(c) for c in expected]


def test_a_turn_that_only_called_accumulates_to_content_none() -> None:
    wire, accumulated = streamed([CALL, Finished(0, STOP)])
    assert accumulated[0]["message"]["content"] is None
    assert accumulated[0]["message"]["tool_calls"][0]["function"]["name"] == "get_weather"
    # No delta of the turn says anything about content: OpenAI's first chunk of such a
    # turn has `"content": null`, and `""` would accumulate to `""`.
    assert all(c["choices"][0]["delta"].get("content") is None for c in wire if c["choices"])


def test_a_text_turn_accumulates_its_text_and_an_empty_turn_the_empty_string() -> None:
    _, text = streamed([TextDelta(0, "Sun"), TextDelta(0, "ny."), Finished(0, STOP)])
    assert text[0]["message"]["content"] == "Sunny."
    _, empty = streamed([Finished(0, STOP)])
    assert empty[0]["message"]["content"] == ""


def test_each_choice_gets_the_first_image_of_its_candidate_in_both_forms() -> None:
    events: list[StreamEvent] = [
        ImageOutput(0, "image/png", PNG_A), ImageOutput(0, "image/jpeg", PNG_B),
        ImageOutput(1, "image/jpeg", PNG_B), Finished(0, STOP), Finished(1, STOP),
    ]
    wire, accumulated = streamed(events, n=2)
    image_deltas = [c["choices"][0]["delta"]["image"] for c in wire
                    if c["choices"] and "image" in c["choices"][0]["delta"]]
    assert len(image_deltas) == 2  # one per choice, never a second one to merge
    expected = non_streamed(events, n=2)
    for choice, streamed_choice in zip(expected, accumulated, strict=True):
        assert streamed_choice["message"]["image"] == choice["message"]["image"] == choice["image"]
    assert base64.b64decode(expected[0]["image"]["data"]) == PNG_A
    assert expected[0]["image"]["extra_content"]["google"]["mime_type"] == "image/png"
    assert base64.b64decode(expected[1]["image"]["data"]) == PNG_B
