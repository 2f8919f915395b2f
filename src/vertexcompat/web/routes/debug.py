"""`GET /v1/debug/prompts`: the last prompts the local backend rendered, exactly as the
model read them (issue 5: proof that restored thoughts reach the model). Only with
`debug_prompts` on — prompts hold users' data — and, like every API route, only with a
valid token; otherwise it does not exist (404)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request

from vertexcompat.domain.errors import NotFound
from vertexcompat.web.deps import CurrentPrincipal, get_container


def build_router() -> APIRouter:
    router = APIRouter()

    async def prompts(request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
        container = get_container(request)
        if not container.settings.debug_prompts:
            raise NotFound("Not found (start the server with --debug-prompts to enable it).")
        return {"object": "list", "data": container.generation.recent_prompts()}

    router.add_api_route("/v1/debug/prompts", prompts, methods=["GET"])
    return router
