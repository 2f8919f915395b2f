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
after it; longer n-grams are tried first, and the match is then extended backwards (how
many of the sequence's last tokens match the tokens before that occurrence).

How long a draft is follows from what verification costs. A call of k + 1 rows of one
sequence costs `row_cost(k + 1)` one-row steps (`ROW_COSTS`, measured on the 2-core test
machine: the rows cost nearly a step each up to 7, then llama.cpp's kernels for 8 or more
rows take over, whose rows cost little more each; so 32 rows cost ~10 steps, not 32). The
drafter estimates the chance a drafted token is kept from how earlier drafts after matches
of a similar length fared (`MATCH_BUCKETS`: a long match — a copy of code or text being
repeated — is kept far more often than a two-token one), and verifies the draft length
with the most expected tokens per unit of cost, or none when no length beats a plain step
by a margin (`MIN_GAIN`, `draft_length`). So an edited copy of a long function is verified
in long drafts, and free prose, where short matches rarely predict, soon stops drafting.
The choice depends only on the sequence's own tokens, never on timing or on other
requests, so a seeded answer is the same alone and beside others. (A draft model's drafts,
engine/draft_model.py, keep a simpler budget: each of its drafted tokens costs a draft-model
step.)
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Protocol

# Defaults, measured on the 2-core test machine (bench/speculative.py).
MAX_NGRAM = 3
MIN_NGRAM = 2
MAX_DRAFT = 63  # the longest prompt-lookup draft (`--draft-max` sets another)
# A decode call of r rows of one sequence costs about this many one-row steps (points
# (r, cost), linear between and past them). Measured: Qwen2.5-Coder-1.5B Q4_K_M, 2 threads,
# llama.cpp's CPU kernels, every row asking for logits, median of 9 interleaved repetitions
# on a quiet machine (Qwen2.5-Coder-0.5B: 1.76, 2.36, 3.67, 4.13, 5.89, 9.66, 17.85 at the
# same rows; a compromise between the two drafts about as well on both).
ROW_COSTS: tuple[tuple[int, float], ...] = (
    (1, 1.0), (2, 1.95), (4, 2.8), (7, 4.2), (8, 6.3), (16, 6.4), (32, 8.6), (64, 14.0),
)
# Matches of at least these many tokens form the acceptance buckets (the first: any
# match), with the prior chance that a drafted token after such a match is kept. 8-15
# tokens: 0.85, under the 0.9 seen in copies, because an answer's opening often quotes the
# prompt for a few words ("a tutorial on building a REST API in Python with Flask") and then
# leaves it; with this prior and MIN_GAIN such a quote is not drafted, a copy soon is.
# Chosen by replaying captured greedy answers (bench/serving.py's tutorials at 1, 4 and 8
# streams, bench/speculative.py's prompts on both models): with 0.9 and a 5% margin the
# tutorials' first drafts failed and 4 and 8 streams lost 6-7%; now none is drafted, and
# the code edit keeps 3.0x (0.5B) and 3.4x (1.5B).
MATCH_BUCKETS = (0, 4, 8, 16)
PRIORS = (0.6, 0.8, 0.85, 0.95)
PRIOR_WEIGHT = 2.0  # the prior counts as this many drafted tokens
DECAY = 0.8  # each judged draft keeps this share of the counts before it
MAX_MATCH = 64  # a match is extended backwards at most this far
# A draft must promise this many more tokens per unit of cost than a plain step. Not just
# "more": beside other streams a draft is verified in a call of its own while the others'
# rows share one, so a draft that only just pays alone costs a busy server.
MIN_GAIN = 1.25
# A draft is at most this long at first; a draft kept whole doubles the limit (up to
# max_draft), one that is not halves it (not below this): a long draft is only risked
# once shorter ones of the sequence were kept.
FIRST_CAP = 8


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


class NgramDrafter:
    """Drafts for one sequence from its own tokens (module docstring). Used by the
    scheduler thread only."""

    __slots__ = ("_tokens", "_index", "_min", "_max", "_max_draft", "_stats", "_bucket", "_cap")

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
        if max_draft < 1:
            raise ValueError("max_draft must be at least 1")
        self._tokens: list[int] = []
        self._min, self._max, self._max_draft = min_ngram, max_ngram, max_draft
        # n -> n-gram -> start of its latest occurrence that has a token after it
        self._index: list[dict[tuple[int, ...], int]] = [{} for _ in range(max_ngram + 1)]
        # per match-length bucket: [kept tokens, rejected tokens], decaying (`judged`)
        self._stats = [[0.0, 0.0] for _ in MATCH_BUCKETS]
        self._bucket: int | None = None  # the bucket of the last draft, until judged
        self._cap = min(FIRST_CAP, max_draft)  # the next draft's length at most
        self.extend(tokens)

    def fork(self) -> NgramDrafter:
        """A drafter for another sequence that holds the same tokens (a job's other
        candidates share its prompt): the index copied, not built again (a 30k-token
        prompt's index costs ~24 ms of the scheduler thread, its copy ~2 ms)."""
        twin = NgramDrafter((), min_ngram=self._min, max_ngram=self._max,
                            max_draft=self._max_draft)
        twin._tokens = list(self._tokens)
        twin._index = [dict(grams) for grams in self._index]
        twin._stats = [list(counts) for counts in self._stats]
        twin._cap = self._cap
        return twin

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

    def match(self) -> tuple[int, int]:
        """Where the tokens after the latest earlier occurrence of the longest n-gram the
        sequence ends with begin, and how many tokens before them match the sequence's
        last ones (at least that n, at most `MAX_MATCH`); (-1, 0) when none occurred."""
        toks = self._tokens
        length = len(toks)
        for n in range(self._max, self._min - 1, -1):
            if length <= n:
                continue
            start = self._index[n].get(tuple(toks[length - n:]))
            if start is not None:
                matched = n
                while (matched < MAX_MATCH and start + n - matched > 0
                       and toks[start + n - matched - 1] == toks[length - matched - 1]):
                    matched += 1
                return start + n, matched
        return -1, 0

    def acceptance(self, matched: int) -> float:
        """The estimated chance that a drafted token after a match of `matched` tokens is
        kept (given the ones before it were): what drafts after matches that long fared,
        starting from the bucket's prior."""
        bucket = _bucket(matched)
        kept, rejected = self._stats[bucket]
        return (kept + PRIOR_WEIGHT * PRIORS[bucket]) / (kept + rejected + PRIOR_WEIGHT)

    def draft(self) -> list[int]:
        """The tokens that followed the latest earlier occurrence of the longest n-gram
        the sequence ends with, as many as pay for their verification (`draft_length`)
        within the current limit (`FIRST_CAP`); [] when none occurred or none pays.
        Where those tokens run into the present, the draft goes on as it began: a
        sequence repeating itself (a list, a pattern) is drafted as repeating on."""
        self._bucket = None
        follow, matched = self.match()
        if follow < 0:
            return []
        length = draft_length(self.acceptance(matched), self._cap)
        if not length:
            return []
        self._bucket = _bucket(matched)
        toks = self._tokens
        draft = toks[follow:follow + length]
        behind = len(toks) - follow  # the draft's token i repeats the one `behind` before it
        while len(draft) < length:
            draft.append(draft[len(draft) - behind])
        return draft

    def judged(self, drafted: int, accepted: int) -> None:
        """How the last draft fared: `accepted` of its `drafted` tokens were kept."""
        if self._bucket is None:
            return
        stats = self._stats[self._bucket]
        stats[0] = stats[0] * DECAY + accepted
        stats[1] = stats[1] * DECAY + (1 if accepted < drafted else 0)
        self._bucket = None
        if accepted == drafted:
            self._cap = min(self._max_draft, self._cap * 2)
        else:
            self._cap = max(min(FIRST_CAP, self._max_draft), self._cap // 2)

    def moved(self, src: int, dst: int) -> None:
        """Drafts from the sequence's own tokens do not care where its KV is."""


def _bucket(matched: int) -> int:
    return sum(1 for low in MATCH_BUCKETS[1:] if matched >= low)


@functools.cache
def row_cost(rows: int) -> float:
    """What a decode call of `rows` rows of one sequence costs, in one-row steps
    (`ROW_COSTS`, linear between and past the measured points). Cached: `draft_length`
    asks for every length up to the draft's, each step of every drafting sequence."""
    points = ROW_COSTS
    if rows <= points[0][0]:
        return points[0][1]
    for (r0, c0), (r1, c1) in zip(points, points[1:]):
        if rows <= r1:
            return c0 + (c1 - c0) * (rows - r0) / (r1 - r0)
    (r0, c0), (r1, c1) = points[-2], points[-1]
    return c1 + (c1 - c0) * (rows - r1) / (r1 - r0)


def draft_length(acceptance: float, available: int) -> int:
    """How many of `available` drafted tokens to verify: the length whose expected
    tokens per step (the kept draft plus the token sampled after it, each drafted token
    kept with probability `acceptance` if the ones before it were) over the verification
    call's cost (`row_cost`) is highest, if that beats a plain step by `MIN_GAIN`; else 0."""
    best, best_rate = 0, MIN_GAIN / row_cost(1)
    expected, p = 1.0, 1.0
    for k in range(1, available + 1):
        p *= acceptance
        expected += p
        rate = expected / row_cost(k + 1)
        if rate > best_rate:
            best, best_rate = k, rate
    return best
