"""Server-sent events: frame encoding and a streaming response that always cancels.

`EventSourceResponse` races the body against the client's `http.disconnect` on every ASGI
server version (starlette only does that below ASGI 2.4) — the body runs in the request's
own task, cancelled by a watcher as `disconnect.py` does for a whole answer — and,
whatever happens, closes the body iterator with cancellation shielded, so the generator's
`finally` can close the backend stream and free the engine slot (DESIGN example 5).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from vertexcompat.web.disconnect import ClientDisconnected, cancel_on_disconnect

DONE_FRAME = b"data: [DONE]\n\n"

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def sse_frame(payload: dict[str, Any]) -> bytes:
    return (
        b"data: "
        + json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        + b"\n\n"
    )


async def aclose_quietly(iterator: object) -> None:
    """`aclose()` an async iterator if it has one (async generators do)."""
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()


class EventSourceResponse(StreamingResponse):
    media_type = "text/event-stream"

    def __init__(
        self, content: AsyncIterator[bytes], *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(content, headers={**SSE_HEADERS, **(headers or {})})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with cancel_on_disconnect(receive):
                try:
                    await self.stream_response(send)
                except OSError:
                    pass  # ASGI >= 2.4 servers raise on send after a disconnect
        except ClientDisconnected:
            pass
        finally:
            with anyio.CancelScope(shield=True):
                await aclose_quietly(self.body_iterator)
