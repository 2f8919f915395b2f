"""Lowering the thinking parameters to the domain (SPEC §4, §5; issue 5):
`reasoning_effort` and `extra_body.google.thinking_config` → `ThinkingConfig`, and
`extra_body.google.thought_tag_marker` → `ThoughtTagMarker`.

Pure; every error names the parameter the way the client wrote it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import get_args

from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.domain.thinking import (
    THINKING_OFF,
    ThinkingConfig,
    ThinkingLevel,
    ThoughtTagMarker,
)
from vertexcompat.openai_api.request import ChatCompletionRequest

# Vertex's documented mapping (seed sample 2, SPEC §4): the same budgets serve
# `thinking_level`, so both spellings of "low" think equally long.
LEVEL_BUDGETS: Mapping[ThinkingLevel, int] = {
    "minimal": 1024,
    "low": 1024,
    "medium": 8192,
    "high": 24576,
}
# `reasoning_effort: "none"` turns thinking off; the Python SDK's `reasoning_effort=None`
# omits the key instead, which leaves the model's default.
EFFORT_NONE = "none"
REASONING_EFFORTS: tuple[str, ...] = (EFFORT_NONE, *get_args(ThinkingLevel))


def to_thinking_config(chat: ChatCompletionRequest) -> ThinkingConfig | None:
    """`None` when the client said nothing about thinking (the model's default applies).

    `include_thoughts` is the one place the request says whether thoughts are returned
    (`to_thought_presentation` reads it): `include_thoughts: true` shows them; a
    `thought_tag_marker` says where they go, and asking for tags is asking to see them
    unless `include_thoughts` is explicitly false (with `reasoning_effort`, which cannot
    carry `include_thoughts`, the marker is the only way to ask)."""
    google = chat.google_options
    wire = google.thinking_config
    tags = google.thought_tag_marker is not None
    if wire is None:
        if chat.reasoning_effort is not None:
            return _from_effort(chat.reasoning_effort, include=tags)
        return ThinkingConfig(include_thoughts=True) if tags else None
    if chat.reasoning_effort is not None:
        raise InvalidArgument(
            f"`reasoning_effort` and `{google.param('thinking_config')}` cannot both be set; "
            "use one of them to control thinking.",
            param="reasoning_effort",
        )
    include = wire.include_thoughts if wire.include_thoughts is not None else tags
    if wire.thinking_budget is not None and wire.thinking_level is not None:
        raise InvalidArgument(
            f"`{google.param('thinking_config', 'thinking_budget')}` and "
            f"`{google.param('thinking_config', 'thinking_level')}` cannot both be set; "
            "give a budget in tokens or a level, not both.",
            param=google.param("thinking_config"),
        )
    if wire.thinking_level is not None:
        level = wire.thinking_level
        return ThinkingConfig(budget=LEVEL_BUDGETS[level], include_thoughts=include, level=level)
    # The wire model already refused budgets below -1 (`Field(ge=-1)`).
    return ThinkingConfig(budget=wire.thinking_budget, include_thoughts=include)


def _from_effort(effort: str, *, include: bool) -> ThinkingConfig:
    if effort == EFFORT_NONE:
        return ThinkingConfig(budget=THINKING_OFF, include_thoughts=include)
    for level, budget in LEVEL_BUDGETS.items():
        if effort == level:
            return ThinkingConfig(budget=budget, level=level, include_thoughts=include)
    valid = ", ".join(repr(e) for e in REASONING_EFFORTS)
    raise InvalidArgument(
        f"Invalid value for `reasoning_effort`: {effort!r}. Supported values are: {valid}.",
        param="reasoning_effort",
    )


def to_thought_tag_marker(chat: ChatCompletionRequest) -> ThoughtTagMarker | None:
    return chat.google_options.thought_tag_marker


@dataclass(frozen=True, slots=True)
class ThoughtPresentation:
    """How a response shows the model's thoughts (SPEC §5, §6): not at all, in
    `reasoning_content`, or inside the answer text wrapped in the tag marker."""

    show: bool = False
    marker: ThoughtTagMarker | None = None

    @property
    def as_reasoning_content(self) -> bool:
        return self.show and self.marker is None

    @property
    def as_tags(self) -> bool:
        return self.show and self.marker is not None


HIDDEN_THOUGHTS = ThoughtPresentation()


def to_thought_presentation(
    thinking: ThinkingConfig | None, marker: ThoughtTagMarker | None
) -> ThoughtPresentation:
    """Shown when the domain request says so (`ThinkingConfig.include_thoughts`, set by
    `to_thinking_config`); in tags when the client gave a marker."""
    show = thinking is not None and thinking.include_thoughts
    return ThoughtPresentation(show=show, marker=marker)
