"""A backend in front of Google's own Gemini, over its native REST API: the `gemini` kind of
configured endpoints.

Two flavours of the same wire (backends/gemini_wire.py writes the bodies and reads the
answers back into domain events):

- the Gemini API (`generativelanguage.googleapis.com`): `POST
  {base}/{version}/models/{model}:generateContent`, the key in `x-goog-api-key`;
- Vertex AI: `POST {base}/{version}/projects/{p}/locations/{l}/publishers/{publisher}/
  models/{model}:generateContent` with a service account's bearer token
  (backends/google_credentials.py), or with an API key and no project (express mode:
  `{base}/{version}/publishers/…`). A model id with a slash (`meta/llama-4`) names its
  publisher.

A client that streams gets `:streamGenerateContent?alt=sse`, read event by event; one that
waits gets `:generateContent`. Thought signatures are Gemini's own: they pass through in
both directions (the endpoint declares `issues_thought_signatures`, so nothing seals them
here). `n` is Gemini's `candidateCount`. Prompt tokens are counted by `:countTokens`, so a
Gemini endpoint can hold cached contents (they are sent as leading contents). Vertex's
`:computeTokens` answers for its contents' tokens; the Gemini API has none, so on that form
a request for them is refused (400).

Failures before the first event (or the answer of a `:countTokens` / `:computeTokens`) —
a refused connection, a timeout, a 502/503/504 — are tried once more, then answered 503
with Retry-After. Google's refusals become ours: a 400 keeps its message (and its field,
as the Gemini location it names), a 404 stays a 404, a 429 stays a 429 with Retry-After,
a 401/403 (our credentials for it) and other 5xx are a 502. A stream's first event may take
`first_byte_timeout_s`, the chunks after it may be `idle_timeout_s` apart (a break after
the first event ends the stream with an error). Closing the event stream (a client that
went away) closes the upstream's at once. The HTTP itself is backends/upstream_http.py's.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import aclosing
from typing import Any, TypeVar

import httpx

from vertexcompat.backends.gemini_wire import (
    ChunkDecoder,
    count_from_count_tokens,
    events_from_response,
    parse_error_body,
    to_compute_tokens_body,
    to_count_tokens_body,
    to_gemini_body,
    tokens_info_from_compute_tokens,
)
from vertexcompat.backends.google_credentials import ServiceAccountKey, ServiceAccountTokens
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
    NotFound,
    ResourceExhausted,
    Unavailable,
)
from vertexcompat.domain.events import StreamEvent
from vertexcompat.domain.locations import FieldPath
from vertexcompat.domain.tokens import TokensInfo
from vertexcompat.translate.gemini_contents import _snake

logger = logging.getLogger(__name__)

ATTEMPTS = 2
RETRY_PAUSE_S = 0.25
UNAVAILABLE_RETRY_AFTER_S = 5

T = TypeVar("T")


class GeminiUpstream:
    """One configured `gemini` endpoint serving `models` (Gemini model ids)."""

    def __init__(
        self,
        endpoint_id: str,
        models: Sequence[str],
        *,
        base_url: str,
        api_version: str,
        vertex: bool,
        project: str | None = None,
        location: str = "us-central1",
        api_key: str | None = None,
        key: ServiceAccountKey | None = None,
        timeouts: UpstreamTimeouts = UpstreamTimeouts(),
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if (api_key is None) == (key is None):
            raise ValueError("a gemini endpoint takes an API key or a service-account key")
        self.endpoint_id = endpoint_id
        self._models = list(models)
        self._timeouts = timeouts
        self._api_key = api_key
        self._http = UpstreamClient(timeouts, transport=transport)
        self._tokens = None if key is None else ServiceAccountTokens(key, self._http.client)
        root = f"{base_url.rstrip('/')}/{api_version}"
        project = project or (key.project_id if key is not None else None)
        if vertex and project:
            self._root = f"{root}/projects/{project}/locations/{location}/publishers"
        elif vertex:
            self._root = f"{root}/publishers"
        else:
            self._root = f"{root}/models"
        self._vertex = vertex
        self._outstanding = 0
        self._warmup: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Fetches the first token in the background, so that a wrong key file is said at
        start (the server starts anyway: the endpoint answers 502 saying why until it is
        fixed; its token endpoint may even be this server, not listening yet)."""
        if self._tokens is not None:
            self._warmup = asyncio.create_task(self._first_token(), name=f"token-{self.endpoint_id}")

    async def _first_token(self) -> None:
        assert self._tokens is not None
        try:
            await self._tokens.token()
        except ApiError as exc:
            logger.warning("endpoint %s: %s", self.endpoint_id, exc.message)

    async def close(self) -> None:
        if self._warmup is not None:
            self._warmup.cancel()
            await asyncio.gather(self._warmup, return_exceptions=True)
        await self._http.aclose()

    def problem(self) -> str | None:
        return None

    # -- the Backend port ------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return True

    def model_names(self) -> list[str]:
        return list(self._models)

    def stats(self) -> dict[str, int]:
        return {"outstanding_requests": self._outstanding}

    def context_length(self, model: str) -> int | None:
        return None

    async def precheck(self, request: GenerateContentRequest) -> None:
        return None

    def release_cache(self, name: str) -> None:
        return None

    async def count_tokens(self, request: GenerateContentRequest, *, as_prompt: bool = False) -> int:
        """Gemini's `:countTokens` (Gemini's prompts have no opening of an answer to add)."""
        body = to_count_tokens_body(
            request, vertex=self._vertex, model_resource=f"models/{request.model}"
        )
        answer = await self._exchange(self.url(request.model, "countTokens"), body)
        try:
            return count_from_count_tokens(json.loads(answer))
        except ValueError:
            raise BadGateway("The upstream's token count is not JSON.") from None

    async def compute_tokens(self, request: GenerateContentRequest) -> list[TokensInfo]:
        """Vertex's `:computeTokens` for the request's contents. A content Gemini would
        find empty (only empty text) is not sent; it gets no tokens here, in its place
        (when the upstream answers one `TokensInfo` per content sent; otherwise its answer
        is passed on as it is). The Gemini API form has no such method: `InvalidArgument`."""
        if not self._vertex:
            raise InvalidArgument(
                f"Model `{request.model}` is served through the Gemini API, which cannot "
                "compute tokens (`computeTokens` is Vertex AI's); count them with "
                "`countTokens`.",
                location="model",
            )
        body, sent = to_compute_tokens_body(request)
        if not sent:  # nothing Gemini would read: nothing to ask it
            return [TokensInfo(content.role, (), ()) for content in request.contents]
        answer = await self._exchange(self.url(request.model, "computeTokens"), body)
        try:
            infos = tokens_info_from_compute_tokens(json.loads(answer))
        except ValueError as exc:
            raise BadGateway(f"The upstream's computeTokens answer is not valid: {exc}.") from None
        if len(infos) != len(sent):
            return infos  # not one per content sent: as the upstream answered
        answered = dict(zip(sent, infos, strict=True))
        return [
            answered[turn] if turn in answered else TokensInfo(content.role, (), ())
            for turn, content in enumerate(request.contents)
        ]

    def stream(self, request: GenerateContentRequest) -> AsyncIterator[StreamEvent]:
        return self._events(request)

    def url(self, model: str, method: str) -> str:
        """The URL of `model`'s `method` (`generateContent`, `countTokens`, …)."""
        if self._root.endswith("/models"):
            return f"{self._root}/{model}:{method}"
        publisher, _, name = model.rpartition("/")
        return f"{self._root}/{publisher or 'google'}/models/{name}:{method}"

    # -- one request -------------------------------------------------------------------------

    async def _headers(self) -> dict[str, str]:
        if self._tokens is not None:
            return {"Authorization": f"Bearer {await self._tokens.token()}"}
        assert self._api_key is not None
        return {"x-goog-api-key": self._api_key}

    async def _events(self, request: GenerateContentRequest) -> AsyncIterator[StreamEvent]:
        body = to_gemini_body(request, vertex=self._vertex)

        def answer() -> AsyncIterator[StreamEvent]:
            if request.stream:
                return self._streamed(request.model, body)
            return self._whole_events(request.model, body)

        self._outstanding += 1
        try:
            async with aclosing(self._retried(answer)) as events:
                async for event in events:
                    yield event
        finally:
            self._outstanding -= 1

    async def _retried(self, attempt: Callable[[], AsyncIterator[T]]) -> AsyncIterator[T]:
        """`attempt()`'s items, tried once more after a failure worth another try (raised
        before its first item only); then `Unavailable`."""
        reasons: list[str] = []
        for tried in range(ATTEMPTS):
            if tried:
                await asyncio.sleep(RETRY_PAUSE_S)
            try:
                async with aclosing(attempt()) as items:
                    async for item in items:
                        yield item
                return
            except RetryElsewhere as exc:
                reasons.append(exc.reason)
                logger.warning("endpoint %s: %s; trying again", self.endpoint_id, exc.reason)
        raise Unavailable(
            f"Endpoint `{self.endpoint_id}` did not answer ({'; '.join(reasons)}).",
            retry_after_s=UNAVAILABLE_RETRY_AFTER_S,
        )

    async def _streamed(self, model: str, body: Mapping[str, Any]) -> AsyncIterator[StreamEvent]:
        """The answer as it comes: the body ends it (there is no end marker, so nothing is
        left to drain)."""
        url = self.url(model, "streamGenerateContent") + "?alt=sse"
        response = await self._http.open_stream(
            url, body, await self._headers(), refusal=google_error
        )
        decoder = ChunkDecoder()

        def feed(chunk: Any) -> list[StreamEvent]:
            if not isinstance(chunk, dict):
                return []
            if "error" in chunk and "candidates" not in chunk:
                raise _mid_stream_error(chunk)
            return decoder.feed(chunk)

        try:
            reader = SseReader(response, self._timeouts)
            while (events := await reader.next_events(feed)) is not None:
                for event in events:
                    yield event
            for event in decoder.finish():
                yield event
        finally:
            await response.aclose()

    async def _whole(self, model: str, body: Mapping[str, Any]) -> list[StreamEvent]:
        content = await self._post(self.url(model, "generateContent"), body)
        try:
            answer = json.loads(content)
        except ValueError:
            raise RetryElsewhere("the answer is not JSON") from None
        if not isinstance(answer, dict):
            raise RetryElsewhere("the answer is not a GenerateContentResponse")
        return events_from_response(answer)

    async def _whole_events(
        self, model: str, body: Mapping[str, Any]
    ) -> AsyncIterator[StreamEvent]:
        for event in await self._whole(model, body):
            yield event

    async def _exchange(self, url: str, body: Mapping[str, Any]) -> bytes:
        """`_post`, tried once more after a failure worth another try; then `Unavailable`."""

        async def post() -> AsyncIterator[bytes]:
            yield await self._post(url, body)

        async with aclosing(self._retried(post)) as answers:
            return await anext(answers)

    async def _post(self, url: str, body: Mapping[str, Any]) -> bytes:
        """A whole exchange's answer; failures worth another try are `RetryElsewhere`."""
        return await self._http.whole(url, body, await self._headers(), refusal=google_error)


