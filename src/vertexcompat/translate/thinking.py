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
from vertexcompat.translate.google_extensions import google_extensions

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
    """`None` when the client said nothing about thinking (the model's default applies)."""
    google = google_extensions(chat)
    wire = google.value.thinking_config if google is not None else None
    if google is None or wire is None:
        return _from_effort(chat.reasoning_effort) if chat.reasoning_effort is not None else None
    if chat.reasoning_effort is not None:
        raise InvalidArgument(
            f"`reasoning_effort` and `{google.param('thinking_config')}` cannot both be set; "
            "use one of them to control thinking.",
            param="reasoning_effort",
        )
    include = bool(wire.include_thoughts)
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


def _from_effort(effort: str) -> ThinkingConfig:
    if effort == EFFORT_NONE:
        return ThinkingConfig(budget=THINKING_OFF)
    for level, budget in LEVEL_BUDGETS.items():
        if effort == level:
            return ThinkingConfig(budget=budget, level=level)
    valid = ", ".join(repr(e) for e in REASONING_EFFORTS)
    raise InvalidArgument(
        f"Invalid value for `reasoning_effort`: {effort!r}. Supported values are: {valid}.",
        param="reasoning_effort",
    )


def to_thought_tag_marker(chat: ChatCompletionRequest) -> ThoughtTagMarker | None:
    """The marker's characters were checked by the wire model (`GoogleExtensions`)."""
    google = google_extensions(chat)
    if google is None or google.value.thought_tag_marker is None:
        return None
    return ThoughtTagMarker(google.value.thought_tag_marker)


def to_openai_thinking_param(param: str, chat: ChatCompletionRequest) -> str | None:
    """A backend error about `generation_config.thinking_config[.budget|.level]` named as
    the client sent it: `reasoning_effort`, or the `thinking_config` path they used.
    `None` when `param` is not about thinking."""
    prefix = "generation_config.thinking_config"
    if param != prefix and not param.startswith(prefix + "."):
        return None
    if chat.reasoning_effort is not None:
        return "reasoning_effort"
    google = google_extensions(chat)
    if google is None:
        return param
    rest = param.removeprefix(prefix).lstrip(".")
    wire_names = {"budget": "thinking_budget", "level": "thinking_level",
                  "include_thoughts": "include_thoughts"}
    if rest in wire_names:
        return google.param("thinking_config", wire_names[rest])
    return google.param("thinking_config")



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


def to_thought_presentation(chat: ChatCompletionRequest) -> ThoughtPresentation:
    """`include_thoughts: true` shows them. A `thought_tag_marker` says where they go, and
    asking for tags is asking to see them, unless `include_thoughts` is explicitly false
    (with `reasoning_effort`, which cannot carry `include_thoughts`, the marker is the
    only way to ask)."""
    marker = to_thought_tag_marker(chat)
    google = google_extensions(chat)
    wire = google.value.thinking_config if google is not None else None
    include = wire.include_thoughts if wire is not None else None
    show = bool(include) if include is not None else marker is not None
    return ThoughtPresentation(show=show, marker=marker)
