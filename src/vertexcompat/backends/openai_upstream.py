"""A backend in front of an OpenAI-compatible model server (vLLM, SGLang, TGI, llama.cpp's
server, llama-cpp-python's server, Ollama): the `openai` kind of configured endpoints.

A domain request becomes one `POST {replica}/chat/completions` (backends/openai_wire.py
writes the body and reads the answer back into domain events). A client that streams gets
the upstream's chunks as they come (`stream: true`, nothing buffered here); a client that
waits for the whole answer makes a whole request (`stream: false`), so that a replica that
fails halfway can still be replaced by another. Which replica takes a request is the replica set's
choice (backends/replicas.py).

Failures: a refused or broken connection, a first chunk (or whole answer) that does not
come within `first_byte_timeout_s`, or a 502/503/504 counts against the replica and the
request is tried on another one — only while nothing has gone to the client yet;
afterwards the stream ends with an error. Between chunks the stream may be idle for `idle_timeout_s`.
The upstream's own refusals become ours: a 400/422 keeps its message and `param`, a 429
stays a 429 with `Retry-After`, a 401/403 (our credentials for it) and any other 5xx are
a 502, and no replica left is a 503 with `Retry-After`. Closing the event stream (a client
that went away) closes the upstream connection at once, which frees its slot.
"""

from __future__ import annotations

import asyncio
import json
import logging
import select
import socket
import ssl
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import httpcore
import httpx

# `Response.aiter_lines`'s own decoders (httpx is pinned), for `_LineReader`.
from httpx._decoders import LineDecoder, TextDecoder

from vertexcompat.backends.openai_wire import (
    ChunkDecoder,
    events_from_completion,
    to_openai_body,
)
from vertexcompat.backends.replicas import Replica, ReplicaSet
from vertexcompat.domain.content import GenerateContentRequest
from vertexcompat.domain.errors import (
    ApiError,
    BadGateway,
    InvalidArgument,
    ResourceExhausted,
    Unavailable,
)
from vertexcompat.domain.events import StreamEvent, Usage
from vertexcompat.domain.tokens import TokensInfo

logger = logging.getLogger(__name__)
# The line `AsyncClient` logs for each request it sends, kept for requests sent through its
# transport directly (`OpenAIUpstream._send`).
_httpx_logger = logging.getLogger("httpx")

RETRIED_STATUSES = frozenset({502, 503, 504})
# After a stream's `data: [DONE]`: how long, and how much, to read for the rest of the body
# (normally only the end of the chunked encoding, already on its way), so that the
# connection goes back to the pool instead of being closed and opened again by the next
# request. Past either bound the connection is closed, as it always was before.
DRAIN_AFTER_DONE_S = 0.05
DRAIN_AFTER_DONE_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class UpstreamTimeouts:
    connect_s: float = 5.0
    # Until the first chunk of the answer (the upstream may queue and prefill first).
    first_byte_s: float = 300.0
    # Between two chunks once the answer flows.
    idle_s: float = 120.0


