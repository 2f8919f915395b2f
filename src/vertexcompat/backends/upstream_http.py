"""What every upstream backend does with HTTP the same way: its timeouts, reading a
server-sent-events answer line by line under them, and telling "try again elsewhere"
(`RetryElsewhere`, only before the first event) from "the answer broke" (`BadGateway`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from vertexcompat.domain.errors import BadGateway

# Statuses that say "this server cannot answer now" rather than "this request is wrong".
RETRIED_STATUSES = frozenset({502, 503, 504})


@dataclass(frozen=True, slots=True)
class UpstreamTimeouts:
    connect_s: float = 5.0
    # Until the first chunk of the answer (the upstream may queue and prefill first).
    first_byte_s: float = 300.0
    # Between two chunks once the answer flows.
    idle_s: float = 120.0


class RetryElsewhere(Exception):
    """This attempt failed in a way another attempt may not (raised before any event)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def open_stream(
    client: httpx.AsyncClient, request: httpx.Request, timeouts: UpstreamTimeouts
) -> httpx.Response:
    """Sends `request` and waits for its status line within the first-byte timeout. A
    refused connection, a timeout or a 502/503/504 → `RetryElsewhere`; any other status is
    the caller's to read (the response is open: close it)."""
    try:
        response = await asyncio.wait_for(client.send(request, stream=True), timeouts.first_byte_s)
    except (httpx.TransportError, asyncio.TimeoutError) as exc:
        raise RetryElsewhere(describe(exc)) from None
    if response.status_code in RETRIED_STATUSES:
        await response.aclose()
        raise RetryElsewhere(f"HTTP {response.status_code}")
    return response


async def sse_objects(
    response: httpx.Response, timeouts: UpstreamTimeouts, *, answered: list[bool]
) -> AsyncIterator[Any]:
    """The JSON value of each `data:` line of an open SSE response, as it comes; stops at
    the end of the body or at OpenAI's `data: [DONE]`. `answered[0]` is the caller's: set
    it once an event has gone out. Until then each line may take the first-byte timeout
    (an upstream may send a role chunk, then prefill) and a failure is a `RetryElsewhere`;
    afterwards lines may be `idle_s` apart and a failure is a `BadGateway`."""
    lines = response.aiter_lines()
    while True:
        timeout = timeouts.idle_s if answered[0] else timeouts.first_byte_s
        try:
            line = await asyncio.wait_for(anext(lines), timeout)
        except StopAsyncIteration:
            return
        except (httpx.TransportError, asyncio.TimeoutError) as exc:
            if not answered[0]:
                raise RetryElsewhere(describe(exc)) from None
            raise BadGateway(
                f"The upstream stopped answering mid-answer ({describe(exc)})."
            ) from None
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            yield json.loads(data)
        except json.JSONDecodeError:
            raise BadGateway("The upstream sent a chunk that is not JSON.") from None


def retry_after_s(headers: httpx.Headers | dict[str, str], default: int = 1) -> int:
    try:
        return max(1, int(float(headers.get("retry-after", str(default)))))
    except ValueError:
        return default
