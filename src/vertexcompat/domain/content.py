"""Gemini's request shape: contents made of parts, generation config, the request itself."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from vertexcompat.domain.tools import FunctionDeclaration, ToolConfig

Role = Literal["user", "model"]

# Gemini's `responseMimeType` values this server understands. "application/json" without a
# schema means "any JSON object" (OpenAI's `json_object`).
JSON_MIME_TYPE = "application/json"
TEXT_MIME_TYPE = "text/plain"


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str
    thought: bool = False


@dataclass(frozen=True, slots=True)
class FunctionCallPart:
    """A call the model made (Gemini `functionCall`). `id` is the client-visible call id
    when one is known (OpenAI `tool_calls[].id`); the local model never makes one up."""

    name: str
    args: Mapping[str, Any]
    id: str | None = None


@dataclass(frozen=True, slots=True)
class FunctionResponsePart:
    """The result of a call, sent back by the client (Gemini `functionResponse`).

    `response` is always an object, as on Gemini: a tool result that is a JSON object is
    kept as it is; anything else (plain text, a JSON array or number) is wrapped as
    `{"content": <the text>}` (`WRAPPED_RESPONSE_KEY`)."""

    name: str
    response: Mapping[str, Any]
    id: str | None = None


WRAPPED_RESPONSE_KEY = "content"

# A discriminated union; later issues add InlineDataPart, ... here and every `match` over
# Part ends in `assert_never`, so a new kind cannot be silently dropped.
Part = TextPart | FunctionCallPart | FunctionResponsePart


@dataclass(frozen=True, slots=True)
class Content:
    role: Role
    parts: tuple[Part, ...]


@dataclass(frozen=True, slots=True)
class GenerationConfig:
    """Gemini `generationConfig`. `None` means "not set": the backend applies its default."""

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    candidate_count: int = 1
    max_output_tokens: int | None = None
    stop_sequences: tuple[str, ...] = ()
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    seed: int | None = None
    # Structured output (Gemini `responseMimeType` + `responseSchema`). The schema is a JSON
    # Schema document (OpenAPI-subset on real Gemini; full JSON Schema here), already
    # checked by `translate/json_schema.py`. It is only meaningful with the JSON mime type.
    response_mime_type: str | None = None
    response_schema: Mapping[str, Any] | None = None

    @property
    def wants_json(self) -> bool:
        return self.response_mime_type == JSON_MIME_TYPE


@dataclass(frozen=True, slots=True)
class GenerateContentRequest:
    """What every backend receives. `model` is the resolved backend model name."""

    model: str
    contents: tuple[Content, ...]
    system_instruction: Content | None = None
    generation_config: GenerationConfig = field(default_factory=GenerationConfig)
    # Gemini groups declarations into `tools[].functionDeclarations`; only function tools
    # exist here, so the declarations are kept as one flat tuple.
    tools: tuple[FunctionDeclaration, ...] = ()
    tool_config: ToolConfig = field(default_factory=ToolConfig)
