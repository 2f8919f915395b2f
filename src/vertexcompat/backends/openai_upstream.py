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
that went away) closes the upstream connection at once, which frees its slot. The HTTP
itself (sending, timeouts, reading the stream, keeping connections) is
backends/upstream_http.py's.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import replace
from typing import Any

import httpx

from vertexcompat.backends.openai_wire import (
    ChunkDecoder,
    events_from_completion,
    to_openai_body,
)
from vertexcompat.backends.replicas import Replica, ReplicaSet, health_answer
from vertexcompat.backends.upstream_http import (
    RetryElsewhere,
    SseReader,
    UpstreamClient,
    UpstreamTimeouts,
    retry_after_s,
)
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

# Told after each attempt on a replica: its base URL, "ok" or "failed", and its seconds
# (until the answer's end, or the failure).
AttemptReport = Callable[[str, str, float], None]


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
        on_attempt: AttemptReport | None = None,
    ) -> None:
        """`json_schema`: the upstream takes OpenAI's `json_schema` response format (the
        endpoint's `json_schema` capability). `on_attempt`: told how each attempt on a
        replica went (metrics)."""
        self._on_attempt = on_attempt
        self.endpoint_id = endpoint_id
        self._json_schema = json_schema
        self._model = model
        self._replicas = replicas
        self._timeouts = timeouts
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = UpstreamClient(timeouts, headers=headers, transport=transport)
        # Per replica: the URL of its chat completions, written once.
        self._chat: dict[str, str] = {}
        self._prober: asyncio.Task[None] | None = None
        # Replica → the URL its health probe asks (found on its first probe: `_healthy`).
        self._health_urls: dict[str, str] = {}

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
        await self._http.aclose()

    def replica_states(self) -> dict[str, bool]:
        """Each replica's base URL → whether it is in service now."""
        return {r.base_url: r.in_service for r in self._replicas.replicas}

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
        ok = await self._healthy(replica)
        was = replica.in_service
        self._replicas.probed(replica, ok)
        if was != replica.in_service:
            logger.warning("endpoint %s: replica %s is %s", self.endpoint_id, replica.base_url,
                           "back in service" if ok else "out of service")

    async def _healthy(self, replica: Replica) -> bool:
        """The server's own health check — `GET /health` at its root (vLLM, SGLang, TGI and
        llama.cpp's server answer it; 503 while loading) — else `GET {replica}/models`, which
        every OpenAI-compatible server answers (`replicas.health_answer` decides). A server
        without `/health` (404/405: llama-cpp-python's, Ollama's) is found out once; any
        other answer there (a proxy in front that refuses it) is asked again next time."""
        url = self._health_urls.get(replica.base_url)
        client = self._http.client
        models = f"{replica.base_url}/models"
        try:
            if url is None:
                health = f"{replica.base_url.removesuffix('/v1')}/health"
                r = await client.get(health, timeout=self._timeouts.connect_s)
                match health_answer(r.status_code):
                    case "health":
                        self._health_urls[replica.base_url] = health
                        return r.status_code == 200
                    case "no health":
                        self._health_urls[replica.base_url] = url = models
                    case "ask models":  # not a model server's answer (a proxy's 401?)
                        url = models
            r = await client.get(url, timeout=self._timeouts.connect_s)
            return r.status_code == 200
        except httpx.HTTPError:
            return False

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
            started, outcome = time.perf_counter(), None
            try:
                async for event in self._attempt(replica, body):
                    yield event
                self._replicas.succeeded(replica)
                outcome = "ok"
                return
            except BadGateway:
                self._replicas.failed(replica)
                outcome = "failed"
                raise
            except RetryElsewhere as exc:  # raised before the attempt's first event only
                self._replicas.failed(replica)
                outcome = "failed"
                reasons.append(f"{replica.base_url}: {exc.reason}")
                logger.warning("endpoint %s: %s; trying another replica", self.endpoint_id,
                               reasons[-1])
            finally:
                self._replicas.end(replica)
                # Not timed: an attempt the client abandoned, or the upstream's own refusal.
                if outcome is not None and self._on_attempt is not None:
                    self._on_attempt(replica.base_url, outcome, time.perf_counter() - started)

    async def _attempt(self, replica: Replica, body: Mapping[str, Any]) -> AsyncIterator[StreamEvent]:
        url = self._chat_url(replica)
        if not body.get("stream"):
            for event in await self._whole(url, body):
                yield event
            return
        response = await self._http.open_stream(url, body, refusal=upstream_error)
        decoder = ChunkDecoder()

        def feed(chunk: Any) -> list[StreamEvent]:
            if isinstance(chunk, dict) and "error" in chunk and "choices" not in chunk:
                raise upstream_error(502, json.dumps(chunk).encode(), {})
            return decoder.feed(chunk)

        try:
            reader = SseReader(response, self._timeouts, end="[DONE]")
            while (events := await reader.next_events(feed)) is not None:
                for event in events:
                    yield event
            for event in decoder.finish():
                yield event
            await reader.drain()
        finally:
            await response.aclose()

    async def _whole(self, url: str, body: Mapping[str, Any]) -> list[StreamEvent]:
        """A whole answer: nothing reaches the client before it is complete, so any failure
        on the way may be retried on another replica."""
        content = await self._http.whole(url, body, refusal=upstream_error)
        try:
            completion = json.loads(content)  # what `response.json()` does
        except ValueError:
            raise RetryElsewhere("the answer is not JSON") from None
        if not isinstance(completion, dict) or not isinstance(completion.get("choices"), list):
            raise RetryElsewhere("the answer is not a chat completion")
        return events_from_completion(completion)

    def _chat_url(self, replica: Replica) -> str:
        url = self._chat.get(replica.base_url)
        if url is None:
            url = self._chat[replica.base_url] = f"{replica.base_url}/chat/completions"
        return url

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


def upstream_error(status: int, raw: bytes, headers: Mapping[str, str]) -> ApiError:
    """The client's view of an upstream's refusal (module docstring)."""
    message, param = _error_fields(raw)
    if status in (400, 422):
        return InvalidArgument(message or f"The upstream refused the request (HTTP {status}).",
                               param=param)
    if status == 429:
        return ResourceExhausted(message or "The upstream is busy.",
                                 retry_after_s=retry_after_s(headers))
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
