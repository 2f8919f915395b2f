"""Answers: the engine's events for one request → the events of the answer, one state per
candidate (DESIGN rule 4).

With function calling, `call_extractor.py` turns each candidate's text into text and
`FunctionCall` events. A candidate that writes a call identical to one it already made in
this turn is done: the repeat is dropped and its generation ended (small models otherwise
repeat a call until `max_tokens`; an identical call never adds anything). A candidate that
writes a call that does not parse, or is still inside a call when it stops, finishes with
MALFORMED_FUNCTION_CALL (Gemini's reason).

Structured output: each answer that ended normally is post-checked against the schema.
An answer cut by `max_tokens` is left alone: its finish reason is already MAX_TOKENS
("length") and that is what the client must see. An answer that ended normally yet fails
the post-check (a keyword the grammar cannot enforce, e.g. `minimum`) keeps its STOP reason
and content — the generation happened, a 4xx/5xx would be wrong — and a warning is logged;
the grammar makes this rare.

Log probabilities (`TokenLogprobs`) pass through both, before the text they describe: with
function calling also those of the tokens that spell a call (they belong to no text part;
the surfaces decide), except after a candidate's text stopped counting (a malformed or a
repeated call).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, assert_never

from vertexcompat.backends.call_extractor import CallExtractor, MalformedCall, ParsedCall
from vertexcompat.backends.local_prompt import BARE_CALL_START, CALL_CLOSE, CALL_OPEN
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
from vertexcompat.domain.tools import FunctionDeclaration
from vertexcompat.translate.json_schema import output_violation

log = logging.getLogger(__name__)


class JsonAnswers:
    """Passes every event on; logs each answer that finished with STOP but fails the
    schema's post-check."""

    def __init__(self, schema: Mapping[str, Any] | None) -> None:
        self._schema = schema
        self._texts: dict[int, list[str]] = {}

    def feed(self, event: StreamEvent) -> list[StreamEvent]:
        match event:
            case TextDelta(candidate=c, text=t):
                self._texts.setdefault(c, []).append(t)
            case Finished(candidate=c, reason=FinishReason.STOP):
                post_check("".join(self._texts.pop(c, ())), self._schema, c)
            case _:
                pass
        return [event]


class CallAnswers:
    """Text → text and function calls, per candidate. `end_candidate(c)` stops the
    generation of candidate `c` (the engine finishes it with STOP)."""

    def __init__(
        self,
        declarations: tuple[FunctionDeclaration, ...],
        *,
        end_candidate: Callable[[int], None],
    ) -> None:
        self._end_candidate = end_candidate
        self._extractors: dict[int, CallExtractor] = {}
        self._malformed: set[int] = set()
        self._ended: set[int] = set()
        self._made: dict[int, list[ParsedCall]] = {}
        self._schemas = {d.name: d.parameters for d in declarations}

    def feed(self, event: StreamEvent) -> list[StreamEvent]:
        match event:
            case TextDelta(candidate=c, text=t):
                if c in self._malformed or c in self._ended:
                    return []
                try:
                    items = self._extractor(c).feed(t)
                except MalformedCall as exc:
                    log.warning("candidate %d wrote a malformed function call: %s", c, exc)
                    self._malformed.add(c)
                    return []
                out: list[StreamEvent] = []
                for item in items:
                    if isinstance(item, ParsedCall):
                        made = self._made.setdefault(c, [])
                        if item in made:
                            self._ended.add(c)
                            self._end_candidate(c)
                            break
                        made.append(item)
                    out.append(self._event(c, item))
                return out
            case Finished(candidate=c, reason=reason):
                held, open_call = self._extractor(c).finish()
                if c in self._ended:  # what followed the repeated call is not the answer
                    return [Finished(c, FinishReason.STOP)]
                out = [self._event(c, item) for item in held]
                if c in self._malformed or (open_call and reason is FinishReason.STOP):
                    reason = FinishReason.MALFORMED_FUNCTION_CALL
                return [*out, Finished(c, reason)]
            case TokenLogprobs(candidate=c):
                # Passed on as they come, also for tokens that spell a call (the surfaces
                # decide what to show); not once the candidate's text is dropped.
                return [] if c in self._malformed or c in self._ended else [event]
            case (
                FunctionCall() | ImageOutput() | Usage() | ThoughtDelta() | ThoughtSignature()
                | GroundingMetadata() | SafetyRatings() | PromptFeedback()
            ):
                return [event]
            case _:
                assert_never(event)

    def _extractor(self, candidate: int) -> CallExtractor:
        extractor = self._extractors.get(candidate)
        if extractor is None:
            extractor = self._extractors[candidate] = CallExtractor(
                open_marker=CALL_OPEN, close_marker=CALL_CLOSE, bare_start=BARE_CALL_START
            )
        return extractor

    def _event(self, candidate: int, item: str | ParsedCall) -> StreamEvent:
        if isinstance(item, str):
            return TextDelta(candidate, item)
        schema = self._schemas.get(item.name)
        if schema is not None:
            problem = output_violation(json.dumps(item.args), schema)
            if problem is not None:
                log.warning("candidate %d: arguments of %s fail the post-check: %s",
                            candidate, item.name, problem)
        return FunctionCall(candidate, item.name, item.args)


def post_check(text: str, schema: Mapping[str, Any] | None, candidate: int) -> None:
    """Log a JSON answer that fails `schema` (the grammar cannot enforce every keyword)."""
    problem = output_violation(text, schema)
    if problem is not None:
        log.warning(
            "candidate %d ended normally but its JSON answer fails the post-check: %s",
            candidate, problem,
        )
