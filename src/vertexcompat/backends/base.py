"""The Backend port. Every backend (local llama.cpp, OpenAI-compatible upstream, Gemini
upstream) speaks Gemini-shaped domain types and nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from vertexcompat.domain.content import GenerateContentRequest
from vertexcompat.domain.events import StreamEvent
from vertexcompat.domain.tokens import TokensInfo


class Backend(Protocol):
    @property
    def ready(self) -> bool:
        """True once the backend can take requests (e.g. the model is loaded)."""
        ...

    def model_names(self) -> list[str]:
        """The backend model names this backend serves."""
        ...

    def stats(self) -> dict[str, int]:
        """Load snapshot (e.g. busy slots, queued requests) for operations endpoints."""
        ...

    def context_length(self, model: str) -> int | None:
        """Per-sequence context window of `model`, if known."""
        ...

    async def precheck(self, request: GenerateContentRequest) -> None:
        """Raise now what `stream` would refuse anyway for `request`, whose media parts are
        not prepared yet (a policy calls this before seconds of media perception). Only
        refusals that hold whatever the media turn into; may do nothing."""
        ...

    async def count_tokens(self, request: GenerateContentRequest, *, as_prompt: bool = False) -> int:
        """How many tokens `request` (contents, system instruction, tools) is for the
        model. `as_prompt`: every token a generation of `request` reads, the opening of its
        answer included — what its usage reports as prompt tokens (`:countTokens`);
        otherwise the conversation alone, the prefix every longer conversation that begins
        with it shares (what a cached content holds). Backends without such an opening
        count the same either way. Raises what `stream` would for bad input."""
        ...

    async def compute_tokens(self, request: GenerateContentRequest) -> list[TokensInfo]:
        """The tokens of each content of `request` as the model reads it (its text parts,
        in order; media perceived first by policies): one `TokensInfo` per content, in
        order (`:computeTokens`; the system instruction and tools are not asked about).
        Raises `InvalidArgument` when the backend cannot tell."""
        ...

    def release_cache(self, name: str) -> None:
        """The cached content `name` (requests named it in `cached_content`) was deleted or
        expired: drop what the backend kept for it. May do nothing."""
        ...

    def stream(self, request: GenerateContentRequest) -> AsyncIterator[StreamEvent]:
        """Generate. Raises domain errors (InvalidArgument, ResourceExhausted, Unavailable)
        before the first event; closing the iterator early cancels the generation."""
        ...
