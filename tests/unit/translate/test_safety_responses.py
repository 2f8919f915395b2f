"""Safety in answers: a candidate's `SafetyRatings` and a blocked prompt's `PromptFeedback`
→ Gemini's native JSON (whole answers and stream chunks, and back through the upstream
reader), and → Chat Completions (whole, streamed, and the stream accumulated by
openai-python to the same message)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk as SdkChunk

from vertexcompat.backends.gemini_wire import ChunkDecoder, events_from_response
from vertexcompat.domain.events import (
    Finished,
    FinishReason,
    PromptFeedback,
    SafetyRatings,
    StreamEvent,
    TextDelta,
    ThoughtSignature,
    Usage,
)
from vertexcompat.domain.safety import HarmCategory, SafetyRating
from tests.unit.translate.test_gemini_response import stream, whole
from vertexcompat.translate.gemini_response import ChunkWriter
from vertexcompat.translate.response_to_openai import to_chat_completion
from vertexcompat.translate.stream_transcoder import ChunkTranscoder

STOP, SAFETY = FinishReason.STOP, FinishReason.SAFETY
IDS = {"model_version": "gemini-2.5-flash", "response_id": "r-1",
       "create_time": "2025-06-01T12:00:00.123456Z"}
META = {"modelVersion": "gemini-2.5-flash", "createTime": "2025-06-01T12:00:00.123456Z",
        "responseId": "r-1"}

HATE_LOW = SafetyRating(HarmCategory.HATE_SPEECH, 0.3)
DANGER_HIGH = SafetyRating(HarmCategory.DANGEROUS_CONTENT, 0.9, blocked=True)
HARASS_NONE = SafetyRating(HarmCategory.HARASSMENT, 0.0)
HATE_LOW_JSON = {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "LOW",
                 "probabilityScore": 0.3, "severity": "HARM_SEVERITY_LOW",
                 "severityScore": 0.3}
DANGER_HIGH_JSON = {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH",
                    "probabilityScore": 0.9, "severity": "HARM_SEVERITY_HIGH",
                    "severityScore": 0.9, "blocked": True}
HARASS_NONE_JSON = {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE",
                    "probabilityScore": 0.0, "severity": "HARM_SEVERITY_NEGLIGIBLE",
                    "severityScore": 0.0}
USAGE_JSON = {"promptTokenCount": 7, "candidatesTokenCount": 0, "totalTokenCount": 7}

ANSWERED = [TextDelta(0, "Fine."), SafetyRatings(0, (HATE_LOW, HARASS_NONE)),
            Finished(0, STOP), Usage(7, 2)]
CUT = [TextDelta(0, "Here is how"), SafetyRatings(0, (HATE_LOW, DANGER_HIGH)),
       Finished(0, SAFETY), Usage(7, 3)]
BLOCKED = [PromptFeedback((DANGER_HIGH, HATE_LOW)), Usage(7, 0)]




# --- Gemini's native JSON ---------------------------------------------------------------


def test_a_whole_answer_carries_its_ratings() -> None:
    assert whole(*ANSWERED) == {
        "candidates": [{"index": 0, "content": {"role": "model", "parts": [{"text": "Fine."}]},
                        "finishReason": "STOP",
                        "safetyRatings": [HATE_LOW_JSON, HARASS_NONE_JSON]}],
        "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 2,
                          "totalTokenCount": 9},
        **META,
    }


def test_a_candidate_cut_by_safety_marks_the_rating_that_blocked_it() -> None:
    got = whole(*CUT)["candidates"][0]
    assert got["finishReason"] == "SAFETY"
    assert got["safetyRatings"] == [HATE_LOW_JSON, DANGER_HIGH_JSON]


def test_empty_ratings_are_left_out() -> None:
    got = whole(TextDelta(0, "x"), SafetyRatings(0, ()), Finished(0, STOP), Usage(1, 1))
    assert "safetyRatings" not in got["candidates"][0]


def test_ratings_of_several_candidates_stay_with_their_own() -> None:
    got = whole(SafetyRatings(1, (DANGER_HIGH,)), Finished(1, SAFETY),
                SafetyRatings(0, (HATE_LOW,)), Finished(0, STOP), Usage(1, 0))
    assert [c["safetyRatings"] for c in got["candidates"]] == [
        [HATE_LOW_JSON], [DANGER_HIGH_JSON]
    ]


def test_a_blocked_prompt_has_prompt_feedback_and_no_candidates() -> None:
    assert whole(*BLOCKED) == {
        "promptFeedback": {"blockReason": "SAFETY",
                           "safetyRatings": [DANGER_HIGH_JSON, HATE_LOW_JSON]},
        "usageMetadata": USAGE_JSON,
        **META,
    }


def test_prompt_feedback_keeps_its_reason_and_leaves_out_no_ratings() -> None:
    got = whole(PromptFeedback((), reason="PROHIBITED_CONTENT"), Usage(7, 0))
    assert got["promptFeedback"] == {"blockReason": "PROHIBITED_CONTENT"}


def test_streamed_ratings_ride_on_the_finish_entry() -> None:
    assert stream(*ANSWERED) == [
        {"candidates": [{"index": 0, "content": {"role": "model", "parts": [{"text": "Fine."}]}}],
         **META},
        {"candidates": [{"index": 0, "content": {"role": "model", "parts": [{"text": ""}]},
                         "finishReason": "STOP",
                         "safetyRatings": [HATE_LOW_JSON, HARASS_NONE_JSON]}],
         "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 2,
                           "totalTokenCount": 9},
         **META},
    ]


def test_streamed_ratings_sit_beside_the_signature() -> None:
    got = stream(TextDelta(0, "x"), ThoughtSignature(0, "sig"), SafetyRatings(0, (HATE_LOW,)),
                 Finished(0, STOP))
    assert got[-1]["candidates"] == [{
        "index": 0, "content": {"role": "model", "parts": [{"text": "", "thoughtSignature": "sig"}]},
        "finishReason": "STOP", "safetyRatings": [HATE_LOW_JSON],
    }]


def test_a_streamed_blocked_prompt_is_one_chunk_with_the_usage() -> None:
    assert stream(*BLOCKED) == [{
        "promptFeedback": {"blockReason": "SAFETY",
                           "safetyRatings": [DANGER_HIGH_JSON, HATE_LOW_JSON]},
        "usageMetadata": USAGE_JSON,
        **META,
    }]


def test_a_streamed_blocked_prompt_without_usage_goes_out_at_finish() -> None:
    writer = ChunkWriter(**IDS)
    assert writer.feed(PromptFeedback((), reason="BLOCKLIST")) == []
    assert writer.finish() == [{"promptFeedback": {"blockReason": "BLOCKLIST"}, **META}]
    assert writer.finish() == []


@pytest.mark.parametrize("events", [ANSWERED, CUT, BLOCKED], ids=["answered", "cut", "blocked"])
def test_round_trips_through_the_upstream_reader(events: list[StreamEvent]) -> None:
    assert events_from_response(whole(*events)) == events
    decoder = ChunkDecoder()
    decoded = [e for chunk in stream(*events) for e in decoder.feed(chunk)] + decoder.finish()
    assert decoded == events


# --- Chat Completions -------------------------------------------------------------------


def complete(events: list[StreamEvent], *, n: int = 1, logprobs: bool = False) -> dict[str, Any]:
    return to_chat_completion(events, completion_id="chatcmpl-x", created=5, model="m", n=n,
                              logprobs=logprobs).to_wire()


def transcode(events: list[StreamEvent], *, n: int = 1, include_usage: bool = True,
              start: bool = True) -> list[dict[str, Any]]:
    t = ChunkTranscoder(completion_id="chatcmpl-x", created=5, model="m", n=n,
                        include_usage=include_usage)
    chunks = t.start() if start else []
    for event in events:
        chunks += t.feed(event)
    chunks += t.finish()
    return [c.to_wire() for c in chunks]


def accumulated(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    state = ChatCompletionStreamState()
    for chunk in chunks:
        state.handle_chunk(SdkChunk.model_validate(chunk))
    choices = state.current_completion_snapshot.model_dump(mode="json")["choices"]
    return [{"finish_reason": c["finish_reason"], "content": c["message"]["content"]}
            for c in choices]


def test_ratings_add_nothing_to_a_chat_answer() -> None:
    assert complete(ANSWERED) == complete([e for e in ANSWERED
                                           if not isinstance(e, SafetyRatings)])
    assert transcode(ANSWERED) == transcode([e for e in ANSWERED
                                             if not isinstance(e, SafetyRatings)])


def test_a_candidate_cut_by_safety_is_a_content_filter() -> None:
    choice = complete(CUT)["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "Here is how"}
    assert choice["finish_reason"] == "content_filter"
    finishes = [c["choices"][0]["finish_reason"] for c in transcode(CUT) if c["choices"]]
    assert finishes[-1] == "content_filter"


@pytest.mark.parametrize("n", [1, 3])
def test_a_blocked_prompt_gives_every_choice_no_content_and_a_content_filter(n: int) -> None:
    got = complete(BLOCKED, n=n)
    assert got["choices"] == [
        {"index": i, "message": {"role": "assistant", "content": None},
         "finish_reason": "content_filter", "logprobs": None}
        for i in range(n)
    ]
    assert got["usage"]["prompt_tokens"] == 7
    assert got["usage"]["completion_tokens"] == 0


def test_a_blocked_prompt_with_logprobs_asked_has_empty_ones() -> None:
    got = complete(BLOCKED, logprobs=True)
    assert got["choices"][0]["logprobs"]["content"] == []


@pytest.mark.parametrize("n", [1, 2])
def test_a_blocked_prompt_streams_one_chunk_with_every_choice(n: int) -> None:
    chunks = transcode(BLOCKED, n=n)
    roles = chunks[:n]
    assert [c["choices"] for c in roles] == [
        [{"index": i, "delta": {"role": "assistant"}, "finish_reason": None, "logprobs": None}]
        for i in range(n)
    ]
    blocked, usage = chunks[n:]
    assert blocked["choices"] == [
        {"index": i, "delta": {}, "finish_reason": "content_filter", "logprobs": None}
        for i in range(n)
    ]
    assert blocked["usage"] is None
    assert usage["choices"] == [] and usage["usage"]["prompt_tokens"] == 7
    assert len({c["id"] for c in chunks}) == 1


def test_a_blocked_prompt_streams_without_usage_when_not_asked() -> None:
    chunks = transcode(BLOCKED, include_usage=False)
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, "content_filter"]
    assert all("usage" not in c for c in chunks)


def test_a_blocked_prompt_before_any_role_chunk_sends_the_role_with_it() -> None:
    chunks = transcode(BLOCKED, n=2, start=False, include_usage=False)
    assert [c["choices"] for c in chunks] == [[
        {"index": i, "delta": {"role": "assistant"}, "finish_reason": "content_filter",
         "logprobs": None}
        for i in range(2)
    ]]


def test_after_a_blocked_prompt_nothing_more_is_sent_for_its_choices() -> None:
    chunks = transcode([*BLOCKED, TextDelta(0, "late"), Finished(0, STOP)],
                       include_usage=False)
    assert len(chunks) == 2


@pytest.mark.parametrize("events", [ANSWERED, CUT, BLOCKED], ids=["answered", "cut", "blocked"])
@pytest.mark.parametrize("n", [1, 2])
def test_the_stream_accumulates_to_the_whole_answer(events: list[StreamEvent], n: int) -> None:
    if n == 2 and events is not BLOCKED:
        events = [*events[:-1], Finished(1, STOP), events[-1]]
    whole_choices = [{"finish_reason": c["finish_reason"], "content": c["message"]["content"]}
                     for c in complete(events, n=n)["choices"]]
    assert accumulated(transcode(events, n=n)) == whole_choices
