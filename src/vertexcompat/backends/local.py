"""The local backend: answers GenerateContentRequests with the llama.cpp engine.

Lowers Gemini contents to the chat-template message list the model was trained on, checks
the request against the model's context window, and maps GenerationConfig onto sampling.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, assert_never

from vertexcompat.domain.content import Content, GenerateContentRequest, TextPart
from vertexcompat.domain.errors import InvalidArgument, NotFound
from vertexcompat.domain.events import StreamEvent
from vertexcompat.engine.llama_engine import LlamaEngine
from vertexcompat.engine.sampling import DEFAULT_TEMPERATURE, DEFAULT_TOP_P, SamplingParams

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


def to_template_messages(request: GenerateContentRequest) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if request.system_instruction is not None:
        messages.append({"role": "system", "content": _text_of(request.system_instruction)})
    for content in request.contents:
        messages.append({"role": _TEMPLATE_ROLE[content.role], "content": _text_of(content)})
    return messages


def to_sampling_params(request: GenerateContentRequest, *, penalty_window: int) -> SamplingParams:
    cfg = request.generation_config
    return SamplingParams(
        temperature=DEFAULT_TEMPERATURE if cfg.temperature is None else cfg.temperature,
        top_p=DEFAULT_TOP_P if cfg.top_p is None else cfg.top_p,
        top_k=cfg.top_k,
        presence_penalty=cfg.presence_penalty or 0.0,
        frequency_penalty=cfg.frequency_penalty or 0.0,
        seed=cfg.seed,
        penalty_window=penalty_window,
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
            params=to_sampling_params(request, penalty_window=window),
            max_tokens=max_tokens if max_tokens is not None else room,
            stop=cfg.stop_sequences,
        )
        events = handle.events()
        try:
            async for event in events:
                yield event
        finally:
            await events.aclose()
