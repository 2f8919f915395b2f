"""The one responder every surface answers through: a route's event stream → an HTTP
response, whole (`respond_whole`) or as server-sent events (`respond_streaming`).

Both run the backend stream in the request's own task and race it against the client's
disconnect (`disconnect.py`): a client that goes away cancels its generation, the stream
is `aclose()`d (which frees the engine slot) and the request ends as 499 — nginx's "client
closed request"; nobody receives it, but access logs and ours show it.

Streaming pulls the FIRST event before any header is sent, so errors a backend raises
before generating (429 queue full, 400 prompt too long, 503 loading) are real HTTP
errors; after that, an error can only travel as one `data: {"error": ...}` frame, named
by the surface's `ParamNames` like any other error (`web/errors.py`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, Protocol

import anyio
from starlette.requests import Request
from starlette.responses import Response

from vertexcompat.domain.events import StreamEvent
from vertexcompat.domain.locations import ParamNames
from vertexcompat.web.access_log import request_id_of
from vertexcompat.web.disconnect import ClientDisconnected, cancel_on_disconnect
from vertexcompat.web.errors import as_api_error, error_body, param_names_of
from vertexcompat.web.sse import DONE_FRAME, EventSourceResponse, aclose_quietly, sse_frame

CLIENT_CLOSED_REQUEST = 499

logger = logging.getLogger(__name__)


class WireObject(Protocol):
    def to_wire(self) -> dict[str, Any]: ...


class StreamEncoder(Protocol):
    """A surface's encoder of one request's events into wire objects (for chat:
    `translate.stream_transcoder.ChunkTranscoder`)."""

    def start(self) -> Iterable[WireObject]: ...
    def feed(self, event: StreamEvent) -> Iterable[WireObject]: ...
    def finish(self) -> Iterable[WireObject]: ...


async def respond_whole(
    request: Request,
    events: AsyncIterator[StreamEvent],
    answer: Callable[[list[StreamEvent]], Response],
) -> Response:
    """Every event of the stream, then `answer(events)` (which may raise an `ApiError`)."""
    try:
        async with cancel_on_disconnect(request.receive):
            collected = [event async for event in events]
    except BaseException as exc:
        return await _stopped(request, events, exc)
    await aclose_quietly(events)
    return answer(collected)


async def respond_streaming(
    request: Request,
    events: AsyncIterator[StreamEvent],
    encoder: StreamEncoder,
    *,
    headers: dict[str, str] | None = None,
    done: bytes | None = DONE_FRAME,
) -> Response:
    """The first event is pulled before the response starts; then `text/event-stream`
    frames of what `encoder` makes of the events, ending with `done` (OpenAI's
    `data: [DONE]`; None for Gemini's streams, which end with the body)."""
    try:
        async with cancel_on_disconnect(request.receive):
            first = await anext(events, None)
    except BaseException as exc:
        return await _stopped(request, events, exc)
    frames = _frames(first, events, encoder, param_names_of(request), done,
                     request_id_of(request))
    return EventSourceResponse(frames, headers=headers)


async def _stopped(
    request: Request, events: AsyncIterator[StreamEvent], exc: BaseException
) -> Response:
    """Before any header: close the stream, then 499 for a client that left, else raise
    (`web/errors.py` makes the error response)."""
    with anyio.CancelScope(shield=True):
        await aclose_quietly(events)
    if isinstance(exc, ClientDisconnected):
        logger.info(
            "%s %s: the client closed the connection before the answer; generation "
            "cancelled (%d)", request.method, request.url.path, CLIENT_CLOSED_REQUEST,
        )
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    raise exc


async def _frames(
    first: StreamEvent | None,
    events: AsyncIterator[StreamEvent],
    encoder: StreamEncoder,
    names: ParamNames | None,
    done: bytes | None,
    request_id: str | None = None,
) -> AsyncIterator[bytes]:
    """The frames of what `encoder` makes of the events. The frames it makes of one event
    (or at the end, with `[DONE]`) go out as one body chunk: they are ready at the same
    moment, and each chunk costs a trip through the ASGI stack and a write to the
    socket."""
    pending: list[bytes] = []
    try:
        for item in encoder.start():
            yield sse_frame(item.to_wire())
        if first is not None:
            for item in encoder.feed(first):
                pending.append(sse_frame(item.to_wire()))
            if pending:  # before waiting for the next event
                yield b"".join(pending)
                pending.clear()
            async for event in events:
                for item in encoder.feed(event):
                    pending.append(sse_frame(item.to_wire()))
                if pending:
                    yield b"".join(pending)
                    pending.clear()
        for item in encoder.finish():
            pending.append(sse_frame(item.to_wire()))
        if done is not None:
            pending.append(done)
        if pending:
            yield b"".join(pending)
    except Exception as exc:  # headers are sent: the error travels as one frame
        pending.append(sse_frame(error_body(as_api_error(exc, request_id), names)))
        yield b"".join(pending)
    finally:
        with anyio.CancelScope(shield=True):
            await aclose_quietly(events)
