"""POST chat/completions: the Vertex paths (`v1` and `v1beta1`) and plain `/v1`."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from vertexcompat.web.chat import complete_chat
from vertexcompat.web.deps import get_container, get_principal

VERTEX_CHAT_PATHS = tuple(
    f"/{version}/projects/{{project}}/locations/{{location}}/endpoints/openapi/chat/completions"
    for version in ("v1", "v1beta1")
)


ENDPOINT_CHAT_PATHS = tuple(
    f"/{version}/projects/{{project}}/locations/{{location}}/endpoints/{{endpoint_id}}"
    "/chat/completions"
    for version in ("v1", "v1beta1")
)


def build_router() -> APIRouter:
    """Plain (starlette) routes: the hottest path of the server skips FastAPI's dependency
    injection and its two exit stacks per request; what that would give (the principal,
    the path parameters, which are strings either way) each handler takes itself, the
    principal first, as `Depends(get_principal)` did."""
    router = APIRouter()

    async def vertex_chat(request: Request) -> Response:
        principal = await get_principal(request)
        return await complete_chat(
            request, get_container(request), principal,
            location=request.path_params["location"],
        )

    async def openai_chat(request: Request) -> Response:
        principal = await get_principal(request)
        return await complete_chat(request, get_container(request), principal, location=None)

    async def endpoint_chat(request: Request) -> Response:
        principal = await get_principal(request)
        params = request.path_params
        return await complete_chat(
            request, get_container(request), principal,
            location=params["location"], endpoint=params["endpoint_id"],
        )

    for path in VERTEX_CHAT_PATHS:
        router.add_route(path, vertex_chat, methods=["POST"])
    # After the openapi paths: a configured endpoint (backends/openai_upstream.py).
    for path in ENDPOINT_CHAT_PATHS:
        router.add_route(path, endpoint_chat, methods=["POST"])
    router.add_route("/v1/chat/completions", openai_chat, methods=["POST"])
    return router
