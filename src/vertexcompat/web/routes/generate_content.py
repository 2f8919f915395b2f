"""Gemini's native REST methods on a publisher model, as Vertex serves them and the
google-genai SDK calls them (`v1` and `v1beta1`):

`POST /{version}/projects/{p}/locations/{l}/publishers/{publisher}/models/{model}:{method}`
with `generateContent`, `streamGenerateContent` (`?alt=sse`), `countTokens` and
`computeTokens`. A model of
another publisher than `google` is named `publisher/model`, as the OpenAI surface names it.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from vertexcompat.domain.errors import NotFound
from vertexcompat.web.deps import get_container, get_principal
from vertexcompat.web.generate import compute_tokens, count_tokens, generate_content

MODEL_METHOD_PATHS = tuple(
    f"/{version}/projects/{{project}}/locations/{{location}}/publishers/{{publisher}}"
    "/models/{model_method}"
    for version in ("v1", "v1beta1")
)
METHODS = ("generateContent", "streamGenerateContent", "countTokens", "computeTokens")


def build_router() -> APIRouter:
    router = APIRouter()

    async def model_method(request: Request) -> Response:
        params = request.path_params
        model, _, method = params["model_method"].rpartition(":")
        if not model or method not in METHODS:
            raise NotFound(f"The requested URL {request.url.path} was not found.")
        principal = await get_principal(request)
        container = get_container(request)
        publisher = params["publisher"]
        model_id = model if publisher == "google" else f"{publisher}/{model}"
        if method in ("countTokens", "computeTokens"):
            counter = count_tokens if method == "countTokens" else compute_tokens
            return await counter(request, container, principal,
                                 location=params["location"], model_id=model_id)
        return await generate_content(
            request, container, principal, location=params["location"], model_id=model_id,
            stream=method == "streamGenerateContent",
        )

    for path in MODEL_METHOD_PATHS:
        router.add_route(path, model_method, methods=["POST"])
    return router
