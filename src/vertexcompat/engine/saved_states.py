"""Saved sequence states: prompt KV kept in host memory after its slot is reused.

A free slot keeps the KV of its last prompt (engine/scheduler.py) only until another job
takes the slot. Before that happens the scheduler saves the slot's state
(`llama_state_seq_get_data`: the KV of those prompt tokens, a few KiB per token) here, and a
later job whose prompt starts with the same tokens restores it into its slot
(`llama_state_seq_set_data`) instead of decoding them again — llama.cpp's server does the
same with its `--cache-ram` prompt cache. The restored bytes are the saved bytes, so the
answer is the one a whole decode gives.

This module only keeps the books: which token prefixes are saved, in which cache scope
(the project; a prefix never crosses scopes), in how many bytes, and which to evict. The
budget is `capacity_bytes`; the least recently used states go first. A state may be pinned
by names (a cachedContents resource holds the KV of its contents while it lives): pinned
states are evicted only when unpinned ones do not free enough, and `unpin` releases them.
An entry whose tokens are a prefix of another's in the same scope is redundant and
dropped; the longer one serves both. A whole prompt's state also keeps the logits of its
last token (`SavedState.logits`, counted in its size): a job with exactly that prompt
restores it and decodes nothing (until a longer state extends it: that one serves the
prompt from then on, decoding its last exact chunk).

Thread safety: the scheduler thread saves and looks up; `unpin` and `stats` may come
from other threads. One lock guards the books.
"""

from __future__ import annotations

import threading
from collections.abc import Sized
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


@dataclass(eq=False, slots=True)
class SavedState:
    scope: str | None
    tokens: list[int]
    data: Sized  # the bytes of llama_state_seq_get_data (a ctypes array)
    last_used: int
    pins: set[str] = field(default_factory=set)
    # The logits of the last of `tokens` when they are a whole prompt (a numpy row): a job
    # with exactly that prompt restores the state and decodes nothing. None: not kept.
    logits: np.ndarray | None = None

    @property
    def size(self) -> int:
        return len(self.data) + (self.logits.nbytes if self.logits is not None else 0)

    def whole(self, prompt: list[int]) -> bool:
        """Whether the state serves all of `prompt`, last logits included."""
        return self.logits is not None and self.tokens == prompt


def common_prefix(a: list[int], b: list[int]) -> int:
    """The length of the longest common prefix of two token lists."""
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    lo, hi = 0, n  # a[:lo] == b[:lo], a[:hi] != b[:hi]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid
    return lo


class SavedStates:
    def __init__(self, capacity_bytes: int) -> None:
        if capacity_bytes < 0:
            raise ValueError("capacity_bytes must be >= 0")
        self.capacity_bytes = capacity_bytes
        self._states: list[SavedState] = []
        self._clock = 0
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.capacity_bytes > 0

    def covers(self, scope: str | None, tokens: list[int]) -> bool:
        """Whether a saved state of `scope` already holds all of `tokens` (as its prefix)."""
        with self._lock:
            return self._covering(scope, tokens) is not None

    def is_pinned(self, name: str) -> bool:
        with self._lock:
            return any(name in s.pins for s in self._states)

    def best(self, scope: str | None, prompt: list[int]) -> tuple[SavedState | None, int]:
        """The saved state of `scope` sharing the longest prefix with `prompt`, and that
        length (0 and None when none shares any)."""
        with self._lock:
            found, length = None, 0
            for state in self._states:
                if state.scope != scope:
                    continue
                shared = common_prefix(state.tokens, prompt)
                if shared > length:
                    found, length = state, shared
            return found, length

    def touch(self, state: SavedState) -> None:
        with self._lock:
            self._clock += 1
            state.last_used = self._clock

    def pin(self, scope: str | None, tokens: list[int], name: str) -> bool:
        """Pin the saved state that covers `tokens` under `name`; False when none does."""
        with self._lock:
            state = self._covering(scope, tokens)
            if state is not None:
                state.pins.add(name)
            return state is not None

    def put(
        self, scope: str | None, tokens: list[int], data: Sized, *, pin: str | None = None,
        logits: np.ndarray | None = None,
    ) -> SavedState | None:
        """Keep `data`, the state of `tokens` (and `logits`, those of its last token when
        the tokens are a whole prompt), evicting least recently used states to stay within
        the budget. Returns the entry that holds the tokens now (a longer existing one when
        it already covered them, which keeps its own logits), or None when the state is
        larger than the whole budget."""
        entry = SavedState(scope, list(tokens), data, 0, logits=logits)
        if entry.size > self.capacity_bytes:
            return None
        with self._lock:
            self._clock += 1
            state = self._covering(scope, tokens)
            if state is not None:
                state.last_used = self._clock
                if pin is not None:
                    state.pins.add(pin)
                return state
            entry.last_used = self._clock
            if pin is not None:
                entry.pins.add(pin)
            # States this one extends are redundant: it serves every prompt they served.
            kept: list[SavedState] = []
            for state in self._states:
                if state.scope == scope and common_prefix(state.tokens, tokens) == len(state.tokens):
                    entry.pins |= state.pins
                else:
                    kept.append(state)
            kept.append(entry)
            self._states = kept
            self._evict()
            return entry if entry in self._states else None

    def unpin(self, name: str) -> None:
        """Release `name`'s hold; its states become ordinary LRU entries."""
        with self._lock:
            for state in self._states:
                state.pins.discard(name)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "saved_states": len(self._states),
                "saved_state_bytes": sum(s.size for s in self._states),
                "saved_state_tokens": sum(len(s.tokens) for s in self._states),
                "pinned_states": sum(1 for s in self._states if s.pins),
            }

    def _covering(self, scope: str | None, tokens: list[int]) -> SavedState | None:
        """A state of `scope` that holds all of `tokens` as its prefix (caller holds the lock)."""
        for state in self._states:
            if state.scope == scope and len(state.tokens) >= len(tokens) \
                    and common_prefix(state.tokens, tokens) == len(tokens):
                return state
        return None

    def _evict(self) -> None:
        used = sum(s.size for s in self._states)
        if used <= self.capacity_bytes:
            return
        # Unpinned first, then pinned; least recently used first within each.
        order = sorted(self._states, key=lambda s: (bool(s.pins), s.last_used))
        gone: set[int] = set()
        for state in order:
            if used <= self.capacity_bytes:
                break
            used -= state.size
            gone.add(id(state))
        self._states = [s for s in self._states if id(s) not in gone]