def google_error(status: int, raw: bytes, headers: Mapping[str, str]) -> ApiError:
    """The client's view of Google's refusal (module docstring). Google answers a bad API
    key with a 400 (`API_KEY_INVALID`): that is our credentials, so a 502 too."""
    error = parse_error_body(raw)
    message = error.message
    if status in (401, 403) or "API_KEY_INVALID" in error.reasons:
        return BadGateway(
            f"The upstream refused our credentials (HTTP {status}): {message or 'no message'}"
        )
    if status == 400:
        return InvalidArgument(message or "The upstream refused the request (HTTP 400).",
                               location=_location(error.field))
    if status == 404:
        return NotFound(message or "The upstream has no such model.", location="model")
    if status == 429:
        return ResourceExhausted(
            message or "The upstream's quota is exhausted.",
            retry_after_s=error.retry_delay_s or retry_after_s(headers),
        )
    return BadGateway(f"The upstream failed (HTTP {status}): {message or 'no message'}")


def _mid_stream_error(chunk: Mapping[str, Any]) -> ApiError:
    error = chunk.get("error")
    code = error.get("code") if isinstance(error, Mapping) else None
    status = code if isinstance(code, int) else 502
    return google_error(status, json.dumps(chunk).encode(), {})


def _location(field: str | None) -> FieldPath | None:
    """Google names fields in either spelling (`generationConfig.topK`); locations are
    snake_case. A field that is not a path is left to the message."""
    if not field:
        return None
    try:
        return FieldPath.parse(_snake(field))
    except ValueError:
        return None
