"""Measuring generations: the one place every generation's events are timed.

`metered` wraps the event stream of every generation `GenerationService.stream` starts —
chat completions (whole or streamed), Gemini's native methods, images, a guard model's
questions — and reports what it saw to two ports:

- a `RequestMeter` (the operator's metrics; `web/metrics.py` implements it with
  prometheus-client): per model, the time to the first output, the gap before each later
  output, and at the end a `GenerationReport`;
- a request's `GenerationObserver` (the access-log record of the HTTP request that asked,
  `web/access_log.py`), which gets the same report.

Per output event the work is a clock read, a subtraction and one observation on a meter
already resolved for the model (`RequestMeter.for_model`, once per generation): no
allocation, no label lookup.

What is measured, from the moment the generation is asked for (after the request was
parsed, authenticated and routed; before policies such as media perception run):

- output events are answer and thought text, function calls and images (from the local
  engine, one text event is about one token; held-back stop-sequence text and n > 1
  candidates make it approximate);
- time to first token: to the first output event; inter-token latency: between
  consecutive output events;
- `finished_reason`, vLLM's names: `stop`, `length`, `abort` (the client went away
  before the backend finished), `error` (the stream raised); Gemini's other reasons in
  lower case (`safety`, `malformed_function_call`, …), a blocked prompt by its block
  reason (`safety`). With n > 1, the first candidate's.
- tokens: the generation's `Usage` as the response reports it (none when it never came:
  aborted or failed).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from vertexcompat.domain.events import (
    Finished,
    FinishReason,
    FunctionCall,
    ImageOutput,
    PromptFeedback,
    StreamEvent,
    TextDelta,
    ThoughtDelta,
    Usage,
)

# Gemini's finish reasons as vLLM names the same ones; the others keep Gemini's name.
_FINISHED_REASONS: dict[FinishReason, str] = {
    reason: reason.value.lower() for reason in FinishReason
} | {FinishReason.STOP: "stop", FinishReason.MAX_TOKENS: "length"}

ABORT = "abort"
ERROR = "error"

# The events that are output a client waits for (the ones timed).
_OUTPUT = frozenset({TextDelta, ThoughtDelta, FunctionCall, ImageOutput})


def finished_reason(reason: FinishReason) -> str:
    return _FINISHED_REASONS[reason]


@dataclass(frozen=True, slots=True)
class GenerationReport:
    """What one generation did. `model_name`: the backend model that served it;
    `requested_model`: the id the client asked for. Seconds from when it was asked for:
    `ttft_s` to its first output (None: there was none), `e2e_s` to its end."""

    model_name: str
    requested_model: str
    finished_reason: str
    e2e_s: float
    ttft_s: float | None
    usage: Usage | None


class ModelMeter(Protocol):
    """The meters of one backend model, resolved once per generation."""

    def first_token(self, seconds: float) -> None: ...
    def inter_token(self, seconds: float) -> None: ...
    def finished(self, report: GenerationReport) -> None: ...


class RequestMeter(Protocol):
    def for_model(self, model_name: str) -> ModelMeter: ...


class GenerationObserver(Protocol):
    """Whoever wants one request's report (its access-log record)."""

    def generation_finished(self, report: GenerationReport) -> None: ...


class _NoMeter:
    """Measures nothing (metrics off, and tests that do not look)."""

    def for_model(self, model_name: str) -> ModelMeter:
        return self

    def first_token(self, seconds: float) -> None:
        return None

    def inter_token(self, seconds: float) -> None:
        return None

    def finished(self, report: GenerationReport) -> None:
        return None


NO_METER: RequestMeter = _NoMeter()


async def metered(
    events: AsyncIterator[StreamEvent],
    meter: ModelMeter,
    observer: GenerationObserver | None,
    *,
    model_name: str,
    requested_model: str,
    started: float,
) -> AsyncIterator[StreamEvent]:
    """`events`, passed on unchanged, timed from `started` (a `time.perf_counter()`
    reading); closing this closes `events`. The report goes to `meter` and `observer`
    when the stream ends, however it ends."""
    clock = time.perf_counter
    first: float | None = None
    last = 0.0
    reason: str | None = None
    usage: Usage | None = None
    outcome = ABORT
    try:
        async for event in events:
            kind = type(event)
            if kind in _OUTPUT:
                now = clock()
                if first is None:
                    first = now
                    meter.first_token(now - started)
                else:
                    meter.inter_token(now - last)
                last = now
            elif kind is Finished:
                if reason is None:
                    reason = _FINISHED_REASONS[event.reason]  # type: ignore[union-attr]
            elif kind is Usage:
                usage = event  # type: ignore[assignment]
            elif kind is PromptFeedback:
                reason = event.reason.lower()  # type: ignore[union-attr]
            yield event
        outcome = reason or "stop"
    except (GeneratorExit, asyncio.CancelledError):
        # Closed or cancelled early (a client that left): an abort, unless the backend had
        # already finished (its usage came; only the stream's very end was not read).
        if usage is not None:
            outcome = reason or "stop"
        raise
    except BaseException:
        outcome = ERROR
        raise
    finally:
        try:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                await aclose()
        finally:
            report = GenerationReport(
                model_name=model_name,
                requested_model=requested_model,
                finished_reason=outcome,
                e2e_s=clock() - started,
                ttft_s=None if first is None else first - started,
                usage=usage,
            )
            meter.finished(report)
            if observer is not None:
                observer.generation_finished(report)
