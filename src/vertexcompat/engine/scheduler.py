"""The scheduler: the one thread that owns the llama.cpp context.

Requests become jobs; a job's `n` candidates are sequences (KV slots). Every step builds ONE
batch holding the next token of every decoding sequence plus a chunk of pending prompt tokens
(continuous batching with llama.cpp's multi-sequence batch API), decodes it, and samples each
sequence with its own sampler. The `n` candidates of a job share one prompt evaluation: the
prompt is decoded once into the first sequence and copied to the others (`seq_cp`).

The scheduler owns slots, batches and sampling; what each sampled token means for its
candidate (text, stop sequences, thoughts, when it is over) belongs to the candidate's
pure decoder (engine/candidate.py), which also emits the candidate's events.

Admission is FIFO and bounded: when `max_queue` jobs already wait for slots, `submit` raises
ResourceExhausted (→ 429 + Retry-After). Cancellation (client disconnect) is observed at the
next step, i.e. at the next token, and frees the job's slots at once.
"""

from __future__ import annotations

import collections
import enum
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import llama_cpp
import numpy as np

from vertexcompat.domain.errors import Internal, ResourceExhausted
from vertexcompat.domain.events import FinishReason, StreamEvent, Usage
from vertexcompat.engine.candidate import ANSWER, NEXT, CandidateDecoder
from vertexcompat.engine.sampling import Sampler, SamplingParams
from vertexcompat.engine.thinking import ThinkingPlan

log = logging.getLogger(__name__)

# What a job's sink receives: domain events, an exception (generation failed), or None (done).
Sink = Callable[[StreamEvent | BaseException | None], None]


class Phase(enum.Enum):
    WAITING = 0
    PREFILL = 1
    DECODE = 2
    DONE = 3


@dataclass(eq=False, slots=True)
class Sequence:
    """One candidate on its KV slot: what the scheduler feeds, samples and frees. What the
    tokens mean (text, stops, thoughts, when it is over) is its decoder's business."""

    index: int
    seq_id: int
    sampler: Sampler
    decoder: CandidateDecoder
    n_past: int = 0
    last_token: int = -1
    # Tokens fed, unsampled, right after `last_token` with the next decode (a forced
    # close of the thoughts, engine/thinking.py).
    forced: tuple[int, ...] = ()
    finished: bool = False


@dataclass(eq=False)
class Job:
    prompt: list[int]
    n: int
    params: SamplingParams
    max_tokens: int
    stop: tuple[str, ...]
    sink: Sink
    cancelled: bool = False
    thinking: ThinkingPlan | None = None
    # Candidates the request side asked to end (e.g. a model repeating a call): they finish
    # with STOP at the next step while the others go on.
    ended: set[int] = field(default_factory=set)
    phase: Phase = Phase.WAITING
    prefilled: int = 0
    candidates: list[Sequence] = field(default_factory=list)

    def cancel(self) -> None:
        self.cancelled = True


