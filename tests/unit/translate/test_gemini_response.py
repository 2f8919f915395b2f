"""Domain events → Gemini's native GenerateContentResponse JSON: whole answers and stream
chunks, exactly as Google writes them, and round trips through the upstream backend's
reader (backends/gemini_wire.py)."""

from __future__ import annotations

import base64
import json
from types import MappingProxyType
from typing import Any

import pytest

from vertexcompat.backends.gemini_wire import ChunkDecoder, events_from_response
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
from vertexcompat.translate.gemini_response import ChunkWriter, response_json, usage_json

STOP, LENGTH = FinishReason.STOP, FinishReason.MAX_TOKENS
SIG = "CiQB0e2Kb7Zx1yJ5Q0r6tq2m3n4b5v6c7x8z9a0s1d2f3g4h5j6k7l8="
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
PNG_B64 = base64.b64encode(PNG).decode()
META = {"modelVersion": "gemini-2.5-flash", "createTime": "2025-06-01T12:00:00.123456Z",
        "responseId": "r-1"}
IDS = {"model_version": "gemini-2.5-flash", "response_id": "r-1",
       "create_time": "2025-06-01T12:00:00.123456Z"}


def whole(*events: StreamEvent) -> dict[str, Any]:
    got = response_json(events, **IDS)
    json.dumps(got, allow_nan=False)  # plain JSON
    return got


def stream(*events: StreamEvent) -> list[dict[str, Any]]:
    writer = ChunkWriter(**IDS)
    chunks: list[dict[str, Any]] = []
    for event in events:
        fed = writer.feed(event)
        assert len(fed) <= 1
        chunks += fed
    chunks += writer.finish()
    for chunk in chunks:
        json.dumps(chunk, allow_nan=False)
    return chunks


