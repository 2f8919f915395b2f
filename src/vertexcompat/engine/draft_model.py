"""Speculative decoding's drafts from a second, smaller model (`--speculative draft`).

A draft model that shares the served model's tokenizer (Qwen2.5-Coder-0.5B for 1.5B)
proposes the next tokens greedily; the scheduler verifies them with the served model like
prompt-lookup drafts (engine/speculation.py, the scheduler's `_verify`): every emitted token
is still drawn by the sequence's own sampler from the served model's logits, a drafted token
kept only while it equals that draw. A greedy draft is a proposal that puts all its
probability on one token, for which the standard rejection test (accept with probability
min(1, p/q), else draw from the leftover) is exactly "draw from p, keep the draft while they
agree" — so answers follow the served model's distribution and seeds stay deterministic.

`DraftModel` owns the draft model's llama.cpp context: one KV stream per slot, like the
served model's, used by the scheduler thread only. Each slot remembers the tokens whose KV
it holds; a draft first decodes what the sequence gained since (the prompt, the first time;
then the tokens kept since the last draft, the rejected ones dropped), then one token at a
time. A sequence's drafts depend only on its own tokens: its rows are decoded alone.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Iterable
from pathlib import Path

import llama_cpp
import numpy as np

from vertexcompat.engine.batch import decode_rows
from vertexcompat.engine.saved_states import common_prefix

log = logging.getLogger(__name__)

# The longest draft of a draft model unless `--draft-max` says otherwise: each drafted
# token costs one of its steps (bench/speculative.py, docs/speculative.md).
MODEL_MAX_DRAFT = 6
FIRST_PAUSE = 4  # steps without drafts after a rejected one-token draft; doubles per miss
MAX_PAUSE = 64
# llama.cpp's own speculative example accepts a draft vocabulary this much larger or smaller.
MAX_VOCAB_DIFFERENCE = 128


class DraftModelError(RuntimeError):
    """The draft model cannot serve the served model (not loadable, another tokenizer)."""


class DraftModel:
    """A loaded draft model and its context. Used by the scheduler thread only."""

    def __init__(self, path: Path, *, parallel: int, ctx_per_seq: int, batch_size: int,
                 threads: int, use_extra_bufts: bool, target_vocab: llama_cpp.llama_vocab_p
                 ) -> None:
        mparams = llama_cpp.llama_model_default_params()
        mparams.n_gpu_layers = 0
        mparams.use_extra_bufts = use_extra_bufts
        model = llama_cpp.llama_model_load_from_file(str(path).encode(), mparams)
        if not model:
            raise DraftModelError(f"llama.cpp could not load the draft model {path}")
        self._model = model
        self._ctx = None
        try:
            self._vocab = llama_cpp.llama_model_get_vocab(model)
            _check_same_tokenizer(self._vocab, target_vocab, path)
            self.ctx_per_seq = min(ctx_per_seq, llama_cpp.llama_model_n_ctx_train(model))
            cparams = llama_cpp.llama_context_default_params()
            cparams.n_ctx = self.ctx_per_seq * parallel
            cparams.n_batch = cparams.n_ubatch = batch_size
            cparams.n_seq_max = parallel
            cparams.n_threads = cparams.n_threads_batch = threads
            cparams.kv_unified = False
            cparams.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
            cparams.no_perf = True
            ctx = llama_cpp.llama_init_from_model(model, cparams)
            if not ctx:
                raise DraftModelError("llama.cpp could not create the draft model's context")
        except BaseException:
            llama_cpp.llama_model_free(model)
            raise
        self._ctx = ctx
        self._mem = llama_cpp.llama_get_memory(ctx)
        self._n_vocab = llama_cpp.llama_vocab_n_tokens(self._vocab)
        # Drafted ids must exist in the served model's vocabulary.
        self._max_token = min(self._n_vocab, llama_cpp.llama_vocab_n_tokens(target_vocab))
        self._batch_size = batch_size
        self._batch = llama_cpp.llama_batch_init(batch_size, 0, 1)
        self._held: dict[int, list[int]] = {}  # slot -> tokens whose KV it holds

    def close(self) -> None:
        if self._ctx is not None:
            llama_cpp.llama_batch_free(self._batch)
            llama_cpp.llama_free(self._ctx)
            self._ctx = None
            llama_cpp.llama_model_free(self._model)

    def move(self, src: int, dst: int) -> None:
        """Move a slot's KV (and what it holds) to another, free slot."""
        llama_cpp.llama_memory_seq_rm(self._mem, dst, -1, -1)
        llama_cpp.llama_memory_seq_cp(self._mem, src, dst, -1, -1)
        llama_cpp.llama_memory_seq_rm(self._mem, src, -1, -1)
        self._held[dst] = self._held.pop(src, [])

    def forget(self, slot: int) -> None:
        """A new sequence takes the slot: its drafts start from nothing (so they depend
        only on that sequence's tokens)."""
        llama_cpp.llama_memory_seq_rm(self._mem, slot, -1, -1)
        self._held[slot] = []

    def prefill(self, slot: int, prompt: list[int], copies: list[int]) -> None:
        """Decode a new sequence's prompt (but its last token, which the first draft feeds
        with the first sampled one) into `slot` and copy it to `copies` (the job's other
        candidates), when the served model has decoded it: the cost falls in the time to
        the first token, not between tokens."""
        if len(prompt) > self.ctx_per_seq:  # longer than the draft model reads: no drafts
            return
        try:
            self._catch_up(slot, prompt[:-1])
        except RuntimeError:  # the first draft tries again (and gives up on a failure)
            log.exception("the draft model could not decode a prompt")
            self.forget(slot)
            return
        held = self._held[slot]
        for other in copies:
            llama_cpp.llama_memory_seq_rm(self._mem, other, -1, -1)
            llama_cpp.llama_memory_seq_cp(self._mem, slot, other, -1, -1)
            self._held[other] = list(held)

    def _catch_up(self, slot: int, tokens: list[int]) -> None:
        """Make the slot hold the KV of exactly `tokens`: keep the prefix it holds, drop the
        rest, decode what is missing (the last row's logits computed)."""
        held = self._held.setdefault(slot, [])
        keep = common_prefix(held, tokens)
        llama_cpp.llama_memory_seq_rm(self._mem, slot, keep, -1)
        del held[keep:]
        for start in range(keep, len(tokens), self._batch_size):
            chunk = tokens[start:start + self._batch_size]
            self._decode(slot, chunk, start)
            held.extend(chunk)

    def draft(self, slot: int, tokens: list[int], length: int) -> list[int]:
        """Up to `length` tokens the draft model expects after `tokens` (greedy), fewer
        where it expects the end of the turn or the context ends."""
        length = min(length, self.ctx_per_seq - len(tokens))
        if length <= 0 or not tokens:
            return []
        held = self._held.setdefault(slot, [])
        if len(held) >= len(tokens):  # the last token is fed again: its logits are needed
            llama_cpp.llama_memory_seq_rm(self._mem, slot, len(tokens) - 1, -1)
            del held[len(tokens) - 1:]
        self._catch_up(slot, tokens)
        out: list[int] = []
        while True:  # -1: the last decode's last row (the only one with logits)
            row = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self._ctx, -1),
                                        shape=(self._n_vocab,))
            token = int(row.argmax())
            if token >= self._max_token or llama_cpp.llama_vocab_is_eog(self._vocab, token):
                return out
            out.append(token)
            if len(out) == length:
                return out
            self._decode(slot, [token], len(held))
            held.append(token)

    def _decode(self, slot: int, tokens: list[int], start: int) -> None:
        """Decode `tokens` at positions `start`.. of the slot, logits for the last one."""
        last = len(tokens) - 1
        decode_rows(self._ctx, self._batch,
                    [(token, start + i, slot, i == last) for i, token in enumerate(tokens)])


