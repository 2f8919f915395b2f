"""Thinking: how much the model may reason before it answers (Gemini `thinkingConfig`),
and how its thoughts are shown to an OpenAI client (Vertex's `thought_tag_marker`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

ThinkingLevel = Literal["minimal", "low", "medium", "high"]

# Gemini's special budgets (SPEC §5): 0 turns thinking off, -1 lets the model decide.
THINKING_OFF = 0
DYNAMIC_BUDGET = -1


@dataclass(frozen=True, slots=True)
class ThinkingConfig:
    """Gemini `generationConfig.thinkingConfig`.

    `budget`: `None` = the model's default (configured per model), `0` = no thinking,
    `-1` = dynamic (the model decides), `N >= 1` = at most N thought tokens. It is always
    set when `level` is, so a backend that only understands budgets (the local engine's
    budget forcing) never has to translate levels itself.
    `level`: the named level the client asked for (`reasoning_effort` or `thinking_level`),
    kept so an upstream Gemini backend can forward it as `thinkingLevel` natively.
    `include_thoughts`: return the thoughts (as `reasoning_content` or inside tags); they
    are generated and counted either way. It is the one place a request says so: the OpenAI
    surface sets it from `include_thoughts` or a tag marker and shows thoughts when it is
    set; an upstream Gemini backend forwards it as `includeThoughts`.

    `translate/` has already validated the values; a bad one here is our bug (a 500).
    """

    budget: int | None = None
    include_thoughts: bool = False
    level: ThinkingLevel | None = None

    def __post_init__(self) -> None:
        if self.budget is not None and self.budget < DYNAMIC_BUDGET:
            raise ValueError(f"thinking budget must be >= -1, got {self.budget}")
        if self.level is not None and self.budget is None:
            raise ValueError("a thinking level must come with its budget")

    @property
    def is_off(self) -> bool:
        return self.budget == THINKING_OFF

    @property
    def is_dynamic(self) -> bool:
        return self.budget == DYNAMIC_BUDGET


# What `extra_body.google.thought_tag_marker` may be: it becomes an XML-like tag name
# (`<think>`), so it must not contain `<`, `>`, `/`, spaces or anything a tokenizer could
# merge with the brackets.
THOUGHT_TAG_MARKER_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,31}$"


@dataclass(frozen=True, slots=True)
class ThoughtTagMarker:
    """Vertex's `thought_tag_marker` (SPEC §5): thoughts travel inside the message text as
    `<name>…</name>`, out in responses and back in on later assistant messages.

    Not part of `GenerateContentRequest` on purpose: Gemini's generateContent has no such
    field. It is a presentation choice of the OpenAI layer, applied entirely in
    `translate/` — splitting tagged text into thought parts on the way in, wrapping thought
    parts on the way out — so no backend ever needs to see it.
    """

    name: str

    def __post_init__(self) -> None:
        if not re.fullmatch(THOUGHT_TAG_MARKER_PATTERN, self.name):
            raise ValueError(f"invalid thought tag marker {self.name!r}")

    @property
    def open(self) -> str:
        return f"<{self.name}>"

    @property
    def close(self) -> str:
        return f"</{self.name}>"

    def wrap(self, text: str) -> str:
        return f"{self.open}{text}{self.close}"
