"""`to_chat_completion`: a finished list of domain stream events aggregated into one
non-streaming `chat.completion`.

Thoughts (ThoughtDelta) are shown as the request's `ThoughtPresentation` says: dropped,
in `message.reasoning_content`, or at the start of `content` inside the tag marker. A
thought signature goes on the first tool call of the turn, or on the message
(`extra_content.google.thought_signature`) when the turn ended in text.

A choice with an image (issue 7) carries it twice: on the choice itself with `content` and
`role`, exactly as Vertex's sample response shows (SPEC §6, seed 000), and in `message`,
where the OpenAI SDK's types look. A candidate that made several images keeps the first,
here and in the stream (stream_transcoder.py), so both agree: the choice's `image` (SPEC §6)
holds one object, and the stream cannot send a second one either, because an accumulating
client (openai-python's `ChatCompletionStreamState`) merges successive `image` deltas key by
key and would concatenate their base64 `data` (and `mime_type`) into one broken image.
A client that wants several images asks for `n` choices (or `images.generate`'s `n`).

Safety: a candidate blocked while answering finished SAFETY, which is `content_filter`
(finish_reason.py); its `SafetyRatings` have no place in OpenAI's shape and are dropped. A
blocked prompt (`PromptFeedback`: nothing was generated) gives every one of the `n` choices
`message: {"role": "assistant", "content": null}` and `finish_reason: "content_filter"`.

Grounding (issue 18): a candidate's `GroundingMetadata` becomes its message's
`annotations`, one `url_citation` per (support, source) pair in support order, with the
support's character offsets into `content` (moved past thoughts shown in tags at its
start: translate/grounding.py). A grounded candidate without supports has
`annotations: []`; an ungrounded one has no `annotations` key."""

from __future__ import annotations

from collections.abc import Iterable
from typing import assert_never

from vertexcompat.domain.events import (
    Finished,
    FunctionCall,
    GroundingMetadata,
    ImageOutput,
    PromptFeedback,
    SafetyRatings,
    StreamEvent,
    TextDelta,
    ThoughtDelta,
    ThoughtSignature,
    TokenLogprobs,
    Usage,
)
from vertexcompat.openai_api.response import (
    ChatCompletion,
    Choice,
    ChoiceLogprobs,
    TokenLogprob,
    ExtraContent,
    FinishReasonName,
    Image,
    Message,
    ToolCall,
)
from vertexcompat.translate.grounding import url_citations
from vertexcompat.translate.images import to_openai_image
from vertexcompat.translate.logprobs import to_token_logprob
from vertexcompat.openai_api.response import FunctionCall as WireFunctionCall
from vertexcompat.translate.finish_reason import to_openai_finish_reason
from vertexcompat.translate.function_calls import (
    CallIdFactory,
    arguments_json,
    call_id,
    new_call_id,
    with_calls,
)
from vertexcompat.translate.thinking import HIDDEN_THOUGHTS, ThoughtPresentation
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
    thoughts: ThoughtPresentation = HIDDEN_THOUGHTS,
    logprobs: bool = False,
) -> ChatCompletion:
    """`logprobs`: the request asked for them (each choice then has `logprobs.content`)."""
    texts: list[list[str]] = [[] for _ in range(n)]
    token_logprobs: list[list[TokenLogprob]] = [[] for _ in range(n)]
    thought_texts: list[list[str]] = [[] for _ in range(n)]
    signatures: list[str | None] = [None] * n
    calls: list[list[ToolCall]] = [[] for _ in range(n)]
    reasons: list[FinishReasonName | None] = [None] * n
    images: list[Image | None] = [None] * n
    groundings: list[GroundingMetadata | None] = [None] * n
    usage: Usage | None = None
    blocked = False  # the prompt was: no choice has anything
    for event in events:
        match event:
            case TextDelta(candidate=c, text=text):
                texts[_index(c, n)].append(text)
            case ThoughtDelta(candidate=c, text=text):
                thought_texts[_index(c, n)].append(text)
            case ThoughtSignature(candidate=c, signature=signature):
                signatures[_index(c, n)] = signature
            case FunctionCall(candidate=c, name=name, args=args):
                calls[_index(c, n)].append(
                    ToolCall(
                        id=call_id(event, new_id),
                        function=WireFunctionCall(name=name, arguments=arguments_json(args)),
                        extra_content=ExtraContent.signature(event.thought_signature),
                    )
                )
            case ImageOutput(candidate=c):
                i = _index(c, n)
                if images[i] is None:  # the first image only (module docstring)
                    images[i] = to_openai_image(event)
            case TokenLogprobs(candidate=c):
                token_logprobs[_index(c, n)].append(to_token_logprob(event))
            case Finished(candidate=c, reason=reason):
                reasons[_index(c, n)] = to_openai_finish_reason(reason)
            case GroundingMetadata(candidate=c):
                groundings[_index(c, n)] = event
            case SafetyRatings():
                pass  # the finish reason says it (module docstring)
            case PromptFeedback():
                blocked = True
            case Usage():
                usage = event
            case _:
                assert_never(event)
    if blocked:
        choices = [
            Choice(index=i, message=Message(content=None), finish_reason="content_filter",
                   logprobs=ChoiceLogprobs(content=[]) if logprobs else None)
            for i in range(n)
        ]
    else:
        choices = [
            _choice(
                i,
                _message(
                    "".join(texts[i]), calls[i], call_style,
                    thoughts="".join(thought_texts[i]), presentation=thoughts,
                    signature=signatures[i], grounding=groundings[i],
                ),
                images[i],
                # A backend that ended a candidate without `Finished` stopped normally.
                finish_reason=(
                    with_calls(reasons[i] or "stop", call_style) if calls[i]
                    else reasons[i] or "stop"
                ),
                logprobs=ChoiceLogprobs(content=token_logprobs[i]) if logprobs else None,
            )
            for i in range(n)
        ]
    return ChatCompletion(
        id=completion_id,
        created=created,
        model=model,
        choices=choices,
        usage=to_openai_usage(usage),
    )


