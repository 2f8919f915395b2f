"""The HTTP that every upstream backend (backends/openai_upstream.py,
backends/gemini_upstream.py) does the same way: one `UpstreamClient` per endpoint, its
timeouts (`UpstreamTimeouts`), and the line between "try again" (`RetryElsewhere`, only
before the first event has gone to the client) and "the answer broke" (`BadGateway`).

`UpstreamClient` wraps one `httpx.AsyncClient` (`client`, for whatever else the backend
asks: health probes, token requests):

- `send` POSTs a JSON body to any URL, with the client's headers and the request's own
  (an API key or a bearer token per request), straight to the transport the client would
  pick for the URL — what `AsyncClient.send(request, stream=True)` does, without the
  per-request layers (auth and redirect flows, event hooks) this client does not use;
  they cost more than this server's own work on a request. The response is left open.
- `whole` is a whole exchange within the first-byte timeout (its body read by
  `read_all`, straight from the transport's stream); `open_stream` sends a
  request whose answer will be read as it comes and waits for its status within the
  first-byte timeout. For both, a refused or broken connection, a timeout or a
  502/503/504 is a `RetryElsewhere`; any other status but 200 is the backend's
  `refusal(status, body, headers)`, raised.
- `SseReader` reads the `data:` lines of a server-sent-events answer as JSON, a network
  chunk's worth at a time (`SseLines` splits them at `\\r\\n`, `\\n` and `\\r`, as the SSE
  spec says, and nowhere else: a raw U+2028 in a JSON string stays in its line), and
  hands each value to the backend's decoder (`next_events`). Each wait for the
  network may take the first-byte timeout until the caller has sent an event (an
  upstream may send a role chunk, then prefill), `idle_s` after: under `asyncio.timeout`,
  not `asyncio.wait_for` (on Python 3.11 a task per await). After an end marker (OpenAI's
  `data: [DONE]`) `drain` reads what is left of the body, briefly, so that the connection
  goes back to the pool instead of being closed.
- The client's connection pool checks whether an idle connection is readable straight
  from its socket (`_DirectReadability`), not through anyio's walk of its attributes.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import logging
import select
import socket
import ssl
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpcore
import httpx

from vertexcompat.domain.errors import ApiError, BadGateway

# The line `AsyncClient` logs for each request it sends, kept for requests sent through its
# transport directly (`UpstreamClient.send`).
_httpx_logger = logging.getLogger("httpx")

# Statuses that say "this server cannot answer now" rather than "this request is wrong".
RETRIED_STATUSES = frozenset({502, 503, 504})
# After a stream's end marker: how long, and how much, to read for the rest of the body
# (normally only the end of the chunked encoding, already on its way), so that the
# connection goes back to the pool instead of being closed and opened again by the next
# request. Past either bound the connection is closed.
DRAIN_AFTER_END_S = 0.05
DRAIN_AFTER_END_BYTES = 64 * 1024
# Parsed URLs (and the transport for each) kept per client; past this many, forgotten.
_MAX_TARGETS = 1024

E = TypeVar("E")

# How a backend turns an upstream's refusal (status, body, headers) into the client's error.
Refusal = Callable[[int, bytes, Mapping[str, str]], ApiError]


@dataclass(frozen=True, slots=True)
class UpstreamTimeouts:
    connect_s: float = 5.0
    # Until the first chunk of the answer (the upstream may queue and prefill first).
    first_byte_s: float = 300.0
    # Between two chunks once the answer flows.
    idle_s: float = 120.0


class RetryElsewhere(Exception):
    """This attempt failed in a way another attempt (on another replica, or the same
    upstream again) may not; raised before any event has gone out."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def retry_after_s(headers: Mapping[str, str], default: int = 1) -> int:
    """A `Retry-After` header's whole seconds (at least 1), else `default`."""
    try:
        return max(1, int(float(headers.get("retry-after", str(default)))))
    except ValueError:
        return default


