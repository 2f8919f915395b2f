"""Vertex `cachedContents` (`v1` and `v1beta1`): create, get, list, patch (the expiry) and
delete, with the same bearer tokens and project roles as chat. Errors name the field as
sent, in Gemini's terms."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request

from vertexcompat.domain.errors import InvalidArgument, NotFound
from vertexcompat.services.context_cache import CachedContent, ContextCaches
from vertexcompat.translate.cached_contents import (
    cached_content_to_wire,
    parse_create,
    parse_update,
)
from vertexcompat.web.body import read_json_object
from vertexcompat.web.deps import AppContainer, CurrentPrincipal, get_container
from vertexcompat.web.errors import use_param_names

COLLECTION_PATHS = tuple(
    f"/{version}/projects/{{project}}/locations/{{location}}/cachedContents"
    for version in ("v1", "v1beta1")
)


def _caches(container: AppContainer) -> ContextCaches:
    caches = container.context_caches
    if caches is None:
        raise NotFound("This server keeps no cached contents.")
    return caches


def _wire(cache: CachedContent) -> dict[str, Any]:
    r = cache.record
    return cached_content_to_wire(
        name=r.name, model_resource=cache.model_resource, display_name=r.display_name,
        total_tokens=r.total_tokens, created_at=r.created_at, updated_at=r.updated_at,
        expires_at=r.expires_at,
    )


def _query(request: Request, *names: str) -> str | None:
    for name in names:
        if name in request.query_params:
            return request.query_params[name]
    return None


def build_router() -> APIRouter:
    router = APIRouter()

    async def create(request: Request, location: str, principal: CurrentPrincipal) -> dict[str, Any]:
        container = get_container(request)
        use_param_names(request, str)  # Gemini field paths are this surface's own names
        caches = _caches(container)
        body = await read_json_object(request, container.settings.max_body_bytes)
        return _wire(await caches.create(principal.project, location, parse_create(body)))

    async def list_caches(
        request: Request, location: str, principal: CurrentPrincipal
    ) -> dict[str, Any]:
        caches = _caches(get_container(request))
        raw_size = _query(request, "pageSize", "page_size")
        try:
            size = int(raw_size) if raw_size is not None else None
        except ValueError:
            raise InvalidArgument("`page_size` must be an integer.", param="page_size") from None
        if size is not None and size < 0:
            raise InvalidArgument("`page_size` must not be negative.", param="page_size")
        page, next_token = caches.list(
            principal.project, location, page_size=size,
            page_token=_query(request, "pageToken", "page_token"),
        )
        out: dict[str, Any] = {"cachedContents": [_wire(c) for c in page]}
        if next_token:
            out["nextPageToken"] = next_token
        return out

    async def get_cache(
        request: Request, location: str, cache_id: str, principal: CurrentPrincipal
    ) -> dict[str, Any]:
        return _wire(_caches(get_container(request)).get(principal.project, location, cache_id))

    async def patch_cache(
        request: Request, location: str, cache_id: str, principal: CurrentPrincipal
    ) -> dict[str, Any]:
        container = get_container(request)
        use_param_names(request, str)
        caches = _caches(container)
        body = await read_json_object(request, container.settings.max_body_bytes)
        ttl, expire = parse_update(body, _query(request, "updateMask", "update_mask"))
        return _wire(caches.update(principal.project, location, cache_id, ttl, expire))

    async def delete_cache(
        request: Request, location: str, cache_id: str, principal: CurrentPrincipal
    ) -> dict[str, Any]:
        _caches(get_container(request)).delete(principal.project, location, cache_id)
        return {}

    for path in COLLECTION_PATHS:
        router.add_api_route(path, create, methods=["POST"])
        router.add_api_route(path, list_caches, methods=["GET"])
        router.add_api_route(path + "/{cache_id}", get_cache, methods=["GET"])
        router.add_api_route(path + "/{cache_id}", patch_cache, methods=["PATCH"])
        router.add_api_route(path + "/{cache_id}", delete_cache, methods=["DELETE"])
    return router
