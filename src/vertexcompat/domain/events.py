"""The stream of events every backend yields for one GenerateContentRequest.

Events carry the candidate index they belong to; a backend emits, per candidate, any number
of thought deltas, then text deltas, function calls and images, then at most one
`ThoughtSignature` (turns that ended in text), followed by exactly one `Finished`, and one `Usage` after
all candidates finish.

Under safety settings (domain/safety.py) a candidate's `SafetyRatings` comes right before its
`Finished` (whose reason is SAFETY when a rating blocked it), and a prompt that was blocked
gets no candidates at all: one `PromptFeedback`, then the `Usage`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vertexcompat.domain.grounding import Source, Support
from vertexcompat.domain.safety import SafetyRating


class FinishReason(enum.Enum):
    STOP = "STOP"
    MAX_TOKENS = "MAX_TOKENS"
    SAFETY = "SAFETY"
    RECITATION = "RECITATION"
    PROHIBITED_CONTENT = "PROHIBITED_CONTENT"
    BLOCKLIST = "BLOCKLIST"
    SPII = "SPII"
    OTHER = "OTHER"
    # The model started a function call that does not parse (Gemini's own reason).
    MALFORMED_FUNCTION_CALL = "MALFORMED_FUNCTION_CALL"


@dataclass(frozen=True, slots=True)
class TextDelta:
    candidate: int
    text: str


@dataclass(frozen=True, slots=True)
class ThoughtDelta:
    """Part of a candidate's thoughts (Gemini: a text part with `thought: true`). All of a
    candidate's thoughts come before its answer's first TextDelta or FunctionCall."""

    candidate: int
    text: str


@dataclass(frozen=True, slots=True)
class ThoughtSignature:
    """The opaque token carrying a candidate's thoughts of this turn (SPEC §5) when the
    turn ended in text: it belongs to the last text part and comes right before
    `Finished`. A turn that called functions carries it on its first `FunctionCall`."""

    candidate: int
    signature: str


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """One complete function call of a candidate (Gemini streams calls whole, too). `id` is
    set when the backend has one (an upstream); otherwise the translation layer makes it."""

    candidate: int
    name: str
    args: Mapping[str, Any]
    id: str | None = None
    thought_signature: str | None = None


@dataclass(frozen=True, slots=True)
class ImageOutput:
    """One finished image of a candidate (Gemini `inlineData` in a model part). How it was
    made (an upstream image model, or the local model drawing SVG) is the backend's business."""

    candidate: int
    mime_type: str
    data: bytes = field(repr=False)  # the encoded image (PNG), possibly megabytes


@dataclass(frozen=True, slots=True)
class TokenChoice:
    """One token at one position of an answer: its bytes (a token may hold part of a
    multi-byte character), its id in the model's vocabulary (None from an upstream that
    does not say) and its log probability."""

    token: bytes
    logprob: float
    token_id: int | None = None


@dataclass(frozen=True, slots=True)
class TokenLogprobs:
    """The log probability of one answer token a candidate wrote (`chosen`) and the `top`
    most likely tokens at its position, most likely first, from the distribution it was
    drawn from (after temperature and any grammar's mask). Only for requests that ask
    (`GenerationConfig.response_logprobs`); thought tokens and tokens the engine forced
    have none. A candidate's `TokenLogprobs` come in token order, each before (or with)
    the `TextDelta` that carries its text."""

    candidate: int
    chosen: TokenChoice
    top: tuple[TokenChoice, ...] = ()


@dataclass(frozen=True, slots=True)
class Finished:
    candidate: int
    reason: FinishReason


@dataclass(frozen=True, slots=True)
class GroundingMetadata:
    """What a grounded candidate was written from (Gemini's `groundingMetadata`): the
    search `queries` run, the `sources` found, and which segments of its answer each
    supports. Comes after the candidate's last `TextDelta`, before its `SafetyRatings` /
    `Finished`."""

    candidate: int
    queries: tuple[str, ...]
    sources: tuple[Source, ...]
    supports: tuple[Support, ...] = ()


@dataclass(frozen=True, slots=True)
class SafetyRatings:
    """How a candidate was rated under the request's safety settings (Gemini's
    `candidates[].safetyRatings`); a rating with `blocked` is why it stopped."""

    candidate: int
    ratings: tuple[SafetyRating, ...]


@dataclass(frozen=True, slots=True)
class PromptFeedback:
    """The prompt was blocked (Gemini's `promptFeedback`): nothing was generated. `reason`
    is Gemini's `blockReason` (`SAFETY` when a rating blocked it)."""

    ratings: tuple[SafetyRating, ...]
    reason: str = "SAFETY"


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


StreamEvent = (
    TextDelta | ThoughtDelta | ThoughtSignature | FunctionCall | ImageOutput | TokenLogprobs
    | GroundingMetadata | SafetyRatings | Finished | PromptFeedback | Usage
)
