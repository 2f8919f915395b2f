"""`to_chat_completion`: a finished list of domain stream events aggregated into one
non-streaming `chat.completion`.

A choice with an image (issue 7) carries it twice: on the choice itself with `content` and
`role`, exactly as Vertex's sample response shows (SPEC §6, seed 000), and in `message`,
where the OpenAI SDK's types look. A candidate that made several images keeps the first
(Chat Completions has room for one per choice)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import assert_never

from vertexcompat.domain.events import (
    Finished,
    FunctionCall,
    ImageOutput,
    StreamEvent,
    TextDelta,
    Usage,
)
from vertexcompat.openai_api.response import (
    ChatCompletion,
    Choice,
    FinishReasonName,
    Image,
    Message,
    ToolCall,
)
from vertexcompat.translate.images import to_openai_image
from vertexcompat.openai_api.response import FunctionCall as WireFunctionCall
from vertexcompat.translate.finish_reason import to_openai_finish_reason
from vertexcompat.translate.function_calls import (
    CallIdFactory,
    arguments_json,
    call_id,
    new_call_id,
    with_calls,
)
from vertexcompat.translate.tools import CallStyle
from vertexcompat.translate.usage import to_openai_usage


def to_chat_completion(
    events: Iterable[StreamEvent],
    *,
    completion_id: str,
    created: int,
    model: str,
    n: int = 1,
    call_style: CallStyle = "tool_calls",
    new_id: CallIdFactory = new_call_id,
) -> ChatCompletion:
    texts: list[list[str]] = [[] for _ in range(n)]
    calls: list[list[ToolCall]] = [[] for _ in range(n)]
    reasons: list[FinishReasonName | None] = [None] * n
    images: list[Image | None] = [None] * n
    usage: Usage | None = None
    for event in events:
        match event:
            case TextDelta(candidate=c, text=text):
                texts[_index(c, n)].append(text)
            case FunctionCall(candidate=c, name=name, args=args):
                calls[_index(c, n)].append(
                    ToolCall(
                        id=call_id(event, new_id),
                        function=WireFunctionCall(name=name, arguments=arguments_json(args)),
                    )
                )
            case ImageOutput(candidate=c):
                if images[_index(c, n)] is None:
                    images[c] = to_openai_image(event)
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
            _choice(
                i,
                _message("".join(texts[i]), calls[i], call_style),
                images[i],
                # A backend that ended a candidate without `Finished` stopped normally.
                finish_reason=(
                    with_calls(reasons[i] or "stop", call_style) if calls[i] else reasons[i] or "stop"
                ),
            )
            for i in range(n)
        ],
        usage=to_openai_usage(usage),
    )


def _choice(
    index: int, message: Message, image: Image | None, *, finish_reason: FinishReasonName
) -> Choice:
    if image is None:
        return Choice(index=index, message=message, finish_reason=finish_reason)
    message = message.model_copy(update={"image": image})
    return Choice(
        index=index,
        message=message,
        finish_reason=finish_reason,
        image=image,
        content=message.content or "",
        role="assistant",
    )


def _message(text: str, calls: list[ToolCall], style: CallStyle) -> Message:
    if not calls:
        return Message(content=text)
    # Text said before the calls stays; a turn that only called has `content: null`.
    content = text if text.strip() else None
    if style == "function_call":
        # The deprecated shape holds one call (the request forces parallel_calls off).
        return Message(content=content, function_call=calls[0].function)
    return Message(content=content, tool_calls=calls)


def _index(candidate: int, n: int) -> int:
    if not 0 <= candidate < n:
        raise ValueError(f"backend sent an event for candidate {candidate}, but n={n}")
    return candidate
