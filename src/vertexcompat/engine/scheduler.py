"""The scheduler: the one thread that owns the llama.cpp context.

Requests become jobs; a job's `n` candidates are sequences (KV slots). Every step builds ONE
batch holding the next token of every decoding sequence plus a chunk of pending prompt tokens
(continuous batching with llama.cpp's multi-sequence batch API), decodes it, and samples each
sequence with its own sampler. The `n` candidates of a job share one prompt evaluation: the
prompt is decoded once into the first sequence and copied to the others (`seq_cp`).

The scheduler owns slots, batches and sampling; what each sampled token means for its
candidate (text, stop sequences, thoughts, when it is over) belongs to the candidate's
pure decoder (engine/candidate.py), which also emits the candidate's events. A request
that asks for log probabilities gets them from each candidate's sampler (sampling.py),
handed to the decoder with the token they describe (it emits them for answer tokens).

Admission is FIFO and bounded: when `max_queue` jobs already wait for slots, `submit` raises
ResourceExhausted (→ 429 + Retry-After); a job that follows an identical one (shared
answers, below) needs no place. An idle scheduler that gets a job first waits a
moment for others sent with it (`BURST_GAP`), so a burst's prompts are decoded together.
Cancellation (client disconnect) is observed at the next step, i.e. at the next token, and
frees the job's slots at once.

Exact prompts. llama.cpp's CPU kernels compute a sequence's rows differently when a batch
holds fewer than `EXACT_ROWS` of that sequence's tokens (measured without flash attention:
bit-identical results for any split of a prompt into chunks of >= 8 tokens, last-bit
differences below that; rows of other sequences in the call change nothing). So a prompt is
decoded in chunks of at least `EXACT_ROWS` tokens (a prompt shorter than that in one chunk):
its KV, logits and hence its answer do not depend on what else the batch holds. (With flash
attention the threshold is 64 rows, and decode rows still depend on the neighbours.) Prompts
that end in the same step share one call, padded to one length (`_chunk_groups`).

Prefix reuse (on unless `prefix_cache=False`): a released slot keeps the KV of its prompt and
remembers those tokens (`_Kept`), like llama.cpp's server keeps a slot's prompt. A new job's
first candidate takes the free slot whose kept tokens share the longest prefix with its
prompt, in the same cache scope (the project: a prefix is never reused across scopes) — or,
when a running job's prompt shares a longer one, a free slot into which that job's KV is
copied — and decodes only the rest, at least `EXACT_ROWS` tokens of it: the KV it reuses and the KV it
computes are then bit-identical to a decode of the whole prompt, and so is the answer.
Generated tokens are not kept (their KV was computed one row at a time). Running sequences
are kept on consecutive ids, which llama.cpp decodes in one micro-batch: a prefix whose slot
would open a gap is copied into a better placed one (`_take_slots`), and a decoding sequence
moves into the gap a finished job left (`_compact`). Among equally placed
slots, those without a useful prefix are taken least recently used first, so the freshest
prefixes survive longest.
The reused count is the job's `cached_tokens`. A job whose prompt shares a longer prefix
with a job still decoding its prompt than with anything reusable now waits until that prefix
is decoded and copies it (requests over one document arriving together decode it once).

Whole prompts. A job keeps the logits of its prompt's last token once its KV is complete
(`Job.last_logits`), and so does the slot it leaves (`_Kept.logits`): they are the numbers
any exact decode of that prompt gives. A job with exactly that prompt (a retry, a repeated
question, a load test) reuses all of it, decodes nothing, and draws each candidate's first
token from a copy of the kept row (`Sampler.sample_logits`: the same draws as from the
context's row). Identical prompts arriving together: one decodes, the others wait and copy
its KV and logits. Slots are chosen so that such prompts survive: a new job never takes a
free slot whose kept prefix is the best one some other waiting job has (`_wanted_slots`:
requests arriving together over prompts seen before each find theirs), and a job that
shares only part of a slot's whole prompt copies that part into an empty slot, when there
is one, rather than cutting the whole prompt short.

Shared answers (on unless `share_answers=False`). A job whose answer is deterministic
(greedy, or sampled with a request seed) and identical to a job still running or waiting
(same prompt, scope, sampling parameters, limits, stops and thinking plan) decodes nothing:
it follows that job, gets what it emitted so far at once and the rest as it comes (a retry
of a request still running, a load test, clients asking the same thing). Its usage counts
the whole prompt as cached. The answer is the one it would have got alone: without flash
attention a sequence's numbers do not depend on its batch (above). A followed job whose own
client left goes on while a follower listens.

Saved states (engine/saved_states.py, `--cache-ram`): when a job takes a slot whose kept
prefix would be lost, the slot's state is first copied to host memory; a later job whose
prompt shares a longer prefix with a saved state than with any slot restores it into its
first slot. A job that names a pin (a cachedContents resource) saves its prompt's state
under that name when it ends, unless the name holds one already, so the cache's KV
survives any traffic until the cache is unpinned.
"""

from __future__ import annotations

import collections
import ctypes
import enum
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import llama_cpp
import numpy as np

from vertexcompat.domain.errors import Internal, ResourceExhausted
from vertexcompat.domain.events import FinishReason, StreamEvent, Usage
from vertexcompat.engine.batch import decode_rows
from vertexcompat.engine.candidate import ANSWER, NEXT, CandidateDecoder
from vertexcompat.engine.saved_states import SavedState, SavedStates, common_prefix
from vertexcompat.engine.sampling import Sampler, SamplingParams
from vertexcompat.engine.draft_model import DraftModel, ModelDrafter
from vertexcompat.engine.speculation import Drafter, NgramDrafter
from vertexcompat.engine.thinking import ThinkingPlan

log = logging.getLogger(__name__)

