"""Domain `Usage` → OpenAI `usage` object."""

from __future__ import annotations

from vertexcompat.domain.events import Usage as DomainUsage
from vertexcompat.openai_api.response import CompletionTokensDetails, PromptTokensDetails, Usage


def to_openai_usage(usage: DomainUsage | None) -> Usage:
    usage = usage or DomainUsage(prompt_tokens=0, completion_tokens=0)
    return Usage(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=usage.cached_tokens),
        completion_tokens_details=CompletionTokensDetails(reasoning_tokens=usage.reasoning_tokens),
    )
