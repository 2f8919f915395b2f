"""The chat-completions flow behind the routes: body → request → one route → response.

The body is parsed once (the `google` extensions included), the model id resolved once to
a `Route`, the request lowered for that route's backend model, and the route's stream
answered through the shared responder (`responder.py`): one `chat.completion`, or its
chunks as server-sent events.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import replace

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from vertexcompat.domain.errors import NotFound
from vertexcompat.domain.events import StreamEvent
from vertexcompat.domain.principal import Principal
from vertexcompat.translate.chat_params import ChatParamNames
from vertexcompat.translate.field_support import ignored_params_header
from vertexcompat.translate.request_to_gemini import to_generate_request
from vertexcompat.translate.response_to_openai import to_chat_completion
from vertexcompat.translate.stream_transcoder import ChunkTranscoder
from vertexcompat.translate.thinking import to_thought_presentation
from vertexcompat.translate.tools import call_style
from vertexcompat.translate.validation import parse_chat_request
from vertexcompat.web.access_log import access_record
from vertexcompat.web.body import read_json_object
from vertexcompat.web.deps import AppContainer
from vertexcompat.web.errors import use_param_names
from vertexcompat.web.grounding import grounding_headers
from vertexcompat.web.responder import respond_streaming, respond_whole


def new_completion_id() -> str:
    return "chatcmpl-" + secrets.token_urlsafe(24)


async def complete_chat(
    request: Request, container: AppContainer, principal: Principal, *, location: str | None,
    endpoint: str | None = None,
) -> Response:
    """`endpoint`: a configured endpoint's id from the path (`…/endpoints/{id}/…`), whose
    model a request may leave out (or leave empty, as Vertex's samples for endpoints do with
    the openai SDK, which requires one); None: the openapi endpoint, routed by `model`."""
    raw = await read_json_object(request, container.settings.max_body_bytes)
    service = container.generation
    if endpoint is not None and raw.get("model") in (None, ""):
        raw = {**raw, "model": service.endpoint_model(
            endpoint, project=principal.project, location=location)}
    # Built now, header-safe, so that no name in the body can fail the response after
    # the whole generation has run.
    headers = ignored_params_header(raw)
    chat = parse_chat_request(raw)
    use_param_names(request, ChatParamNames(chat))
    route = service.resolve(
        chat.model, project=principal.project, location=location, endpoint=endpoint
    )
    generate_request = replace(
        to_generate_request(chat, backend_model=route.backend_model), project=principal.project,
        stream=bool(chat.stream),
    )
    google = chat.google_options
    if google.cached_content is not None:
        caches = container.context_caches
        param = google.param("cached_content")
        if caches is None:
            raise NotFound("This server keeps no cached contents.", param=param)
        generate_request = caches.apply(
            generate_request, google.cached_content, project=principal.project,
            location=location, model_id=route.model.model_id, param=param,
        )
    headers.update(grounding_headers(container, route, generate_request))
    cfg = generate_request.generation_config
    n = cfg.candidate_count
    completion_id, created = new_completion_id(), int(time.time())
    style = call_style(chat)
    thoughts = to_thought_presentation(
        cfg.thinking_config, chat.google_options.thought_tag_marker
    )
    events = service.stream(route, generate_request, observer=access_record(request))
    if chat.stream:
        transcoder = ChunkTranscoder(
            n=n, include_usage=chat.include_usage, completion_id=completion_id,
            created=created, model=chat.model, call_style=style, thoughts=thoughts,
        )
        return await respond_streaming(request, events, transcoder, headers=headers)

    def answer(collected: list[StreamEvent]) -> Response:
        completion = to_chat_completion(
            collected, n=n, completion_id=completion_id, created=created,
            model=chat.model,  # echo the requested id exactly (SPEC §2)
            call_style=style, thoughts=thoughts, logprobs=cfg.response_logprobs,
        )
        return JSONResponse(completion.to_wire(), headers=headers)

    return await respond_whole(request, events, answer)
