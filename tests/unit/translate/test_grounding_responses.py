"""A grounded answer's `GroundingMetadata` on both surfaces (issue 18): OpenAI's
`message.annotations` (`url_citation`, character offsets into `content`), whole and
streamed (the stream accumulated by openai-python's `ChatCompletionStreamState` gives the
whole message), and Gemini's `groundingMetadata` (UTF-8 byte offsets into the answer
text), whole and streamed, read back by google-genai's own types."""

from __future__ import annotations

from typing import Any

import pytest
from google.genai import types as genai
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion as SdkCompletion
from openai.types.chat import ChatCompletionChunk as SdkChunk

from vertexcompat.domain.events import (
    Finished,
    FinishReason,
    FunctionCall,
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
from vertexcompat.domain.thinking import ThoughtTagMarker
from vertexcompat.translate.gemini_response import ChunkWriter, response_json
from vertexcompat.translate.grounding import to_byte_offset, to_char_offset
from vertexcompat.translate.response_to_openai import to_chat_completion
from vertexcompat.translate.stream_transcoder import ChunkTranscoder
from vertexcompat.translate.thinking import HIDDEN_THOUGHTS, ThoughtPresentation

STOP = FinishReason.STOP
SOURCES = (
    Source("https://example.com/final", "The final"),
    Source("https://example.org/café", "Café ß 日本"),
)
# Deltas cut inside words, with characters of 2, 3 and 4 UTF-8 bytes before the segments.
PIECES = ["Argentina won the ", "final in Lusail. Café ß ", "日本 🎉 fans cheered; ", "Messi scored twice."]
ANSWER = "".join(PIECES)
CLAIMS = ["Argentina won the final in Lusail.", "Messi scored twice.", "fans cheered"]


def support(claim: str, sources: tuple[int, ...], scores: tuple[float, ...]) -> Support:
    start = ANSWER.index(claim)
    return Support(start, start + len(claim), claim, sources, scores)


SUPPORTS = (
    support(CLAIMS[0], (0,), (0.9,)),
    support(CLAIMS[1], (1, 0), (0.8, 0.6)),
    support(CLAIMS[2], (1,), (0.7,)),
)
GROUNDING = GroundingMetadata(0, ("2022 world cup final",), SOURCES, SUPPORTS)
USAGE = Usage(prompt_tokens=12, completion_tokens=20)


def grounded(*, thoughts: str = "", grounding: GroundingMetadata = GROUNDING,
             candidate: int = 0) -> list[StreamEvent]:
    events: list[StreamEvent] = []
    if thoughts:
        events += [ThoughtDelta(candidate, thoughts[:5]), ThoughtDelta(candidate, thoughts[5:])]
    events += [TextDelta(candidate, p) for p in PIECES]
    events += [ThoughtSignature(candidate, "sig"), grounding, Finished(candidate, STOP)]
    return events


def citation(url: str, title: str, start: int, end: int) -> dict[str, Any]:
    return {"type": "url_citation", "url_citation": {
        "url": url, "title": title, "start_index": start, "end_index": end}}


def expected_annotations(shift: int = 0) -> list[dict[str, Any]]:
    out = []
    for s in SUPPORTS:
        for k in s.sources:
            out.append(citation(SOURCES[k].uri, SOURCES[k].title, s.start + shift, s.end + shift))
    return out


# --- Chat Completions -------------------------------------------------------------------


def complete(events: list[StreamEvent], *, n: int = 1,
             thoughts: ThoughtPresentation = HIDDEN_THOUGHTS) -> dict[str, Any]:
    return to_chat_completion(events, completion_id="chatcmpl-x", created=1, model="m", n=n,
                              thoughts=thoughts).to_wire()


def transcode(events: list[StreamEvent], *, n: int = 1,
              thoughts: ThoughtPresentation = HIDDEN_THOUGHTS) -> list[dict[str, Any]]:
    transcoder = ChunkTranscoder(completion_id="chatcmpl-x", created=1, model="m", n=n,
                                 include_usage=True, thoughts=thoughts)
    chunks = transcoder.start()
    for event in events:
        chunks += transcoder.feed(event)
    chunks += transcoder.finish()
    return [c.to_wire() for c in chunks]


def accumulated(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages openai-python's stream state builds from the chunks."""
    state = ChatCompletionStreamState()
    for chunk in chunks:
        state.handle_chunk(SdkChunk.model_validate(chunk))
    final = state.get_final_completion()
    return [c.message.model_dump(mode="json") for c in final.choices]


def test_a_grounded_message_cites_each_source_of_each_support_in_order() -> None:
    message = complete(grounded() + [USAGE])["choices"][0]["message"]
    assert message["content"] == ANSWER
    assert message["annotations"] == expected_annotations()
    for a in message["annotations"]:
        cited = a["url_citation"]
        assert ANSWER[cited["start_index"]:cited["end_index"]] in CLAIMS


def test_the_sdk_reads_the_annotations() -> None:
    completion = SdkCompletion.model_validate(complete(grounded() + [USAGE]))
    (first, *_) = completion.choices[0].message.annotations or []
    assert first.type == "url_citation"
    assert first.url_citation.url == SOURCES[0].uri
    assert first.url_citation.title == SOURCES[0].title
    content = completion.choices[0].message.content or ""
    assert content[first.url_citation.start_index:first.url_citation.end_index] == CLAIMS[0]


def test_an_ungrounded_message_has_no_annotations_key() -> None:
    events = [e for e in grounded() if not isinstance(e, GroundingMetadata)]
    assert "annotations" not in complete(events)["choices"][0]["message"]
    for chunk in transcode(events):
        for choice in chunk["choices"]:
            assert "annotations" not in choice["delta"]


def test_a_grounded_answer_that_cites_nothing_has_empty_annotations() -> None:
    bare = GroundingMetadata(0, ("q",), ())
    events = grounded(grounding=bare)
    assert complete(events)["choices"][0]["message"]["annotations"] == []
    assert accumulated(transcode(events))[0]["annotations"] == []


def test_a_source_index_out_of_range_is_skipped() -> None:
    odd = GroundingMetadata(0, (), SOURCES, (support(CLAIMS[1], (5, 1), (0.5, 0.5)),))
    annotations = complete(grounded(grounding=odd))["choices"][0]["message"]["annotations"]
    assert [a["url_citation"]["url"] for a in annotations] == [SOURCES[1].uri]


def test_two_documents_with_one_url_and_title_are_cited_once_per_support() -> None:
    twins = (SOURCES[0], SOURCES[0], SOURCES[1])
    grounding = GroundingMetadata(0, (), twins, (support(CLAIMS[1], (0, 1, 2), (0.9, 0.9, 0.8)),))
    annotations = complete(grounded(grounding=grounding))["choices"][0]["message"]["annotations"]
    assert [a["url_citation"]["url"] for a in annotations] == [SOURCES[0].uri, SOURCES[1].uri]


def test_thoughts_in_tags_move_the_citations_past_them() -> None:
    tags = ThoughtPresentation(show=True, marker=ThoughtTagMarker("think"))
    thoughts = "Lookup: wörld cup 🏆."
    shift = len("<think>" + thoughts + "</think>")
    message = complete(grounded(thoughts=thoughts), thoughts=tags)["choices"][0]["message"]
    assert message["content"] == f"<think>{thoughts}</think>{ANSWER}"
    assert message["annotations"] == expected_annotations(shift)
    for a in message["annotations"]:
        cited = a["url_citation"]
        assert message["content"][cited["start_index"]:cited["end_index"]] in CLAIMS
    streamed = accumulated(transcode(grounded(thoughts=thoughts), thoughts=tags))[0]
    assert streamed["content"] == message["content"]
    assert streamed["annotations"] == message["annotations"]


def test_thoughts_in_reasoning_content_move_nothing() -> None:
    shown = ThoughtPresentation(show=True)
    message = complete(grounded(thoughts="some thoughts"), thoughts=shown)["choices"][0]["message"]
    assert message["reasoning_content"] == "some thoughts"
    assert message["annotations"] == expected_annotations()


def test_the_annotations_ride_on_the_finish_chunk() -> None:
    chunks = transcode(grounded() + [USAGE])
    with_annotations = [c for c in chunks for ch in c["choices"] if "annotations" in ch["delta"]]
    assert len(with_annotations) == 1
    (choice,) = with_annotations[0]["choices"]
    assert choice["finish_reason"] == "stop"
    assert choice["delta"] == {"annotations": expected_annotations()}


@pytest.mark.parametrize("thoughts", [HIDDEN_THOUGHTS, ThoughtPresentation(show=True),
                                      ThoughtPresentation(show=True,
                                                          marker=ThoughtTagMarker("t"))])
def test_the_stream_accumulates_to_the_whole_message(thoughts: ThoughtPresentation) -> None:
    events = grounded(thoughts="hmm, let me see") + [USAGE]
    whole = complete(events, thoughts=thoughts)["choices"][0]["message"]
    streamed = accumulated(transcode(events, thoughts=thoughts))[0]
    assert streamed["content"] == whole["content"]
    assert streamed["annotations"] == whole["annotations"]
    assert streamed["annotations"]


def test_each_choice_gets_its_own_annotations() -> None:
    other = GroundingMetadata(1, ("q",), (SOURCES[1],),
                              (Support(0, 9, "Argentina", (0,), (1.0,)),))
    events = [
        TextDelta(0, ANSWER), TextDelta(1, ANSWER), GROUNDING, Finished(0, STOP),
        Finished(1, STOP), USAGE,
    ]
    events.insert(4, other)
    whole = [c["message"] for c in complete(events, n=2)["choices"]]
    streamed = accumulated(transcode(events, n=2))
    assert whole[0]["annotations"] == expected_annotations()
    assert whole[1]["annotations"] == [citation(SOURCES[1].uri, SOURCES[1].title, 0, 9)]
    assert [s["annotations"] for s in streamed] == [w["annotations"] for w in whole]


def test_a_turn_that_called_keeps_its_annotations() -> None:
    events: list[StreamEvent] = [
        TextDelta(0, ANSWER), FunctionCall(0, "now", {}, id="c1"), GROUNDING,
        Finished(0, STOP), USAGE,
    ]
    whole = complete(events)["choices"][0]
    assert whole["finish_reason"] == "tool_calls"
    assert whole["message"]["annotations"] == expected_annotations()
    chunks = transcode(events)
    streamed = accumulated(chunks)[0]
    assert streamed["annotations"] == expected_annotations()


# --- Gemini's native surface ------------------------------------------------------------


META = {"model_version": "gemini-2.5-flash", "response_id": "r1", "create_time": "2025-01-01T00:00:00Z"}


def byte_span(claim: str) -> tuple[int, int]:
    encoded, start = ANSWER.encode(), ANSWER.encode().index(claim.encode())
    assert encoded[start:start + len(claim.encode())].decode() == claim
    return start, start + len(claim.encode())


def expected_metadata() -> dict[str, Any]:
    return {
        "webSearchQueries": ["2022 world cup final"],
        "groundingChunks": [{"web": {"uri": s.uri, "title": s.title}} for s in SOURCES],
        "groundingSupports": [
            {
                "segment": {"startIndex": byte_span(s.text)[0], "endIndex": byte_span(s.text)[1],
                            "text": s.text},
                "groundingChunkIndices": list(s.sources),
                "confidenceScores": list(s.scores),
            }
            for s in SUPPORTS
        ],
    }


def test_the_test_answer_has_bytes_and_characters_apart() -> None:
    for claim in CLAIMS[1:]:
        start_bytes, _ = byte_span(claim)
        assert start_bytes > ANSWER.index(claim)  # é, ß, 日本 and 🎉 come before


def test_a_whole_answer_carries_grounding_metadata_in_bytes() -> None:
    body = response_json(grounded(thoughts="thinking…") + [USAGE], **META)
    (candidate,) = body["candidates"]
    assert candidate["groundingMetadata"] == expected_metadata()
    parsed = genai.GenerateContentResponse.model_validate(body)
    metadata = parsed.candidates[0].grounding_metadata
    assert metadata.web_search_queries == ["2022 world cup final"]
    assert [c.web.uri for c in metadata.grounding_chunks] == [s.uri for s in SOURCES]
    assert [c.web.title for c in metadata.grounding_chunks] == [s.title for s in SOURCES]
    text = "".join(p.text for p in parsed.candidates[0].content.parts if not p.thought)
    data = text.encode()
    for got, want in zip(metadata.grounding_supports, SUPPORTS, strict=True):
        segment = got.segment
        assert data[segment.start_index:segment.end_index].decode() == want.text
        assert segment.text == want.text
        assert got.grounding_chunk_indices == list(want.sources)
        assert got.confidence_scores == list(want.scores)


def test_a_segment_at_the_start_writes_start_index_zero() -> None:
    first = GroundingMetadata(0, (), SOURCES[:1], (Support(0, 9, "Argentina", (0,), ()),))
    body = response_json(grounded(grounding=first), **META)
    (entry,) = body["candidates"][0]["groundingMetadata"]["groundingSupports"]
    assert entry == {"segment": {"startIndex": 0, "endIndex": 9, "text": "Argentina"},
                     "groundingChunkIndices": [0]}  # no scores: none written


def test_empty_lists_are_left_out() -> None:
    body = response_json(grounded(grounding=GroundingMetadata(0, (), ())), **META)
    assert body["candidates"][0]["groundingMetadata"] == {}
    genai.GenerateContentResponse.model_validate(body)


def test_an_ungrounded_candidate_has_no_grounding_metadata() -> None:
    events = [e for e in grounded() if not isinstance(e, GroundingMetadata)]
    assert "groundingMetadata" not in response_json(events, **META)["candidates"][0]
    writer = ChunkWriter(**META)
    chunks = [c for e in events for c in writer.feed(e)] + writer.finish()
    assert not any("groundingMetadata" in c for ch in chunks for c in ch.get("candidates", []))


def stream_native(events: list[StreamEvent]) -> list[dict[str, Any]]:
    writer = ChunkWriter(**META)
    return [c for e in events for c in writer.feed(e)] + writer.finish()


def test_a_stream_puts_grounding_metadata_on_the_finish_entry() -> None:
    ratings = SafetyRatings(0, (SafetyRating(HarmCategory.HARASSMENT, 0.1),))
    events = grounded(thoughts="hmm…")
    events.insert(-1, ratings)
    chunks = stream_native(events + [USAGE])
    entries = [c for chunk in chunks for c in chunk.get("candidates", [])]
    grounded_entries = [c for c in entries if "groundingMetadata" in c]
    assert len(grounded_entries) == 1
    (entry,) = grounded_entries
    assert entry["finishReason"] == "STOP"
    assert entry["groundingMetadata"] == expected_metadata()
    assert "safetyRatings" in entry
    assert "usageMetadata" in chunks[-1]
    for chunk in chunks:
        genai.GenerateContentResponse.model_validate(chunk)


def test_streamed_and_whole_metadata_agree_per_candidate() -> None:
    other = GroundingMetadata(1, ("q2",), (SOURCES[1],),
                              (Support(2, 5, "日本 ", (0,), (0.5,)),))
    events: list[StreamEvent] = [
        TextDelta(0, PIECES[0]), TextDelta(1, "ab"), TextDelta(0, PIECES[1]),
        TextDelta(1, "日本 🎉"), TextDelta(0, PIECES[2]), other, Finished(1, STOP),
        TextDelta(0, PIECES[3]), GROUNDING, Finished(0, STOP), USAGE,
    ]
    whole = {c["index"]: c["groundingMetadata"]
             for c in response_json(events, **META)["candidates"]}
    streamed = {c["index"]: c["groundingMetadata"]
                for chunk in stream_native(events) for c in chunk.get("candidates", [])
                if "groundingMetadata" in c}
    assert streamed == whole
    assert whole[0] == expected_metadata()
    assert whole[1]["groundingSupports"][0]["segment"] == {
        "startIndex": 2, "endIndex": 2 + len("日本 ".encode()), "text": "日本 "}


# --- offsets ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["plain", "é", "ß日本", "🎉a🎉", "a\u0301b", ANSWER])
def test_offsets_go_both_ways(text: str) -> None:
    encoded = text.encode()
    for k in range(len(text) + 1):
        assert to_char_offset(encoded, to_byte_offset(text, k)) == k
        assert to_byte_offset(text, k) == len(text[:k].encode())


def test_offsets_are_clamped_and_a_cut_character_counts_from_its_start() -> None:
    text = "a日b"
    encoded = text.encode()
    assert to_byte_offset(text, -3) == 0
    assert to_byte_offset(text, 99) == len(encoded)
    assert to_char_offset(encoded, 99) == 3
    assert to_char_offset(encoded, -1) == 0
    assert [to_char_offset(encoded, b) for b in range(len(encoded) + 1)] == [0, 1, 1, 1, 2, 3]


def test_a_lone_surrogate_is_one_character() -> None:
    text = "a\ud800b"
    encoded = text.encode("utf-8", "surrogatepass")
    assert to_byte_offset(text, 2) == 4
    assert to_char_offset(encoded, 4) == 2
