"""In-memory fakes for unit tests: a scripted Backend and a container built from fakes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from vertexcompat.auth.any_bearer import AnyBearerAuthenticator
from vertexcompat.backends.base import Backend
from vertexcompat.config import Settings
from vertexcompat.container import Container, build_generation
from vertexcompat.domain.content import GenerateContentRequest
from vertexcompat.domain.events import Finished, FinishReason, StreamEvent, TextDelta, Usage
from vertexcompat.domain.tokens import TokensInfo
from vertexcompat.models.registry import ModelRegistry, default_aliases
from vertexcompat.web.metrics import PrometheusMetrics

FAKE_MODEL = "fake-model"

Script = Callable[[GenerateContentRequest], Iterable[StreamEvent | BaseException]]


def hello_script(request: GenerateContentRequest) -> list[StreamEvent]:
    """Every candidate says "Hello world" (candidate i>0 says "Hello world i") and stops."""
    events: list[StreamEvent] = []
    n = request.generation_config.candidate_count
    for c in range(n):
        suffix = f" {c}" if c else ""
        events += [TextDelta(c, "Hello"), TextDelta(c, f" world{suffix}")]
    events += [Finished(c, FinishReason.STOP) for c in range(n)]
    events.append(Usage(prompt_tokens=7, completion_tokens=2 * n, cached_tokens=1))
    return events


class FakeBackend:
    """Yields a scripted list of events; an exception in the script is raised at that
    point. `hang=True` waits forever after the script (until closed). Records requests
    and how each stream ended: "completed", "closed" (aclose/cancel) or "error"."""

    def __init__(
        self,
        names: Iterable[str] = (FAKE_MODEL,),
        script: Script = hello_script,
        *,
        ready: bool = True,
        hang: bool = False,
        context_length: int | None = 4096,
        refuse_early: BaseException | None = None,
    ) -> None:
        self.names = list(names)
        self.script = script
        self.ready = ready
        self.hang = hang
        self._context_length = context_length
        self.requests: list[GenerateContentRequest] = []
        self.prechecked: list[GenerateContentRequest] = []
        self.computed: list[GenerateContentRequest] = []  # asked for by compute_tokens
        self.refuse_early = refuse_early
        self.endings: list[str] = []
        self.started = 0
        self.released_caches: list[str] = []

    def stats(self) -> dict[str, int]:
        return {"busy_slots": 0, "active_requests": 0, "queued_requests": 0}

    def model_names(self) -> list[str]:
        return list(self.names)

    def context_length(self, model: str) -> int | None:
        return self._context_length

    async def precheck(self, request: GenerateContentRequest) -> None:
        self.prechecked.append(request)
        if self.refuse_early is not None:
            raise self.refuse_early

    async def count_tokens(self, request: GenerateContentRequest, *, as_prompt: bool = False) -> int:
        """Four characters a token, as a rough tokenizer would; the opening of an answer
        (`as_prompt`) is one more."""
        text = " ".join(
            getattr(part, "text", "") for content in (
                *request.contents,
                *((request.system_instruction,) if request.system_instruction else ()),
            ) for part in content.parts
        )
        return len(text) // 4 + len(request.contents) + int(as_prompt)

    async def compute_tokens(self, request: GenerateContentRequest) -> list[TokensInfo]:
        """Each content's text parts' whitespace-separated words, in order, one token
        each; ids count up from 1 over the whole request (deterministic)."""
        self.computed.append(request)
        infos: list[TokensInfo] = []
        next_id = 1
        for content in request.contents:
            words = " ".join(getattr(part, "text", "") for part in content.parts).split()
            ids = tuple(range(next_id, next_id + len(words)))
            next_id += len(words)
            infos.append(TokensInfo(content.role, ids, tuple(w.encode() for w in words)))
        return infos

    def release_cache(self, name: str) -> None:
        self.released_caches.append(name)

    def stream(self, request: GenerateContentRequest) -> AsyncIterator[StreamEvent]:
        self.requests.append(request)
        return self._events(request)

    async def _events(self, request: GenerateContentRequest) -> AsyncIterator[StreamEvent]:
        self.started += 1
        ending = "closed"
        try:
            for item in self.script(request):
                if isinstance(item, BaseException):
                    ending = "error"
                    raise item
                yield item
                await asyncio.sleep(0)
            if self.hang:
                await asyncio.Event().wait()
            ending = "completed"
        finally:
            self.endings.append(ending)


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"model": FAKE_MODEL, "threads": 1, "data_dir": "/nonexistent"}
    values.update(overrides)
    return Settings(**values)


def make_container(
    backends: dict[str, Backend] | None = None,
    *,
    aliases: dict[str, str] | None = None,
    metrics: PrometheusMetrics | None = None,
    **settings: Any,
) -> Container:
    """The production composition (every backend behind its policies; no media support,
    no thought sealing) over fake backends; `metrics`: measured as `build_container`
    wires them (none by default)."""
    backends = backends if backends is not None else {"fake": FakeBackend()}
    registry = ModelRegistry(aliases if aliases is not None else default_aliases(FAKE_MODEL))
    if metrics is not None:
        metrics.watch_backends(backends, replicas={})
    return Container(
        settings=make_settings(**settings),
        authenticator=AnyBearerAuthenticator(),
        backends=backends,
        generation=build_generation(backends, registry, meter=metrics),
        metrics=metrics,
    )