class UpstreamClient:
    """One endpoint's HTTP client (module docstring). `headers` go with every request."""

    def __init__(
        self,
        timeouts: UpstreamTimeouts,
        *,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.timeouts = timeouts
        self.client = httpx.AsyncClient(
            headers=headers,
            timeout=httpx.Timeout(connect=timeouts.connect_s, read=None, write=60.0, pool=60.0),
            limits=httpx.Limits(max_connections=1000, max_keepalive_connections=100),
            transport=transport,
        )
        if transport is None:
            _check_readability_directly(self.client)
        # Per URL: parsed once, and the transport the client would pick for it (its pool,
        # or a proxy's from the environment).
        self._targets: dict[str, tuple[httpx.URL, httpx.AsyncBaseTransport]] = {}
        self._request_timeouts = self.client.timeout.as_dict()

    async def aclose(self) -> None:
        await self.client.aclose()

    async def send(
        self, url: str, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        """`POST url` with `body` as JSON, the client's headers and `headers`; the
        response's body is left to read (and the response to close).

        What `self.client.send(request, stream=True)` does for this client — the same
        request (its headers, cookies and timeouts), the transport it would pick, its
        cookie jar kept and its log line — without its per-request layers (auth and
        redirect flows that have nothing to do here: the client has no auth and follows
        no redirects, nor has it event hooks; a cookie jar updated through a parse of
        every response, which only matters when the response sets a cookie)."""
        client = self.client
        if client.is_closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        target, transport = self._target(url)
        merged: httpx.Headers = client.headers
        if headers:
            merged = httpx.Headers(merged)
            merged.update(headers)
        cookies = client.cookies
        request = httpx.Request(
            "POST", target, headers=merged, cookies=cookies if cookies else None,
            json=body, extensions={"timeout": self._request_timeouts},
        )
        response = await transport.handle_async_request(request)
        response.request = request
        if "set-cookie" in response.headers or "set-cookie2" in response.headers:
            cookies.extract_cookies(response)
        if _httpx_logger.isEnabledFor(logging.INFO):
            _httpx_logger.info(
                'HTTP Request: %s %s "%s %d %s"', request.method, request.url,
                response.http_version, response.status_code, response.reason_phrase,
            )
        return response

    def _target(self, url: str) -> tuple[httpx.URL, httpx.AsyncBaseTransport]:
        target = self._targets.get(url)
        if target is None:
            if len(self._targets) >= _MAX_TARGETS:
                self._targets.clear()
            parsed = httpx.URL(url)
            # httpx 0.28's choice between its pool and the environment's proxies.
            target = self._targets[url] = (parsed, self.client._transport_for_url(parsed))
        return target

    async def whole(
        self, url: str, body: Mapping[str, Any], headers: Mapping[str, str] | None = None,
        *, refusal: Refusal,
    ) -> bytes:
        """The body of a 200 answer to `POST url`, all of it within the first-byte timeout.
        A refused or broken connection, a timeout or a 502/503/504: `RetryElsewhere`;
        another status: `refusal(status, body, headers)`."""
        _, content = await self._exchange(url, body, headers, refusal, whole=True)
        return content

    async def open_stream(
        self, url: str, body: Mapping[str, Any], headers: Mapping[str, str] | None = None,
        *, refusal: Refusal,
    ) -> httpx.Response:
        """The open response (close it) of a 200 answer to `POST url`, its status within
        the first-byte timeout; failures as `whole`'s."""
        response, _ = await self._exchange(url, body, headers, refusal, whole=False)
        return response

    async def _exchange(
        self, url: str, body: Mapping[str, Any], headers: Mapping[str, str] | None,
        refusal: Refusal, *, whole: bool,
    ) -> tuple[httpx.Response, bytes]:
        # `asyncio.timeout` rather than `asyncio.wait_for`, here and in `SseReader`: on
        # Python 3.11 `wait_for` runs what it awaits in a task of its own.
        try:
            async with asyncio.timeout(self.timeouts.first_byte_s):
                response = await self.send(url, body, headers)
                if not whole and response.status_code == 200:
                    return response, b""
                try:
                    content = await read_all(response)
                finally:
                    await response.aclose()
        except (httpx.HTTPError, asyncio.TimeoutError) as exc:  # a broken body (DecodingError) too
            raise RetryElsewhere(describe(exc)) from None
        status = response.status_code
        if status in RETRIED_STATUSES:
            raise RetryElsewhere(f"HTTP {status}")
        if status != 200:
            raise refusal(status, content, response.headers)
        return response, content


async def read_all(response: httpx.Response) -> bytes:
    """The body, as `response.aread()` returns it: when nothing encodes it (and nothing has
    read it yet), straight from the transport's stream rather than through three
    generators."""
    stream = response.stream
    if (
        not response.is_stream_consumed and "content-encoding" not in response.headers
        and isinstance(stream, httpx.AsyncByteStream)
    ):
        return b"".join([chunk async for chunk in stream])
    return await response.aread()


class SseReader:
    """The `data:` lines of an open server-sent-events response, each line's JSON value, a
    network chunk's worth at a time; `end` is a payload that ends the answer before its
    body does (OpenAI's `[DONE]`).

    The body is decoded in the response's charset (UTF-8 unless it names another), as
    `Response.aiter_text` would, and split into lines as the SSE spec says — at `\\r\\n`,
    `\\n` or `\\r` only, not at the other breaks `str.splitlines` (and httpx's
    `aiter_lines`) know: U+2028, U+2029, U+0085, … — without the async generators
    `aiter_lines` stacks, which cost more per chunk than reading it.

    `answered` says whether an event has gone to the client (`next_events` sets it as its
    events go; a caller of `next_batch` sets it): until then the waits for the network end
    together at the first-byte deadline (counted from when the reader was made: chunks
    that carry no event — a role, a keep-alive — do not extend it) and a failure is a
    `RetryElsewhere`; afterwards each wait is `idle_s` and a failure a `BadGateway`."""

    def __init__(
        self, response: httpx.Response, timeouts: UpstreamTimeouts, *, end: str | None = None
    ) -> None:
        # When nothing encodes the body (and nothing has read it yet), what `aiter_bytes`
        # yields is the transport's stream as it comes, through three more generators.
        stream = response.stream
        raw = (
            not response.is_stream_consumed and "content-encoding" not in response.headers
            and isinstance(stream, httpx.AsyncByteStream)
        )
        self._chunks = aiter(stream) if raw else response.aiter_bytes()
        self._text = codecs.getincrementaldecoder(_text_encoding(response))(errors="replace")
        self._lines = SseLines()
        self._timeouts = timeouts
        self._end = end
        self._ended = False  # the body, or the end marker, has come
        self._at_marker = False  # the end marker has come, and the rest is not read
        self.answered = False
        self._first_deadline = asyncio.get_running_loop().time() + timeouts.first_byte_s

    async def next_events(self, feed: Callable[[Any], Iterable[E]]) -> Iterator[E] | None:
        """The events `feed` makes of the values of the next network chunk (`next_batch`),
        as they are iterated, each counted as gone out (`answered`) when it is handed
        over; None at the end."""
        values = await self.next_batch()
        return None if values is None else self._events(values, feed)

    def _events(self, values: list[Any], feed: Callable[[Any], Iterable[E]]) -> Iterator[E]:
        for value in values:
            for event in feed(value):
                self.answered = True
                yield event

    async def next_batch(self) -> list[Any] | None:
        """The JSON values of the `data:` lines the next network chunk completes (maybe
        none), the last ones when the body ends; None once it has ended, or the end marker
        has come. The wait and its failures are as `answered` says (class docstring); a
        line that is not JSON is a `BadGateway`."""
        if self._ended:
            return None
        answered = self.answered
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeouts.idle_s if answered else self._first_deadline
        try:
            async with asyncio.timeout_at(deadline):
                raw = await anext(self._chunks)
        except StopAsyncIteration:
            self._ended = True
            lines = self._lines.feed(self._text.decode(b"", True)) + self._lines.flush()
        except (httpx.HTTPError, asyncio.TimeoutError) as exc:  # a broken body (DecodingError) too
            if not answered:
                raise RetryElsewhere(describe(exc)) from None
            raise BadGateway(
                f"The upstream stopped answering mid-answer ({describe(exc)})."
            ) from None
        else:
            lines = self._lines.feed(self._text.decode(raw))
        values: list[Any] = []
        for line in lines:
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == self._end:
                self._ended = self._at_marker = True
                break
            try:
                values.append(json.loads(data))
            except json.JSONDecodeError:
                raise BadGateway("The upstream sent a chunk that is not JSON.") from None
        return values

    async def drain(self) -> None:
        """After the end marker, what the upstream sends (ignored): read to the end of the
        body within `DRAIN_AFTER_END_S` and `DRAIN_AFTER_END_BYTES`, so that the
        connection can serve another request; past either, or on any error, the caller's
        close of the response closes it. Nothing to do when the body has ended."""
        if not self._at_marker:
            return
        self._at_marker = False
        left = DRAIN_AFTER_END_BYTES
        try:
            async with asyncio.timeout(DRAIN_AFTER_END_S):
                async for raw in self._chunks:
                    left -= len(raw)
                    if left < 0:
                        return
        except (httpx.HTTPError, asyncio.TimeoutError):
            pass


class SseLines:
    """Text, fed as it comes, cut into lines at `\\r\\n`, `\\n` or `\\r` (the SSE spec's
    line ends, one `\\r\\n` even when it is split between two feeds)."""

    __slots__ = ("_rest", "_after_cr")

    def __init__(self) -> None:
        self._rest = ""  # the start of a line whose end has not come
        self._after_cr = False  # the text fed so far ends with `\r`

    def feed(self, text: str) -> list[str]:
        """The lines `text` completes."""
        if not text:
            return []
        if self._after_cr:
            self._after_cr = False
            if text[0] == "\n":  # the second half of a `\r\n`: that line has ended
                text = text[1:]
        if "\r" in text:
            self._after_cr = text[-1] == "\r"
            text = text.replace("\r\n", "\n")
            if "\r" in text:
                text = text.replace("\r", "\n")
        if self._rest:
            text = self._rest + text
        lines = text.split("\n")
        self._rest = lines.pop()
        return lines

    def flush(self) -> list[str]:
        """The last line, when the text ended without a line end."""
        rest, self._rest = self._rest, ""
        return [rest] if rest else []


def _text_encoding(response: httpx.Response) -> str:
    """`response.encoding or "utf-8"`, without its parse of the Content-Type header (an
    `email.message.Message` per response) when the header names no charset."""
    content_type = response.headers.get("content-type")
    no_charset = content_type is None or "charset" not in content_type.lower()
    if no_charset and isinstance(response.default_encoding, str):
        return response.default_encoding or "utf-8"
    return response.encoding or "utf-8"


# -- the pool's readability check ----------------------------------------------------------


def _check_readability_directly(client: httpx.AsyncClient) -> None:
    """Give the client's own connection pool `_DirectReadability` (a no-op if httpx or
    httpcore are not laid out as in the versions this was written against).

    The pool asks every connection it holds whether its idle socket is readable (a server
    that closed it) twice per request, and anyio answers each question by building all
    of its socket's attributes — a `getpeername()` among them — to pick one: with 32
    requests in flight that was over half a millisecond of CPU per request, growing with
    the number of connections."""
    pool = getattr(getattr(client, "_transport", None), "_pool", None)
    if not isinstance(pool, httpcore.AsyncConnectionPool):
        return
    backend = getattr(pool, "_network_backend", None)
    if isinstance(backend, httpcore.AsyncNetworkBackend) and not isinstance(
        backend, _DirectReadability
    ):
        pool._network_backend = _DirectReadability(backend)


class _DirectReadability(httpcore.AsyncNetworkBackend):
    """A network backend's connections, each answering "is it readable?" from its socket,
    found once; everything else is the backend's own."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _ReadableStream(await self._inner.connect_tcp(
            host, port, timeout=timeout, local_address=local_address,
            socket_options=socket_options,
        ))

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _ReadableStream(await self._inner.connect_unix_socket(
            path, timeout=timeout, socket_options=socket_options,
        ))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _ReadableStream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        # A `socket.socket`, or on asyncio the transport's `TransportSocket` view of one.
        sock = inner.get_extra_info("socket")
        self._socket: socket.socket | None = (
            sock if callable(getattr(sock, "fileno", None)) else None
        )

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _ReadableStream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable" and self._socket is not None and hasattr(select, "poll"):
            # What httpcore asks anyio for: poll the socket (a TLS stream's too) without
            # reading; a closed one counts as readable (the next read would say so).
            fd = self._socket.fileno()
            if fd < 0:
                return True
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            return bool(poller.poll(0))
        return self._inner.get_extra_info(info)
