"""Gemini's request shape: contents made of parts, generation config, the request itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Role = Literal["user", "model"]


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str
    thought: bool = False


# A discriminated union; later issues add InlineDataPart, FunctionCallPart, ... here and
# every `match` over Part ends in `assert_never`, so a new kind cannot be silently dropped.
Part = TextPart


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


@dataclass(frozen=True, slots=True)
class GenerateContentRequest:
    """What every backend receives. `model` is the resolved backend model name."""

    model: str
    contents: tuple[Content, ...]
    system_instruction: Content | None = None
    generation_config: GenerationConfig = field(default_factory=GenerationConfig)
