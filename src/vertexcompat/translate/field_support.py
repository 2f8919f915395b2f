"""The one table of which top-level OpenAI request fields are honoured.

Anything else in the body is ignored (seed: "unsupported parameters are ignored") and its
name is reported in the `x-vertexcompat-ignored-params` response header, so a client can
see that e.g. `logprobs` had no effect instead of silently getting a different answer.
Later issues move names from "ignored" to `HONOURED_FIELDS` as they are implemented.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

IGNORED_PARAMS_HEADER = "x-vertexcompat-ignored-params"

HONOURED_FIELDS: frozenset[str] = frozenset(
    {
        "model",
        "messages",
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "n",
        "seed",
        "stop",
        "frequency_penalty",
        "presence_penalty",
        "stream",
        "stream_options",
        "response_format",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "functions",
        "function_call",
        # Thinking (issue 5): budgets, visible thoughts, tag marker, signatures. Other keys
        # inside `google` / `extra_body` (safety_settings, cached_content) are not yet acted
        # on; they are nested, so this top-level table cannot name them.
        "reasoning_effort",
        "google",
        "extra_body",
        # Image output (issue 7): translate/image_options.py.
        "modalities",
        "size",
    }
)


def ignored_params(raw_body: Mapping[str, Any]) -> list[str]:
    """Top-level keys of the request body that this server does not act on, sorted."""
    return sorted(key for key in raw_body if key not in HONOURED_FIELDS)


def ignored_params_header(raw_body: Mapping[str, Any]) -> dict[str, str]:
    """The response header naming the ignored fields; empty when nothing was ignored."""
    names = ignored_params(raw_body)
    return {IGNORED_PARAMS_HEADER: ",".join(names)} if names else {}
