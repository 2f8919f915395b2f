"""GET models and GET models/{id}: the OpenAI shapes, on the Vertex paths and plain `/v1`;
and Vertex's publisher models (`GET /{v1|v1beta1}/publishers/{publisher}/models[/{id}]`,
no project in the path: any live credential), as the google-genai SDK lists them.

Model ids contain slashes (`google/gemini-2.5-flash`, even a whole resource name), so the
id is the rest of the path. The openai SDK sends it percent-encoded (`google%2Fgemini…`);
the ASGI path is already decoded, so both spellings reach the same route.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse

from vertexcompat.domain.models import ModelInfo
from vertexcompat.web.deps import CurrentPrincipal, get_caller, get_container

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

    def publisher_model(info: ModelInfo) -> dict[str, Any]:
        publisher, _, name = info.id.rpartition("/")
        return {
            "name": f"publishers/{publisher or 'google'}/models/{name}",
            "versionId": "default",
            "openSourceCategory": "PROPRIETARY" if info.owned_by == "google" else "OPEN_SOURCE",
            "launchStage": "GA",
        }

    async def list_publisher_models(request: Request) -> JSONResponse:
        await get_caller(request)
        publisher = request.path_params["publisher"]
        models = [publisher_model(info) for info in get_container(request).generation.list_models()]
        return JSONResponse({"publisherModels": [
            m for m in models if m["name"].startswith(f"publishers/{publisher}/")
        ]})

    async def get_publisher_model(request: Request) -> JSONResponse:
        await get_caller(request)
        params = request.path_params
        model_id = params["model_id"]
        if params["publisher"] != "google":
            model_id = f"{params['publisher']}/{model_id}"
        info = get_container(request).generation.describe_model(model_id)
        return JSONResponse(publisher_model(info))

    for version in ("v1", "v1beta1"):
        root = f"/{version}/publishers/{{publisher}}/models"
        router.add_route(root, list_publisher_models, methods=["GET"])
        router.add_route(root + "/{model_id}", get_publisher_model, methods=["GET"])
    for path in (*VERTEX_MODELS_PATHS, "/v1/models"):
        router.add_api_route(path, list_models, methods=["GET"])
        router.add_api_route(path + "/{model_id:path}", get_model, methods=["GET"])
    return router
