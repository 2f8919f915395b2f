"""Domain stream events → Gemini's native `GenerateContentResponse` JSON, camelCase as
Google writes it: a whole answer (`response_json`, for `:generateContent`) or the chunks of
`:streamGenerateContent?alt=sse` (`ChunkWriter`).

Every response and chunk carries `modelVersion`, `responseId` and `createTime`. A candidate
is `{"index", "content": {"role": "model", "parts": […]}, "finishReason"}`; its parts:

- `{"text": …, "thought": true}` for thoughts, `{"text": …}` for the answer;
- `{"functionCall": {"name", "args", "id"?}, "thoughtSignature"?}` for a call (the turn's
  signature rides on its first call, as the backend gave it);
- `{"inlineData": {"mimeType", "data"}}` (standard base64) for an image;
- a `ThoughtSignature` (a turn that ended in text) becomes `thoughtSignature` on the
  candidate's last answer text part, or on an empty text part `{"text": ""}` when it has
  none.

`finishReason` is the domain reason's name (they are Gemini's names). `usageMetadata` is
`promptTokenCount`, `candidatesTokenCount` (the completion without its thoughts),
`totalTokenCount`, and `thoughtsTokenCount` / `cachedContentTokenCount` when not zero.

Safety (domain/safety.py): a candidate's `SafetyRatings` become its `safetyRatings`, and a
blocked prompt's `PromptFeedback` the response's `promptFeedback` (`blockReason`,
`safetyRatings`), beside `usageMetadata` and without `candidates`. A rating is Vertex's
`{"category", "probability", "probabilityScore", "severity", "severityScore"}` (the
severity is the probability: one score), with `"blocked": true` on the one that blocked;
an empty list of ratings is left out, as proto3 JSON leaves out empty lists.

Log probabilities (`TokenLogprobs`, only when asked) become the candidate's
`logprobsResult`: `chosenCandidates[]` (`token`, `tokenId`, `logProbability`) and, with
alternatives, `topCandidates[].candidates[]` per position; a whole candidate also has
`avgLogprobs`, the mean over its chosen tokens. In a stream, a chunk's entry carries the
logprobs of the tokens that came since the last one, and the finish entry the rest and
`avgLogprobs`.

Grounding (issue 18): a candidate's `GroundingMetadata` becomes its `groundingMetadata`:
`webSearchQueries`, `groundingChunks` (`[{"web": {"uri", "title"}}]`, one per source, in
order) and `groundingSupports` (`[{"segment": {"startIndex", "endIndex", "text"},
"groundingChunkIndices", "confidenceScores"}]`), the segment's offsets in UTF-8 bytes of
the candidate's answer text (its text parts joined, thoughts not counted), as Google's
are; `startIndex` is written even when 0. Empty lists are left out (proto3 JSON). In a
stream it rides on the candidate's finish entry.

A whole answer merges consecutive deltas: a candidate's thoughts become one thought part
before its answer, and each run of answer text one text part (a call or an image between
two runs keeps them apart). Candidates come in index order. A candidate with no parts has
`"content": {"role": "model"}` without `parts`, as Gemini writes a candidate that said
nothing (an answer blocked before its first word, a budget spent thinking).

Pure: no I/O.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, assert_never

from vertexcompat.domain.events import (
    Finished,
    FinishReason,
    FunctionCall,
    GroundingMetadata,
    ImageOutput,
    PromptFeedback,
    SafetyRatings,
    StreamEvent,
    TextDelta,
    ThoughtDelta,
    ThoughtSignature,
    TokenLogprobs,
    Usage,
)
from vertexcompat.domain.safety import SafetyRating
from vertexcompat.translate.gemini_contents import plain as _plain
from vertexcompat.translate.grounding import to_byte_offset

Json = dict[str, Any]

MODEL_ROLE = "model"


# --- whole answers ----------------------------------------------------------------------


def response_json(
    events: Sequence[StreamEvent], *, model_version: str, response_id: str, create_time: str
) -> Json:
    """The `GenerateContentResponse` of a whole answer."""
    candidates: dict[int, _Candidate] = {}
    usage: Usage | None = None
    feedback: PromptFeedback | None = None
    for event in events:
        if isinstance(event, Usage):
            usage = event
        elif isinstance(event, PromptFeedback):
            feedback = event
        else:
            candidates.setdefault(event.candidate, _Candidate()).add(event)
    out: Json = {}
    if candidates:
        out["candidates"] = [candidates[i].to_json(i) for i in sorted(candidates)]
    if feedback is not None:
        out["promptFeedback"] = _prompt_feedback_json(feedback)
    if usage is not None:
        out["usageMetadata"] = usage_json(usage)
    out.update(_metadata(model_version, response_id, create_time))
    return out


@dataclass(slots=True)
class _Candidate:
    parts: list[Json] = field(default_factory=list)
    signature: str | None = None
    reason: FinishReason | None = None
    logprobs: list[TokenLogprobs] = field(default_factory=list)
    ratings: tuple[SafetyRating, ...] = ()
    answer: list[str] = field(default_factory=list)  # the answer text, for grounding
    grounding: GroundingMetadata | None = None

    def add(self, event: StreamEvent) -> None:
        match event:
            case TokenLogprobs():
                self.logprobs.append(event)
            case SafetyRatings(ratings=ratings):
                self.ratings = ratings
            case GroundingMetadata():
                self.grounding = event
            case ThoughtDelta(text=text):
                self._text(text, thought=True)
            case TextDelta(text=text):
                self.answer.append(text)
                self._text(text, thought=False)
            case FunctionCall() | ImageOutput():
                self.parts.append(_part(event))
            case ThoughtSignature(signature=signature):
                self.signature = signature
            case Finished(reason=reason):
                self.reason = reason
            case Usage() | PromptFeedback():
                raise AssertionError(f"{event} belongs to the response, not a candidate")
            case _:
                assert_never(event)

    def _text(self, text: str, *, thought: bool) -> None:
        if not text:
            return
        last = self.parts[-1] if self.parts else None
        if last is not None and "text" in last and last.get("thought", False) is thought:
            last["text"] += text
        else:
            self.parts.append(_text_part(text, thought=thought))

    def to_json(self, index: int) -> Json:
        parts = [dict(p) for p in self.parts]
        if self.signature is not None:
            answers = [k for k, p in enumerate(parts) if "text" in p and not p.get("thought")]
            if answers:
                parts[answers[-1]]["thoughtSignature"] = self.signature
            else:
                parts.append({"text": "", "thoughtSignature": self.signature})
        out = _candidate(index, parts, self.reason)
        _attach_ratings(out, self.ratings)
        if self.grounding is not None:
            out["groundingMetadata"] = grounding_json(self.grounding, "".join(self.answer))
        if self.logprobs:
            out.update(_logprobs_json(self.logprobs, average=True))
        return out


# --- streams ----------------------------------------------------------------------------


class ChunkWriter:
    """The `GenerateContentResponse` chunks of one `:streamGenerateContent` answer.

    `feed` each event in order and send what it returns (zero or one chunk); call `finish`
    when the events end and send what it returns. Each thought or text delta, call and image
    is a chunk of its own holding just that part (deltas are not merged; empty ones are
    dropped). A candidate's `ThoughtSignature` waits for its `Finished`, whose entry carries
    the `finishReason` and an empty text part with the signature (`{"text": "",
    "thoughtSignature": …}`, as Gemini sends it), or `{"text": ""}` without one.

    `usageMetadata` is on the final chunk only (Gemini repeats a running count on every
    chunk; Vertex only sends it at the end), beside the last `finishReason`, as Gemini
    sends it. To get it there a finish entry is held until the next event: a `Usage` is
    sent in the same chunk; a delta of another candidate is sent in the same chunk after it
    (a chunk may hold several candidates, each with its `index`, listed in the order their
    events came); `finish` sends it alone if nothing followed. A `Usage` with no finish
    waiting is a chunk of its own. Nothing is written after `finish`.

    A candidate's `SafetyRatings` and `GroundingMetadata` wait for its `Finished` and ride
    on its finish entry (the writer keeps each open candidate's answer text, to count the
    supports' offsets in bytes). A
    blocked prompt's `PromptFeedback` is held the same way: the `Usage` after it is sent in
    its chunk (`promptFeedback` and `usageMetadata`, no `candidates`), or `finish` sends
    it alone.
    """

    def __init__(self, *, model_version: str, response_id: str, create_time: str) -> None:
        self._metadata = _metadata(model_version, response_id, create_time)
        self._signatures: dict[int, str] = {}
        self._held: dict[int, Json] = {}  # finish entries waiting to be sent, by candidate
        self._logprobs: dict[int, list[TokenLogprobs]] = {}  # not sent yet, by candidate
        self._all: dict[int, list[float]] = {}  # every chosen logprob, for `avgLogprobs`
        self._ratings: dict[int, tuple[SafetyRating, ...]] = {}  # for the finish entries
        self._answers: dict[int, list[str]] = {}  # each open candidate's answer text
        self._grounding: dict[int, Json] = {}  # `groundingMetadata`, for the finish entries
        self._feedback: Json | None = None  # a blocked prompt's, waiting for the usage
        self._done = False

    def feed(self, event: StreamEvent) -> list[Json]:
        if self._done:
            return []
        match event:
            case ThoughtSignature(candidate=candidate, signature=signature):
                self._signatures[candidate] = signature
                return []
            case TokenLogprobs(candidate=candidate):
                self._logprobs.setdefault(candidate, []).append(event)
                self._all.setdefault(candidate, []).append(event.chosen.logprob)
                return []
            case SafetyRatings(candidate=candidate, ratings=ratings):
                self._ratings[candidate] = ratings
                return []
            case GroundingMetadata(candidate=candidate):
                answer = "".join(self._answers.get(candidate, ()))
                self._grounding[candidate] = grounding_json(event, answer)
                return []
            case PromptFeedback():
                self._feedback = _prompt_feedback_json(event)
                return []
            case Finished(candidate=candidate, reason=reason):
                signature = self._signatures.pop(candidate, None)
                part: Json = {"text": ""}
                if signature is not None:
                    part["thoughtSignature"] = signature
                entry = _candidate(candidate, [part], reason)
                _attach_ratings(entry, self._ratings.pop(candidate, ()))
                self._answers.pop(candidate, None)
                grounding = self._grounding.pop(candidate, None)
                if grounding is not None:
                    entry["groundingMetadata"] = grounding
                self._attach_logprobs(entry, candidate)
                chosen = self._all.pop(candidate, None)
                if chosen:
                    entry["avgLogprobs"] = sum(chosen) / len(chosen)
                self._held[candidate] = entry
                return []
            case Usage():
                return [self._chunk({}, usage_json(event))]
            case ThoughtDelta() | TextDelta() | FunctionCall() | ImageOutput():
                if isinstance(event, TextDelta | ThoughtDelta) and not event.text:
                    return []
                if isinstance(event, TextDelta):
                    self._answers.setdefault(event.candidate, []).append(event.text)
                entry = _candidate(event.candidate, [_part(event)], None)
                self._attach_logprobs(entry, event.candidate)
                return [self._chunk({event.candidate: entry}, None)]
            case _:
                assert_never(event)

    def _attach_logprobs(self, entry: Json, candidate: int) -> None:
        pending = self._logprobs.pop(candidate, None)
        if pending:
            entry.update(_logprobs_json(pending, average=False))

    def finish(self) -> list[Json]:
        """The finish chunk still held, if any. A second call returns nothing."""
        if self._done:
            return []
        self._done = True
        return [self._chunk({}, None)] if self._held or self._feedback is not None else []

    def _chunk(self, entries: Mapping[int, Json], usage: Json | None) -> Json:
        held, self._held = self._held, {}
        feedback, self._feedback = self._feedback, None
        merged = [*held.values(), *entries.values()]  # in the order the events came
        out: Json = {}
        if merged:
            out["candidates"] = merged
        if feedback is not None:
            out["promptFeedback"] = feedback
        if usage is not None:
            out["usageMetadata"] = usage
        out.update(self._metadata)
        return out


# --- pieces -----------------------------------------------------------------------------


def usage_json(usage: Usage) -> Json:
    """Gemini's `usageMetadata`: thoughts are counted apart from the candidates."""
    out: Json = {
        "promptTokenCount": usage.prompt_tokens,
        "candidatesTokenCount": max(usage.completion_tokens - usage.reasoning_tokens, 0),
        "totalTokenCount": usage.total_tokens,
    }
    if usage.cached_tokens:
        out["cachedContentTokenCount"] = usage.cached_tokens
    if usage.reasoning_tokens:
        out["thoughtsTokenCount"] = usage.reasoning_tokens
    return out


def grounding_json(grounding: GroundingMetadata, answer: str) -> Json:
    """Gemini's `groundingMetadata` of a candidate whose answer text is `answer` (module
    docstring): the supports' character offsets become UTF-8 byte offsets."""
    out: Json = {}
    if grounding.queries:
        out["webSearchQueries"] = list(grounding.queries)
    if grounding.sources:
        out["groundingChunks"] = [
            {"web": {"uri": s.uri, "title": s.title}} for s in grounding.sources
        ]
    supports = []
    for support in grounding.supports:
        entry: Json = {
            "segment": {
                "startIndex": to_byte_offset(answer, support.start),
                "endIndex": to_byte_offset(answer, support.end),
                "text": support.text,
            },
        }
        if support.sources:
            entry["groundingChunkIndices"] = list(support.sources)
        if support.scores:
            entry["confidenceScores"] = list(support.scores)
        supports.append(entry)
    if supports:
        out["groundingSupports"] = supports
    return out


def _prompt_feedback_json(feedback: PromptFeedback) -> Json:
    """Gemini's `promptFeedback` of a blocked prompt."""
    out: Json = {"blockReason": feedback.reason}
    if feedback.ratings:
        out["safetyRatings"] = [_rating_json(r) for r in feedback.ratings]
    return out


def _rating_json(rating: SafetyRating) -> Json:
    """One `SafetyRating` as Vertex writes it: the probability and the severity are the
    same score (domain/safety.py), each with its level."""
    level = rating.level.name
    out: Json = {
        "category": rating.category.value,
        "probability": level,
        "probabilityScore": rating.score,
        "severity": f"HARM_SEVERITY_{level}",
        "severityScore": rating.score,
    }
    if rating.blocked:
        out["blocked"] = True
    return out


def _attach_ratings(entry: Json, ratings: Sequence[SafetyRating]) -> None:
    if ratings:
        entry["safetyRatings"] = [_rating_json(r) for r in ratings]


def _logprobs_json(tokens: Sequence[TokenLogprobs], *, average: bool) -> Json:
    """`logprobsResult` (and `avgLogprobs`) of a candidate's tokens."""
    result: Json = {"chosenCandidates": [_token_json(t.chosen) for t in tokens]}
    if any(t.top for t in tokens):
        result["topCandidates"] = [
            {"candidates": [_token_json(c) for c in t.top]} for t in tokens
        ]
    out: Json = {"logprobsResult": result}
    if average:
        out["avgLogprobs"] = sum(t.chosen.logprob for t in tokens) / len(tokens)
    return out


def _token_json(choice: Any) -> Json:
    """A `TokenChoice` as Gemini's `LogprobsResult.Candidate` (its bytes as UTF-8 text)."""
    out: Json = {"token": choice.token.decode("utf-8", errors="replace"),
                 "logProbability": choice.logprob}
    if choice.token_id is not None:
        out["tokenId"] = choice.token_id
    return out


def _candidate(index: int, parts: list[Json], reason: FinishReason | None) -> Json:
    content: Json = {"role": MODEL_ROLE}
    if parts:
        content["parts"] = parts
    out: Json = {"index": index, "content": content}
    if reason is not None:
        out["finishReason"] = reason.value
    return out


def _text_part(text: str, *, thought: bool) -> Json:
    return {"text": text, "thought": True} if thought else {"text": text}


def _part(event: TextDelta | ThoughtDelta | FunctionCall | ImageOutput) -> Json:
    match event:
        case ThoughtDelta(text=text):
            return _text_part(text, thought=True)
        case TextDelta(text=text):
            return _text_part(text, thought=False)
        case FunctionCall():
            call: Json = {"name": event.name, "args": _plain(event.args)}
            if event.id is not None:
                call["id"] = event.id
            part: Json = {"functionCall": call}
            if event.thought_signature is not None:
                part["thoughtSignature"] = event.thought_signature
            return part
        case ImageOutput():
            data = base64.b64encode(event.data).decode("ascii")
            return {"inlineData": {"mimeType": event.mime_type, "data": data}}
        case _:
            assert_never(event)


def _metadata(model_version: str, response_id: str, create_time: str) -> Json:
    return {"modelVersion": model_version, "createTime": create_time, "responseId": response_id}