def cand(index: int, *parts: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    content: dict[str, Any] = {"role": "model"}
    if parts:
        content["parts"] = list(parts)
    out: dict[str, Any] = {"index": index, "content": content}
    if finish is not None:
        out["finishReason"] = finish
    return out


def chunk(*candidates: dict[str, Any], usage: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if candidates:
        out["candidates"] = list(candidates)
    if usage is not None:
        out["usageMetadata"] = usage
    return {**out, **META}


# --- whole answers ----------------------------------------------------------------------


def test_a_text_answer_with_thoughts_a_signature_and_usage() -> None:
    got = whole(
        ThoughtDelta(0, "**Weighing**"), ThoughtDelta(0, " the options."),
        TextDelta(0, "The capital"), TextDelta(0, " is Paris."),
        ThoughtSignature(0, SIG), Finished(0, STOP),
        Usage(prompt_tokens=9, completion_tokens=20, cached_tokens=4, reasoning_tokens=12),
    )
    assert got == {
        "candidates": [{
            "index": 0,
            "content": {"role": "model", "parts": [
                {"text": "**Weighing** the options.", "thought": True},
                {"text": "The capital is Paris.", "thoughtSignature": SIG},
            ]},
            "finishReason": "STOP",
        }],
        "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 8,
                          "totalTokenCount": 29, "cachedContentTokenCount": 4,
                          "thoughtsTokenCount": 12},
        **META,
    }


def test_function_calls_with_ids_args_and_the_signature_on_the_first() -> None:
    got = whole(
        TextDelta(0, "Checking."),
        FunctionCall(0, "get_weather", MappingProxyType({"city": "Oslo", "days": (1, 2)}),
                     id="c-1", thought_signature=SIG),
        FunctionCall(0, "now", {}),
        Finished(0, STOP), Usage(40, 11),
    )
    assert got == {
        "candidates": [cand(
            0,
            {"text": "Checking."},
            {"functionCall": {"name": "get_weather", "args": {"city": "Oslo", "days": [1, 2]},
                              "id": "c-1"},
             "thoughtSignature": SIG},
            {"functionCall": {"name": "now", "args": {}}},
            finish="STOP",
        )],
        "usageMetadata": {"promptTokenCount": 40, "candidatesTokenCount": 11,
                          "totalTokenCount": 51},
        **META,
    }


def test_a_call_or_an_image_keeps_text_runs_apart() -> None:
    got = whole(TextDelta(0, "Here"), TextDelta(0, ":"), ImageOutput(0, "image/png", PNG),
                TextDelta(0, "and "), TextDelta(0, "more."), Finished(0, STOP))
    assert got == {"candidates": [cand(
        0, {"text": "Here:"}, {"inlineData": {"mimeType": "image/png", "data": PNG_B64}},
        {"text": "and more."}, finish="STOP",
    )], **META}


def test_the_signature_goes_on_the_last_answer_text() -> None:
    got = whole(TextDelta(0, "a"), ImageOutput(0, "image/png", PNG), TextDelta(0, "b"),
                ImageOutput(0, "image/jpeg", b"\xff\xd8"), ThoughtSignature(0, SIG),
                Finished(0, STOP))
    assert got["candidates"][0]["content"]["parts"] == [
        {"text": "a"},
        {"inlineData": {"mimeType": "image/png", "data": PNG_B64}},
        {"text": "b", "thoughtSignature": SIG},
        {"inlineData": {"mimeType": "image/jpeg", "data": "/9g="}},
    ]


def test_a_signature_without_answer_text_gets_an_empty_text_part() -> None:
    got = whole(ThoughtDelta(0, "Hmm."), ThoughtSignature(0, SIG), Finished(0, LENGTH))
    assert got == {"candidates": [cand(
        0, {"text": "Hmm.", "thought": True}, {"text": "", "thoughtSignature": SIG},
        finish="MAX_TOKENS",
    )], **META}


def test_a_candidate_that_said_nothing_has_content_without_parts() -> None:
    got = whole(TextDelta(0, ""), Finished(0, FinishReason.SAFETY), Usage(7, 0))
    assert got == {
        "candidates": [{"index": 0, "content": {"role": "model"}, "finishReason": "SAFETY"}],
        "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 0,
                          "totalTokenCount": 7},
        **META,
    }


def test_candidates_come_in_index_order_whatever_the_event_order() -> None:
    got = whole(TextDelta(1, "Vio"), TextDelta(0, "Ro"), TextDelta(1, "lets."),
                Finished(1, STOP), TextDelta(0, "ses."), Finished(0, LENGTH), Usage(4, 6))
    assert got["candidates"] == [
        cand(0, {"text": "Roses."}, finish="MAX_TOKENS"),
        cand(1, {"text": "Violets."}, finish="STOP"),
    ]


def test_no_events_is_just_the_metadata() -> None:
    assert whole() == META


@pytest.mark.parametrize("reason", list(FinishReason))
def test_finish_reasons_by_name(reason: FinishReason) -> None:
    assert whole(Finished(0, reason))["candidates"][0]["finishReason"] == reason.name


@pytest.mark.parametrize(("usage", "wire"), [
    (Usage(0, 0), {"promptTokenCount": 0, "candidatesTokenCount": 0, "totalTokenCount": 0}),
    (Usage(5, 3, cached_tokens=2),
     {"promptTokenCount": 5, "candidatesTokenCount": 3, "totalTokenCount": 8,
      "cachedContentTokenCount": 2}),
    (Usage(5, 3, reasoning_tokens=3),
     {"promptTokenCount": 5, "candidatesTokenCount": 0, "totalTokenCount": 8,
      "thoughtsTokenCount": 3}),
])
def test_usage(usage: Usage, wire: dict[str, Any]) -> None:
    assert usage_json(usage) == wire


# --- streams ----------------------------------------------------------------------------


