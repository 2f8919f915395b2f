"""GET models: the OpenAI list shape, on the Vertex paths and plain `/v1/models`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request

from vertexcompat.web.deps import CurrentPrincipal, get_container

VERTEX_MODELS_PATHS = tuple(
    f"/{version}/projects/{{project}}/locations/{{location}}/endpoints/openapi/models"
    for version in ("v1", "v1beta1")
)


def build_router() -> APIRouter:
    router = APIRouter()

    async def list_models(request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
        container = get_container(request)
        return {
            "object": "list",
            "data": [
                {
                    "id": info.id,
                    "object": "model",
                    "created": container.created_at,
                    "owned_by": info.owned_by,
                }
                for info in container.generation.list_models()
            ],
        }

    for path in (*VERTEX_MODELS_PATHS, "/v1/models"):
        router.add_api_route(path, list_models, methods=["GET"])
    return router
