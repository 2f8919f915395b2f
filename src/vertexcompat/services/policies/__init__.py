"""Policies: small wrappers around a `Backend` that do for a model what it cannot do
itself — read media (`media.py`), seal and check thought signatures (`thoughts.py`), apply
an image model's defaults (`image_defaults.py`) — plus the boundary every backend sits
behind (`boundary.py`).

A `Policy` wraps a backend for one route (`wrap(inner, model)`), so it can depend on the
model id the client asked for (Gemini 3 enforces signatures; image ids default to images).
Which policies a backend model gets is decided once, in `container.py`, from its
capabilities; `GenerationService.resolve` applies them. Policies speak only the domain:
they never import the engine, a concrete backend or an API surface (import-linter).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from vertexcompat.backends.base import Backend
from vertexcompat.domain.content import GenerateContentRequest
from vertexcompat.domain.events import StreamEvent
from vertexcompat.domain.tokens import TokensInfo
from vertexcompat.models.registry import ModelFacts


class Policy(Protocol):
    def wrap(self, inner: Backend, model: ModelFacts) -> Backend:
        """`inner` with this policy around it for requests to `model` (or `inner` itself
        when the policy has nothing to do for that model)."""
        ...


def compose(backend: Backend, model: ModelFacts, policies: Sequence[Policy]) -> Backend:
    """`policies[0]` outermost: a request passes them in order, then reaches `backend`."""
    for policy in reversed(policies):
        backend = policy.wrap(backend, model)
    return backend


class BackendWrapper:
    """Passes everything to `inner`; a policy overrides `stream`."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner

    @property
    def ready(self) -> bool:
        return self.inner.ready

    def model_names(self) -> list[str]:
        return self.inner.model_names()

    def stats(self) -> dict[str, int]:
        return self.inner.stats()

    def context_length(self, model: str) -> int | None:
        return self.inner.context_length(model)

    async def precheck(self, request: GenerateContentRequest) -> None:
        await self.inner.precheck(request)

    async def count_tokens(self, request: GenerateContentRequest, *, as_prompt: bool = False) -> int:
        return await self.inner.count_tokens(request, as_prompt=as_prompt)

    async def compute_tokens(self, request: GenerateContentRequest) -> list[TokensInfo]:
        return await self.inner.compute_tokens(request)

    def release_cache(self, name: str) -> None:
        self.inner.release_cache(name)

    def stream(self, request: GenerateContentRequest) -> AsyncIterator[StreamEvent]:
        return self.inner.stream(request)


async def aclose(events: AsyncIterator[StreamEvent]) -> None:
    """Close a backend's stream (async generators have `aclose`; closing cancels)."""
    close = getattr(events, "aclose", None)
    if close is not None:
        await close()