class DraftBudget:
    """How long a sequence's next draft-model draft may be: a draft of which nothing was
    kept halves the next one, a draft kept whole doubles it (up to `max_draft`), and a
    rejected one-token draft pauses drafting for `FIRST_PAUSE` steps, twice as many after
    each such miss in a row (up to `MAX_PAUSE`). One per drafting sequence."""

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


class ModelDrafter:
    """Drafts for one sequence from the draft model; the same interface as NgramDrafter
    (engine/speculation.py). Used by the scheduler thread only."""

    __slots__ = ("model", "slot", "_tokens", "_budget", "_broken")

    def __init__(self, model: DraftModel, slot: int, tokens: Iterable[int], *,
                 max_draft: int) -> None:
        self.model, self.slot = model, slot
        self._tokens = list(tokens)
        self._budget = DraftBudget(max_draft)
        self._broken = False
        model.forget(slot)

    def extend(self, tokens: Iterable[int]) -> None:
        self._tokens.extend(tokens)

    def append(self, token: int) -> None:
        self._tokens.append(token)

    def draft(self) -> list[int]:
        if self._broken or not self._budget.drafting():
            return []
        try:
            return self.model.draft(self.slot, self._tokens, self._budget.length)
        except RuntimeError:  # the sequence goes on without drafts
            log.exception("the draft model failed; this answer continues without drafts")
            self._broken = True
            return []

    def judged(self, drafted: int, accepted: int) -> None:
        self._budget.judged(drafted, accepted)

    def moved(self, src: int, dst: int) -> None:
        """The served model's KV moved: the draft model's moves along (the slot left is
        free, so no other sequence drafts there)."""
        self.model.move(src, dst)
        self.slot = dst


def _check_same_tokenizer(draft: llama_cpp.llama_vocab_p, target: llama_cpp.llama_vocab_p,
                          path: Path) -> None:
    """Refuse a draft model whose tokens mean other text than the served model's: the same
    vocabulary type, special tokens and text of every token id both have."""
    def text(vocab: llama_cpp.llama_vocab_p, token: int) -> bytes:
        raw = llama_cpp.llama_vocab_get_text(vocab, token)
        return ctypes.string_at(raw) if isinstance(raw, int) else (raw or b"")

    n_draft = llama_cpp.llama_vocab_n_tokens(draft)
    n_target = llama_cpp.llama_vocab_n_tokens(target)
    problems = []
    if llama_cpp.llama_vocab_type(draft) != llama_cpp.llama_vocab_type(target):
        problems.append("another kind of tokenizer")
    if abs(n_draft - n_target) > MAX_VOCAB_DIFFERENCE:
        problems.append(f"{n_draft} tokens against {n_target}")
    for special in (llama_cpp.llama_vocab_bos, llama_cpp.llama_vocab_eos):
        if special(draft) != special(target):
            problems.append(f"another {special.__name__.rsplit('_', 1)[-1]} token")
    if not problems:
        differ = next((t for t in range(min(n_draft, n_target)) if text(draft, t) != text(target, t)),
                      None)
        if differ is not None:
            problems.append(f"token {differ} spells {text(draft, differ)!r}, not "
                            f"{text(target, differ)!r}")
    if problems:
        raise DraftModelError(
            f"the draft model {path.name} does not share the served model's tokenizer "
            f"({'; '.join(problems)}); use a smaller model of the same family")
