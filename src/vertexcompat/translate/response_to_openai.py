"""`to_chat_completion`: a finished list of domain stream events aggregated into one
non-streaming `chat.completion`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import assert_never

from vertexcompat.domain.events import Finished, StreamEvent, TextDelta, Usage
from vertexcompat.openai_api.response import ChatCompletion, Choice, FinishReasonName, Message
from vertexcompat.translate.finish_reason import to_openai_finish_reason
from vertexcompat.translate.usage import to_openai_usage


def to_chat_completion(
    events: Iterable[StreamEvent], *, completion_id: str, created: int, model: str, n: int = 1
) -> ChatCompletion:
    texts: list[list[str]] = [[] for _ in range(n)]
    reasons: list[FinishReasonName | None] = [None] * n
    usage: Usage | None = None
    for event in events:
        match event:
            case TextDelta(candidate=c, text=text):
                texts[_index(c, n)].append(text)
            case Finished(candidate=c, reason=reason):
                reasons[_index(c, n)] = to_openai_finish_reason(reason)
            case Usage():
                usage = event
            case _:
                assert_never(event)
    return ChatCompletion(
        id=completion_id,
        created=created,
        model=model,
        choices=[
            Choice(
                index=i,
                message=Message(content="".join(texts[i])),
                # A backend that ended a candidate without `Finished` stopped normally.
                finish_reason=reasons[i] or "stop",
            )
            for i in range(n)
        ],
        usage=to_openai_usage(usage),
    )


def _index(candidate: int, n: int) -> int:
    if not 0 <= candidate < n:
        raise ValueError(f"backend sent an event for candidate {candidate}, but n={n}")
    return candidate
