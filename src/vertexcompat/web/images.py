"""The images flow behind the routes: body → `images.generate` request → the same
generation service and backend as chat → `{"created", "data": [{"b64_json", ...}]}`.

A candidate whose drawing could not become an image is left out of `data`; when no
candidate made one, the request fails with 503 (retryable: another sample may draw).
"""

from __future__ import annotations

import time

import anyio
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from vertexcompat.domain.errors import ApiError, Unavailable
from vertexcompat.domain.principal import Principal
from vertexcompat.openai_api.request import ImageGenerationRequest
from vertexcompat.translate.image_request import (
    image_model_id,
    to_image_generate_request,
    to_openai_images_param,
)
from vertexcompat.translate.images import to_images_response
from vertexcompat.translate.validation import to_invalid_argument
from vertexcompat.web.body import read_json_object
from vertexcompat.web.deps import AppContainer
from vertexcompat.web.disconnect import ClientDisconnected, cancel_on_disconnect
from vertexcompat.web.sse import aclose_quietly

_CLIENT_CLOSED_REQUEST = 499


async def generate_images(
    request: Request, container: AppContainer, principal: Principal, *, location: str | None
) -> Response:
    raw = await read_json_object(request, container.settings.max_body_bytes)
    try:
        wire = ImageGenerationRequest.model_validate(raw)
    except ValidationError as exc:
        raise to_invalid_argument(exc) from None
    service = container.generation
    model_id = image_model_id(wire)
    _, backend_model = service.resolve_model(model_id, project=principal.project, location=location)
    generate_request = to_image_generate_request(wire, backend_model=backend_model)
    events = service.stream(generate_request)
    try:
        async with cancel_on_disconnect(request.receive):
            collected = [event async for event in events]
    except BaseException as exc:
        with anyio.CancelScope(shield=True):
            await aclose_quietly(events)
        if isinstance(exc, ClientDisconnected):
            return Response(status_code=_CLIENT_CLOSED_REQUEST)
        if isinstance(exc, ApiError):
            exc.param = to_openai_images_param(exc.param)
        raise
    await aclose_quietly(events)
    response = to_images_response(collected, created=int(time.time()))
    if not response.data:
        raise Unavailable(
            "The model did not produce a usable image for this prompt; retry, or rephrase "
            "the prompt.",
            retry_after_s=1,
        )
    return JSONResponse(response.to_wire())

