"""Per-candidate text assembly: token bytes → UTF-8 text → stop-sequence handling.

Pure and per-candidate (DESIGN rule 4): each candidate owns one `CandidateText`.
A stop sequence is never emitted (SPEC §4 `stop`): text that might be the start of a stop
sequence is held back until it is known not to be one.
"""

from __future__ import annotations

import codecs


class CandidateText:
    def __init__(self, stop_sequences: tuple[str, ...] = ()) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._stops = tuple(s for s in stop_sequences if s)
        self._held = ""
        self.stopped = False

    def push(self, piece: bytes) -> str:
        """Add one token's bytes; return the text that is now safe to emit."""
        if self.stopped:
            return ""
        return self._emit(self._decoder.decode(piece))

    def push_text(self, text: str) -> str:
        """Like `push`, for text that is already decoded (a second stage of filtering)."""
        if self.stopped:
            return ""
        return self._emit(text)

    @property
    def held(self) -> int:
        """Characters decoded but held back (they might start a stop sequence)."""
        return len(self._held)

    def flush(self) -> str:
        """End of generation: release held-back text (it was not a stop sequence)."""
        if self.stopped:
            return ""
        # A generation cut mid-character (max_tokens) leaves incomplete UTF-8 bytes: drop
        # them rather than end the answer with U+FFFD.
        self._decoder.reset()
        text = self._held
        self._held = ""
        return text

    def _emit(self, new: str) -> str:
        if not self._stops:
            return new
        buf = self._held + new
        cut = -1
        for stop in self._stops:
            i = buf.find(stop)
            if i != -1 and (cut == -1 or i < cut):
                cut = i
        if cut != -1:
            self.stopped = True
            self._held = ""
            return buf[:cut]
        keep = 0
        for stop in self._stops:
            # longest suffix of buf that is a proper prefix of this stop sequence
            for k in range(min(len(stop) - 1, len(buf)), 0, -1):
                if buf.endswith(stop[:k]):
                    keep = max(keep, k)
                    break
        self._held = buf[len(buf) - keep :] if keep else ""
        return buf[: len(buf) - keep]


class AnswerStart:
    """The start of an answer that follows thoughts: leading whitespace is dropped, and so
    is an opening thought marker the model repeats there (a small model without native
    thinking often starts its answer with `<think>` again, then answers)."""

    def __init__(self, open_marker: str) -> None:
        self._marker = open_marker
        self._held = ""
        self._started = False

    def push(self, text: str, *, final: bool = False) -> str:
        if self._started:
            return text
        rest = (self._held + text).lstrip()
        while rest.startswith(self._marker):
            rest = rest[len(self._marker):].lstrip()
        if not final and (not rest or self._marker.startswith(rest)):
            self._held = rest  # could still become the marker
            return ""
        self._held = ""
        self._started = bool(rest)
        return rest

    @property
    def started(self) -> bool:
        """Whether the answer has shown any text (besides whitespace and a repeated marker)."""
        return self._started
