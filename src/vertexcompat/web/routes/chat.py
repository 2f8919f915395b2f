"""POST chat/completions: the Vertex paths (`v1` and `v1beta1`) and plain `/v1`."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from vertexcompat.web.chat import complete_chat
from vertexcompat.web.deps import CurrentPrincipal, get_container

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
    router = APIRouter()

    async def vertex_chat(request: Request, location: str, principal: CurrentPrincipal) -> Response:
        return await complete_chat(request, get_container(request), principal, location=location)

    async def openai_chat(request: Request, principal: CurrentPrincipal) -> Response:
        return await complete_chat(request, get_container(request), principal, location=None)

    async def endpoint_chat(
        request: Request, location: str, endpoint_id: str, principal: CurrentPrincipal
    ) -> Response:
        return await complete_chat(
            request, get_container(request), principal, location=location, endpoint=endpoint_id
        )

    for path in VERTEX_CHAT_PATHS:
        router.add_api_route(path, vertex_chat, methods=["POST"], response_model=None)
    # After the openapi paths: a configured endpoint (backends/openai_upstream.py).
    for path in ENDPOINT_CHAT_PATHS:
        router.add_api_route(path, endpoint_chat, methods=["POST"], response_model=None)
    router.add_api_route("/v1/chat/completions", openai_chat, methods=["POST"], response_model=None)
    return router
