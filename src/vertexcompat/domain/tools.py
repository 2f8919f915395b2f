"""Gemini's function-calling request fields: function declarations and the tool config."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class FunctionDeclaration:
    """One callable function. `parameters` is a JSON Schema object schema (already checked
    by `translate/`); `None` means the function takes no declared parameters."""

    name: str
    description: str | None = None
    parameters: Mapping[str, Any] | None = None


class FunctionCallingMode(enum.Enum):
    """Gemini `functionCallingConfig.mode`."""

    AUTO = "AUTO"  # the model decides between answering and calling (OpenAI "auto")
    ANY = "ANY"  # the model must call (OpenAI "required" or a named function)
    NONE = "NONE"  # the model must not call; declarations stay visible as context


@dataclass(frozen=True, slots=True)
class ToolConfig:
    mode: FunctionCallingMode = FunctionCallingMode.AUTO
    # With ANY: the calls are restricted to these names (empty: any declared function).
    allowed_function_names: tuple[str, ...] = ()
    # OpenAI `parallel_tool_calls` (Gemini has no such switch): False → at most one call
    # per turn.
    parallel_calls: bool = True

    def callable_names(self, declarations: tuple[FunctionDeclaration, ...]) -> tuple[str, ...]:
        """The functions a call may name in this turn, in declaration order."""
        if self.mode is FunctionCallingMode.NONE:
            return ()
        allowed = set(self.allowed_function_names)
        return tuple(d.name for d in declarations if not allowed or d.name in allowed)


