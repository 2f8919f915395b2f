"""Sampling parameters and the llama.cpp sampler chain built from them, one per candidate."""

from __future__ import annotations

import collections
import ctypes
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import llama_cpp
import numpy as np

from vertexcompat.domain.events import TokenChoice, TokenLogprobs
from vertexcompat.engine.tokens import tokenize

# Gemini's defaults for its flash models when the request sets nothing.
DEFAULT_TEMPERATURE = 1.0
DEFAULT_TOP_P = 0.95


@dataclass(frozen=True, slots=True)
class LazyGrammar:
    trigger: str  # a regular expression over the output text
    grammar: str  # GBNF for the text after the trigger's match


@dataclass(frozen=True, slots=True)
class SamplingParams:
    temperature: float = DEFAULT_TEMPERATURE
    top_p: float = DEFAULT_TOP_P
    top_k: int | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    seed: int | None = None
    penalty_window: int = 4096
    # GBNF text (engine/constraints.py) constraining every candidate; None: unconstrained.
    grammar: str | None = None
    # Lazy grammars: the candidate writes freely until its output matches one trigger, and
    # that trigger's grammar (which starts right after the match) constrains the rest.
    lazy_grammars: tuple[LazyGrammar, ...] = ()
    # Tokens that may never be drawn (e.g. a call marker when calls are not allowed).
    banned_tokens: tuple[int, ...] = ()
    # Log probabilities of each sampled answer token and of this many alternatives (0-20,
    # `Sampler` says of which distribution); None: not asked, and nothing is computed.
    logprobs: int | None = None

    @property
    def reproducible(self) -> bool:
        """Whether the same request always gets the same answer: greedy, or sampled from
        streams fixed by a request seed (`candidate_seed`)."""
        return self.temperature <= 0.0 or self.seed is not None

    def candidate_seed(self, candidate: int) -> int:
        """Each candidate gets its own stream of randomness; with a request seed the streams
        are fixed (same request + seed → same output, SPEC §4), otherwise fresh."""
        if self.seed is None:
            return secrets.randbits(32)
        return (self.seed + 1_000_003 * candidate) & 0xFFFFFFFF