class Scheduler:
    def __init__(
        self,
        ctx: llama_cpp.llama_context_p,
        vocab: llama_cpp.llama_vocab_p,
        *,
        parallel: int,
        ctx_per_seq: int,
        batch_size: int,
        max_queue: int,
        token_piece: Callable[[int], bytes],
    ) -> None:
        if parallel > batch_size:
            raise ValueError("parallel must not exceed batch_size")
        self._ctx = ctx
        self._vocab = vocab
        self._mem = llama_cpp.llama_get_memory(ctx)
        self._n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
        self._ctx_per_seq = ctx_per_seq
        self._batch_size = batch_size
        self._max_queue = max_queue
        self._piece = token_piece
        self._opening_banned: np.ndarray | None = None
        self._parallel = parallel
        self._free_slots: list[int] = list(range(parallel - 1, -1, -1))
        self._pending: collections.deque[Job] = collections.deque()
        self._active: list[Job] = []
        self._cv = threading.Condition()
        self._stopping = False
        self._batch = llama_cpp.llama_batch_init(batch_size, 0, 1)
        self._thread = threading.Thread(target=self._run, name="llama-scheduler", daemon=True)

    # -- called from other threads ---------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
        self._thread.join(timeout=30)
        llama_cpp.llama_batch_free(self._batch)

    def submit(self, job: Job) -> None:
        with self._cv:
            waiting = self._waiting()
            if waiting >= self._max_queue:
                raise ResourceExhausted(
                    f"The server is busy: {waiting} requests are already waiting. "
                    "Retry later.",
                    retry_after_s=2,
                )
            self._pending.append(job)
            self._cv.notify()

    def cancel(self, job: Job) -> None:
        with self._cv:
            job.cancel()
            self._cv.notify()

    def end_candidate(self, job: Job, candidate: int) -> None:
        """Finish one candidate of `job` with STOP at the next step."""
        with self._cv:
            job.ended.add(candidate)
            self._cv.notify()

    def stats(self) -> dict[str, int]:
        """A snapshot for /readyz and tests: busy KV slots and requests waiting for one."""
        with self._cv:
            return {
                "active_requests": len(self._active),
                "busy_slots": self._parallel - len(self._free_slots),
                "queued_requests": self._waiting(),
            }

    def _waiting(self) -> int:
        """Pending jobs that would still wait after the next admission (caller holds _cv):
        a job the scheduler thread simply has not picked up yet does not count."""
        free = len(self._free_slots)
        waiting = 0
        for job in self._pending:
            if job.cancelled:
                continue
            if waiting == 0 and job.n <= free:
                free -= job.n
            else:
                waiting += 1
        return waiting

    # -- the scheduler thread --------------------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                with self._cv:
                    while not self._stopping and not self._active and not self._pending:
                        self._cv.wait()
                    if self._stopping:
                        break
                    self._reap_cancelled()
                    self._admit()
                if self._active:
                    self._step()
            except Exception as exc:  # a bug in the engine: fail the jobs, keep serving
                log.exception("scheduler step failed")
                for job in list(self._active):
                    self._fail(job, Internal(f"generation failed: {type(exc).__name__}"))
        for job in list(self._active) + list(self._pending):
            job.sink(None)

    def _reap_cancelled(self) -> None:
        self._pending = collections.deque(j for j in self._pending if not j.cancelled)
        for job in [j for j in self._active if j.cancelled]:
            self._release(job)

    # -- admission: slots and prefill ------------------------------------------------------

    def _admit(self) -> None:
        while self._pending and len(self._free_slots) >= self._pending[0].n:
            job = self._pending.popleft()
            # Active before its samplers exist, so a failure below releases its slots.
            self._active.append(job)
            job.phase = Phase.PREFILL
            context_room = self._ctx_per_seq - len(job.prompt)
            slots = self._take_slots(job)
            for i, seq_id in enumerate(slots):
                try:
                    sampler = Sampler(
                        job.params, i, n_vocab=self._n_vocab, vocab=self._vocab,
                        token_piece=self._piece, deferred=job.thinking is not None,
                    )
                except Exception:  # the slots without a sequence yet go back now
                    self._free_slots.extend(reversed(slots[i:]))
                    raise
                decoder = CandidateDecoder(
                    i, job.sink, stop=job.stop, max_tokens=job.max_tokens,
                    context_room=context_room, thinking=job.thinking,
                )
                job.candidates.append(Sequence(i, seq_id, sampler, decoder))
            self._prefill_from(job, 0)

    def _take_slots(self, job: Job) -> list[int]:
        """The KV slots (sequence ids) of the job's candidates, first candidate first: its
        slot is the one the prompt is decoded into (`_prefill_from`), then copied to the
        others. Called with enough free slots. Today any free slot will do: every slot is
        emptied when its job is released, and the most recently freed is taken first.

        A prefix cache plugs in here: it keeps a released slot's KV and the tokens it
        holds, and gives the first candidate the free slot whose kept tokens share the
        longest prefix with `job.prompt` (emptying the others it hands out, which
        `seq_cp` overwrites whole); `_admit` then calls `_prefill_from` with that length.
        """
        return [self._free_slots.pop() for _ in range(job.n)]

    def _prefill_from(self, job: Job, position: int) -> None:
        """Decode the job's prompt from `position` on, in chunks that share the batch with
        decoding sequences (`_step`). The first candidate's slot must already hold the
        prompt's KV for positions [0, position); anything it holds past them is dropped.
        Today `position` is 0 (slots are emptied on release).

        A prefix cache passes the length of the prefix its chosen slot already holds
        (`_take_slots`), capped at `len(job.prompt) - 1`: the last prompt token is always
        decoded, because its logits are what each candidate's first sample reads.
        """
        if not 0 <= position < len(job.prompt):
            raise ValueError(f"cannot prefill a {len(job.prompt)}-token prompt from {position}")
        if position:
            llama_cpp.llama_memory_seq_rm(self._mem, job.candidates[0].seq_id, position, -1)
        job.prefilled = position

    # -- one step: one batch ---------------------------------------------------------------

    def _step(self) -> None:
        batch = self._batch
        n = 0
        decoding: list[tuple[int, Job, Sequence]] = []
        prefilled: list[tuple[int, Job]] = []

        def add(token: int, pos: int, seq_id: int, logits: bool) -> None:
            nonlocal n
            batch.token[n] = token
            batch.pos[n] = pos
            batch.n_seq_id[n] = 1
            batch.seq_id[n][0] = seq_id
            batch.logits[n] = logits
            n += 1

        # The next token of every decoding sequence first, then prompt chunks fill the rest.
        for job in self._active:
            if job.phase is Phase.DECODE:
                ended = job.ended
                for cand in job.candidates:
                    if ended and not cand.finished and cand.index in ended:
                        cand.decoder.finish(FinishReason.STOP)
                        cand.finished = True
                    if not cand.finished:
                        # A forced marker goes in with the last sampled token, in the same
                        # batch; only the last position's logits are needed.
                        feed = (cand.last_token, *cand.forced)
                        for k, token in enumerate(feed):
                            add(token, cand.n_past + k, cand.seq_id, k == len(feed) - 1)
                        decoding.append((n - 1, job, cand))
        for job in self._active:
            if job.phase is not Phase.PREFILL or n >= self._batch_size:
                continue
            take = min(self._batch_size - n, len(job.prompt) - job.prefilled)
            seq0 = job.candidates[0].seq_id
            for k in range(take):
                pos = job.prefilled + k
                add(job.prompt[pos], pos, seq0, pos == len(job.prompt) - 1)
            job.prefilled += take
            if job.prefilled == len(job.prompt):
                prefilled.append((n - 1, job))

        if n == 0:  # nothing to decode: only ended candidates (or an empty prompt, refused)
            self._release_finished()
            return
        batch.n_tokens = n
        rc = llama_cpp.llama_decode(self._ctx, batch)
        if rc != 0:
            raise RuntimeError(f"llama_decode returned {rc}")

        for idx, job, cand in decoding:
            cand.n_past += 1 + len(cand.forced)
            cand.forced = ()
            banned = self._opening_ban() if cand.decoder.answer_opening else None
            self._advance(cand, cand.sampler.sample(self._ctx, idx, banned=banned))
        for idx, job in prefilled:
            self._start_decoding(job, idx)
        self._release_finished()

    def _start_decoding(self, job: Job, idx: int) -> None:
        """The prompt is in the first candidate's slot and `idx` holds its last logits:
        share the KV with the other candidates and sample every candidate's first token."""
        seq0 = job.candidates[0].seq_id
        for cand in job.candidates[1:]:
            # Copied into the candidate's own KV stream before the next decode runs.
            llama_cpp.llama_memory_seq_cp(self._mem, seq0, cand.seq_id, -1, -1)
        job.phase = Phase.DECODE
        for cand in job.candidates:
            cand.n_past = len(job.prompt)
            self._advance(cand, cand.sampler.sample(self._ctx, idx))

    def _opening_ban(self) -> np.ndarray:
        """Tokens an answer after thoughts may not open with: an end of generation (the
        answer would be empty) and a closing tag (`</…`, the end-of-thought marker the
        answer stops at). Found once, on the first answer that needs them."""
        if self._opening_banned is None:
            ids = [
                t for t in range(self._n_vocab)
                if llama_cpp.llama_vocab_is_eog(self._vocab, t)
                or self._piece(t).lstrip().startswith(b"</")
            ]
            self._opening_banned = np.array(ids, dtype=np.int32)
        return self._opening_banned

    def _advance(self, cand: Sequence, token: int) -> None:
        """Hand a sampled token to the candidate's decoder and do what it says."""
        decoder = cand.decoder
        eog = llama_cpp.llama_vocab_is_eog(self._vocab, token)
        if eog:
            step = decoder.on_end_of_turn()
        elif cand.sampler.malformed:  # the token opened a call the grammar cannot continue
            step = decoder.finish(FinishReason.MALFORMED_FUNCTION_CALL)
        else:
            step = decoder.on_token(self._piece(token))
        if step is NEXT:
            cand.last_token = token
        elif step is ANSWER:
            # The forced close is fed after the last sampled token; an end of turn is not
            # fed at all, the close takes its place.
            forced = decoder.forced
            if eog:
                cand.last_token, cand.forced = forced[0], forced[1:]
            else:
                cand.last_token, cand.forced = token, forced
            cand.sampler.accept_forced(forced)
            cand.sampler.begin_answer()
        else:
            cand.finished = True

    def _release_finished(self) -> None:
        for job in [j for j in self._active if j.candidates and all(c.finished for c in j.candidates)]:
            generated = sum(c.decoder.generated for c in job.candidates)
            thought = sum(c.decoder.thought_tokens for c in job.candidates)
            job.sink(Usage(prompt_tokens=len(job.prompt), completion_tokens=generated,
                           reasoning_tokens=thought))
            self._release(job)

    def _fail(self, job: Job, exc: BaseException) -> None:
        job.sink(exc)
        self._release(job)

    def _release(self, job: Job) -> None:
        """Free the job's slots and samplers and close its event stream."""
        for cand in job.candidates:
            llama_cpp.llama_memory_seq_rm(self._mem, cand.seq_id, -1, -1)
            cand.sampler.close()
            self._free_slots.append(cand.seq_id)
        job.candidates.clear()
        job.phase = Phase.DONE
        if job in self._active:
            self._active.remove(job)
        job.sink(None)
