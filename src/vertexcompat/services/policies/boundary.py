"""The boundary every backend sits behind (innermost around it): a backend's errors name
Gemini fields, and become errors at that `location`.

The Backend protocol speaks Gemini: an error a backend (or the engine under it) raises
about the request names a field of the `GenerateContentRequest`. A backend that passes
that name as `param=` — written before errors had a `location` — gets it read here as the
location it is, once, on a copy of the error; the surface the request came through then
names it in its own terms (`web/errors.py`). A backend that passes `location=` is left
alone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import NoReturn

from vertexcompat.backends.base import Backend
from vertexcompat.domain.content import GenerateContentRequest
from vertexcompat.domain.errors import ApiError
from vertexcompat.domain.events import StreamEvent
from vertexcompat.domain.tokens import TokensInfo
from vertexcompat.domain.locations import FieldPath
from vertexcompat.models.registry import ModelFacts
from vertexcompat.services.policies import BackendWrapper, aclose


class GeminiNamedErrors:
    def wrap(self, inner: Backend, model: ModelFacts) -> Backend:
        return _GeminiNamedErrors(inner)


def located(error: ApiError) -> ApiError:
    """`error` if it has no client param; else a copy at the Gemini location its param
    names (no location at all when the param is not a field path)."""
    if error.param is None:
        return error
    try:
        location: FieldPath | None = FieldPath.parse(error.param)
    except ValueError:
        location = None
    return error.located_at(location)


def _raise_located(exc: ApiError) -> NoReturn:
    error = located(exc)
    if error is exc:
        raise exc
    raise error from exc


class _GeminiNamedErrors(BackendWrapper):
    async def precheck(self, request: GenerateContentRequest) -> None:
        try:
            await self.inner.precheck(request)
        except ApiError as exc:
            _raise_located(exc)

    async def count_tokens(self, request: GenerateContentRequest, *, as_prompt: bool = False) -> int:
        try:
            return await self.inner.count_tokens(request, as_prompt=as_prompt)
        except ApiError as exc:
            _raise_located(exc)

    async def compute_tokens(self, request: GenerateContentRequest) -> list[TokensInfo]:
        try:
            return await self.inner.compute_tokens(request)
        except ApiError as exc:
            _raise_located(exc)

    async def stream(self, request: GenerateContentRequest) -> AsyncIterator[StreamEvent]:
        events = self.inner.stream(request)
        try:
            async for event in events:
                yield event
        except ApiError as exc:
            _raise_located(exc)
        finally:
            await aclose(events)
