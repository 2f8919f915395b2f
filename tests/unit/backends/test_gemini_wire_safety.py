"""Safety on the upstream Gemini wire (backends/gemini_wire.py): the request's settings as
`safetySettings`, and an answer's `safetyRatings` and `promptFeedback` as events."""

from __future__ import annotations

from typing import Any

import pytest

from vertexcompat.backends.gemini_wire import (
    ChunkDecoder,
    events_from_response,
    to_count_tokens_body,
    to_gemini_body,
)
from vertexcompat.domain.content import Content, GenerateContentRequest, TextPart
from vertexcompat.domain.events import (
    Finished,
    FinishReason,
    PromptFeedback,
    SafetyRatings,
    TextDelta,
    ThoughtSignature,
    Usage,
)
from vertexcompat.domain.safety import (
    HarmBlockMethod,
    HarmBlockThreshold,
    HarmCategory,
    SafetyRating,
    SafetySetting,
)

STOP, SAFETY = FinishReason.STOP, FinishReason.SAFETY
HATE, DANGER = HarmCategory.HATE_SPEECH, HarmCategory.DANGEROUS_CONTENT
SETTINGS = (
    SafetySetting(HATE, HarmBlockThreshold.BLOCK_NONE),
    SafetySetting(DANGER, HarmBlockThreshold.BLOCK_LOW_AND_ABOVE, HarmBlockMethod.PROBABILITY),
    SafetySetting(HarmCategory.CIVIC_INTEGRITY, HarmBlockThreshold.OFF,
                  HarmBlockMethod.SEVERITY),
)


def req(**fields: Any) -> GenerateContentRequest:
    return GenerateContentRequest(
        model="gemini-2.5-flash", contents=(Content("user", (TextPart("Hi"),)),), **fields
    )


# --- the request ------------------------------------------------------------------------


def test_settings_go_as_safety_settings_with_a_method_only_when_set() -> None:
    assert to_gemini_body(req(safety_settings=SETTINGS))["safetySettings"] == [
        {"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"},
        {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "threshold": "BLOCK_LOW_AND_ABOVE",
         "method": "PROBABILITY"},
        {"category": "HARM_CATEGORY_CIVIC_INTEGRITY", "threshold": "OFF",
         "method": "SEVERITY"},
    ]


def test_the_developer_api_gets_no_method() -> None:
    got = to_gemini_body(req(safety_settings=SETTINGS), vertex=False)["safetySettings"]
    assert all("method" not in s for s in got)
    assert [s["category"] for s in got] == [s.category.value for s in SETTINGS]


def test_no_settings_no_key() -> None:
    assert "safetySettings" not in to_gemini_body(req())


@pytest.mark.parametrize("vertex", [True, False])
def test_count_tokens_bodies_leave_them_out(vertex: bool) -> None:
    got = to_count_tokens_body(req(safety_settings=SETTINGS), vertex=vertex,
                               model_resource="models/gemini-2.5-flash")
    assert "safetySettings" not in got
    assert "safetySettings" not in got.get("generateContentRequest", {})


# --- the answer -------------------------------------------------------------------------


def rated(candidate: dict[str, Any], *ratings: dict[str, Any]) -> dict[str, Any]:
    return {**candidate, "safetyRatings": list(ratings)}


VERTEX_RATINGS = [
    {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE",
     "probabilityScore": 0.05, "severity": "HARM_SEVERITY_NEGLIGIBLE", "severityScore": 0.02},
    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "MEDIUM",
     "probabilityScore": 0.61, "severity": "HARM_SEVERITY_MEDIUM", "severityScore": 0.55,
     "blocked": True},
]
VERTEX_PARSED = (SafetyRating(HATE, 0.05), SafetyRating(DANGER, 0.61, blocked=True))


def test_a_candidates_ratings_come_right_before_its_finish() -> None:
    got = events_from_response({
        "candidates": [{"index": 0, "content": {"role": "model", "parts": [
            {"text": "Here"}, {"text": "", "thoughtSignature": "sig"}]},
            "finishReason": "SAFETY", "safetyRatings": VERTEX_RATINGS}],
        "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 1},
    })
    assert got == [TextDelta(0, "Here"), ThoughtSignature(0, "sig"),
                   SafetyRatings(0, VERTEX_PARSED), Finished(0, SAFETY), Usage(4, 1)]


