"""One candidate's output, token by token: the pure decoder the scheduler drives.

A `CandidateDecoder` owns what a candidate's sampled tokens mean: its text (UTF-8
reassembly and stop sequences, text_stream.py), its thoughts (budget forcing,
thinking.py), the guard that ends an answer opening a second reasoning segment, its token
counts, and when it is over (a stop sequence, the end of its turn, `max_tokens`, a full
context). It never touches llama.cpp: the scheduler tells it each sampled token's bytes
(`on_token`) or that the model ended its turn (`on_end_of_turn`), and acts on the `Step`
it gets back. Events go straight to the job's sink, so the per-token path allocates only
the text and its event.

Log probabilities. When the request asked, the scheduler hands each sampled token's
`TokenLogprobs` (sampling.py) to `on_token` with its bytes. Only answer tokens get them out:
a thought token, a forced token and the end of the turn never do. Each event goes out
right before the `TextDelta` that releases the first character the token helps spell (a
token holding only part of a character waits for the token that completes it), so while
a possible stop sequence holds text back, its tokens' events wait too; tokens wholly
inside a stop sequence, or holding only the bytes of a character cut off by `max_tokens`,
never come out. So without thoughts, the chosen tokens' bytes join to exactly the
answer's text, except where a stop sequence or `max_tokens` cut through a token (its
whole bytes are reported) and where they are not UTF-8 (the text shows U+FFFD). After
thoughts, the answer-start filter (leading whitespace,
a repeated open marker) and the guard work on the released text: tokens whose text they
drop still have their events.

Token accounting. `generated` counts every output token that goes into the context:
sampled ones and forced ones (the forced close of the thoughts). So after a candidate's
first sample, the scheduler's KV position is always `len(prompt) + generated` when the
next token arrives, and the decoder can tell whether the context has room without asking
(`context_room` = the window minus the prompt).
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from vertexcompat.domain.events import (
    Finished,
    FinishReason,
    StreamEvent,
    TextDelta,
    ThoughtDelta,
    TokenLogprobs,
)
from vertexcompat.engine.text_stream import AnswerStart, CandidateText
from vertexcompat.engine.thinking import ThinkingPlan


class Step(enum.Enum):
    """What the scheduler does after a token."""

    NEXT = 0  # feed the sampled token with the next decode, then sample again
    # The thoughts are over: feed `forced` (after the sampled token, or in place of the end
    # of turn), then sample the answer; the sampler's constraints start now.
    ANSWER = 1
    DONE = 2  # the candidate is finished and its `Finished` event is out: free its slot


# Module-level aliases: the per-token path returns these without an attribute lookup.
NEXT, ANSWER, DONE = Step.NEXT, Step.ANSWER, Step.DONE


class CandidateDecoder:
    """`index`: the candidate's index in its request; `emit`: where its events go (the
    job's sink). `max_tokens`: output tokens at most (sampled + forced); `context_room`:
    tokens the context holds after the prompt. `thinking`: the budget-forcing plan, or
    None for a candidate that answers at once."""

    __slots__ = (
        "index", "generated", "thought_tokens", "forced", "_emit", "_max_tokens",
        "_context_room", "_limit", "_plan", "_text", "_thoughts", "_answer_start",
        "_guard", "_thought_start", "_logprobs", "_released",
    )

    def __init__(
        self,
        index: int,
        emit: Callable[[StreamEvent], None],
        *,
        stop: tuple[str, ...],
        max_tokens: int,
        context_room: int,
        thinking: ThinkingPlan | None = None,
    ) -> None:
        self.index = index
        self.generated = 0
        self.thought_tokens = 0
        # Set when `on_token`/`on_end_of_turn` return ANSWER: the tokens to feed unsampled.
        self.forced: tuple[int, ...] = ()
        self._emit = emit
        self._max_tokens = max_tokens
        self._context_room = context_room
        self._limit = min(max_tokens, context_room)
        self._plan = thinking
        plan = thinking
        # While thinking, the answer's text stream also stops at the end-of-thought marker
        # (a model that writes it again in its answer has started another round of notes).
        self._text = CandidateText(stop if plan is None else (*stop, plan.marker))
        self._thoughts = None if plan is None else CandidateText((plan.marker,))
        self._answer_start = None if plan is None else AnswerStart(plan.open_marker)
        # After its start, an answer that opens a new reasoning segment is over (small
        # models without native thinking sometimes start a second round of notes).
        self._guard = None if plan is None else CandidateText((plan.open_marker,))
        self._thought_start = None if plan is None else AnswerStart(plan.open_marker)
        # Log probabilities waiting for their text: (index of the first character the
        # token helps spell, event); `_released`: characters of answer text released.
        self._logprobs: list[tuple[int, TokenLogprobs]] = []
        self._released = 0

    @property
    def room(self) -> int:
        """How many more tokens the candidate may sample at most (`max_tokens`, context)."""
        return self._limit - self.generated

    @property
    def thinking(self) -> bool:
        """Whether the candidate is still writing its thoughts."""
        return self._thoughts is not None

    @property
    def answer_opening(self) -> bool:
        """Whether the thoughts are over and the answer has no text yet. Then the scheduler
        keeps the model from ending its turn (or closing a segment it is not in): after
        thinking, the answer is never empty (a small model often ends its turn right after
        its notes, as if they were the answer)."""
        start = self._answer_start
        return self._thoughts is None and start is not None and not start.started

    def on_token(self, piece: bytes, logprobs: TokenLogprobs | None = None) -> Step:
        """One sampled token (not an end of generation), as the bytes it spells, and its
        log probabilities when the request asked for them."""
        if self._thoughts is not None:
            return self._on_thought(piece)
        self.generated += 1
        text = self._text
        if logprobs is None:
            self._answer(text.push(piece))
        else:
            self._answer_token(piece, logprobs)
        if text.stopped or (self._guard is not None and self._guard.stopped):
            return self.finish(FinishReason.STOP)
        if self.generated >= self._limit:
            return self.finish(FinishReason.MAX_TOKENS)
        return NEXT

    def on_end_of_turn(self) -> Step:
        """The model sampled an end-of-generation token. Answering, the candidate is done;
        thinking, its thoughts end and the forced close takes the token's place."""
        if self._thoughts is None:
            return self.finish(FinishReason.STOP)
        assert self._plan is not None
        return self._end_thoughts(self._plan.close_tokens, fed=self.generated, sampled=False)

    def finish(self, reason: FinishReason) -> Step:
        """End the candidate now: release held-back text, then its `Finished` event."""
        if self._thoughts is not None:  # cut while thinking (max_tokens): keep what it wrote
            self._thought(self._thoughts.flush(), final=True)
            self._thoughts = None
        rest = self._text.flush()
        if self._logprobs:
            self._release_logprobs(len(rest), final=True)
        self._answer(rest, final=True)
        self._emit(Finished(self.index, reason))
        return DONE

    # -- thoughts --------------------------------------------------------------------------

    def _on_thought(self, piece: bytes) -> Step:
        """A sampled thought token: thoughts end at the model's own marker, or when the
        budget is spent (or the output / context has no room for more)."""
        plan, thoughts = self._plan, self._thoughts
        assert plan is not None and thoughts is not None
        fed = self.generated
        self.generated += 1
        self.thought_tokens += 1
        self._thought(thoughts.push(piece))
        if thoughts.stopped:  # the model closed the segment itself
            return self._end_thoughts(plan.after_marker_tokens, fed=fed, sampled=True)
        if self.thought_tokens < plan.budget and self.generated < self._limit:
            return NEXT
        return self._end_thoughts(plan.close_tokens, fed=fed, sampled=True)

    def _end_thoughts(self, forced: tuple[int, ...], *, fed: int, sampled: bool) -> Step:
        """`fed`: output tokens in the context when the last token was sampled;
        `sampled`: whether that token is fed (an end of turn is not: `forced` replaces it)."""
        assert self._thoughts is not None
        self._thought(self._thoughts.flush(), final=True)
        self._thoughts = None
        extra = len(forced)
        # Room for the forced close in the output and in the context. (For an end of turn
        # this counts one position more than is fed: kept as it always was.)
        if not (self.generated + extra < self._max_tokens and fed + 1 + extra < self._context_room):
            return self.finish(FinishReason.MAX_TOKENS)
        if not sampled and not forced:  # nothing to force (a plan without a close)
            return self.finish(FinishReason.STOP)
        self.generated += extra
        self.forced = forced
        return ANSWER

    # -- events ----------------------------------------------------------------------------

    def _answer_token(self, piece: bytes, logprobs: TokenLogprobs) -> None:
        """An answer token with its log probabilities: the event waits until the text
        stream releases the first character the token helps spell."""
        text = self._text
        start = self._released + text.held  # characters decoded before this token
        out = text.push(piece)
        self._logprobs.append((start, logprobs))
        self._release_logprobs(len(out), final=text.stopped)
        self._answer(out)

    def _release_logprobs(self, released: int, *, final: bool) -> None:
        """`released` more characters go out now: first the events of the tokens that
        help spell them; at the end (`final`), the others are dropped."""
        self._released += released
        pending, emit, limit = self._logprobs, self._emit, self._released
        n = 0
        for start, event in pending:
            if start >= limit:
                break
            emit(event)
            n += 1
        if final:
            pending.clear()
        elif n:
            del pending[:n]

    def _thought(self, text: str, *, final: bool = False) -> None:
        if self._thought_start is not None:
            text = self._thought_start.push(text, final=final)
        if text:
            self._emit(ThoughtDelta(self.index, text))

    def _answer(self, text: str, *, final: bool = False) -> None:
        if self._answer_start is not None:
            text = self._answer_start.push(text, final=final)
        if self._guard is not None:
            text = self._guard.push_text(text)
            if final:
                text += self._guard.flush()
        if text:
            self._emit(TextDelta(self.index, text))
