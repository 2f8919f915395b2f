"""`PerceptionPool`: the worker threads perception runs on, with a budget for the work they
hold, fairness between requests, and a deadline per request.

- **Budget (admission).** Every part costs one slot plus its pixels or audio seconds. A
  request's parts are admitted all together or not at all: when they do not fit beside the
  work already held (queued or running), the request is refused at once with 429
  RESOURCE_EXHAUSTED and a `Retry-After` estimated from how fast parts have been finishing —
  a client learns in milliseconds that the server is busy instead of waiting minutes.
- **Fairness.** Each request has its own queue, and the workers take parts round robin
  between requests: the request that has had the fewest turns goes next, and one that
  arrives goes ahead of those that have all had one (then takes turns with them). A
  one-image request that arrives behind a sixteen-image one waits for the parts already
  running, not for all sixteen.
- **Deadline.** `run` gives up after `deadline_s` (queue wait included) with 503
  UNAVAILABLE naming the first part that did not finish; its queued parts are dropped and
  their budget released at once.
- **Honest accounting.** A part that is already running cannot be stopped: the models are
  native calls (onnxruntime, CTranslate2) that Python cannot interrupt. Its budget stays
  held until the call returns — the worker really is busy — and `stats()` counts it as
  `abandoned_parts` meanwhile, so a stuck call shows instead of hiding in the queue.
- **Idle hook.** When the last held part finishes, `on_idle` runs on that worker (the
  container passes `services.memory.MemoryTrimmer`: perception's buffers are large
  and glibc keeps them otherwise).

Threads, not processes: the models release the GIL and stay loaded once per server.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from vertexcompat.domain.errors import ResourceExhausted, Unavailable

logger = logging.getLogger(__name__)

# Until a part has finished, a Retry-After estimate has nothing to go on: assume a few
# seconds per part (an ordinary photo, measured in bench/perception.py: ~1-3 s).
_FIRST_GUESS_S = 3.0
_SMOOTHING = 0.2  # weight of the newest part in the moving average of part durations


@dataclass(frozen=True, slots=True)
class PoolBudget:
    """How much perception work the pool holds at once, queued and running together.

    The defaults keep what is held finishable within the default deadline (120 s) on one
    worker thread, so an admitted request is not doomed to time out and one that is not
    admitted learns it at once. Measured (bench/hardening.py, bench/perception.py): a
    large image costs up to ~4 s of CPU (OCR's text detector on its 2000-pixel input), a
    second of audio ~0.26 s of Whisper. 24 parts are ~96 s at the worst; 128 MP are two
    requests at the per-request pixel budget; 360 s of audio are two at the per-request
    audio budget, ~95 s of Whisper."""

    max_parts: int = 24
    max_pixels: int = 128_000_000
    max_audio_seconds: float = 360.0

    def __post_init__(self) -> None:
        if self.max_parts <= 0 or self.max_pixels <= 0 or self.max_audio_seconds <= 0:
            raise ValueError("PoolBudget limits must be positive")


@dataclass(frozen=True, slots=True)
class Work:
    """One part's perception: `fn()` runs on a worker. `label` names the part (its `param`)."""

    fn: Callable[[], Any]
    label: str
    pixels: int = 0
    audio_seconds: float = 0.0


@dataclass(eq=False, slots=True)
class _Job:
    work: Work
    batch: _Batch
    future: Future[Any] = field(default_factory=Future)


@dataclass(eq=False, slots=True)
class _Batch:
    """One request's parts."""

    turns: int  # parts started, counted from where it joined the rotation
    arrival: int
    queued: deque[_Job] = field(default_factory=deque)
    running: int = 0
    abandoned: bool = False


class PerceptionPool:
    def __init__(
        self,
        *,
        workers: int = 1,
        budget: PoolBudget | None = None,
        nice: int = 0,
        on_idle: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`nice`: the workers' CPU priority (Linux nice value, 0-19), inherited by the
        threads the models start. `clock` is for tests."""
        if workers <= 0:
            raise ValueError("PerceptionPool needs at least one worker")
        self.workers = workers
        self.budget = budget or PoolBudget()
        self._nice = nice
        self._on_idle = on_idle
        self._clock = clock
        self._cond = threading.Condition()
        self._waiting: list[_Batch] = []  # requests with queued parts (a few: see budget)
        self._arrivals = 0
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._parts = 0
        self._pixels = 0
        self._audio_s = 0.0
        self._running = 0
        self._abandoned = 0
        self._part_s = _FIRST_GUESS_S

    # -- admission -----------------------------------------------------------------------

    def check_room(self, parts: int) -> None:
        """Refuse early (before fetching and measuring) when `parts` more slots cannot fit;
        `run` checks again with the real pixels and seconds."""
        with self._cond:
            if self._parts and self._parts + parts > self.budget.max_parts:
                raise self._busy_locked()

    async def run(self, works: Sequence[Work], *, deadline_s: float) -> list[Any]:
        """Run every `Work` (fairly beside other requests) and return their results in
        order. The first failure cancels the rest and is raised; so is 503 at the
        deadline, and 429 when the pool cannot hold the request now."""
        if not works:
            return []
        batch, jobs = self._admit(works)
        futures = [asyncio.wrap_future(job.future) for job in jobs]
        try:
            done, pending = await asyncio.wait(
                futures, timeout=deadline_s, return_when=asyncio.FIRST_EXCEPTION
            )
            for future in futures:  # the first failure in part order, not in time
                if future in done and not future.cancelled() and future.exception():
                    raise future.exception()  # type: ignore[misc]
            if any(future.cancelled() for future in done):  # `close()` dropped them
                raise Unavailable("Media perception is shutting down.")
            if pending:
                first = next(job.work.label for job, f in zip(jobs, futures) if f in pending)
                raise Unavailable(
                    f"Perceiving this request's media took longer than the deadline of "
                    f"{deadline_s:g} s; `{first}` and {len(pending) - 1} other part(s) did not "
                    "finish. Retry with fewer or smaller images or shorter audio, or later.",
                    retry_after_s=max(1, math.ceil(self._drain_estimate())),
                    param=first,
                )
            return [future.result() for future in futures]
        finally:
            self._abandon(batch)
            for future in futures:
                if future.done() and not future.cancelled():
                    future.exception()  # retrieved: no "never retrieved" warning
                future.cancel()  # the rest: a late result is dropped

    def _admit(self, works: Sequence[Work]) -> tuple[_Batch, list[_Job]]:
        pixels = sum(w.pixels for w in works)
        audio_s = sum(w.audio_seconds for w in works)
        with self._cond:
            if self._closed:
                raise Unavailable("Media perception is shutting down.")
            budget = self.budget
            # An empty pool admits anything: a request larger than the whole budget would
            # otherwise never run (the per-request limits normally keep it smaller).
            if self._parts and (
                self._parts + len(works) > budget.max_parts
                or self._pixels + pixels > budget.max_pixels
                or self._audio_s + audio_s > budget.max_audio_seconds
            ):
                raise self._busy_locked()
            # Just ahead of every request waiting now: its first part goes next, and it
            # cannot claim the turns the others had before it came.
            turns = max(0, min((b.turns for b in self._waiting), default=0) - 1)
            self._arrivals += 1
            batch = _Batch(turns=turns, arrival=self._arrivals)
            jobs = [_Job(work, batch) for work in works]
            batch.queued.extend(jobs)
            self._parts += len(works)
            self._pixels += pixels
            self._audio_s += audio_s
            self._waiting.append(batch)
            self._start_workers_locked()
            self._cond.notify(len(works))
        return batch, jobs

    def _busy_locked(self) -> ResourceExhausted:
        held = (f"{self._parts} part(s), {self._pixels / 1e6:.0f} MP and "
                f"{self._audio_s:.0f} s of audio")
        return ResourceExhausted(
            f"Media perception is at capacity ({held} queued or running); retry later.",
            retry_after_s=max(1, math.ceil(self._drain_estimate_locked())),
        )

    def _drain_estimate(self) -> float:
        with self._cond:
            return self._drain_estimate_locked()

    def _drain_estimate_locked(self) -> float:
        """Seconds until the parts held now are done, at the recent pace."""
        return self._part_s * self._parts / self.workers

    def _abandon(self, batch: _Batch) -> None:
        """Drop what is still queued of `batch` and release its budget (queued parts hold
        no memory yet, so no clean-up is due); what is running keeps its budget until it
        returns."""
        with self._cond:
            if batch.abandoned:
                return
            batch.abandoned = True
            if batch.queued:
                self._waiting.remove(batch)
                for job in batch.queued:
                    job.future.cancel()
                    self._release_locked(job.work)
                batch.queued.clear()
            if batch.running:
                self._abandoned += batch.running
                logger.warning(
                    "perception: a request gave up with %d part(s) still running; they "
                    "cannot be interrupted and hold their budget until they return",
                    batch.running)

    # -- workers -------------------------------------------------------------------------

    def _start_workers_locked(self) -> None:
        # Started on first use: an app that never sees media never starts a thread.
        while len(self._threads) < self.workers:
            thread = threading.Thread(
                target=self._work, name=f"perception-{len(self._threads)}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _work(self) -> None:
        _lower_priority(self._nice)
        while True:
            with self._cond:
                while not self._waiting and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                batch = min(self._waiting, key=lambda b: (b.turns, b.arrival))
                job = batch.queued.popleft()
                batch.turns += 1
                if not batch.queued:
                    self._waiting.remove(batch)
                batch.running += 1
                self._running += 1
            started = self._clock()
            result: Any = None
            error: BaseException | None = None
            runs = job.future.set_running_or_notify_cancel()
            if runs:
                try:
                    result = job.work.fn()
                except BaseException as exc:  # delivered to the request, not raised here
                    error = exc
            elapsed = self._clock() - started
            # The budget is released before the result is delivered: a request that sees
            # its last part done finds the pool's books already closed for it.
            with self._cond:
                batch.running -= 1
                self._running -= 1
                if batch.abandoned:
                    self._abandoned -= 1
                if runs:
                    self._part_s += _SMOOTHING * (elapsed - self._part_s)
                self._release_locked(job.work)
                idle = self._parts == 0
            if runs:
                if error is None:
                    job.future.set_result(result)
                else:
                    job.future.set_exception(error)
            # Between parts the worker keeps no reference to a request's bytes or buffers.
            del job, batch, result, error
            if idle:
                self._idle()

    def _release_locked(self, work: Work) -> None:
        self._parts -= 1
        self._pixels -= work.pixels
        self._audio_s -= work.audio_seconds
        if self._parts == 0:
            self._audio_s = 0.0  # no float drift once empty

    def _idle(self) -> None:
        if self._on_idle is None:
            return
        try:
            self._on_idle()
        except Exception:  # a failed clean-up must not kill a worker
            logger.exception("perception: the idle hook failed")

    # -- lifecycle -----------------------------------------------------------------------

    def stats(self) -> dict[str, float]:
        with self._cond:
            return {
                "parts": self._parts,
                "queued_parts": self._parts - self._running,
                "running_parts": self._running,
                "abandoned_parts": self._abandoned,
                "pixels": self._pixels,
                "audio_seconds": round(self._audio_s, 1),
            }

    def close(self) -> None:
        """Stop the workers after their current part; queued parts are cancelled."""
        with self._cond:
            self._closed = True
            for batch in self._waiting:
                for job in batch.queued:
                    job.future.cancel()
                    self._release_locked(job.work)
                batch.queued.clear()
            self._waiting.clear()
            self._cond.notify_all()


def _lower_priority(nice: int) -> None:
    """Runs first in each worker thread; threads the perception models start later (their
    own pools) inherit it."""
    if nice > 0 and hasattr(os, "setpriority"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
        except OSError:  # not permitted here: run at normal priority
            pass
