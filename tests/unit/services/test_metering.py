"""`services/metering.py`: every generation's events timed in one place, and reported to
the meter and the request's observer however the stream ends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from tests.fakes import FAKE_MODEL, FakeBackend
from vertexcompat.domain.content import Content, GenerateContentRequest, TextPart
from vertexcompat.domain.errors import ResourceExhausted
from vertexcompat.domain.events import (
    Finished,
    FinishReason,
    FunctionCall,
    PromptFeedback,
    StreamEvent,
    TextDelta,
    ThoughtDelta,
    TokenLogprobs,
    TokenChoice,
    Usage,
)
from vertexcompat.models.registry import ModelRegistry, default_aliases
from vertexcompat.services.generation import GenerationService
from vertexcompat.services.metering import GenerationReport, finished_reason, metered


class RecordingMeter:
    """A `RequestMeter` and `ModelMeter` that keeps what it is told."""

    def __init__(self) -> None:
        self.models: list[str] = []
        self.ttft: list[float] = []
        self.itl: list[float] = []
        self.reports: list[GenerationReport] = []

    def for_model(self, model_name: str) -> RecordingMeter:
        self.models.append(model_name)
        return self

    def first_token(self, seconds: float) -> None:
        self.ttft.append(seconds)

    def inter_token(self, seconds: float) -> None:
        self.itl.append(seconds)

    def finished(self, report: GenerationReport) -> None:
        self.reports.append(report)


class RecordingObserver:
    def __init__(self) -> None:
        self.reports: list[GenerationReport] = []

    def generation_finished(self, report: GenerationReport) -> None:
        self.reports.append(report)


class Source:
    """Scripted events; remembers whether it was closed."""

    def __init__(self, events: list[StreamEvent | BaseException], *, hang: bool = False):
        self.events = events
        self.hang = hang
        self.closed = False

    async def stream(self) -> AsyncIterator[StreamEvent]:
        try:
            for event in self.events:
                if isinstance(event, BaseException):
                    raise event
                await asyncio.sleep(0.001)
                yield event
            if self.hang:
                await asyncio.Event().wait()
        finally:
            self.closed = True


USAGE = Usage(prompt_tokens=11, completion_tokens=4, cached_tokens=3)
ANSWER: list[StreamEvent | BaseException] = [
    ThoughtDelta(0, "hm"),
    TokenLogprobs(0, TokenChoice(b"Hi", -0.1)),  # not an output of its own
    TextDelta(0, "Hi"),
    TextDelta(0, " there"),
    FunctionCall(0, "f", {}),
    Finished(0, FinishReason.STOP),
    USAGE,
]


def run(source: Source, *, take: int | None = None):
    meter, observer = RecordingMeter(), RecordingObserver()

    async def go() -> list[StreamEvent]:
        events = metered(source.stream(), meter, observer, model_name="m",
                         requested_model="gemini-x", started=time.perf_counter())
        seen: list[StreamEvent] = []
        try:
            async for event in events:
                seen.append(event)
                if take is not None and len(seen) == take:
                    break
        finally:
            await events.aclose()  # type: ignore[attr-defined]
        return seen

    seen = asyncio.run(go())
    return seen, meter, observer


def test_a_whole_answer_is_timed_per_output_and_reported_once() -> None:
    source = Source(list(ANSWER))
    seen, meter, observer = run(source)
    assert seen == ANSWER  # passed on unchanged
    assert source.closed
    # Outputs: the thought, two texts, the call (logprobs are not outputs).
    assert len(meter.ttft) == 1 and len(meter.itl) == 3
    assert all(s >= 0 for s in meter.itl)
    [report] = meter.reports
    assert observer.reports == [report]
    assert report.model_name == "m" and report.requested_model == "gemini-x"
    assert report.finished_reason == "stop"
    assert report.usage == USAGE
    assert report.ttft_s == pytest.approx(meter.ttft[0])
    assert report.e2e_s >= report.ttft_s + sum(meter.itl) - 1e-6


@pytest.mark.parametrize(
    ("reason", "name"),
    [(FinishReason.STOP, "stop"), (FinishReason.MAX_TOKENS, "length"),
     (FinishReason.SAFETY, "safety"),
     (FinishReason.MALFORMED_FUNCTION_CALL, "malformed_function_call")],
)
def test_finish_reasons_have_vllms_names(reason: FinishReason, name: str) -> None:
    assert finished_reason(reason) == name
    _, meter, _ = run(Source([TextDelta(0, "x"), Finished(0, reason), USAGE]))
    assert meter.reports[0].finished_reason == name


def test_the_first_candidates_reason_counts() -> None:
    _, meter, _ = run(Source([
        TextDelta(0, "a"), TextDelta(1, "b"), Finished(0, FinishReason.MAX_TOKENS),
        Finished(1, FinishReason.STOP), USAGE,
    ]))
    assert meter.reports[0].finished_reason == "length"


def test_a_blocked_prompt_is_reported_by_its_block_reason_without_a_first_token() -> None:
    _, meter, _ = run(Source([PromptFeedback(()), Usage(5, 0)]))
    [report] = meter.reports
    assert report.finished_reason == "safety" and report.ttft_s is None
    assert meter.ttft == [] and meter.itl == []


def test_a_stream_closed_early_is_an_abort_without_usage() -> None:
    source = Source(list(ANSWER), hang=True)
    seen, meter, observer = run(source, take=2)
    assert len(seen) == 2 and source.closed
    [report] = meter.reports
    assert report.finished_reason == "abort" and report.usage is None
    assert observer.reports == [report]


def test_a_stream_cancelled_while_waiting_is_an_abort() -> None:
    """A client that leaves cancels the request's task while the stream waits for the
    backend (web/disconnect.py): the cancellation comes up through the stream."""
    meter = RecordingMeter()
    source = Source([TextDelta(0, "a")], hang=True)

    async def go() -> None:
        events = metered(source.stream(), meter, None, model_name="m",
                         requested_model="m", started=time.perf_counter())

        async def consume() -> None:
            async for _ in events:
                pass

        task = asyncio.create_task(consume())
        while not meter.ttft:
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go())
    assert [r.finished_reason for r in meter.reports] == ["abort"] and source.closed


def test_closed_after_the_usage_is_not_an_abort() -> None:
    _, meter, _ = run(Source(list(ANSWER), hang=True), take=len(ANSWER))
    assert meter.reports[0].finished_reason == "stop"
    assert meter.reports[0].usage == USAGE


def test_a_failing_stream_is_an_error_and_still_reported() -> None:
    meter, observer = RecordingMeter(), RecordingObserver()
    source = Source([TextDelta(0, "a"), ResourceExhausted("busy")])

    async def go() -> None:
        events = metered(source.stream(), meter, observer, model_name="m",
                         requested_model="m", started=time.perf_counter())
        with pytest.raises(ResourceExhausted):
            async for _ in events:
                pass

    asyncio.run(go())
    assert [r.finished_reason for r in meter.reports] == ["error"]
    assert observer.reports == meter.reports and source.closed


def _service(**kwargs):
    registry = ModelRegistry(default_aliases(FAKE_MODEL))
    return GenerationService({"fake": FakeBackend()}, registry, **kwargs)


def _request() -> GenerateContentRequest:
    return GenerateContentRequest(model=FAKE_MODEL, contents=(Content("user", (TextPart("x"),)),))


def _drain(stream) -> list[StreamEvent]:
    async def go() -> list[StreamEvent]:
        return [event async for event in stream]

    return asyncio.run(go())


def test_the_service_meters_every_generation_by_backend_model() -> None:
    meter, observer = RecordingMeter(), RecordingObserver()
    service = _service(meter=meter)
    route = service.resolve("gemini-2.5-flash")
    events = _drain(service.stream(route, _request(), observer=observer))
    assert meter.models == [FAKE_MODEL]
    [report] = meter.reports
    assert observer.reports == [report]
    assert report.requested_model == "gemini-2.5-flash" and report.model_name == FAKE_MODEL
    assert report.usage == events[-1]
    # Without an observer the meter still hears of it.
    _drain(service.stream(route, _request()))
    assert len(meter.reports) == 2 and len(observer.reports) == 1


def test_with_nothing_to_tell_the_stream_is_not_wrapped() -> None:
    backend = FakeBackend()
    service = GenerationService({"fake": backend}, ModelRegistry(default_aliases(FAKE_MODEL)))
    route = service.resolve(FAKE_MODEL)
    stream = service.stream(route, _request())
    assert stream.__qualname__ == "FakeBackend._events"  # type: ignore[attr-defined]
    _drain(stream)