@pytest.mark.parametrize(("probability", "score"), [
    ("NEGLIGIBLE", 0.125), ("LOW", 0.375), ("MEDIUM", 0.625), ("HIGH", 0.875),
])
def test_a_rating_with_only_its_level_scores_the_middle_of_the_band(
    probability: str, score: float
) -> None:
    got = events_from_response({"candidates": [{"index": 0, "finishReason": "STOP",
        "safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT", "probability": probability}],
    }]})
    rating = SafetyRating(HarmCategory.HARASSMENT, score)
    assert got[0] == SafetyRatings(0, (rating,))
    assert rating.level.name == probability


def test_unknown_or_unscored_ratings_are_dropped_and_no_ratings_add_nothing() -> None:
    got = events_from_response({"candidates": [
        {"index": 0, "finishReason": "STOP", "safetyRatings": [
            {"category": "HARM_CATEGORY_IMAGE_HATE", "probability": "LOW"},
            {"category": "HARM_CATEGORY_UNSPECIFIED", "probabilityScore": 0.2},
            {"category": "HARM_CATEGORY_HATE_SPEECH"},
            {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "HARM_PROBABILITY_UNSPECIFIED"},
            {"category": ["x"], "probability": {}},
            "junk", None,
            {"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probabilityScore": 7,
             "probability": "LOW", "blocked": "yes"},
        ]},
        {"index": 1, "finishReason": "STOP", "safetyRatings": []},
        {"index": 2, "finishReason": "STOP", "safetyRatings": "junk"},
    ]})
    assert got == [
        SafetyRatings(0, (SafetyRating(HarmCategory.SEXUALLY_EXPLICIT, 0.375),)),
        Finished(0, STOP), Finished(1, STOP), Finished(2, STOP), Usage(0, 0),
    ]


def test_a_blocked_prompt_keeps_its_ratings_and_its_reason() -> None:
    got = events_from_response({
        "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": VERTEX_RATINGS},
        "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
    })
    assert got == [PromptFeedback(VERTEX_PARSED, reason="SAFETY"), Usage(9, 0)]


def test_an_unspecified_block_reason_is_no_block() -> None:
    got = events_from_response({"promptFeedback": {"blockReason": "BLOCKED_REASON_UNSPECIFIED"}})
    assert got == [Usage(0, 0)]


def test_streamed_ratings_wait_for_the_finish_and_the_latest_wins() -> None:
    decoder = ChunkDecoder()
    first = {"candidates": [{"index": 0, "content": {"role": "model", "parts": [{"text": "a"}]},
                             "safetyRatings": VERTEX_RATINGS[:1]}]}
    last = {"candidates": [{"index": 0, "content": {"role": "model", "parts": [{"text": "b"}]},
                            "finishReason": "SAFETY", "safetyRatings": VERTEX_RATINGS}],
            "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2}}
    assert decoder.feed(first) == [TextDelta(0, "a")]
    assert decoder.feed(last) == [TextDelta(0, "b"), SafetyRatings(0, VERTEX_PARSED),
                                  Finished(0, SAFETY)]
    assert decoder.finish() == [Usage(3, 2)]


def test_streamed_ratings_of_a_candidate_the_stream_left_open_close_with_it() -> None:
    decoder = ChunkDecoder()
    decoder.feed({"candidates": [{"index": 0, "content": {"role": "model", "parts": [
        {"text": "a"}]}, "safetyRatings": VERTEX_RATINGS[:1]}]})
    assert decoder.finish() == [SafetyRatings(0, VERTEX_PARSED[:1]),
                                Finished(0, FinishReason.OTHER), Usage(0, 0)]


def test_a_streamed_blocked_prompt_is_one_prompt_feedback() -> None:
    decoder = ChunkDecoder()
    assert decoder.feed({"promptFeedback": {"blockReason": "OTHER", "safetyRatings": [
        {"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH", "blocked": True}]},
        "usageMetadata": {"promptTokenCount": 5}}) == [
        PromptFeedback((SafetyRating(HarmCategory.HARASSMENT, 0.875, blocked=True),),
                       reason="OTHER")
    ]
    assert decoder.feed({"promptFeedback": {"blockReason": "OTHER"}}) == []
    assert decoder.finish() == [Usage(5, 0)]