# Fewer rows of one sequence than this in a call take llama.cpp's other kernel paths
# (module docstring); prompts are decoded in chunks of at least this many tokens.
EXACT_ROWS = 8
EXACT_ROWS_FLASH = 64  # the same with flash attention on
# A prefix is copied from a running job's slot (a whole KV stream) only when that saves
# decoding at least this many more tokens than the best free slot does.
MIN_COPY_GAIN = 64
# A free slot's prefix shorter than this is not copied to a better placed slot (a copy
# moves the whole KV stream, a few ms; decoding that many tokens costs about as much).
MIN_MOVE = 32
# Prompts that end in the same step are decoded in one call (one pass over the weights)
# when the rows padding them to one length (`_chunk_groups`) stay within this many per call
# saved. Measured on the default model, 2 threads: a prompt row costs ~5 ms, and one call
# instead of several saves 25-55 ms per call (8 x 40 tokens: 1.74 s in eight calls, 1.49 s
# in one; 30..51 tokens padded by 12 rows a call saved: 1.78 -> 1.64 s; 4 x 10: 386 -> 224
# ms), while 20 padded rows a call saved cost more than they save.
PAD_ROWS = 10
# An idle scheduler that gets a job waits until no other has come for `BURST_GAP` seconds
# (at most `BURST_WAIT` in all), so that requests sent together (a client's burst arrives
# over a few ms: 3.4 ms between the first and the second of four, measured) are admitted
# in the same step and their prompts decoded in one call, rather than the first alone and
# the others a whole prompt later. A request alone waits BURST_GAP: 1% of its prefill.
BURST_GAP = 0.002
BURST_WAIT = 0.008

# What a job's sink receives: domain events, an exception (generation failed), or None (done).
Sink = Callable[[StreamEvent | BaseException | None], None]
# Told, on the scheduler thread, how many seconds each job waited before it got its slots.
QueueTimeReport = Callable[[float], None]


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
    # Drafts (engine/speculation.py, engine/draft_model.py); None: it does not speculate.
    drafter: Drafter | None = None


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
    # Prefix reuse never crosses scopes (the request's project); None is a scope too.
    cache_scope: str | None = None
    phase: Phase = Phase.WAITING
    prefilled: int = 0
    # Prompt tokens whose KV was reused from a slot instead of decoded.
    cached: int = 0
    # A name (a cachedContents resource) under which the prompt's state is saved when the
    # job ends, unless that name holds one already.
    pin: str | None = None
    candidates: list[Sequence] = field(default_factory=list)
    # When it was submitted (`time.monotonic()`), for its queue time.
    submitted: float = field(default_factory=time.monotonic)
    # Whether its candidates may verify prompt-lookup drafts (when the engine drafts).
    speculate: bool = True
    # The logits of the prompt's last position once its KV is complete (decoded in exact
    # chunks, or reused whole): a later job with the same prompt samples from a copy
    # instead of decoding anything (`_Kept.logits`). None: not kept (no prefix cache).
    last_logits: np.ndarray | None = None
    # Shared answers (module docstring): what this job emitted so far, kept while it runs
    # when its answer is deterministic and may be shared (None: it is not shared); the
    # identical jobs answered from it, and for such a follower, the job it follows.
    emitted: list[StreamEvent | BaseException | None] | None = field(default=None, repr=False)
    followers: list[Job] = field(default_factory=list, repr=False)
    leader: Job | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def cancel(self) -> None:
        self.cancelled = True

    @property
    def abandoned(self) -> bool:
        """Cancelled, and nobody follows it any more: its work can stop."""
        return self.cancelled and all(f.cancelled for f in self.followers)

    def answer_key(self) -> tuple[object, ...]:
        """Everything its events depend on besides the prompt."""
        return (self.n, self.params, self.max_tokens, self.stop, self.thinking,
                self.cache_scope, self.pin, self.speculate)

    def emit(self, item: StreamEvent | BaseException | None) -> None:
        """Hand an event (an exception: failed; None: done) to the job's sink and to its
        followers' (a follower's usage counts the whole prompt as cached)."""
        if self.emitted is None:
            self.sink(item)
            return
        with self._lock:
            self.emitted.append(item)
            followers = tuple(self.followers) if self.followers else ()
        if not self.cancelled:
            self.sink(item)
        for f in followers:
            if not f.cancelled:
                f.sink(_followed(item))

    def closed(self) -> bool:
        """Whether its last event (None or an exception) was emitted (a shared job; caller
        holds its lock)."""
        last = self.emitted[-1] if self.emitted else False
        return last is None or isinstance(last, BaseException)

    def follow(self, leader: Job) -> bool:
        """Attach to `leader`, an identical job still running: replay what it emitted so
        far to this job's sink, then receive the rest as it comes. False: it is over."""
        with leader._lock:
            if leader.closed():
                return False
            for item in leader.emitted or ():
                self.sink(_followed(item))
            leader.followers.append(self)
        self.leader = leader
        return True


class _Reuse(NamedTuple):
    """Where a job's prompt prefix comes from (`Scheduler._reuse_source`): at most one of
    a free slot that kept it, a running job's slot to copy it from, a saved state."""

    length: int = 0
    slot: int | None = None
    copy_from: int | None = None
    restore: SavedState | None = None
    # The last logits of the prompt when `length` is all of it.
    logits: np.ndarray | None = None