def _choice(
    index: int, message: Message, image: Image | None, *, finish_reason: FinishReasonName,
    logprobs: ChoiceLogprobs | None = None,
) -> Choice:
    if image is None:
        return Choice(index=index, message=message, finish_reason=finish_reason,
                      logprobs=logprobs)
    message = message.model_copy(update={"image": image})
    return Choice(
        index=index,
        message=message,
        finish_reason=finish_reason,
        logprobs=logprobs,
        image=image,
        content=message.content or "",
        role="assistant",
    )


def _message(
    text: str,
    calls: list[ToolCall],
    style: CallStyle,
    *,
    thoughts: str,
    presentation: ThoughtPresentation,
    signature: str | None,
    grounding: GroundingMetadata | None = None,
) -> Message:
    reasoning = thoughts if presentation.as_reasoning_content and thoughts else None
    before = ""  # what `content` holds before the answer text
    if presentation.as_tags and thoughts:
        assert presentation.marker is not None
        before = presentation.marker.wrap(thoughts)
    text = before + text
    extra = ExtraContent.signature(signature)
    annotations = (
        None if grounding is None else url_citations(grounding, shift=len(before))
    )
    if not calls:
        return Message(content=text, reasoning_content=reasoning, extra_content=extra,
                       annotations=annotations)
    # Text said before the calls stays; a turn that only called has `content: null`.
    content = text if text.strip() else None
    if style == "function_call":
        # The deprecated shape holds one call (the request forces parallel_calls off); it
        # has no place for a signature but the message.
        call_extra = calls[0].extra_content
        return Message(content=content, reasoning_content=reasoning,
                       function_call=calls[0].function, extra_content=extra or call_extra,
                       annotations=annotations)
    return Message(content=content, reasoning_content=reasoning, tool_calls=calls,
                   extra_content=extra, annotations=annotations)


def _index(candidate: int, n: int) -> int:
    if not 0 <= candidate < n:
        raise ValueError(f"backend sent an event for candidate {candidate}, but n={n}")
    return candidate
