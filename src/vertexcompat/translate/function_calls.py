"""How a domain `FunctionCall` looks on the OpenAI wire: its id, its arguments text, and
the finish reason of a choice that called functions (SPEC §6: any call → `tool_calls`)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from vertexcompat.domain.events import FunctionCall
from vertexcompat.openai_api.response import FinishReasonName
from vertexcompat.translate.tools import CallStyle

CallIdFactory = Callable[[], str]


def new_call_id() -> str:
    """`call_` + 144 random bits: unique across choices, requests and restarts."""
    return "call_" + secrets.token_urlsafe(18)


def call_id(call: FunctionCall, new_id: CallIdFactory) -> str:
    return call.id if call.id else new_id()


def arguments_json(args: Mapping[str, Any]) -> str:
    return json.dumps(args, ensure_ascii=False)


def with_calls(reason: FinishReasonName, style: CallStyle) -> FinishReasonName:
    """The finish reason of a choice that made at least one call. A choice cut by
    `max_tokens` or a filter keeps that reason: it is what the client must act on."""
    return style if reason == "stop" else reason
