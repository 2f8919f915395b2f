"""Explicit context caches (Vertex `cachedContents`): create, read, list, extend and delete
them per project and location, and apply one to a generation request.

A cache holds contents, a system instruction, tools and a tool config for one model. A
request that names it gets the cache's contents before its own and the cache's
request-wide parts, which it may not set itself (as on Vertex). The cached tokens are not
decoded again: the rendered prompt begins with the cache, and the engine's prefix reuse
(engine/scheduler.py) finds it. Metadata and parts persist in the state database; expired
caches are gone for every call at once and swept from the database while serving.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from vertexcompat.domain.cached_content import CachedParts, CacheSpec
from vertexcompat.domain.content import GenerateContentRequest, GenerationConfig
from vertexcompat.domain.errors import ApiError, InvalidArgument, NotFound
from vertexcompat.domain.thinking import ThinkingConfig
from vertexcompat.domain.tools import ToolConfig
from vertexcompat.services.generation import GenerationService
from vertexcompat.services.policies import aclose
from vertexcompat.services.route import Route
from vertexcompat.store.cached_contents import CachedContentRecord, CachedContentRepository

logger = logging.getLogger(__name__)

DEFAULT_TTL_S = 3600.0
# Where a bare cache id is looked up when the request's path names no location (`/v1/...`).
DEFAULT_LOCATION = "us-central1"
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100


class PartsCodec(Protocol):
    """How the cached parts are written to the store and read back (translate/: Gemini
    wire JSON)."""

    def encode(self, parts: CachedParts) -> str: ...
    def decode(self, text: str) -> CachedParts: ...


@dataclass(frozen=True, slots=True)
class CachedContent:
    record: CachedContentRecord

    @property
    def model_resource(self) -> str:
        r = self.record
        return f"projects/{r.project}/locations/{r.location}/publishers/google/models/{r.model}"


def cache_name(project: str, location: str, cache_id: str) -> str:
    return f"projects/{project}/locations/{location}/cachedContents/{cache_id}"


class ContextCaches:
    def __init__(
        self,
        store: CachedContentRepository,
        generation: GenerationService,
        codec: PartsCodec,
        *,
        min_tokens: int = 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._generation = generation
        self._codec = codec
        self._min_tokens = min_tokens
        self._clock = clock

    async def create(self, project: str, location: str, spec: CacheSpec) -> CachedContent:
        route = self._generation.resolve(spec.model, project=project, location=location)
        now = self._clock()
        expires = self._expiry(now, spec.ttl_s, spec.expire_time)
        parts = spec.parts
        if not parts.contents and parts.system_instruction is None:
            raise InvalidArgument(
                "A cached content needs `contents` or a `system_instruction`.", param="contents"
            )
        cached_request = self._request(route.backend_model, parts, project)
        counted = await self._generation.count_tokens(route, cached_request)
        if counted < self._min_tokens:
            raise InvalidArgument(
                f"Cached content is too small. total_token_count={counted}, "
                f"min_total_token_count={self._min_tokens}",
                param="contents",
            )
        record = CachedContentRecord(
            name=cache_name(project, location, str(secrets.randbits(62))),
            project=project, location=location, model=route.model.model_id,
            display_name=spec.display_name, body=self._codec.encode(parts), total_tokens=counted,
            created_at=now, updated_at=now, expires_at=expires,
        )
        self._store.add(record)
        await self._warm(route, replace(cached_request, cached_content=record.name))
        return CachedContent(record)

    async def _warm(self, route: Route, request: GenerateContentRequest) -> None:
        """Decode the cache's prompt once now (one answer token), so that the engine keeps
        its KV for the requests that use it (the request names the cache: a local engine
        pins that KV in host memory until the cache is gone). Best effort: a busy server skips it, and the
        first request pays instead."""
        warm = replace(request, generation_config=GenerationConfig(
            max_output_tokens=1, temperature=0.0, thinking_config=ThinkingConfig(budget=0),
        ))
        events = self._generation.stream(route, warm)
        try:
            async for _ in events:
                pass
        except ApiError as exc:
            logger.info("cached content not warmed (%s): %s", type(exc).__name__, exc.message)
        finally:
            await aclose(events)

    def get(self, project: str, location: str, cache_id: str) -> CachedContent:
        name = cache_name(project, location, cache_id)
        record = self._store.get(name, self._clock())
        if record is None:
            raise NotFound(f"CachedContent not found (or expired): {name}")
        return CachedContent(record)

    def list(
        self, project: str, location: str, *, page_size: int | None, page_token: str | None
    ) -> tuple[list[CachedContent], str | None]:
        """One page, by name, and the token of the next page (None on the last)."""
        size = DEFAULT_PAGE_SIZE if not page_size else min(max(page_size, 1), MAX_PAGE_SIZE)
        after = page_token or ""
        if after and not after.startswith(cache_name(project, location, "")):
            raise InvalidArgument("`page_token` is not from this listing.", param="page_token")
        records = self._store.list(project, location, self._clock(), after=after, limit=size + 1)
        more = len(records) > size
        records = records[:size]
        return [CachedContent(r) for r in records], (records[-1].name if more else None)

    def update(
        self, project: str, location: str, cache_id: str, ttl_s: float | None,
        expire_time: float | None,
    ) -> CachedContent:
        now = self._clock()
        name = cache_name(project, location, cache_id)
        record = self._store.set_expiry(name, self._expiry(now, ttl_s, expire_time), now)
        if record is None:
            raise NotFound(f"CachedContent not found (or expired): {name}")
        return CachedContent(record)

    def delete(self, project: str, location: str, cache_id: str) -> None:
        name = cache_name(project, location, cache_id)
        record = self._store.get(name, self._clock())
        if record is None or not self._store.delete(name, self._clock()):
            raise NotFound(f"CachedContent not found (or expired): {name}")
        self._release(record.model, name)

    def sweep(self) -> int:
        """Delete the expired caches; how many."""
        gone = self._store.delete_expired(self._clock())
        for name, model in gone:
            self._release(model, name)
        return len(gone)

    def _release(self, model: str, name: str) -> None:
        """The backends may drop what they kept for the cache (a model no longer served
        has nothing kept)."""
        try:
            self._generation.release_cache(model, name)
        except ApiError:
            pass

    def apply(
        self, request: GenerateContentRequest, reference: str, *, project: str,
        location: str | None, model_id: str, param: str,
    ) -> GenerateContentRequest:
        """`request` with the cache `reference` (a resource name, or an id in the request's
        project and location) in front. `param` names the reference in the client's
        terms; `model_id` is the normalized model the request asked for."""
        name = reference
        if not reference.startswith("projects/"):
            name = cache_name(project, location or DEFAULT_LOCATION, reference.rsplit("/", 1)[-1])
        steps = name.split("/")
        record = None
        if len(steps) == 6 and steps[0] == "projects" and steps[2] == "locations" \
                and steps[4] == "cachedContents" and steps[1] == project:
            record = self._store.get(name, self._clock())
        if record is None:  # unknown, expired, malformed, or another project's: all alike
            raise NotFound(f"CachedContent not found (or expired): {reference}", param=param)
        if record.model != model_id:
            raise InvalidArgument(
                f"Model used by GenerateContent request ({model_id}) and CachedContent "
                f"({record.model}) has to be the same.", param=param,
            )
        if request.system_instruction is not None or request.tools \
                or request.tool_config != ToolConfig():
            raise InvalidArgument(
                "CachedContent can not be used with GenerateContent request setting "
                "system_instruction, tools or tool_config. Proposed fix: move those values "
                "to CachedContent from GenerateContent request.", param=param,
            )
        parts = self._codec.decode(record.body)
        return replace(
            request,
            cached_content=record.name,
            contents=(*parts.contents, *request.contents),
            system_instruction=parts.system_instruction,
            tools=parts.tools,
            tool_config=parts.tool_config or request.tool_config,
        )

    def _expiry(self, now: float, ttl_s: float | None, expire_time: float | None) -> float:
        if expire_time is not None:
            if expire_time <= now:
                raise InvalidArgument("`expire_time` must be in the future.", param="expire_time")
            return expire_time
        ttl = DEFAULT_TTL_S if ttl_s is None else ttl_s
        if not math.isfinite(ttl) or ttl > 10 * 365 * 86400:
            raise InvalidArgument("`ttl` is too long.", param="ttl")
        return now + ttl

    @staticmethod
    def _request(backend_model: str, parts: CachedParts, project: str) -> GenerateContentRequest:
        return GenerateContentRequest(
            model=backend_model,
            contents=parts.contents,
            system_instruction=parts.system_instruction,
            tools=parts.tools,
            **({"tool_config": parts.tool_config} if parts.tool_config is not None else {}),
            project=project,
        )
