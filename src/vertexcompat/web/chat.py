"""The chat-completions flow behind the routes: body → request → backend → response.

Streaming pulls the FIRST event before any header is sent, so errors a backend raises
before generating (429 queue full, 400 prompt too long, 503 loading) are real HTTP
errors; after that, an error can only travel as one `data: {"error": ...}` frame.
The backend stream is always `aclose()`d, which is how a client that goes away cancels
its generation.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from vertexcompat.domain.errors import ApiError
from vertexcompat.domain.events import StreamEvent
from vertexcompat.openai_api.request import ChatCompletionRequest
from vertexcompat.domain.principal import Principal
from vertexcompat.translate.field_support import ignored_params_header
from vertexcompat.translate.request_to_gemini import to_generate_request, to_openai_param
from vertexcompat.translate.response_to_openai import to_chat_completion
from vertexcompat.translate.stream_transcoder import ChunkTranscoder
from vertexcompat.translate.thinking import to_thought_presentation
from vertexcompat.translate.tools import call_style
from vertexcompat.translate.validation import parse_chat_request
from vertexcompat.web.body import read_json_object
from vertexcompat.web.deps import AppContainer
from vertexcompat.web.disconnect import ClientDisconnected, cancel_on_disconnect
from vertexcompat.web.errors import as_api_error, error_body
from vertexcompat.web.sse import DONE_FRAME, EventSourceResponse, aclose_quietly, sse_frame

# nginx's "client closed request"; nobody receives it, but access logs show it.
_CLIENT_CLOSED_REQUEST = 499


def new_completion_id() -> str:
    return "chatcmpl-" + secrets.token_urlsafe(24)


async def complete_chat(
    request: Request, container: AppContainer, principal: Principal, *, location: str | None
) -> Response:
    raw = await read_json_object(request, container.settings.max_body_bytes)
    # Built now, header-safe, so that no name in the body can fail the response after
    # the whole generation has run.
    headers = ignored_params_header(raw)
    chat = parse_chat_request(raw)
    service = container.generation
    _, backend_model = service.resolve_model(
        chat.model, project=principal.project, location=location
    )
    generate_request = service.with_model_defaults(
        to_generate_request(chat, backend_model=backend_model), chat.model
    )
    n = generate_request.generation_config.candidate_count
    identity: dict[str, Any] = {
        "completion_id": new_completion_id(),
        "created": int(time.time()),
        "model": chat.model,  # echo the requested id exactly (SPEC §2)
        "call_style": call_style(chat),
        "thoughts": to_thought_presentation(chat),
    }
    events = service.stream(generate_request, requested_model=chat.model)
    try:
        async with cancel_on_disconnect(request.receive):
            if not chat.stream:
                collected = [event async for event in events]
            else:
                first = await anext(events, None)
    except BaseException as exc:
        with anyio.CancelScope(shield=True):
            await aclose_quietly(events)
        if isinstance(exc, ClientDisconnected):
            return Response(status_code=_CLIENT_CLOSED_REQUEST)
        if isinstance(exc, ApiError):
            exc.param = to_openai_param(exc.param, chat)
        raise
    if not chat.stream:
        await aclose_quietly(events)
        completion = to_chat_completion(collected, n=n, **identity)
        return JSONResponse(completion.to_wire(), headers=headers)
    transcoder = ChunkTranscoder(n=n, include_usage=chat.include_usage, **identity)
    return EventSourceResponse(_frames(first, events, transcoder, chat), headers=headers)


async def _frames(
    first: StreamEvent | None,
    events: AsyncIterator[StreamEvent],
    transcoder: ChunkTranscoder,
    chat: ChatCompletionRequest,
) -> AsyncIterator[bytes]:
    try:
        for chunk in transcoder.start():
            yield sse_frame(chunk.to_wire())
        if first is not None:
            for chunk in transcoder.feed(first):
                yield sse_frame(chunk.to_wire())
            async for event in events:
                for chunk in transcoder.feed(event):
                    yield sse_frame(chunk.to_wire())
        for chunk in transcoder.finish():
            yield sse_frame(chunk.to_wire())
        yield DONE_FRAME
    except Exception as exc:  # headers are sent: the error travels as one frame
        error = as_api_error(exc)
        error.param = to_openai_param(error.param, chat)
        yield sse_frame(error_body(error))
    finally:
        with anyio.CancelScope(shield=True):
            await aclose_quietly(events)
