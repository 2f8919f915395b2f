"""Speculative decoding's drafts: prompt lookup (n-grams of the prompt and the answer so far).

A sequence whose last tokens repeat an n-gram seen earlier in its own tokens (the prompt,
then everything it generated) is likely to continue the way that earlier occurrence did:
an edited copy of code from the prompt, a JSON value named in it, a grounded answer quoting
a source. `NgramDrafter.draft` proposes those following tokens; the scheduler feeds them
with the sequence's last token in one batch and samples each position in turn, keeping the
drafted tokens up to the first one the sampler did not draw (engine/scheduler.py). The
draft is only a guess: what is emitted is always what the sampler drew, from the logits
of the tokens before it, with the sequence's own sampler (its grammar, penalties and
random stream), so a request's output follows the same distribution, and with a seed the
same stream of draws, as without speculation.

No second model: a draft costs a dictionary lookup per step. The index maps each n-gram
(n from `min_ngram` to `max_ngram`) to the latest position where it occurred with a token
after it; longer n-grams are tried first. The draft length adapts to how drafts fare: a
draft of which nothing was accepted halves the next one, a draft accepted whole doubles it
(up to `max_draft`); a one-token draft rejected pauses drafting for a few steps, twice as
many after each such miss in a row (up to `MAX_PAUSE`). Verifying even one drafted token
costs a second row (about 1.5x a one-row step here), so free prose, where n-grams rarely
predict, pays for few rejected rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

# Defaults, measured on the 2-core test machine (bench/speculative.py).
MAX_NGRAM = 3
MIN_NGRAM = 2
MAX_DRAFT = 6
FIRST_PAUSE = 4  # steps without drafts after a rejected one-token draft; doubles per miss
MAX_PAUSE = 64


class Drafter(Protocol):
    """What drafts for one sequence: told every token the sequence holds, asked for a
    draft each step, told how it fared. NgramDrafter here; ModelDrafter in
    engine/draft_model.py."""

    def append(self, token: int) -> None: ...

    def extend(self, tokens: Iterable[int]) -> None: ...

    def draft(self) -> list[int]: ...

    def judged(self, drafted: int, accepted: int) -> None: ...

    def moved(self, src: int, dst: int) -> None:
        """The sequence's KV moved from slot `src` to slot `dst`."""


class DraftBudget:
    """How long the next draft may be, adapting to how drafts fare (module docstring); one
    per drafting sequence, whatever drafts for it."""

    __slots__ = ("_max", "length", "_pause", "_paused")

    def __init__(self, max_draft: int) -> None:
        if max_draft < 1:
            raise ValueError("max_draft must be at least 1")
        self._max = max_draft
        self.length = max_draft  # the next draft's length at most
        self._pause = 0  # how many steps the last miss paused drafting for
        self._paused = 0  # steps left without drafts

    def drafting(self) -> bool:
        """Whether this step may draft (False while a miss pauses drafting)."""
        if self._paused:
            self._paused -= 1
            return False
        return True

    def judged(self, drafted: int, accepted: int) -> None:
        """How the last draft fared: `accepted` of its `drafted` tokens were kept."""
        if accepted == 0:
            if self.length == 1:
                self._pause = min(MAX_PAUSE, self._pause * 2 or FIRST_PAUSE)
                self._paused = self._pause
            self.length = max(1, self.length // 2)
            return
        self._pause = 0
        if accepted == drafted:
            self.length = min(self._max, self.length * 2)


class NgramDrafter:
    """Drafts for one sequence from its own tokens. Used by the scheduler thread only."""

    __slots__ = ("_tokens", "_index", "_min", "_max", "_budget")

    def __init__(
        self,
        tokens: Iterable[int],
        *,
        min_ngram: int = MIN_NGRAM,
        max_ngram: int = MAX_NGRAM,
        max_draft: int = MAX_DRAFT,
    ) -> None:
        if not 1 <= min_ngram <= max_ngram:
            raise ValueError("need 1 <= min_ngram <= max_ngram")
        self._budget = DraftBudget(max_draft)
        self._tokens: list[int] = []
        self._min, self._max = min_ngram, max_ngram
        # n -> n-gram -> start of its latest occurrence that has a token after it
        self._index: list[dict[tuple[int, ...], int]] = [{} for _ in range(max_ngram + 1)]
        self.extend(tokens)

    def extend(self, tokens: Iterable[int]) -> None:
        for token in tokens:
            self.append(token)

    def append(self, token: int) -> None:
        """The sequence's next token (prompt, sampled or forced: every token it holds)."""
        toks = self._tokens
        toks.append(token)
        end = len(toks) - 1  # the n-grams ending just before `token` now continue with it
        for n in range(self._min, self._max + 1):
            start = end - n
            if start < 0:
                break
            self._index[n][tuple(toks[start:end])] = start

    def draft(self) -> list[int]:
        """Up to the current budget of tokens that followed the latest earlier occurrence
        of the longest n-gram the sequence now ends with; [] when none occurred."""
        if not self._budget.drafting():
            return []
        toks = self._tokens
        length = len(toks)
        for n in range(self._max, self._min - 1, -1):
            if length <= n:
                continue
            start = self._index[n].get(tuple(toks[length - n:]))
            if start is not None:
                follow = start + n
                return toks[follow:follow + self._budget.length]
        return []

    def judged(self, drafted: int, accepted: int) -> None:
        """How the last draft fared: `accepted` of its `drafted` tokens were kept."""
        self._budget.judged(drafted, accepted)

    def moved(self, src: int, dst: int) -> None:
        """Drafts from the sequence's own tokens do not care where its KV is."""
