"""The local backend: answers GenerateContentRequests with the llama.cpp engine.

Lowers Gemini contents to the chat-template message list the model was trained on, checks
the request against the model's context window, and maps GenerationConfig onto sampling.

Structured output (`response_mime_type` "application/json", optional `response_schema`):
the schema becomes a grammar every candidate decodes under (engine/constraints.py), the
system instruction gains a line asking for JSON (small models write far better content
when told, and Gemini behaves as if told), and each finished answer is post-checked
against the schema. An answer cut by `max_tokens` is left alone: its finish reason is
already MAX_TOKENS ("length") and that is what the client must see. An answer that ended
normally yet fails the post-check (a keyword the grammar cannot enforce, e.g. `minimum`)
keeps its STOP reason and content — the generation happened, a 4xx/5xx would be wrong —
and a warning is logged; the grammar makes this rare.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any, assert_never

from vertexcompat.domain.content import (
    Content,
    GenerateContentRequest,
    GenerationConfig,
    TextPart,
)
from vertexcompat.domain.errors import InvalidArgument, NotFound
from vertexcompat.domain.events import Finished, FinishReason, StreamEvent, TextDelta
from vertexcompat.engine.constraints import UnsupportedSchema
from vertexcompat.engine.llama_engine import LlamaEngine
from vertexcompat.engine.sampling import DEFAULT_TEMPERATURE, DEFAULT_TOP_P, SamplingParams
from vertexcompat.translate.json_schema import output_violation

log = logging.getLogger(__name__)

_TEMPLATE_ROLE = {"user": "user", "model": "assistant"}


def _text_of(content: Content) -> str:
    texts = []
    for part in content.parts:
        match part:
            case TextPart(text=text, thought=False):
                texts.append(text)
            case TextPart(thought=True):
                pass  # earlier reasoning is not replayed as answer text (SPEC §5)
            case _:
                assert_never(part)
    return "".join(texts)


def json_hint(cfg: GenerationConfig) -> str | None:
    """The system-instruction line that asks for JSON, or None for a text request."""
    if not cfg.wants_json:
        return None
    if cfg.response_schema is None:
        return "Respond only with a JSON object."
    schema = json.dumps(cfg.response_schema, separators=(",", ":"))
    return f"Respond only with a JSON object matching this JSON schema: {schema}"


def to_template_messages(request: GenerateContentRequest) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    system = [] if request.system_instruction is None else [_text_of(request.system_instruction)]
    hint = json_hint(request.generation_config)
    if hint is not None:
        system.append(hint)
    if system:
        messages.append({"role": "system", "content": "\n\n".join(system)})
    for content in request.contents:
        messages.append({"role": _TEMPLATE_ROLE[content.role], "content": _text_of(content)})
    return messages


def to_sampling_params(
    request: GenerateContentRequest, *, penalty_window: int, grammar: str | None = None
) -> SamplingParams:
    cfg = request.generation_config
    return SamplingParams(
        temperature=DEFAULT_TEMPERATURE if cfg.temperature is None else cfg.temperature,
        top_p=DEFAULT_TOP_P if cfg.top_p is None else cfg.top_p,
        top_k=cfg.top_k,
        presence_penalty=cfg.presence_penalty or 0.0,
        frequency_penalty=cfg.frequency_penalty or 0.0,
        seed=cfg.seed,
        penalty_window=penalty_window,
        grammar=grammar,
    )


class LocalBackend:
    def __init__(self, engine: LlamaEngine, name: str) -> None:
        self._engine = engine
        self._name = name

    @property
    def ready(self) -> bool:
        return self._engine.ready

    @property
    def engine(self) -> LlamaEngine:
        return self._engine

    def stats(self) -> dict[str, int]:
        return self._engine.stats()

    def model_names(self) -> list[str]:
        return [self._name]

    def context_length(self, model: str) -> int | None:
        return self._engine.ctx_per_seq

    async def stream(self, request: GenerateContentRequest) -> AsyncIterator[StreamEvent]:
        if request.model != self._name:
            raise NotFound(f"Model {request.model!r} is not loaded.", param="model")
        engine = self._engine
        cfg = request.generation_config
        if cfg.candidate_count > engine.config.parallel:
            raise InvalidArgument(
                f"`n` is {cfg.candidate_count} but this server decodes at most "
                f"{engine.config.parallel} sequences at once.",
                param="generation_config.candidate_count",
            )
        grammar = None
        if cfg.wants_json:
            try:
                # Compiling (or a cache hit) off the loop: a big schema is CPU work.
                grammar = await asyncio.to_thread(engine.json_grammar, cfg.response_schema)
            except UnsupportedSchema as exc:
                raise InvalidArgument(
                    f"The response schema is not supported: {exc}",
                    param="generation_config.response_schema",
                ) from None
        messages = to_template_messages(request)
        # Rendering + tokenizing a large prompt is CPU work: keep it off the event loop.
        prompt = await asyncio.to_thread(engine.prompt_tokens, messages)
        window = engine.ctx_per_seq
        if not prompt:
            raise InvalidArgument("The conversation renders to an empty prompt.", param="contents")
        if len(prompt) >= window:
            raise InvalidArgument(
                f"The prompt is {len(prompt)} tokens, but the model's context window is "
                f"{window} tokens.",
                param="contents",
            )
        room = window - len(prompt)
        max_tokens = cfg.max_output_tokens
        if max_tokens is not None and max_tokens > room:
            raise InvalidArgument(
                f"This model's maximum context length is {window} tokens. However, you "
                f"requested {len(prompt) + max_tokens} tokens ({len(prompt)} in the messages, "
                f"{max_tokens} in the completion).",
                param="generation_config.max_output_tokens",
            )
        handle = engine.submit(
            prompt,
            n=cfg.candidate_count,
            params=to_sampling_params(request, penalty_window=window, grammar=grammar),
            max_tokens=max_tokens if max_tokens is not None else room,
            stop=cfg.stop_sequences,
        )
        events = handle.events()
        texts: dict[int, list[str]] = {}
        try:
            async for event in events:
                if grammar is not None:
                    match event:
                        case TextDelta(candidate=c, text=t):
                            texts.setdefault(c, []).append(t)
                        case Finished(candidate=c, reason=FinishReason.STOP):
                            _post_check("".join(texts.pop(c, ())), cfg, c)
                        case _:
                            pass
                yield event
        finally:
            await events.aclose()


def _post_check(text: str, cfg: GenerationConfig, candidate: int) -> None:
    problem = output_violation(text, cfg.response_schema)
    if problem is not None:
        log.warning(
            "candidate %d ended normally but its JSON answer fails the post-check: %s",
            candidate, problem,
        )
