"""Gemini finish reasons → OpenAI `finish_reason` (SPEC §6)."""

from __future__ import annotations

from typing import assert_never

from vertexcompat.domain.events import FinishReason
from vertexcompat.openai_api.response import FinishReasonName


def to_openai_finish_reason(reason: FinishReason) -> FinishReasonName:
    match reason:
        case FinishReason.STOP | FinishReason.OTHER | FinishReason.MALFORMED_FUNCTION_CALL:
            return "stop"
        case FinishReason.MAX_TOKENS:
            return "length"
        case (
            FinishReason.SAFETY
            | FinishReason.PROHIBITED_CONTENT
            | FinishReason.BLOCKLIST
            | FinishReason.SPII
            | FinishReason.RECITATION
        ):
            return "content_filter"
        case _:
            assert_never(reason)
