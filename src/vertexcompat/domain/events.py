"""The stream of events every backend yields for one GenerateContentRequest.

Events carry the candidate index they belong to; a backend emits, per candidate, any number
of deltas followed by exactly one `Finished`, and one `Usage` after all candidates finish.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class FinishReason(enum.Enum):
    STOP = "STOP"
    MAX_TOKENS = "MAX_TOKENS"
    SAFETY = "SAFETY"
    RECITATION = "RECITATION"
    PROHIBITED_CONTENT = "PROHIBITED_CONTENT"
    BLOCKLIST = "BLOCKLIST"
    SPII = "SPII"
    OTHER = "OTHER"


@dataclass(frozen=True, slots=True)
class TextDelta:
    candidate: int
    text: str


@dataclass(frozen=True, slots=True)
class Finished:
    candidate: int
    reason: FinishReason


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


StreamEvent = TextDelta | Finished | Usage
