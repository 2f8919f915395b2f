"""GET models and GET models/{id}: the OpenAI shapes, on the Vertex paths and plain `/v1`.

Model ids contain slashes (`google/gemini-2.5-flash`, even a whole resource name), so the
id is the rest of the path. The openai SDK sends it percent-encoded (`google%2Fgemini…`);
the ASGI path is already decoded, so both spellings reach the same route.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request

from vertexcompat.domain.models import ModelInfo
from vertexcompat.web.deps import CurrentPrincipal, get_container

VERTEX_MODELS_PATHS = tuple(
    f"/{version}/projects/{{project}}/locations/{{location}}/endpoints/openapi/models"
    for version in ("v1", "v1beta1")
)


def build_router() -> APIRouter:
    router = APIRouter()

    def model_object(info: ModelInfo, created: int) -> dict[str, Any]:
        return {"id": info.id, "object": "model", "created": created, "owned_by": info.owned_by}

    async def list_models(request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
        container = get_container(request)
        return {
            "object": "list",
            "data": [
                model_object(info, container.created_at)
                for info in container.generation.list_models()
            ],
        }

    async def get_model(
        request: Request, model_id: str, principal: CurrentPrincipal
    ) -> dict[str, Any]:
        container = get_container(request)
        # Only the Vertex paths name a location; Google's 404 then names the full resource.
        location = request.path_params.get("location")
        info = container.generation.describe_model(
            model_id, project=principal.project, location=location
        )
        return model_object(info, container.created_at)

    for path in (*VERTEX_MODELS_PATHS, "/v1/models"):
        router.add_api_route(path, list_models, methods=["GET"])
        router.add_api_route(path + "/{model_id:path}", get_model, methods=["GET"])
    return router