def test_a_streamed_text_answer_as_gemini_sends_it() -> None:
    got = stream(
        ThoughtDelta(0, "**Weighing**"), ThoughtDelta(0, " options."),
        TextDelta(0, "The capital"), TextDelta(0, " is Paris."),
        ThoughtSignature(0, SIG), Finished(0, STOP),
        Usage(prompt_tokens=9, completion_tokens=20, reasoning_tokens=12),
    )
    assert got == [
        chunk(cand(0, {"text": "**Weighing**", "thought": True})),
        chunk(cand(0, {"text": " options.", "thought": True})),
        chunk(cand(0, {"text": "The capital"})),
        chunk(cand(0, {"text": " is Paris."})),
        chunk(cand(0, {"text": "", "thoughtSignature": SIG}, finish="STOP"),
              usage={"promptTokenCount": 9, "candidatesTokenCount": 8, "totalTokenCount": 29,
                     "thoughtsTokenCount": 12}),
    ]


def test_each_feed_gives_the_chunk_to_send_now() -> None:
    writer = ChunkWriter(**IDS)
    assert writer.feed(TextDelta(0, "Hi")) == [chunk(cand(0, {"text": "Hi"}))]
    assert writer.feed(TextDelta(0, "")) == []
    assert writer.feed(ThoughtSignature(0, SIG)) == []
    assert writer.feed(Finished(0, STOP)) == []  # held for the usage
    assert writer.feed(Usage(1, 1)) == [chunk(
        cand(0, {"text": "", "thoughtSignature": SIG}, finish="STOP"),
        usage={"promptTokenCount": 1, "candidatesTokenCount": 1, "totalTokenCount": 2},
    )]
    assert writer.finish() == []
    assert writer.finish() == []
    assert writer.feed(TextDelta(0, "late")) == []


def test_a_streamed_call_and_image() -> None:
    got = stream(FunctionCall(0, "get_weather", {"city": "Oslo"}, id="c-1",
                              thought_signature=SIG),
                 ImageOutput(0, "image/png", PNG), Finished(0, STOP), Usage(3, 4))
    assert got == [
        chunk(cand(0, {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"},
                                        "id": "c-1"}, "thoughtSignature": SIG})),
        chunk(cand(0, {"inlineData": {"mimeType": "image/png", "data": PNG_B64}})),
        chunk(cand(0, {"text": ""}, finish="STOP"),
              usage={"promptTokenCount": 3, "candidatesTokenCount": 4, "totalTokenCount": 7}),
    ]


def test_a_finish_without_usage_is_sent_by_finish() -> None:
    writer = ChunkWriter(**IDS)
    assert writer.feed(Finished(0, LENGTH)) == []
    assert writer.finish() == [chunk(cand(0, {"text": ""}, finish="MAX_TOKENS"))]


def test_usage_alone_is_a_chunk_of_its_own() -> None:
    assert stream(Usage(2, 0)) == [chunk(usage={"promptTokenCount": 2,
                                                "candidatesTokenCount": 0,
                                                "totalTokenCount": 2})]
    assert stream() == []


def test_two_candidates_a_held_finish_rides_with_the_next_delta() -> None:
    got = stream(TextDelta(0, "Ro"), TextDelta(1, "Vio"), Finished(1, STOP),
                 TextDelta(0, "ses."), Finished(0, LENGTH), Usage(4, 6))
    assert got == [
        chunk(cand(0, {"text": "Ro"})),
        chunk(cand(1, {"text": "Vio"})),
        chunk(cand(1, {"text": ""}, finish="STOP"), cand(0, {"text": "ses."})),
        chunk(cand(0, {"text": ""}, finish="MAX_TOKENS"),
              usage={"promptTokenCount": 4, "candidatesTokenCount": 6, "totalTokenCount": 10}),
    ]


