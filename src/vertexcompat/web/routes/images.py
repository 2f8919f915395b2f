"""POST images/generations (OpenAI `images.generate`; the Gemini API's OpenAI-compatible
route): the Vertex paths (`v1` and `v1beta1`) and plain `/v1`."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from vertexcompat.web.deps import CurrentPrincipal, get_container
from vertexcompat.web.images import generate_images

VERTEX_IMAGES_PATHS = tuple(
    f"/{version}/projects/{{project}}/locations/{{location}}/endpoints/openapi/images/generations"
    for version in ("v1", "v1beta1")
)


def build_router() -> APIRouter:
    router = APIRouter()

    async def vertex_images(
        request: Request, location: str, principal: CurrentPrincipal
    ) -> Response:
        return await generate_images(request, get_container(request), principal, location=location)

    async def openai_images(request: Request, principal: CurrentPrincipal) -> Response:
        return await generate_images(request, get_container(request), principal, location=None)

    for path in VERTEX_IMAGES_PATHS:
        router.add_api_route(path, vertex_images, methods=["POST"], response_model=None)
    router.add_api_route(
        "/v1/images/generations", openai_images, methods=["POST"], response_model=None
    )
    return router
