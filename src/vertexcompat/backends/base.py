"""The Backend port. Every backend (local llama.cpp, OpenAI-compatible upstream, Gemini
upstream) speaks Gemini-shaped domain types and nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from vertexcompat.domain.content import GenerateContentRequest
from vertexcompat.domain.events import StreamEvent


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

    async def count_tokens(self, request: GenerateContentRequest) -> int:
        """How many prompt tokens `request` (contents, system instruction, tools) is for
        the model, as `stream` would send it. Raises what `stream` would for bad input."""
        ...

    def release_cache(self, name: str) -> None:
        """The cached content `name` (requests named it in `cached_content`) was deleted or
        expired: drop what the backend kept for it. May do nothing."""
        ...

    def stream(self, request: GenerateContentRequest) -> AsyncIterator[StreamEvent]:
        """Generate. Raises domain errors (InvalidArgument, ResourceExhausted, Unavailable)
        before the first event; closing the iterator early cancels the generation."""
        ...