def test_two_finishes_in_a_row_share_the_final_chunk() -> None:
    got = stream(TextDelta(0, "a"), TextDelta(1, "b"), ThoughtSignature(1, "s1"),
                 Finished(1, STOP), ThoughtSignature(0, "s0"), Finished(0, STOP), Usage(1, 2))
    assert got[-1] == chunk(
        cand(1, {"text": "", "thoughtSignature": "s1"}, finish="STOP"),
        cand(0, {"text": "", "thoughtSignature": "s0"}, finish="STOP"),
        usage={"promptTokenCount": 1, "candidatesTokenCount": 2, "totalTokenCount": 3},
    )
    assert len(got) == 3


# --- round trips through the upstream backend's reader ----------------------------------


ANSWERS: list[list[StreamEvent]] = [
    [TextDelta(0, "Hi"), Finished(0, STOP), Usage(1, 1)],
    [ThoughtDelta(0, "Plan."), TextDelta(0, "Done."), ThoughtSignature(0, SIG),
     Finished(0, STOP), Usage(9, 20, cached_tokens=3, reasoning_tokens=12)],
    [ThoughtDelta(0, "Plan."),
     FunctionCall(0, "get_weather", {"city": "Oslo"}, id="c-1", thought_signature=SIG),
     FunctionCall(0, "now", {}, id="c-2"), Finished(0, STOP), Usage(40, 11)],
    [TextDelta(0, "Drawing."), ImageOutput(0, "image/png", PNG), Finished(0, STOP),
     Usage(5, 1290)],
    [ThoughtSignature(0, SIG), Finished(0, LENGTH), Usage(3, 0)],
    [Finished(0, FinishReason.SAFETY), Usage(7, 0)],
    [TextDelta(0, "a"), TextDelta(1, "b"), Finished(1, FinishReason.RECITATION),
     TextDelta(0, "c"), ThoughtSignature(0, "s0"), Finished(0, STOP), Usage(4, 6)],
    [TextDelta(0, "x"), Finished(0, FinishReason.MALFORMED_FUNCTION_CALL), Usage(1, 1)],
]


def merged(events: list[StreamEvent]) -> list[StreamEvent]:
    """The events a whole answer gives back: a candidate's consecutive deltas as one."""
    out: list[StreamEvent] = []
    last: dict[int, int] = {}  # candidate → the position of its latest event in `out`
    for event in events:
        if isinstance(event, TextDelta | ThoughtDelta) and event.candidate in last:
            before = out[last[event.candidate]]
            if type(before) is type(event):
                assert isinstance(before, TextDelta | ThoughtDelta)
                out[last[event.candidate]] = type(event)(event.candidate, before.text + event.text)
                continue
        if not isinstance(event, Usage):
            last[event.candidate] = len(out)
        out.append(event)
    return out


def by_candidate(events: list[StreamEvent]) -> list[StreamEvent]:
    """A whole answer lists its candidates in index order: sort the events so (stable, so
    each candidate's own order stays), with the usage last."""
    return sorted(events, key=lambda e: getattr(e, "candidate", 1 << 30))


@pytest.mark.parametrize("events", ANSWERS)
def test_round_trip_whole_answers(events: list[StreamEvent]) -> None:
    assert events_from_response(whole(*events)) == by_candidate(merged(events))


@pytest.mark.parametrize("events", ANSWERS)
def test_round_trip_streams(events: list[StreamEvent]) -> None:
    decoder = ChunkDecoder()
    decoded: list[StreamEvent] = []
    for sent in stream(*events):
        decoded += decoder.feed(json.loads(json.dumps(sent)))
    decoded += decoder.finish()
    assert decoded == events


def test_merging_only_joins_consecutive_deltas() -> None:
    events: list[StreamEvent] = [
        TextDelta(0, "a"), TextDelta(0, "b"), FunctionCall(0, "f", {}), TextDelta(0, "c"),
        Finished(0, STOP), Usage(1, 3),
    ]
    assert events_from_response(whole(*events)) == [
        TextDelta(0, "ab"), FunctionCall(0, "f", {}), TextDelta(0, "c"), Finished(0, STOP),
        Usage(1, 3),
    ]