class Sampler:
    """Owns one llama.cpp sampler chain (and, for constrained decoding, one grammar sampler
    with its parse state). Not thread-safe: used by the scheduler thread only.

    Constrained sampling is "grammar first" in effect, done the way llama.cpp's own
    `common_sampler_sample` does it, because applying a grammar to the whole vocabulary
    (49k-151k tokens) every step costs as much as decoding a small model:

    1. run the chain (penalties, top-k, top-p, temperature, draw) on the full logits;
    2. if the grammar accepts the drawn token, take it (one grammar check, not 150k);
    3. otherwise apply the grammar to the full logits, then the chain, and draw again.

    With greedy decoding, penalties and temperature this is exactly sampling from the
    distribution restricted to allowed tokens (rejection sampling: P(t) = p(t) +
    (1 - p(A)) p(t)/p(A) = p(t)/p(A) for t in the allowed set A); only a top-p/top-k cut
    is taken over the whole vocabulary on the fast path. Only allowed tokens are ever
    emitted either way.

    A lazy grammar is created when its trigger matches the candidate's output. Triggers are
    watched here, over token pieces, rather than by llama.cpp's own lazy grammar: when the
    triggering token also carries text after the match, that text must be fed to the
    grammar, and llama.cpp aborts the process if the grammar rejects it. Here each such
    token is checked first; a rejected one marks the call `malformed` and the scheduler
    ends the candidate (Gemini's MALFORMED_FUNCTION_CALL) instead.

    Log probabilities (`SamplingParams.logprobs` set; nothing below is done otherwise). For
    each token sampled after `begin_answer` (not for thoughts), `token_logprobs` holds the
    token's log probability and the `logprobs` most likely tokens at its position, most
    likely first (ties: lower id first, as the greedy sampler picks), computed with numpy
    from the logits row before the chain touches it. The distribution is the softmax of

        (logits, with the banned tokens (`banned_tokens` and the scheduler's `banned`) at
         -inf, minus the frequency/presence penalties for the candidate's own output so far
         — the same numbers llama.cpp's penalties sampler subtracts: count * frequency +
         presence for each token among the last `penalty_window` tokens the chain accepted,
         thoughts and forced tokens included, prompt excluded) / temperature,

    with temperature 1 for greedy decoding (temperature <= 0: the penalised logits' own
    log-softmax, llama-cpp-python's numbers when there are no bans or penalties). When a
    grammar constrains the step, the tokens it rejects are set to -inf first (the grammar
    is then applied to the whole vocabulary every step: the cost of asking), so the
    distribution is renormalised over the allowed tokens and rejected tokens are never
    among the alternatives (nor are banned ones: alternatives have finite log
    probabilities, so there may be fewer than asked). top-k and top-p are NOT applied to
    the reported numbers: with them the token was drawn from the renormalised head of this
    distribution, and a drawn token's reported probability is its probability before the
    cut. Which token is drawn does not depend on whether log probabilities are asked for.
    """

    def __init__(
        self,
        params: SamplingParams,
        candidate: int,
        *,
        n_vocab: int,
        vocab: llama_cpp.llama_vocab_p | None = None,
        token_piece: Callable[[int], bytes] | None = None,
        deferred: bool = False,
    ) -> None:
        self._n_vocab = n_vocab
        # A thinking candidate writes its thoughts unconstrained: the grammar (and the lazy
        # grammars' triggers) apply to the answer, from `begin_answer()` on.
        self._deferred = deferred
        self._vocab = vocab
        self._grammar: llama_cpp.llama_sampler_p | None = None
        self._grammar_text = params.grammar
        self._lazy = [
            (re.compile(lazy.trigger.encode("utf-8")), lazy.grammar)
            for lazy in params.lazy_grammars
        ] if params.grammar is None else []
        self._piece = token_piece
        self._cells: np.ndarray | None = None
        self._tail = b""  # the end of the output so far, while watching the triggers
        self.malformed = False
        if (params.grammar is not None or self._lazy) and vocab is None:
            raise ValueError("a grammar needs the model's vocabulary")
        if (self._lazy or params.logprobs is not None) and token_piece is None:
            raise ValueError("a lazy grammar and log probabilities need the token pieces")
        self._candidate = candidate
        # Log probabilities of the last sampled answer token (None: not asked, or a thought).
        self.token_logprobs: TokenLogprobs | None = None
        self._top = params.logprobs  # None: log probabilities not asked
        # The chain's penalty history, mirrored for the reported numbers (None: no penalties
        # or no log probabilities): the last `penalty_window` accepted tokens and counts.
        self._history: collections.deque[int] | None = None
        self._counts: dict[int, int] = {}
        if self._top is not None:
            if not 0 <= self._top <= _MAX_TOP:
                raise ValueError(f"logprobs must be 0-{_MAX_TOP}")
            self._bias_ids = np.array(params.banned_tokens, dtype=np.int64)
            self._temperature = np.float32(params.temperature) if params.temperature > 0 \
                else None
            self._frequency = np.float32(params.frequency_penalty)
            self._presence = np.float32(params.presence_penalty)
            if (params.presence_penalty or params.frequency_penalty) and params.penalty_window > 0:
                self._history = collections.deque(maxlen=params.penalty_window)
        # Plain greedy decoding (no penalties, bans or log probabilities): the chain holds no
        # state and picks the first highest logit, so `sample` takes numpy's argmax of the
        # row instead (the chain copies the whole vocabulary into a candidate array first:
        # ~1 ms a token on Qwen's 152k vocabulary, 2-3% of a decode step here).
        self._plain_greedy = (
            params.temperature <= 0.0 and not params.banned_tokens
            and not (params.presence_penalty or params.frequency_penalty)
        )
        chain_params = llama_cpp.llama_sampler_chain_default_params()
        chain_params.no_perf = True
        self._chain = llama_cpp.llama_sampler_chain_init(chain_params)
        add = lambda s: llama_cpp.llama_sampler_chain_add(self._chain, s)  # noqa: E731
        if params.banned_tokens:
            biases = (llama_cpp.llama_logit_bias * len(params.banned_tokens))(
                *((t, float("-inf")) for t in params.banned_tokens)
            )
            add(llama_cpp.llama_sampler_init_logit_bias(n_vocab, len(biases), biases))
        if params.presence_penalty or params.frequency_penalty:
            add(
                llama_cpp.llama_sampler_init_penalties(
                    n_vocab, params.penalty_window, 1.0, params.frequency_penalty, params.presence_penalty
                )
            )
        if params.temperature <= 0.0:
            add(llama_cpp.llama_sampler_init_greedy())
        else:
            if params.top_k:
                add(llama_cpp.llama_sampler_init_top_k(params.top_k))
            if params.top_p < 1.0:
                add(llama_cpp.llama_sampler_init_top_p(params.top_p, 1))
            add(llama_cpp.llama_sampler_init_temp(params.temperature))
            add(llama_cpp.llama_sampler_init_dist(params.candidate_seed(candidate)))
        if params.grammar is not None and not deferred:
            self._start_grammar(params.grammar)

    def begin_answer(self) -> None:
        """The thoughts are over: constraints apply from the next token on."""
        if not self._deferred:
            return
        self._deferred = False
        if self._grammar_text is not None:
            self._start_grammar(self._grammar_text)

    def accept_forced(self, tokens: tuple[int, ...]) -> None:
        """Tokens the engine fed without sampling (a forced marker): the penalty history
        sees them, as it sees every token of the output."""
        for token in tokens:
            llama_cpp.llama_sampler_accept(self._chain, token)
            if self._history is not None:
                self._remember(token)

    def _start_grammar(self, grammar: str) -> None:
        # Its own sampler per candidate: a grammar sampler carries parse state.
        assert self._vocab is not None
        self._grammar = grammar_sampler(self._vocab, grammar)
        if self._grammar is None:
            self.close()
            raise ValueError("llama.cpp rejected the grammar")
        self._one = np.zeros(1, dtype=_TOKEN_DATA)

    @property
    def constrained(self) -> bool:
        return self._grammar is not None

    def sample(
        self, ctx: llama_cpp.llama_context_p, batch_index: int, *, banned: np.ndarray | None = None
    ) -> int:
        """The next token from the logits at `batch_index`. `banned`: token ids that may not
        be drawn this once (their logits in the context are set to -inf: each candidate has
        its own logits row, except at the shared prompt end, where nothing is banned).
        With log probabilities asked, `token_logprobs` then describes the token (None for
        a thought)."""
        return self._sample(ctx, batch_index, None, banned)

    def sample_logits(self, logits: np.ndarray) -> int:
        """`sample` from a logits row kept from an earlier decode (a prompt reused whole,
        its last logits kept): the same draw the context's row would give, by the same
        chain (applied to a candidate array built from the row, then the token accepted:
        what llama_sampler_sample does), from a copy (the kept row is left as it is)."""
        return self._sample(None, 0, logits.copy(), None)

    def _sample(self, ctx: llama_cpp.llama_context_p | None, batch_index: int,
                row: np.ndarray | None, banned: np.ndarray | None) -> int:
        """`sample`'s work on the context's row at `batch_index`, or on `row` when there is
        no context (`sample_logits`). The context's row is only read where it is needed: a
        plain chain draw hands the context to llama.cpp."""
        if ctx is not None and (banned is not None or self._top is not None or (
                self._plain_greedy and not self._lazy) or self._grammar is not None):
            row = np.ctypeslib.as_array(
                llama_cpp.llama_get_logits_ith(ctx, batch_index), shape=(self._n_vocab,)
            )
        if banned is not None:
            assert row is not None
            row[banned] = -np.inf
        if self._top is not None:
            assert row is not None
            return self._sample_reporting(ctx, batch_index, row)
        if self._plain_greedy and self._grammar is None and not self._lazy:
            assert row is not None
            return int(row.argmax())  # the first highest, as the greedy sampler picks
        if self._deferred:
            return self._chain_draw(ctx, batch_index, row)
        if self._grammar is None:
            # The chain also accepts the token (penalty history).
            token = self._chain_draw(ctx, batch_index, row)
            if self._lazy:
                self._watch(token)
            return token
        assert row is not None
        token = self._draw(row, with_grammar=False)
        if not self._allowed(token, row):
            token = self._draw(row, with_grammar=True)
        llama_cpp.llama_sampler_accept(self._grammar, token)
        llama_cpp.llama_sampler_accept(self._chain, token)
        return token

    def _chain_draw(self, ctx: llama_cpp.llama_context_p | None, batch_index: int,
                    row: np.ndarray | None) -> int:
        """The chain's draw, the token accepted into it: from the context's row by
        llama_sampler_sample, or from `row` (no context) by the same apply and accept."""
        if ctx is not None:
            return int(llama_cpp.llama_sampler_sample(self._chain, ctx, batch_index))
        assert row is not None
        token = self._draw(row, with_grammar=False)
        llama_cpp.llama_sampler_accept(self._chain, token)
        return token

    def _sample_reporting(
        self, ctx: llama_cpp.llama_context_p | None, batch_index: int, logits: np.ndarray
    ) -> int:
        """`sample` for a request that asked for log probabilities (bans already applied
        to `logits`): the same draws (same chain calls, same randomness), plus the numbers
        of the class docstring. Kept apart so requests that do not ask pay nothing for it."""
        self.token_logprobs = None
        if self._deferred:  # a thought: nothing reported
            token = self._chain_draw(ctx, batch_index, logits)
        elif self._grammar is None:
            # Read before the chain runs (it accepts the token into its penalty history).
            z = self._scaled(logits)
            token = self._chain_draw(ctx, batch_index, logits)
            self.token_logprobs = self._report(z, token)
            if self._lazy:
                self._watch(token)  # may start a grammar: for the next token on
        else:
            # The grammar over the whole vocabulary, once: the mask for the numbers, and
            # what the slow path would compute again (`_draw(with_grammar=True)`).
            masked = self._masked(logits)
            token = self._draw(logits, with_grammar=False)
            if not np.isfinite(masked[token]):
                token = self._draw_masked(masked)
            z = self._scaled(logits)
            z[~np.isfinite(masked)] = -np.inf
            self.token_logprobs = self._report(z, token)
            llama_cpp.llama_sampler_accept(self._grammar, token)
            llama_cpp.llama_sampler_accept(self._chain, token)
        if self._history is not None:
            self._remember(token)
        return token

    def _candidates(self, logits: np.ndarray) -> np.ndarray:
        """The candidate array (made on first use, then reused) filled from `logits`."""
        if self._cells is None:
            self._cells = np.zeros(self._n_vocab, dtype=_TOKEN_DATA)
            self._ids = np.arange(self._n_vocab, dtype=np.int32)
        cells = self._cells
        cells["id"] = self._ids
        cells["logit"] = logits
        cells["p"] = 0.0
        return cells

    def _masked(self, logits: np.ndarray) -> np.ndarray:
        """The logits with every token the grammar rejects at -inf (a copy)."""
        cells = self._candidates(logits)
        llama_cpp.llama_sampler_apply(self._grammar, ctypes.byref(_token_array(cells)))
        return cells["logit"].copy()

    def _draw_masked(self, masked: np.ndarray) -> int:
        """`_draw(logits, with_grammar=True)` for logits the grammar was applied to already."""
        arr = _token_array(self._candidates(masked))
        llama_cpp.llama_sampler_apply(self._chain, ctypes.byref(arr))
        if arr.selected < 0 or arr.selected >= arr.size:
            raise RuntimeError("the sampler chain selected no token")
        return int(arr.data[arr.selected].id)

    def _scaled(self, logits: np.ndarray) -> np.ndarray:
        """A float32 copy of the logits as the chain sees them before its cuts: banned
        tokens at -inf, penalties subtracted, divided by the temperature (float32, the
        chain's own arithmetic)."""
        z = logits.copy()
        if self._bias_ids.size:
            z[self._bias_ids] = -np.inf
        if self._counts:
            ids = np.fromiter(self._counts.keys(), dtype=np.int64, count=len(self._counts))
            counts = np.fromiter(self._counts.values(), dtype=np.float32, count=len(ids))
            z[ids] -= counts * self._frequency + self._presence
        if self._temperature is not None:
            z /= self._temperature
        return z

    def _report(self, z: np.ndarray, token: int) -> TokenLogprobs:
        """The drawn token's log probability under softmax(z) and the top alternatives."""
        assert self._piece is not None
        peak = z.max()
        lse = float(peak) + float(np.log(np.exp(z - peak).sum(dtype=np.float64)))
        piece = self._piece
        chosen = TokenChoice(piece(token), float(z[token]) - lse, token)
        k = self._top
        if not k:
            return TokenLogprobs(self._candidate, chosen)
        ids = np.argpartition(z, len(z) - k)[len(z) - k:] if k < len(z) else np.arange(len(z))
        values = z[ids]
        order = np.lexsort((ids, -values))  # most likely first, then the lower id
        top = tuple(
            TokenChoice(piece(int(i)), float(v) - lse, int(i))
            for i, v in zip(ids[order], values[order])
            if v != -np.inf
        )
        return TokenLogprobs(self._candidate, chosen, top)

    def _remember(self, token: int) -> None:
        """Mirror of the penalties sampler's accept: a ring of the last tokens, counted."""
        history, counts = self._history, self._counts
        assert history is not None
        if len(history) == history.maxlen:
            old = history[0]
            left = counts[old] - 1
            if left:
                counts[old] = left
            else:
                del counts[old]
        history.append(token)
        counts[token] = counts.get(token, 0) + 1

    def _draw(self, logits: np.ndarray, *, with_grammar: bool) -> int:
        arr = _token_array(self._candidates(logits))
        if with_grammar:
            llama_cpp.llama_sampler_apply(self._grammar, ctypes.byref(arr))
        llama_cpp.llama_sampler_apply(self._chain, ctypes.byref(arr))
        if arr.selected < 0 or arr.selected >= arr.size:
            raise RuntimeError("the sampler chain selected no token")
        return int(arr.data[arr.selected].id)

    def _allowed(self, token: int, logits: np.ndarray | None = None) -> bool:
        one = self._one
        one[0] = (token, 0.0 if logits is None else logits[token], 0.0)
        llama_cpp.llama_sampler_apply(self._grammar, ctypes.byref(_token_array(one)))
        return bool(np.isfinite(one[0]["logit"]))

    def _watch(self, token: int) -> None:
        """Unconstrained output so far ends with `token`: start a grammar if its trigger
        now matches, and feed it whatever the output holds after the match."""
        assert self._piece is not None
        if self._vocab is None or llama_cpp.llama_vocab_is_eog(self._vocab, token):
            return
        tail = self._tail + self._piece(token)
        found = [(m.start(), m.end(), g) for rx, g in self._lazy if (m := rx.search(tail))]
        if not found:
            self._tail = tail[-_TRIGGER_WINDOW:]
            return
        _, end, grammar = min(found, key=lambda f: f[0])  # the earliest match wins
        rest = tail[end:].decode("utf-8", errors="ignore")
        self._lazy = []
        self._tail = b""
        self._start_grammar(grammar)
        for t in tokenize(self._vocab, rest, parse_special=False) if rest else ():
            if not self._allowed(t):
                self.malformed = True
                return
            llama_cpp.llama_sampler_accept(self._grammar, t)

    def close(self) -> None:
        if self._chain is not None:
            llama_cpp.llama_sampler_free(self._chain)
            self._chain = None
        if self._grammar is not None:
            llama_cpp.llama_sampler_free(self._grammar)
            self._grammar = None


# Bytes of output kept for matching triggers that span tokens (they are short).
_TRIGGER_WINDOW = 64
# The most alternatives a request may ask for at each position (Gemini's bound).
_MAX_TOP = 20

# llama_token_data {int32 id; float logit; float p;} as a numpy record, for building the
# candidate array without a Python loop over the vocabulary.
_TOKEN_DATA = np.dtype([("id", "<i4"), ("logit", "<f4"), ("p", "<f4")])
assert _TOKEN_DATA.itemsize == ctypes.sizeof(llama_cpp.llama_token_data)


def _token_array(cells: np.ndarray) -> llama_cpp.llama_token_data_array:
    return llama_cpp.llama_token_data_array(
        data=cells.ctypes.data_as(ctypes.POINTER(llama_cpp.llama_token_data)),
        size=len(cells),
        selected=-1,
        sorted=False,
    )


def grammar_sampler(vocab: llama_cpp.llama_vocab_p, grammar: str) -> llama_cpp.llama_sampler_p | None:
    """A fresh grammar sampler, or None when llama.cpp cannot parse `grammar`."""
    sampler = llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode("utf-8"), b"root")
    return sampler or None
