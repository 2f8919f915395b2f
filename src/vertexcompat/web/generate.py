"""Gemini's native generateContent flow behind its routes (`web/routes/generate_content.py`):
body → request → one route → response, on the same services, backends, caches and
responder as chat completions.

The body is read in Gemini's own terms (translate/gemini_request.py), so errors name
Gemini field paths as this surface's params. Answers are GenerateContentResponse objects
(translate/gemini_response.py), with thought parts only when `includeThoughts` asks for
them (as Gemini): whole, or one per server-sent event as
`:streamGenerateContent?alt=sse` sends them — `data: {json}` and a blank line, no `[DONE]`
(the google-genai SDK reads nothing else) — or, without `alt=sse`, the same objects as one
JSON array.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from vertexcompat.domain.content import GenerateContentRequest
from vertexcompat.domain.errors import NotFound
from vertexcompat.domain.events import StreamEvent, ThoughtDelta
from vertexcompat.domain.principal import Principal
from vertexcompat.services.route import Route
from vertexcompat.translate.gemini_request import (
    parse_count_tokens_request,
    parse_generate_request,
)
from vertexcompat.translate.gemini_response import ChunkWriter, response_json
from vertexcompat.translate.gemini_tokens import tokens_info_json
from vertexcompat.web.access_log import access_record
from vertexcompat.web.body import read_json_object
from vertexcompat.web.deps import AppContainer
from vertexcompat.web.errors import use_param_names
from vertexcompat.web.grounding import grounding_headers
from vertexcompat.web.responder import respond_streaming, respond_whole


class _Wire:
    __slots__ = ("body",)

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body

    def to_wire(self) -> dict[str, Any]:
        return self.body


class _NativeChunks:
    """`ChunkWriter` as the responder's stream encoder; thoughts only when asked for."""

    def __init__(self, writer: ChunkWriter, *, thoughts: bool) -> None:
        self._writer = writer
        self._thoughts = thoughts

    def start(self) -> Iterable[_Wire]:
        return ()

    def feed(self, event: StreamEvent) -> Iterable[_Wire]:
        if isinstance(event, ThoughtDelta) and not self._thoughts:
            return ()
        return [_Wire(chunk) for chunk in self._writer.feed(event)]

    def finish(self) -> Iterable[_Wire]:
        return [_Wire(chunk) for chunk in self._writer.finish()]


def _stamp() -> dict[str, str]:
    now = datetime.now(timezone.utc)
    return {"response_id": secrets.token_urlsafe(16),
            "create_time": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}


async def _prepared(
    request: Request, container: AppContainer, principal: Principal, *, location: str,
    model_id: str, count: bool,
) -> tuple[Route, GenerateContentRequest]:
    raw = await read_json_object(request, container.settings.max_body_bytes)
    use_param_names(request, str)  # Gemini field paths are this surface's own names
    service = container.generation
    route = service.resolve(model_id, project=principal.project, location=location)
    parse = parse_count_tokens_request if count else parse_generate_request
    generate = replace(parse(raw, model=route.backend_model), project=principal.project)
    if generate.cached_content is not None:
        caches = container.context_caches
        if caches is None:
            raise NotFound("This server keeps no cached contents.", param="cached_content")
        generate = caches.apply(
            replace(generate, cached_content=None), generate.cached_content,
            project=principal.project, location=location, model_id=route.model.model_id,
            param="cached_content",
        )
    return route, generate


async def generate_content(
    request: Request, container: AppContainer, principal: Principal, *, location: str,
    model_id: str, stream: bool,
) -> Response:
    route, generate = await _prepared(
        request, container, principal, location=location, model_id=model_id, count=False
    )
    sse = stream and request.query_params.get("alt") == "sse"
    headers = grounding_headers(container, route, generate)
    events = container.generation.stream(
        route, replace(generate, stream=stream), observer=access_record(request)
    )
    meta = {"model_version": route.model.model_id, **_stamp()}
    # As Gemini: thought parts only with `includeThoughts`; their tokens are counted anyway.
    thinking = generate.generation_config.thinking_config
    thoughts = thinking is not None and thinking.include_thoughts
    if sse:
        return await respond_streaming(
            request, events, _NativeChunks(ChunkWriter(**meta), thoughts=thoughts), done=None,
            headers=headers,
        )

    def answer(collected: list[StreamEvent]) -> Response:
        if not thoughts:
            collected = [e for e in collected if not isinstance(e, ThoughtDelta)]
        if not stream:
            return JSONResponse(response_json(collected, **meta), headers=headers)
        writer = ChunkWriter(**meta)
        chunks = [c for event in collected for c in writer.feed(event)] + writer.finish()
        return JSONResponse(chunks, headers=headers)

    return await respond_whole(request, events, answer)


async def count_tokens(
    request: Request, container: AppContainer, principal: Principal, *, location: str,
    model_id: str,
) -> Response:
    route, generate = await _prepared(
        request, container, principal, location=location, model_id=model_id, count=True
    )
    # As the generation's `promptTokenCount` counts them.
    total = await container.generation.count_tokens(route, generate, as_prompt=True)
    return JSONResponse({"totalTokens": total})


async def compute_tokens(
    request: Request, container: AppContainer, principal: Principal, *, location: str,
    model_id: str,
) -> Response:
    route, generate = await _prepared(
        request, container, principal, location=location, model_id=model_id, count=True
    )
    infos = await container.generation.compute_tokens(route, generate)
    return JSONResponse(tokens_info_json(infos))