class _Retry(Exception):
    """This attempt failed in a way another replica may not (said before any event)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OpenAIUpstream:
    """One configured endpoint: `model` is the name its servers serve."""

    def __init__(
        self,
        endpoint_id: str,
        model: str,
        replicas: ReplicaSet,
        *,
        api_key: str | None = None,
        timeouts: UpstreamTimeouts = UpstreamTimeouts(),
        json_schema: bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`json_schema`: the upstream takes OpenAI's `json_schema` response format (the
        endpoint's `json_schema` capability)."""
        self.endpoint_id = endpoint_id
        self._json_schema = json_schema
        self._model = model
        self._replicas = replicas
        self._timeouts = timeouts
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            headers=headers,
            timeout=httpx.Timeout(connect=timeouts.connect_s, read=None, write=60.0, pool=60.0),
            limits=httpx.Limits(max_connections=1000, max_keepalive_connections=100),
            transport=transport,
        )
        if transport is None:
            _check_readability_directly(self._client)
        # Per replica: its chat URL, parsed once, and the transport the client would pick
        # for it (its pool, or a proxy's from the environment).
        self._chat: dict[str, tuple[httpx.URL, httpx.AsyncBaseTransport]] = {}
        self._request_timeouts = self._client.timeout.as_dict()
        self._prober: asyncio.Task[None] | None = None

    # -- lifecycle (the container starts and closes it with the app) -------------------------

    async def start(self) -> None:
        await self.probe_all()
        self._prober = asyncio.create_task(self._probe_loop(), name=f"probe-{self.endpoint_id}")

    async def close(self) -> None:
        if self._prober is not None:
            self._prober.cancel()
            try:
                await self._prober
            except asyncio.CancelledError:
                pass
            self._prober = None
        await self._client.aclose()

    def problem(self) -> str | None:
        if self._replicas.any_in_service:
            return None
        return f"none of the {len(self._replicas.replicas)} replicas answers"

    async def probe_all(self) -> None:
        await asyncio.gather(*(self._probe(r) for r in self._replicas.replicas))

    async def _probe_loop(self) -> None:
        while True:
            await asyncio.sleep(self._replicas.probe_interval_s)
            out = self._replicas.to_probe()
            if out:
                await asyncio.gather(*(self._probe(r) for r in out))

    async def _probe(self, replica: Replica) -> None:
        try:
            r = await self._client.get(f"{replica.base_url}/models", timeout=self._timeouts.connect_s)
            ok = r.status_code == 200
        except httpx.HTTPError:
            ok = False
        was = replica.in_service
        self._replicas.probed(replica, ok)
        if was != replica.in_service:
            logger.warning("endpoint %s: replica %s is %s", self.endpoint_id, replica.base_url,
                           "back in service" if ok else "out of service")

    # -- the Backend port ------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self._replicas.any_in_service

    def model_names(self) -> list[str]:
        return [self._model]

    def stats(self) -> dict[str, int]:
        return self._replicas.stats()

    def context_length(self, model: str) -> int | None:
        return None

    async def precheck(self, request: GenerateContentRequest) -> None:
        return None

    async def count_tokens(self, request: GenerateContentRequest, *, as_prompt: bool = False) -> int:
        raise InvalidArgument(
            f"Endpoint `{self.endpoint_id}` cannot count tokens (the OpenAI wire has no way "
            "to ask), so it cannot hold cached contents either.", location="model",
        )

    async def compute_tokens(self, request: GenerateContentRequest) -> list[TokensInfo]:
        raise InvalidArgument(
            f"Endpoint `{self.endpoint_id}` cannot compute tokens (the OpenAI wire has no way "
            "to ask).", location="model",
        )

    def release_cache(self, name: str) -> None:
        return None

    def stream(self, request: GenerateContentRequest) -> AsyncIterator[StreamEvent]:
        if request.generation_config.candidate_count > 1:
            return self._fan_out(request)
        return self._events(self._body(request))

    def _body(self, request: GenerateContentRequest) -> dict[str, Any]:
        return to_openai_body(request, upstream_model=self._model, stream=request.stream,
                              json_schema=self._json_schema)

    async def _fan_out(self, request: GenerateContentRequest) -> AsyncIterator[StreamEvent]:
        """`n` candidates as `n` requests of one answer each, run at once (spread over the
        replicas), their events renumbered and interleaved as they come: not every
        OpenAI-compatible server answers `n` (llama-cpp-python's ignores it). With a seed,
        candidate k asks with seed + k, so candidate 0 is the answer of the same request
        with n = 1. Usage: the prompt once, the completions summed, as OpenAI counts n."""
        cfg = request.generation_config
        n = cfg.candidate_count
        streams = [
            self._events(self._body(replace(request, generation_config=replace(
                cfg, candidate_count=1, seed=None if cfg.seed is None else cfg.seed + k,
            ))))
            for k in range(n)
        ]
        queue: asyncio.Queue[tuple[int, StreamEvent | BaseException | None]] = asyncio.Queue()

        async def pump(k: int, events: AsyncIterator[StreamEvent]) -> None:
            try:
                async for event in events:
                    await queue.put((k, event))
                await queue.put((k, None))
            except Exception as exc:  # handed to the consumer, raised there
                await queue.put((k, exc))

        tasks = [asyncio.create_task(pump(k, s)) for k, s in enumerate(streams)]
        usages: list[Usage] = []
        try:
            done = 0
            while done < n:
                k, item = await queue.get()
                if item is None:
                    done += 1
                elif isinstance(item, BaseException):
                    raise item
                elif isinstance(item, Usage):
                    usages.append(item)
                else:
                    yield replace(item, candidate=k)
            yield Usage(
                prompt_tokens=max((u.prompt_tokens for u in usages), default=0),
                completion_tokens=sum(u.completion_tokens for u in usages),
                cached_tokens=max((u.cached_tokens for u in usages), default=0),
                reasoning_tokens=sum(u.reasoning_tokens for u in usages),
            )
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for events in streams:
                await events.aclose()  # type: ignore[attr-defined]

    # -- one request -------------------------------------------------------------------------

    async def _events(self, body: Mapping[str, Any]) -> AsyncIterator[StreamEvent]:
        tried: list[Replica] = []
        reasons: list[str] = []
        while True:
            replica = self._replicas.pick(exclude=tried)
            if replica is None:
                raise self._none_left(tried, reasons)
            tried.append(replica)
            self._replicas.begin(replica)
            try:
                async for event in self._attempt(replica, body):
                    yield event
                self._replicas.succeeded(replica)
                return
            except BadGateway:
                self._replicas.failed(replica)
                raise
            except _Retry as exc:  # raised before the attempt's first event only
                self._replicas.failed(replica)
                reasons.append(f"{replica.base_url}: {exc.reason}")
                logger.warning("endpoint %s: %s; trying another replica", self.endpoint_id,
                               reasons[-1])
            finally:
                self._replicas.end(replica)

    async def _attempt(self, replica: Replica, body: Mapping[str, Any]) -> AsyncIterator[StreamEvent]:
        if not body.get("stream"):
            for event in await self._whole(replica, body):
                yield event
            return
        # `asyncio.timeout` rather than `asyncio.wait_for`, here and below: on Python 3.11
        # `wait_for` runs what it awaits in a task of its own, one per request and per line.
        try:
            async with asyncio.timeout(self._timeouts.first_byte_s):
                response = await self._send(replica, body)
        except (httpx.TransportError, asyncio.TimeoutError) as exc:
            raise _Retry(_describe(exc)) from None
        try:
            if response.status_code in RETRIED_STATUSES:
                raise _Retry(f"HTTP {response.status_code}")
            if response.status_code != 200:
                raw = await response.aread()
                raise upstream_error(response.status_code, raw, response.headers)
            decoder = ChunkDecoder()
            lines = _LineReader(response)
            first = True
            done = False
            while not done:
                # A timeout per wait for the network, not per line: the lines of a chunk
                # that has come are there at once.
                timeout = self._timeouts.first_byte_s if first else self._timeouts.idle_s
                try:
                    async with asyncio.timeout(timeout):
                        batch = await lines.next_batch()
                except (httpx.TransportError, asyncio.TimeoutError) as exc:
                    if first:
                        raise _Retry(_describe(exc)) from None
                    raise BadGateway(
                        f"The upstream stopped answering mid-answer ({_describe(exc)})."
                    ) from None
                if batch is None:
                    break
                for line in batch:
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        done = True
                        break
                    try:
                        chunk = json.loads(data)
                    except json.JSONDecodeError:
                        raise BadGateway("The upstream sent a chunk that is not JSON.") from None
                    if isinstance(chunk, dict) and "error" in chunk and "choices" not in chunk:
                        raise upstream_error(502, data.encode(), {})
                    for event in decoder.feed(chunk):
                        first = False
                        yield event
            for event in decoder.finish():
                yield event
            if done:
                await lines.read_rest()
        finally:
            await response.aclose()

    async def _whole(self, replica: Replica, body: Mapping[str, Any]) -> list[StreamEvent]:
        """A whole answer: nothing reaches the client before it is complete, so any failure
        on the way may be retried on another replica."""
        try:
            async with asyncio.timeout(self._timeouts.first_byte_s):
                response = await self._send(replica, body)
                try:
                    content = await _read_all(response)
                finally:
                    await response.aclose()
        except (httpx.TransportError, asyncio.TimeoutError) as exc:
            raise _Retry(_describe(exc)) from None
        if response.status_code in RETRIED_STATUSES:
            raise _Retry(f"HTTP {response.status_code}")
        if response.status_code != 200:
            raise upstream_error(response.status_code, content, response.headers)
        try:
            completion = json.loads(content)  # what `response.json()` does
        except ValueError:
            raise _Retry("the answer is not JSON") from None
        if not isinstance(completion, dict) or not isinstance(completion.get("choices"), list):
            raise _Retry("the answer is not a chat completion")
        return events_from_completion(completion)

    async def _send(self, replica: Replica, body: Mapping[str, Any]) -> httpx.Response:
        """`POST {replica}/chat/completions` with `body` as JSON; the response's body is
        left to read (and the response to close).

        What `self._client.send(request, stream=True)` does for this client — the same
        request (its headers, cookies and timeouts), the transport it would pick, its
        cookie jar kept and its log line — without its per-request layers (auth and
        redirect flows that have nothing to do here: the client has no auth and follows
        no redirects, nor has it event hooks; a cookie jar updated through a parse of
        every response, which only matters when the response sets a cookie). They cost
        more than this server's own work on a request."""
        if self._client.is_closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        url, transport = self._chat_target(replica)
        cookies = self._client.cookies
        request = httpx.Request(
            "POST", url, headers=self._client.headers, cookies=cookies if cookies else None,
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

    def _chat_target(self, replica: Replica) -> tuple[httpx.URL, httpx.AsyncBaseTransport]:
        target = self._chat.get(replica.base_url)
        if target is None:
            url = httpx.URL(f"{replica.base_url}/chat/completions")
            # httpx 0.28's choice between its pool and the environment's proxies.
            target = self._chat[replica.base_url] = (url, self._client._transport_for_url(url))
        return target

    def _none_left(self, tried: list[Replica], reasons: list[str]) -> Unavailable:
        retry = self._replicas.retry_after_s()
        if not tried:
            return Unavailable(
                f"Endpoint `{self.endpoint_id}` has no replica in service; retry shortly.",
                retry_after_s=retry,
            )
        return Unavailable(
            f"Endpoint `{self.endpoint_id}`: every replica failed ({'; '.join(reasons)}).",
            retry_after_s=retry,
        )


async def _read_all(response: httpx.Response) -> bytes:
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


def _text_encoding(response: httpx.Response) -> str:
    """`response.encoding or "utf-8"`, without its parse of the Content-Type header (an
    `email.message.Message` per response) when the header names no charset."""
    content_type = response.headers.get("content-type")
    no_charset = content_type is None or "charset" not in content_type.lower()
    if no_charset and isinstance(response.default_encoding, str):
        return response.default_encoding or "utf-8"
    return response.encoding or "utf-8"


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


class _LineReader:
    """The lines of a response body as `Response.aiter_lines` makes them (its decoders:
    the charset, then line breaks), a network chunk's worth at a time — without the four
    async generators `aiter_lines` stacks, which cost more per chunk than reading it."""

    def __init__(self, response: httpx.Response) -> None:
        # When nothing encodes the body (and nothing has read it yet), what `aiter_bytes`
        # yields is the transport's stream as it comes, through three more generators.
        stream = response.stream
        raw = (
            not response.is_stream_consumed and "content-encoding" not in response.headers
            and isinstance(stream, httpx.AsyncByteStream)
        )
        self._chunks = aiter(stream) if raw else response.aiter_bytes()
        self._text = TextDecoder(encoding=_text_encoding(response))
        self._lines = LineDecoder()
        self._ended = False

    async def next_batch(self) -> list[str] | None:
        """The lines the next chunk completes (maybe none), the last ones when the body
        ends, then None."""
        if self._ended:
            return None
        try:
            raw = await anext(self._chunks)
        except StopAsyncIteration:
            self._ended = True
            return self._lines.decode(self._text.flush()) + self._lines.flush()
        return self._lines.decode(self._text.decode(raw))

    async def read_rest(self) -> None:
        """What an upstream sends after `data: [DONE]`, ignored: read to the end of the
        body within `DRAIN_AFTER_DONE_S` and `DRAIN_AFTER_DONE_BYTES`, so that the
        connection can serve another request; past either, or on any error, the caller
        closes it."""
        left = DRAIN_AFTER_DONE_BYTES
        try:
            async with asyncio.timeout(DRAIN_AFTER_DONE_S):
                async for raw in self._chunks:
                    left -= len(raw)
                    if left < 0:
                        return
        except (httpx.HTTPError, asyncio.TimeoutError):
            pass


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def upstream_error(status: int, raw: bytes, headers: Mapping[str, str]) -> ApiError:
    """The client's view of an upstream's refusal (module docstring)."""
    message, param = _error_fields(raw)
    if status in (400, 422):
        return InvalidArgument(message or f"The upstream refused the request (HTTP {status}).",
                               param=param)
    if status == 429:
        try:
            retry = max(1, int(float(headers.get("retry-after", "1"))))
        except ValueError:
            retry = 1
        return ResourceExhausted(message or "The upstream is busy.", retry_after_s=retry)
    what = "refused our credentials" if status in (401, 403) else "failed"
    return BadGateway(f"The upstream {what} (HTTP {status}): {message or 'no message'}")


def _error_fields(raw: bytes) -> tuple[str, str | None]:
    """(message, param) from the error bodies OpenAI-compatible servers send: OpenAI's
    `{"error": {...}}`, vLLM's flat `{"object": "error", "message": ...}`, FastAPI's
    `{"detail": ...}`; else the text."""
    text = raw.decode("utf-8", errors="replace").strip()
    try:
        body = json.loads(text)
    except json.JSONDecodeError:
        return text[:500], None
    if not isinstance(body, dict):
        return text[:500], None
    error = body.get("error") if isinstance(body.get("error"), dict) else body
    message = error.get("message") or error.get("detail") or body.get("detail") or text
    if not isinstance(message, str):
        message = json.dumps(message)[:500]
    param = error.get("param")
    return message[:2000], param if isinstance(param, str) and param else None
