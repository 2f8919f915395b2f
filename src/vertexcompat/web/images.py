"""The images flow behind the routes: body → `images.generate` request → one route of the
same generation service as chat → `{"created", "data": [{"b64_json", ...}]}`, answered
through the shared responder (`responder.py`).

A candidate whose drawing could not become an image is left out of `data`; when no
candidate made one, the request fails with 503 (retryable: another sample may draw) —
unless the server's safety settings blocked the prompt or every image: that is a 400
naming the categories (OpenAI answers a refused prompt with a 400 too), and retrying
cannot help.
"""

from __future__ import annotations

import time
from dataclasses import replace

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from vertexcompat.domain.errors import InvalidArgument, Unavailable
from vertexcompat.domain.events import PromptFeedback, SafetyRatings, StreamEvent
from vertexcompat.domain.principal import Principal
from vertexcompat.openai_api.request import ImageGenerationRequest
from vertexcompat.translate.image_request import (
    image_model_id,
    images_param_names,
    to_image_generate_request,
)
from vertexcompat.translate.images import to_images_response
from vertexcompat.translate.validation import to_invalid_argument
from vertexcompat.web.access_log import access_record
from vertexcompat.web.body import read_json_object
from vertexcompat.web.deps import AppContainer
from vertexcompat.web.errors import use_param_names
from vertexcompat.web.responder import respond_whole


async def generate_images(
    request: Request, container: AppContainer, principal: Principal, *, location: str | None
) -> Response:
    raw = await read_json_object(request, container.settings.max_body_bytes)
    try:
        wire = ImageGenerationRequest.model_validate(raw)
    except ValidationError as exc:
        raise to_invalid_argument(exc) from None
    use_param_names(request, images_param_names)
    service = container.generation
    route = service.resolve(image_model_id(wire), project=principal.project, location=location)
    generate_request = replace(
        to_image_generate_request(wire, backend_model=route.backend_model),
        project=principal.project,
    )
    events = service.stream(route, generate_request, observer=access_record(request))
    return await respond_whole(request, events, _answer)


def _answer(collected: list[StreamEvent]) -> Response:
    response = to_images_response(collected, created=int(time.time()))
    if not response.data:
        blocked = sorted({
            r.category.value
            for e in collected if isinstance(e, PromptFeedback | SafetyRatings)
            for r in e.ratings if r.blocked
        })
        if blocked:
            raise InvalidArgument(
                "The request was blocked by this server's safety settings ("
                + ", ".join(blocked) + "); rephrase the prompt.",
                param="prompt",
            )
        raise Unavailable(
            "The model did not produce a usable image for this prompt; retry, or rephrase "
            "the prompt.",
            retry_after_s=1,
        )
    return JSONResponse(response.to_wire())
