"""Grounding on the upstream Gemini wire (backends/gemini_wire.py, issue 18): a grounded
request asks Gemini for `googleSearch`, and a candidate's `groundingMetadata` comes back as
a `GroundingMetadata` event before its `Finished`, its byte offsets turned into
characters. The local answer stages pass the event on untouched."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from vertexcompat.backends.gemini_wire import (
    ChunkDecoder,
    events_from_response,
    to_count_tokens_body,
    to_gemini_body,
)
from vertexcompat.backends.local.answers import CallAnswers
from vertexcompat.backends.local_drawing import SvgDrawing
from vertexcompat.domain.content import Content, GenerateContentRequest, TextPart
from vertexcompat.domain.events import (
    Finished,
    FinishReason,
    GroundingMetadata,
    SafetyRatings,
    StreamEvent,
    TextDelta,
    ThoughtDelta,
    ThoughtSignature,
    Usage,
)
from vertexcompat.domain.grounding import Source, Support
from vertexcompat.domain.safety import HarmCategory, SafetyRating
from vertexcompat.domain.tools import FunctionDeclaration
from vertexcompat.translate.gemini_response import ChunkWriter

STOP = FinishReason.STOP


def req(**fields: Any) -> GenerateContentRequest:
    return GenerateContentRequest(
        model="gemini-2.5-flash", contents=(Content("user", (TextPart("Hi"),)),), **fields
    )


# --- the request ------------------------------------------------------------------------


def test_a_grounded_request_asks_for_google_search() -> None:
    assert to_gemini_body(req(grounding=True))["tools"] == [{"googleSearch": {}}]


def test_google_search_comes_after_the_declarations() -> None:
    body = to_gemini_body(req(grounding=True, tools=(FunctionDeclaration("now"),)))
    assert body["tools"] == [{"functionDeclarations": [{"name": "now"}]}, {"googleSearch": {}}]


def test_an_ungrounded_request_sends_no_tools() -> None:
    assert "tools" not in to_gemini_body(req())


@pytest.mark.parametrize("vertex", [True, False])
def test_count_tokens_bodies_carry_it_too(vertex: bool) -> None:
    body = to_count_tokens_body(req(grounding=True), vertex=vertex,
                                model_resource="models/gemini-2.5-flash")
    tools = body["tools"] if vertex else body["generateContentRequest"]["tools"]
    assert tools == [{"googleSearch": {}}]


# --- the answer -------------------------------------------------------------------------

# As Gemini writes it: bytes, `startIndex` left out when 0, no confidence scores (2.5
# models), a search entry point and retrieval metadata nobody reads.
TEXT = "Café ß won. 日本 🎉 cheered."
FIRST, SECOND = "Café ß won.", "日本 🎉 cheered."


def span(claim: str) -> tuple[int, int]:
    start = TEXT.encode().index(claim.encode())
    return start, start + len(claim.encode())


GEMINI_METADATA = {
    "webSearchQueries": ["who won", "who cheered"],
    "searchEntryPoint": {"renderedContent": "<style>…</style>"},
    "retrievalMetadata": {},
    "groundingChunks": [
        {"web": {"uri": "https://vertexaisearch.cloud.google.com/grounding-api-redirect/a",
                 "title": "example.com", "domain": "example.com"}},
        {"retrievedContext": {"uri": "gs://bucket/doc.pdf", "title": "doc.pdf", "text": "…"}},
        {"web": {"uri": "https://b.example"}},
    ],
    "groundingSupports": [
        {"segment": {"endIndex": span(FIRST)[1], "text": FIRST},
         "groundingChunkIndices": [0, 2]},
        {"segment": {"startIndex": span(SECOND)[0], "endIndex": span(SECOND)[1],
                     "text": SECOND},
         "groundingChunkIndices": [1], "confidenceScores": [0.75]},
    ],
}
SOURCES = (
    Source("https://vertexaisearch.cloud.google.com/grounding-api-redirect/a", "example.com"),
    Source("gs://bucket/doc.pdf", "doc.pdf"),
    Source("https://b.example", ""),
)
EXPECTED = GroundingMetadata(0, ("who won", "who cheered"), SOURCES, (
    Support(0, len(FIRST), FIRST, (0, 2), ()),
    Support(TEXT.index(SECOND), len(TEXT), SECOND, (1,), (0.75,)),
))


def test_a_whole_answers_metadata_comes_before_its_ratings_and_finish() -> None:
    got = events_from_response({"candidates": [{
        "content": {"role": "model", "parts": [
            {"text": "thinking", "thought": True}, {"text": TEXT, "thoughtSignature": "s"}]},
        "finishReason": "STOP", "groundingMetadata": GEMINI_METADATA,
        "safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT", "probabilityScore": 0.1}],
    }], "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 5}})
    assert got == [
        ThoughtDelta(0, "thinking"), TextDelta(0, TEXT), ThoughtSignature(0, "s"), EXPECTED,
        SafetyRatings(0, (SafetyRating(HarmCategory.HARASSMENT, 0.1),)), Finished(0, STOP),
        Usage(3, 5),
    ]
    for support in EXPECTED.supports:
        assert TEXT[support.start:support.end] == support.text


def test_a_streamed_answers_offsets_count_every_chunks_text() -> None:
    decoder = ChunkDecoder()
    cut = TEXT.index("日")
    chunks = [
        {"candidates": [{"content": {"role": "model", "parts": [{"text": TEXT[:cut]}]}}]},
        {"candidates": [{"content": {"role": "model", "parts": [{"text": TEXT[cut:]}]}}]},
        {"candidates": [{"content": {"role": "model", "parts": [{"text": ""}]},
                         "finishReason": "STOP", "groundingMetadata": GEMINI_METADATA}],
         "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 5}},
    ]
    got = [e for c in chunks for e in decoder.feed(c)] + decoder.finish()
    assert got == [TextDelta(0, TEXT[:cut]), TextDelta(0, TEXT[cut:]), EXPECTED,
                   Finished(0, STOP), Usage(3, 5)]


def test_streamed_metadata_keeps_the_latest_of_each_field() -> None:
    decoder = ChunkDecoder()
    early = {"webSearchQueries": ["who won", "who cheered"]}
    late = {key: value for key, value in GEMINI_METADATA.items() if key != "webSearchQueries"}
    chunks = [
        {"candidates": [{"content": {"parts": [{"text": TEXT}]}, "groundingMetadata": early}]},
        {"candidates": [{"finishReason": "STOP", "groundingMetadata": late}]},
    ]
    got = [e for c in chunks for e in decoder.feed(c)] + decoder.finish()
    assert got[1] == EXPECTED


def test_a_candidate_the_stream_left_open_closes_with_its_metadata() -> None:
    decoder = ChunkDecoder()
    decoder.feed({"candidates": [{"content": {"parts": [{"text": TEXT}]},
                                  "groundingMetadata": GEMINI_METADATA}]})
    assert decoder.finish() == [EXPECTED, Finished(0, FinishReason.OTHER), Usage(0, 0)]


def test_offsets_that_miss_their_text_are_moved_to_it() -> None:
    # Offsets of the second of two text parts, counted from that part.
    second_part = TEXT[len("Café ß won. "):]
    metadata = {"groundingChunks": [{"web": {"uri": "u", "title": "t"}}],
                "groundingSupports": [{"segment": {"startIndex": 0,
                                                   "endIndex": len(SECOND.encode()),
                                                   "text": SECOND},
                                       "groundingChunkIndices": [0]}]}
    got = events_from_response({"candidates": [{
        "content": {"parts": [{"text": "Café ß won. "}, {"text": second_part}]},
        "finishReason": "STOP", "groundingMetadata": metadata}]})
    (grounding,) = [e for e in got if isinstance(e, GroundingMetadata)]
    (support,) = grounding.supports
    assert (support.start, support.end, support.text) == (
        TEXT.index(SECOND), len(TEXT), SECOND)


def test_junk_is_skipped_and_indices_stay_in_range() -> None:
    metadata = {
        "webSearchQueries": ["q", 5, None],
        "groundingChunks": [{"web": {"uri": "u0", "title": "t0"}}, "junk", {"maps": {"uri": 7}}],
        "groundingSupports": [
            # out-of-range and non-integer indices dropped, with their scores
            {"segment": {"startIndex": "0", "endIndex": "5", "text": "Café "},
             "groundingChunkIndices": [9, 0, True, 2], "confidenceScores": [0.1, 0.2, 0.3, 0.4]},
            {"segment": {"endIndex": 4}, "groundingChunkIndices": [7]},  # no source left
            {"segment": {"startIndex": 3, "endIndex": 3}, "groundingChunkIndices": [0]},  # empty
            {"segment": {"endIndex": 2}, "groundingChunkIndices": [1],
             "confidenceScores": [0.5, 0.6]},  # scores not one each: none
            "junk",
        ],
    }
    got = events_from_response({"candidates": [{
        "content": {"parts": [{"text": TEXT}]}, "finishReason": "STOP",
        "groundingMetadata": metadata}]})
    (grounding,) = [e for e in got if isinstance(e, GroundingMetadata)]
    assert grounding.queries == ("q",)
    assert grounding.sources == (Source("u0", "t0"), Source("", ""), Source("", ""))
    assert grounding.supports == (
        Support(0, 5, "Café ", (0, 2), (0.2, 0.4)),
        Support(0, 2, "Ca", (1,), ()),
    )


def test_no_metadata_no_event_and_empty_metadata_an_empty_one() -> None:
    plain = events_from_response({"candidates": [{"content": {"parts": [{"text": "x"}]},
                                                  "finishReason": "STOP"}]})
    assert not any(isinstance(e, GroundingMetadata) for e in plain)
    empty = events_from_response({"candidates": [{"content": {"parts": [{"text": "x"}]},
                                                  "finishReason": "STOP",
                                                  "groundingMetadata": {}}]})
    assert GroundingMetadata(0, (), ()) in empty
    junk = events_from_response({"candidates": [{"finishReason": "STOP",
                                                 "groundingMetadata": "junk"}]})
    assert not any(isinstance(e, GroundingMetadata) for e in junk)


def test_this_servers_native_stream_reads_back_to_the_same_events() -> None:
    grounding = GroundingMetadata(0, ("q",), SOURCES[:2], (
        Support(0, len(FIRST), FIRST, (0,), (0.9,)),
        Support(TEXT.index(SECOND), len(TEXT), SECOND, (1, 0), (0.5, 0.25)),
    ))
    cut = TEXT.index("🎉")
    events: list[StreamEvent] = [TextDelta(0, TEXT[:cut]), TextDelta(0, TEXT[cut:]),
                                 grounding, Finished(0, STOP), Usage(3, 5)]
    writer = ChunkWriter(model_version="m", response_id="r", create_time="t")
    chunks = [c for e in events for c in writer.feed(e)] + writer.finish()
    decoder = ChunkDecoder()
    assert [e for c in chunks for e in decoder.feed(c)] + decoder.finish() == events


# --- the local answer stages ------------------------------------------------------------

GROUNDING = GroundingMetadata(0, ("q",), (Source("u", "t"),), (Support(0, 1, "x", (0,), (1.0,)),))


def test_call_answers_pass_it_on() -> None:
    answers = CallAnswers((), end_candidate=lambda c: None)
    assert answers.feed(GROUNDING) == [GROUNDING]


def test_drawings_pass_it_on() -> None:
    class NoRenderer:
        def render_png(self, svg: str, *, width: int, height: int) -> bytes:
            raise AssertionError("nothing to draw")

        def close(self) -> None:
            pass

    async def events() -> AsyncIterator[StreamEvent]:
        for event in (GROUNDING, Usage(3, 0)):
            yield event

    async def collect() -> list[StreamEvent]:
        drawing = SvgDrawing(NoRenderer())
        return [e async for e in drawing.images(events(), width=64, height=64)]

    assert asyncio.run(collect()) == [GROUNDING, Usage(3, 0)]