@dataclass(slots=True)
class _Kept:
    """What a free slot's KV holds that may be reused: the KV of `tokens` at positions
    0..len-1, decoded in exact chunks, for jobs of `scope`."""

    scope: str | None
    tokens: list[int]
    last_used: int
    # The logits of the last of `tokens` when they are a whole prompt (`Job.last_logits`):
    # a job with exactly that prompt reuses all of it and decodes nothing.
    logits: np.ndarray | None = None

    def whole(self, prompt: list[int]) -> bool:
        """Whether the slot serves all of `prompt`, last logits included."""
        return self.logits is not None and self.tokens == prompt


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
        prefix_cache: bool = True,
        exact_rows: int = EXACT_ROWS,
        saved: SavedStates | None = None,
        on_admit: QueueTimeReport | None = None,
        draft_max: int = 0,
        draft_model: DraftModel | None = None,
        share_answers: bool = True,
    ) -> None:
        """`on_admit`: told each job's queue time as it gets its slots (metrics).
        `draft_max`: longest draft a decoding sequence verifies per step (speculative
        decoding, `_verify`); 0: none. The drafts come from `draft_model` when given,
        else from the sequence's own n-grams (prompt lookup). `share_answers`: a job
        identical to a running one with a deterministic answer follows it (module
        docstring) instead of decoding the same tokens."""
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
        # With a batch too small for two exact chunks beside the decoding rows, chunks take
        # what fits (answers may then depend on the batch, and nothing is reused).
        self._exact = exact_rows if batch_size >= 2 * exact_rows + parallel else 0
        self._prefix_cache = prefix_cache and self._exact > 0
        self._kept: dict[int, _Kept] = {}  # free slot -> what its KV holds
        # Host-memory copies of prefixes whose slots were reused (none: not kept).
        self._saved = saved if saved is not None and saved.enabled and self._prefix_cache \
            else None
        self._clock = 0
        self._on_admit = on_admit
        self._pending: collections.deque[Job] = collections.deque()
        self._last_submit = 0.0  # time.monotonic() of the last submission
        self._active: list[Job] = []
        self._cv = threading.Condition()
        self._stopping = False
        self._batch = llama_cpp.llama_batch_init(batch_size, 0, 1)
        # Every sequence's draft fits in one batch beside the others' rows, so whether a
        # sequence speculates never depends on its neighbours.
        self._draft_max = max(0, min(draft_max, batch_size // parallel - 1))
        self._draft_model = draft_model
        # Whether the set of decoding sequences changed since `_compact` last looked.
        self._reshaped = False
        self._drafted = 0  # draft tokens fed for verification, and those kept
        self._accepted = 0
        self._share = share_answers
        self._shared = 0  # jobs answered by following an identical one
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
            shared = self._share and job.params.reproducible
            if shared and self._follow(job):
                return
            waiting = self._waiting()
            if waiting >= self._max_queue:
                raise ResourceExhausted(
                    f"The server is busy: {waiting} requests are already waiting. "
                    "Retry later.",
                    retry_after_s=2,
                )
            if shared:
                job.emitted = []
            self._pending.append(job)
            self._last_submit = time.monotonic()
            self._cv.notify()

    def _follow(self, job: Job) -> bool:
        """Attach a job with a deterministic answer to a running or waiting identical one
        (caller holds _cv, so the leader is not reaped meanwhile); False: none."""
        key = job.answer_key()
        for leader in [*self._active, *self._pending]:
            if (leader.emitted is not None and not leader.abandoned
                    and leader.answer_key() == key and leader.prompt == job.prompt
                    and job.follow(leader)):
                self._shared += 1
                if self._on_admit is not None:
                    self._on_admit(time.monotonic() - job.submitted)
                return True
        return False

    def cancel(self, job: Job) -> None:
        with self._cv:
            job.cancel()
            self._cv.notify()

    def end_candidate(self, job: Job, candidate: int) -> None:
        """Finish one candidate of `job` (of the job it follows) with STOP at the next step."""
        with self._cv:
            (job.leader or job).ended.add(candidate)
            self._cv.notify()

    def stats(self) -> dict[str, int]:
        """A snapshot for /readyz, metrics and tests: requests being answered and waiting
        for KV slots (a job's followers with it), busy slots; `kv_cells_used` of
        `kv_cells`: the KV positions the running jobs' sequences hold (prompt decoded so
        far plus tokens generated), of every slot's context. What
        free slots keep for prefix reuse is not counted as used (`kept_prefix_tokens`): a
        new job takes such a slot at once, as vLLM counts its cached free blocks."""
        with self._cv:
            return {
                "active_requests": sum(map(_requests, list(self._active))),
                "busy_slots": self._parallel - len(self._free_slots),
                "queued_requests": sum(map(_requests, self._waiting_jobs())),
                "kv_cells_used": sum(map(_cells_held, list(self._active))),
                "kv_cells": self._parallel * self._ctx_per_seq,
                "kept_prefix_tokens": sum(len(k.tokens) for k in self._kept.values()),
                "draft_tokens": self._drafted,
                "accepted_draft_tokens": self._accepted,
                "shared_answers": self._shared,
                **(self._saved.stats() if self._saved is not None else {}),
            }

    def unpin(self, name: str) -> None:
        """Release the saved state pinned under `name` to ordinary LRU eviction."""
        if self._saved is not None:
            self._saved.unpin(name)

    def _waiting(self) -> int:
        """Pending jobs that would still wait after the next admission (caller holds _cv):
        a job the scheduler thread simply has not picked up yet does not count."""
        return len(self._waiting_jobs())

    def _waiting_jobs(self) -> list[Job]:
        """The jobs `_waiting` counts, in queue order (caller holds _cv)."""
        free = len(self._free_slots)
        waiting: list[Job] = []
        for job in self._pending:
            if job.abandoned:
                continue
            if not waiting and job.n <= free:
                free -= job.n
            else:
                waiting.append(job)
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
                    if not self._active:
                        self._gather_burst()
                    self._reap_cancelled()
                    self._admit()
                if self._active:
                    self._step()
            except Exception as exc:  # a bug in the engine: fail the jobs, keep serving
                log.exception("scheduler step failed")
                for job in list(self._active):
                    self._fail(job, Internal(f"generation failed: {type(exc).__name__}"))
        for job in list(self._active) + list(self._pending):
            job.emit(None)

    def _gather_burst(self) -> None:
        """Idle until a job came: wait (caller holds _cv) until `BURST_GAP` passed since the
        last submission, at most `BURST_WAIT`, or until the jobs waiting fill the slots."""
        deadline = time.monotonic() + BURST_WAIT
        while not self._stopping and self._pending:
            if sum(job.n for job in self._pending) >= len(self._free_slots):
                return
            wait = min(self._last_submit + BURST_GAP, deadline) - time.monotonic()
            if wait <= 0:
                return
            self._cv.wait(wait)

    def _reap_cancelled(self) -> None:
        self._pending = collections.deque(j for j in self._pending if not j.abandoned)
        for job in [j for j in self._active if j.abandoned]:
            self._release(job)

    # -- admission: slots and prefill ------------------------------------------------------

    def _admit(self) -> None:
        waiting: list[Job] = []  # for a prefix another job is decoding right now
        while self._pending and len(self._free_slots) >= self._pending[0].n:
            job = self._pending.popleft()
            if self._prefix_cache and self._prefix_in_progress(job):
                waiting.append(job)
                continue
            if self._on_admit is not None:
                self._on_admit(time.monotonic() - job.submitted)
            # Active before its samplers exist, so a failure below releases its slots.
            self._active.append(job)
            job.phase = Phase.PREFILL
            context_room = self._ctx_per_seq - len(job.prompt)
            slots, reuse = self._take_slots(job)
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
                    i, job.emit, stop=job.stop, max_tokens=job.max_tokens,
                    context_room=context_room, thinking=job.thinking,
                )
                drafter = self._drafter(job, seq_id, job.candidates[0].drafter
                                        if job.candidates else None)
                job.candidates.append(Sequence(i, seq_id, sampler, decoder, drafter=drafter))
            self._prefill_from(job, reuse)
        self._pending.extendleft(reversed(waiting))

    def _drafter(self, job: Job, seq_id: int, first: Drafter | None) -> Drafter | None:
        """What drafts for a new sequence of the job on slot `seq_id` (`first`: the job's
        first sequence's, whose prompt index the others copy); None: no drafts."""
        if not self._draft_max or not job.speculate:
            return None
        if self._draft_model is not None:
            return ModelDrafter(self._draft_model, seq_id, job.prompt, max_draft=self._draft_max)
        if isinstance(first, NgramDrafter):
            return first.fork()
        return NgramDrafter(job.prompt, max_draft=self._draft_max)

    def _prefix_in_progress(self, job: Job) -> bool:
        """Whether a job being prefilled will soon hold a longer prefix of this job's prompt
        (by `MIN_COPY_GAIN` tokens) than anything reusable now: the job then waits until
        that prefix is decoded and copies it, instead of decoding the same tokens beside
        it (requests over one document arriving together). Others are admitted past it."""
        cap = len(job.prompt) - self._exact
        reusable_now: int | None = None
        for other in self._active:
            if other.phase is not Phase.PREFILL or other.cache_scope != job.cache_scope:
                continue
            if self._same_prompt(other, job):
                # The same prompt: all of it is reusable once the other's is complete.
                if other.last_logits is not None:
                    continue  # complete already (reused whole): copied now
                if reusable_now is None:
                    reusable_now = self._reuse_source(job).length
                if reusable_now < len(job.prompt):
                    return True
                continue
            shared = min(common_prefix(other.prompt, job.prompt), cap)
            if other.prefilled >= shared or shared < MIN_COPY_GAIN:
                continue
            if reusable_now is None:
                reusable_now = self._reuse_source(job).length
            if shared >= reusable_now + MIN_COPY_GAIN:
                return True
        return False

    def _same_prompt(self, other: Job, job: Job) -> bool:
        """Whether `other`'s prompt KV, once complete, can serve `job` whole (with its last
        logits: prefix cache on, a prompt of at least one exact chunk)."""
        return self._prefix_cache and len(job.prompt) >= self._exact and other.prompt == job.prompt

    def _take_slots(self, job: Job) -> tuple[list[int], int]:
        """The KV slots (sequence ids) of the job's candidates, first candidate first, and
        how many prompt tokens the first one already holds. Called with enough free slots.

        Which prefix the first candidate reuses is `_reuse_source`'s choice; where the job
        runs is chosen here to keep the running sequences on consecutive ids (`_placement`):
        llama.cpp decodes consecutive, ascending sequences in one micro-batch and splits
        every gap into another pass over the weights (`_decode_rows`). When the slot that
        kept the best prefix would open a gap, that prefix is copied into the chosen slot
        instead (a KV stream copy, a few ms; the source slot keeps it too). Among equally
        placed slots, empty ones go first, then the least recently used, so the prefixes
        most recently used stay longest; before all that, a slot another waiting job would
        reuse most is not taken (`_wanted_slots`), and a slot keeping a whole prompt (with
        its last logits) has the shared part copied into an empty one rather than being cut
        short. What a taken slot kept is forgotten (copied to
        host memory first when worth it, `_save`): `_prefill_from` drops the first slot's
        KV past the reused prefix and empties the others (the prompt is copied into them
        once it is decoded).
        """
        free = self._free_slots
        reuse, best, copy_from, restore, logits = self._reuse_source(job)
        whole = reuse == len(job.prompt)  # nothing to decode: a copy is always worth it
        busy = set(range(self._parallel)).difference(free)
        wanted = self._wanted_slots(job)
        slots: list[int] = []
        held = self._kept.get(best) if best is not None else None
        empty = [s for s in free if s not in self._kept]
        if held is not None and held.logits is not None and empty \
                and MIN_MOVE <= reuse < len(held.tokens):
            # The slot keeps a whole prompt, which a repeat reuses without decoding
            # anything: its shared prefix is copied into an empty slot instead.
            copy_from, best = best, None
            place = self._placement(busy, empty, wanted)
            assert place is not None
            slots.append(place)
            busy.add(place)
        if best is not None:
            place = self._placement(busy, [s for s in free if s != best], wanted)
            lost = len(self._kept[best].tokens) - reuse
            if place is None or place in wanted or (
                    _gaps_added(busy, best) <= _gaps_added(busy, place)
                    and lost < MIN_COPY_GAIN):
                slots.append(best)  # placed as well as any, and little of it is lost
                busy.add(best)
            elif reuse >= MIN_MOVE or whole:
                copy_from, best = best, None  # the prefix is copied to a better slot
            else:  # too short to be worth a copy: whatever the placed slot holds
                best, reuse = None, 0
        while len(slots) < job.n:
            place = self._placement(
                busy, [s for s in free if s not in slots and s != copy_from], wanted)
            if place is None:  # only the copy source is left: run there, no copy needed
                best, copy_from, place = copy_from, None, copy_from
                slots.insert(0, place)
            else:
                slots.append(place)
            busy.add(place)
        if best is None and copy_from is None and restore is None:
            reuse = self._kept_prefix(slots[0], job)
            best = slots[0] if reuse else None
            logits = self._kept[best].logits if best is not None else None
        if reuse == len(job.prompt):  # reused whole: its last logits come along
            job.last_logits = logits
        for slot in slots:
            self._claim(slot, reuse if slot == best else 0)
        if copy_from is not None:
            # The whole KV stream is copied (llama.cpp copies streams whole);
            # `_prefill_from` then drops what lies past the shared prefix.
            llama_cpp.llama_memory_seq_rm(self._mem, slots[0], -1, -1)
            llama_cpp.llama_memory_seq_cp(self._mem, copy_from, slots[0], -1, -1)
        if restore is not None and not self._restore(slots[0], restore):
            reuse, job.last_logits = 0, None
        job.cached = reuse
        return slots, reuse

    def _placement(self, busy: set[int], options: list[int], wanted: set[int]) -> int | None:
        """The best of `options` (free slots) for a new sequence beside the `busy` ones:
        not a slot whose kept prefix is the best one for another waiting job (`wanted`:
        jobs arriving together over prompts seen before each find theirs), then fewest gaps
        added (a slot filling a hole between running ids first, then one next to them),
        then an empty slot, then the least recently used kept prefix, then the lowest id.
        None when there are no options."""
        if not options:
            return None
        kept = self._kept

        def key(slot: int) -> tuple[bool, int, int, int]:
            held = kept.get(slot)
            return (slot in wanted, _gaps_added(busy, slot),
                    -1 if held is None else held.last_used, slot)

        return min(options, key=key)

    def _wanted_slots(self, job: Job) -> set[int]:
        """The free slots whose kept prefix is, for some other waiting job, longer than
        any other free slot's: taking one for `job` would cost that job a decode."""
        if not self._prefix_cache or not self._kept:
            return set()
        free = self._free_slots
        wanted: set[int] = set()
        for other in list(self._pending)[: 2 * self._parallel]:
            if other is job or other.abandoned:
                continue
            lengths = sorted(((self._kept_prefix(slot, other), slot) for slot in free),
                             reverse=True)
            if lengths and lengths[0][0] > (lengths[1][0] if len(lengths) > 1 else 0):
                wanted.add(lengths[0][1])
        return wanted

    def _reuse_source(self, job: Job) -> _Reuse:
        """Where the job's first slot gets the longest reusable prefix of its prompt, and
        its length: a free slot that kept it, a running job's slot to copy it from, or a
        state saved in host memory (at most one of the three; none: nothing). All of the
        prompt only from a source that holds exactly it with its last logits (`logits`)."""
        if not self._prefix_cache:
            return _Reuse()
        whole = len(job.prompt)
        # At least one exact chunk is decoded otherwise: it ends with the last prompt
        # token, whose logits each candidate's first sample reads.
        cap = whole - self._exact
        reuse, best = 0, None
        for slot in self._free_slots:
            length = self._kept_prefix(slot, job)
            if length > reuse or (length == reuse and length and best is not None
                                  and self._kept[slot].last_used > self._kept[best].last_used):
                reuse, best = length, slot
        found = _Reuse(reuse, best, logits=self._kept[best].logits if reuse == whole else None)
        for other in self._active:  # a running job's prompt, copied when worth it
            if found.length == whole:
                break
            if other is job or other.cache_scope != job.cache_scope or not other.candidates:
                continue
            seq_id = other.candidates[0].seq_id
            if other.last_logits is not None and self._same_prompt(other, job):
                # All of it, with its last logits: nothing left to decode, worth a copy.
                found = _Reuse(whole, copy_from=seq_id, logits=other.last_logits)
                continue
            length = min(common_prefix(self._held(other, other.candidates[0]), job.prompt), cap)
            if length >= found.length + MIN_COPY_GAIN:
                found = _Reuse(length, copy_from=seq_id)
        if self._saved is not None and found.length < whole:  # host memory, restored
            state, length = self._saved.best(job.cache_scope, job.prompt)
            if state is not None and state.whole(job.prompt):
                found = _Reuse(whole, restore=state, logits=state.logits)
            elif state is not None and min(length, cap) >= found.length + MIN_COPY_GAIN:
                found = _Reuse(min(length, cap), restore=state)
        return found

    def _kept_prefix(self, slot: int, job: Job) -> int:
        """How many of the job's prompt tokens the free slot's kept KV can give it: the
        shared prefix, in the job's scope, leaving at least one exact chunk to decode (it
        ends with the last prompt token, whose logits each candidate's first sample reads)
        — or all of them when the slot kept exactly this prompt with its last logits."""
        kept = self._kept.get(slot)
        if kept is None or kept.scope != job.cache_scope or not self._prefix_cache:
            return 0
        if kept.whole(job.prompt):
            return len(job.prompt)
        return max(0, min(common_prefix(kept.tokens, job.prompt), len(job.prompt) - self._exact))

    def _save(self, slot: int, kept: _Kept, reused: int) -> None:
        """Copy the state of the prefix a taken slot kept to host memory, unless the job
        reuses nearly all of it or a saved state covers it already. A whole prompt (kept
        with its last logits) is saved with them unless the job reuses all of it: a repeat
        restores it and decodes nothing."""
        saved = self._saved
        if saved is None or len(kept.tokens) - reused < (
                1 if kept.logits is not None else MIN_COPY_GAIN) \
                or saved.covers(kept.scope, kept.tokens):
            return
        data = self._state_of(slot, len(kept.tokens))
        if data is not None:
            saved.put(kept.scope, kept.tokens, data, logits=kept.logits)

    def _state_of(self, slot: int, length: int) -> ctypes.Array[ctypes.c_uint8] | None:
        """The slot's state (its KV) cut to its first `length` positions: what comes after
        (generated tokens, decoded one row at a time) is dropped from the slot first."""
        llama_cpp.llama_memory_seq_rm(self._mem, slot, length, -1)
        size = llama_cpp.llama_state_seq_get_size(self._ctx, slot)
        buf = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(self._ctx, buf, size, slot)
        if written == 0:
            log.warning("could not save the state of slot %d (%d tokens)", slot, length)
            return None
        return buf if written == size else (ctypes.c_uint8 * written).from_buffer_copy(buf)

    def _restore(self, slot: int, state: SavedState) -> bool:
        """Load a saved state into an empty slot; False (and an empty slot) on failure."""
        llama_cpp.llama_memory_seq_rm(self._mem, slot, -1, -1)
        data = state.data
        if llama_cpp.llama_state_seq_set_data(self._ctx, data, len(data), slot) == 0:
            log.warning("could not restore a saved state of %d tokens", len(state.tokens))
            llama_cpp.llama_memory_seq_rm(self._mem, slot, -1, -1)
            return False
        assert self._saved is not None
        self._saved.touch(state)
        return True

    def _prefill_from(self, job: Job, position: int) -> None:
        """Decode the job's prompt from `position` on, in chunks that share the batch with
        decoding sequences (`_step`). The first candidate's slot must already hold the
        prompt's KV for positions [0, position) (`_take_slots`); anything it holds past
        them is dropped here, and the other candidates' slots are emptied (the prompt is
        copied into them whole once it is decoded). A prompt reused whole (`position` its
        length, its last logits kept) starts decoding at the next step without a decode."""
        whole = position == len(job.prompt) and job.last_logits is not None
        if not 0 <= position < len(job.prompt) and not whole:
            raise ValueError(f"cannot prefill a {len(job.prompt)}-token prompt from {position}")
        llama_cpp.llama_memory_seq_rm(self._mem, job.candidates[0].seq_id, position, -1)
        for cand in job.candidates[1:]:
            llama_cpp.llama_memory_seq_rm(self._mem, cand.seq_id, -1, -1)
        job.prefilled = position

    # -- one step: one batch ---------------------------------------------------------------

    def _step(self) -> None:
        """One step: the next token of every decoding sequence, then prompt chunks in the
        room left. Each decode call holds either one row of each of several sequences or
        the rows of one sequence: llama.cpp splits a batch whose sequences have unequal row
        counts into pieces that depend on the neighbours, and a sequence's numbers then
        depend on them too. One call per shape keeps every sequence's rows together."""
        for job in self._active:  # prompts reused whole: their first tokens, fed now
            if job.phase is Phase.PREFILL and job.prefilled == len(job.prompt):
                self._start_decoding(job, None)
        if self._reshaped:  # a job ended or began decoding since the last step
            self._reshaped = False
            self._compact()
        single: list[Sequence] = []  # one row each: the last sampled token
        forced: list[Sequence] = []  # the last sampled token and a forced marker
        drafted: list[tuple[Sequence, list[int]]] = []  # the last token and a draft
        room = self._batch_size
        for job in self._active:
            if job.phase is not Phase.DECODE:
                continue
            ended = job.ended
            for cand in job.candidates:
                if ended and not cand.finished and cand.index in ended:
                    cand.decoder.finish(FinishReason.STOP)
                    cand.finished = True
                if cand.finished:
                    continue
                if cand.forced:
                    forced.append(cand)
                    room -= 1 + len(cand.forced)
                    continue
                draft = self._draft(cand)
                if draft:
                    drafted.append((cand, draft))
                    room -= 1 + len(draft)
                else:
                    single.append(cand)
                    room -= 1
        chunks: list[tuple[Job, int]] = []
        for job in self._active:
            if job.phase is not Phase.PREFILL or room <= 0:
                continue
            take = self._chunk(room, len(job.prompt) - job.prefilled)
            if take:
                chunks.append((job, take))
                room -= take

        if single:
            self._decode_rows(single)
        for cand in forced:
            self._decode_rows([cand])
        for cand, draft in drafted:
            self._verify(cand, draft)
        for group in self._chunk_groups(chunks):
            self._decode_chunks(group)
        self._release_finished()

    def _compact(self) -> None:
        """Close gaps between the decoding sequences' slot ids (a job that ended left one,
        and no new job filled it): move a sequence's KV into a free slot where the ids
        then form fewer runs — each run is one micro-batch, one pass over the weights per
        step (`_decode_rows`). A move is a KV stream copy (a few ms, bit-exact: the answer
        does not change); the slot left keeps the sequence's prompt for reuse, like a
        released one. What the free slot kept is saved to host memory first when worth it."""
        decoding = {c.seq_id: (job, c) for job in self._active if job.phase is Phase.DECODE
                    for c in job.candidates if not c.finished}
        free = self._free_slots
        while free and _runs(decoding.keys()) > 1:
            ids = set(decoding)
            runs = _runs(ids)
            moves = [(_runs(ids - {src} | {dst}), decoding[src][1].n_past, src, dst)
                     for src in ids for dst in free]
            after, _, src, dst = min(moves)
            if after >= runs:
                return
            job, cand = decoding.pop(src)
            self._claim(dst, 0)
            llama_cpp.llama_memory_seq_rm(self._mem, dst, -1, -1)
            llama_cpp.llama_memory_seq_cp(self._mem, src, dst, -1, -1)
            self._vacate(src, job, cand, keep=True)
            cand.seq_id = dst
            if cand.drafter is not None:
                cand.drafter.moved(src, dst)
            decoding[dst] = (job, cand)

    def _decode(self, rows: list[tuple[int, int, int, bool]]) -> None:
        """One llama_decode of (token, position, sequence, wants logits) rows."""
        decode_rows(self._ctx, self._batch, rows)

    def _decode_rows(self, cands: list[Sequence]) -> None:
        """Feed each candidate's last sampled token (and forced marker: only the last
        position's logits are needed), then sample each one's next token, in `cands`'
        order (the order their events go out in).

        The rows go in ascending sequence ids: llama.cpp puts consecutive, ascending
        sequences (one KV stream each) into one micro-batch and splits the others into one
        micro-batch per sequence, one pass over the weights per row (measured: 4 streams
        146 ms a step in the order they came, 86 ms sorted, on the default model)."""
        rows: list[tuple[int, int, int, bool]] = []
        ends: dict[int, int] = {}
        for cand in sorted(cands, key=lambda c: c.seq_id):
            feed = (cand.last_token, *cand.forced)
            rows.extend(
                (token, cand.n_past + k, cand.seq_id, k == len(feed) - 1)
                for k, token in enumerate(feed)
            )
            ends[cand.seq_id] = len(rows) - 1
        self._decode(rows)
        for cand in cands:
            cand.n_past += 1 + len(cand.forced)
            cand.forced = ()
            banned = self._opening_ban() if cand.decoder.answer_opening else None
            self._advance(cand, cand.sampler.sample(self._ctx, ends[cand.seq_id],
                                                    banned=banned))

    def _draft(self, cand: Sequence) -> list[int]:
        """The candidate's draft for this step, cut to its context and to the tokens it
        may still sample (a draft kept whole is followed by one more); [] for none."""
        if cand.drafter is None:
            return []
        draft = cand.drafter.draft()
        room = min(self._ctx_per_seq - cand.n_past - 1,  # positions after the last token's
                   cand.decoder.room - 1)
        return draft[:room] if room > 0 else []

    def _verify(self, cand: Sequence, draft: list[int]) -> None:
        """Speculative decoding: feed the last sampled token and a draft of the tokens
        expected after it in one call (the rows of one sequence), then sample each
        position in turn with the candidate's sampler. A drafted token is kept while it is
        the token the sampler drew at the position before it; the first draw that differs
        from the draft (or follows the whole draft) is the candidate's next token, fed
        with the next step. So every emitted token was drawn by the candidate's own
        sampler from the logits of the tokens before it: the output follows the same
        distribution, and with a seed the same draws, as without a draft. The KV of the
        rejected rows is dropped.

        These rows are computed by llama.cpp's kernels for several rows of one sequence,
        a single token by its one-row kernels; the two differ in the last digits of the
        logits (docs/speculative.md), so a greedy answer may differ from a plain decode's
        where two tokens are nearly tied."""
        base = cand.n_past
        feed = [cand.last_token, *draft]
        self._decode([(token, base + k, cand.seq_id, True) for k, token in enumerate(feed)])
        kept = 0
        for k in range(len(feed)):
            banned = self._opening_ban() if cand.decoder.answer_opening else None
            token = cand.sampler.sample(self._ctx, k, banned=banned)
            cand.n_past = base + k + 1  # the rows up to k hold fed tokens' KV
            self._advance(cand, token)
            if (cand.finished or cand.forced or cand.last_token != token
                    or k == len(draft) or token != draft[k]):
                break
            kept += 1  # row k + 1 fed exactly this token: its logits are the next ones
        self._drafted += len(draft)
        self._accepted += kept
        assert cand.drafter is not None
        cand.drafter.judged(len(draft), kept)
        llama_cpp.llama_memory_seq_rm(self._mem, cand.seq_id, cand.n_past, -1)

    def _chunk_groups(self, chunks: list[tuple[Job, int]]) -> list[list[tuple[Job, int]]]:
        """The step's prompt chunks as decode calls. Chunks that end their prompts, in
        consecutive slots, share one call (llama.cpp then decodes them in one micro-batch,
        one pass over the weights) when padding them to the longest one's length costs at
        most `PAD_ROWS` rows per call saved; every other chunk is a call of its own.

        One call must hold the same number of rows of each sequence: llama.cpp splits a
        batch of unequal sequences into pieces whose size depends on the neighbours (and
        a piece under `EXACT_ROWS` rows changes the numbers). So a shorter prompt's chunk
        is padded with rows past its end (`_decode_chunks` drops their KV). Its own rows are
        still decoded in one chunk of at least `EXACT_ROWS` rows, which attention keeps
        from seeing the later rows: its KV and logits are bit-identical to a call of its
        own."""
        def groupable(job: Job, take: int) -> bool:
            return (self._exact > 0 and take >= self._exact
                    and job.prefilled + take == len(job.prompt))

        calls = [[c] for c in chunks if not groupable(*c)]
        group: list[tuple[Job, int]] = []
        for chunk in sorted((c for c in chunks if groupable(*c)),
                            key=lambda c: c[0].candidates[0].seq_id):
            joined = [*group, chunk]
            length = max(take for _, take in joined)
            if (group and chunk[0].candidates[0].seq_id == group[-1][0].candidates[0].seq_id + 1
                    and length * len(joined) <= self._batch_size
                    and all(job.prefilled + length <= self._ctx_per_seq for job, _ in joined)
                    and sum(length - take for _, take in joined) <= PAD_ROWS * len(group)):
                group = joined
                continue
            if group:
                calls.append(group)
            group = [chunk]
        if group:
            calls.append(group)
        return calls

    def _decode_chunks(self, group: list[tuple[Job, int]]) -> None:
        """Decode the next prompt tokens of each job in `group` (ascending slots; see
        `_chunk_groups`) into its first candidate's slot in one call, every chunk padded to
        the longest with copies of its last token; the padding's KV is then dropped. A
        job whose prompt is complete starts decoding."""
        if len(group) == 1:
            self._decode_chunk(*group[0])
            return
        length = max(take for _, take in group)
        rows: list[tuple[int, int, int, bool]] = []
        ends: list[int] = []
        for job, take in group:
            seq0 = job.candidates[0].seq_id
            last = len(job.prompt) - 1
            for pos in range(job.prefilled, job.prefilled + length):
                rows.append((job.prompt[min(pos, last)], pos, seq0, pos == last))
            ends.append(len(rows) - length + take - 1)
        self._decode(rows)
        for (job, take), end in zip(group, ends):
            if take < length:
                llama_cpp.llama_memory_seq_rm(self._mem, job.candidates[0].seq_id,
                                              len(job.prompt), -1)
            job.prefilled = len(job.prompt)
            self._start_decoding(job, end)

    def _decode_chunk(self, job: Job, take: int) -> None:
        """Decode the next `take` prompt tokens into the first candidate's slot; at the end
        of the prompt, start decoding."""
        seq0 = job.candidates[0].seq_id
        start, end = job.prefilled, job.prefilled + take
        last = len(job.prompt) - 1
        self._decode([(job.prompt[pos], pos, seq0, pos == last) for pos in range(start, end)])
        job.prefilled = end
        if end == len(job.prompt):
            self._start_decoding(job, take - 1)

    def _chunk(self, room: int, remaining: int) -> int:
        """How many prompt tokens to decode now: all that remain if they fit, else a chunk
        that leaves at least an exact chunk for later; none when the room is too small for
        an exact chunk (the prompt waits for the next step)."""
        if remaining <= room:
            return remaining
        take = min(room, remaining - self._exact)
        return take if take >= self._exact else 0

    def _start_decoding(self, job: Job, idx: int | None) -> None:
        """The prompt is in the first candidate's slot and the batch row `idx` holds its
        last logits (None: reused whole, `job.last_logits` holds them): share the KV with
        the other candidates and sample every candidate's first token. With the prefix
        cache on, the logits are kept for a later job with the same prompt."""
        if idx is not None and self._prefix_cache and len(job.prompt) >= self._exact:
            job.last_logits = np.ctypeslib.as_array(
                llama_cpp.llama_get_logits_ith(self._ctx, idx), shape=(self._n_vocab,)
            ).copy()
        seq0 = job.candidates[0].seq_id
        for cand in job.candidates[1:]:
            # Copied into the candidate's own KV stream before the next decode runs.
            llama_cpp.llama_memory_seq_cp(self._mem, seq0, cand.seq_id, -1, -1)
        if self._draft_model is not None and job.candidates[0].drafter is not None:
            # The draft model reads the prompt now too (once, copied to the other
            # candidates), so its cost falls in the time to the first token.
            self._draft_model.prefill(seq0, job.prompt, [c.seq_id for c in job.candidates[1:]])
        job.phase = Phase.DECODE
        self._reshaped = True
        for cand in job.candidates:
            cand.n_past = len(job.prompt)
            if idx is not None:
                token = cand.sampler.sample(self._ctx, idx)
            else:
                assert job.last_logits is not None
                token = cand.sampler.sample_logits(job.last_logits)
            self._advance(cand, token)

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
        if cand.drafter is not None:
            cand.drafter.append(token)
        if eog:
            step = decoder.on_end_of_turn()
        elif cand.sampler.malformed:  # the token opened a call the grammar cannot continue
            step = decoder.finish(FinishReason.MALFORMED_FUNCTION_CALL)
        else:
            # `token_logprobs`: None unless the request asked (and for thoughts).
            step = decoder.on_token(self._piece(token), cand.sampler.token_logprobs)
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
            if cand.drafter is not None:
                cand.drafter.extend(forced)
        else:
            cand.finished = True

    def _release_finished(self) -> None:
        for job in [j for j in self._active if j.candidates and all(c.finished for c in j.candidates)]:
            generated = sum(c.decoder.generated for c in job.candidates)
            thought = sum(c.decoder.thought_tokens for c in job.candidates)
            job.emit(Usage(prompt_tokens=len(job.prompt), completion_tokens=generated,
                           cached_tokens=job.cached, reasoning_tokens=thought))
            self._release(job)

    def _fail(self, job: Job, exc: BaseException) -> None:
        job.emit(exc)
        self._release(job, keep=False)  # after a failed decode the KV is not trusted

    def _release(self, job: Job, *, keep: bool = True) -> None:
        """Free the job's slots and samplers and close its event stream. With the prefix
        cache on, each slot keeps its KV and remembers the tokens it holds."""
        if keep and job.pin is not None and job.phase is Phase.DECODE and job.candidates:
            self._pin(job)
        for cand in job.candidates:
            self._vacate(cand.seq_id, job, cand, keep=keep)
            cand.sampler.close()
        job.candidates.clear()
        self._reshaped = True
        job.phase = Phase.DONE
        if job in self._active:
            self._active.remove(job)
        job.emit(None)

    def _vacate(self, slot: int, job: Job, cand: Sequence, *, keep: bool) -> None:
        """The candidate no longer runs on `slot`: the slot is free again, and with the
        prefix cache on (and `keep`) it keeps the KV of the prompt tokens it holds, and
        remembers them."""
        held = self._held(job, cand) if keep and self._prefix_cache else []
        if held:
            self._clock += 1
            whole = len(held) == len(job.prompt)
            self._kept[slot] = _Kept(job.cache_scope, held, self._clock,
                                     job.last_logits if whole else None)
        else:
            llama_cpp.llama_memory_seq_rm(self._mem, slot, -1, -1)
        self._free_slots.append(slot)

    def _claim(self, slot: int, reused: int) -> None:
        """Take a free slot: what it kept is forgotten, copied to host memory first when
        worth it (`_save`; `reused` of its tokens the new sequence reuses in place)."""
        self._free_slots.remove(slot)
        kept = self._kept.pop(slot, None)
        if kept is not None:
            self._save(slot, kept, reused)

    def _pin(self, job: Job) -> None:
        """Save the finished job's prompt state under its pin, unless the pin holds one."""
        saved, name = self._saved, job.pin
        if saved is None or name is None or saved.is_pinned(name):
            return
        tokens = self._held(job, job.candidates[0])
        if not tokens or saved.pin(job.cache_scope, tokens, name):
            return
        data = self._state_of(job.candidates[0].seq_id, len(tokens))
        if data is not None:
            saved.put(job.cache_scope, tokens, data, pin=name,
                      logits=job.last_logits if len(tokens) == len(job.prompt) else None)

    def _held(self, job: Job, cand: Sequence) -> list[int]:
        """The prompt tokens whose exact KV the candidate's slot holds (positions 0 on):
        the prompt once it is decoded (copied into every candidate's slot), the part
        decoded so far while it is not (first slot only). A prompt shorter than an exact
        chunk is decoded in one smaller chunk, so none of it is kept."""
        if len(job.prompt) < self._exact:
            return []
        if job.phase is Phase.PREFILL:
            return job.prompt[: job.prefilled] if cand.index == 0 else []
        return job.prompt if job.phase is Phase.DECODE else []


def _runs(ids: Iterable[int]) -> int:
    """How many runs of consecutive ids `ids` form."""
    ids = set(ids)
    return sum(1 for i in ids if i - 1 not in ids)


def _gaps_added(busy: set[int], slot: int) -> int:
    """How many more runs of consecutive ids the busy slots form once `slot` joins them:
    1 apart from them, 0 next to one run, -1 joining two (each run is one micro-batch)."""
    return 1 - ((slot - 1) in busy) - ((slot + 1) in busy)


def _requests(job: Job) -> int:
    """The requests a job answers: its own unless its client left, and its followers'."""
    return (not job.cancelled) + sum(not f.cancelled for f in job.followers)


def _cells_held(job: Job) -> int:
    """The KV positions a running job's sequences hold (read from another thread: a step
    stale at worst)."""
    if job.phase is Phase.DECODE:
        return sum(cand.n_past for cand in list(job.candidates))
    return job.prefilled if job.phase is Phase.PREFILL else 0


def _followed(item: StreamEvent | BaseException | None) -> StreamEvent | BaseException | None:
    """An event as a follower gets it: it decoded none of its prompt."""
    if isinstance(item, Usage):
        return replace(item, cached_tokens=item.prompt_tokens)
    return item
