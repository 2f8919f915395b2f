"""`ChunkTranscoder`: domain stream events → `chat.completion.chunk` objects for one request.

The wire rules it guarantees (SPEC §6, the OpenAI spec rather than Google's known bugs):
each choice starts with a `{"role": "assistant"}` delta; each choice gets exactly one
`finish_reason`, on a chunk whose delta is `{}` (or holds only the choice's
`annotations`: grounding, below); with `include_usage` every
chunk carries `"usage": null` and one last chunk has `choices: []` and the usage, without
it no chunk has a `usage` key; `id`, `created` and `model` are the same on every chunk.

A function call becomes two chunks: one whose `tool_calls[0]` carries `index`, `id`, `type`,
`function.name` and `function.arguments: ""`, then one with `index` and the arguments (so
an accumulating client such as the SDK's `ChatCompletionStreamState` sees the usual
shape); `index` counts the choice's calls from 0, and a choice that called ends with
`finish_reason: "tool_calls"`. With the deprecated `functions` the same two steps use
`delta.function_call` and end with `"function_call"`.

Thoughts come first, as the request's `ThoughtPresentation` says: `delta.reasoning_content`
chunks, or `delta.content` chunks opened by the tag marker and closed (`</X>`) by the
choice's first non-thought event; hidden thoughts send nothing. A thought signature rides
on the head delta of the call it belongs to, or (turn ended in text) on its own delta,
`extra_content.google.thought_signature`, before the finish chunk.

An image (issue 7) travels as one chunk whose delta is `{"image": {...}}` (the same object
as in the non-streaming response), after the choice's text and before its finish_reason.
A choice carries one image, the candidate's first, here and in the non-streaming response
(response_to_openai.py says why); later images of the candidate are not sent.

A stream accumulates (openai-python's `ChatCompletionStreamState`, which merges deltas key by
key and concatenates strings) to the message the non-streaming response has for the same
events. Hence `content` is sent only when there is content: the role delta leaves it out,
because the role goes out before anything is known about the turn and a `content: ""` there
would accumulate a turn that only called to `""` where the non-stream message (and OpenAI,
whose first chunk of such a turn has `"content": null`) has `null`. A choice that ends with
neither content nor a call gets one `{"content": ""}` delta before its finish_reason, so it
accumulates to `""` like the non-stream message.

Log probabilities (`TokenLogprobs`, only when asked) ride on the choice's next content
chunk, as `logprobs.content[]` (translate/logprobs.py); tokens whose text never became
content (held back by a stop sequence, or a call's text) ride on the chunks that close the
choice, so an accumulating client has every token's entry once.

Safety: a candidate blocked while answering finishes SAFETY, `content_filter`
(finish_reason.py); its `SafetyRatings` send nothing. A blocked prompt (`PromptFeedback`)
is one chunk holding every choice not finished yet, each with `finish_reason:
"content_filter"` and an empty delta (the role delta, for a choice that has not had it),
and no `content` delta: it accumulates to the non-stream message's `content: null`.

Grounding (issue 18): a candidate's `GroundingMetadata` waits for its finish and goes out
whole as `delta.annotations` on the chunk that carries its `finish_reason`, the same
`url_citation` list as the non-streaming message (response_to_openai.py), its offsets
moved past the `content` sent before the answer text (a thought tag's); so an accumulating
client, which sets a list the snapshot does not have yet, ends with the same message.

One transcoder per request and one `_ChoiceState` per candidate: state is never shared
across choices (DESIGN example 4).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, assert_never

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
    ChatCompletionChunk,
    ChoiceLogprobs,
    ChunkChoice,
    TokenLogprob,
    Delta,
    ExtraContent,
    FinishReasonName,
    FunctionCallDelta,
    ToolCallDelta,
)
from vertexcompat.translate.finish_reason import to_openai_finish_reason
from vertexcompat.translate.function_calls import (
    CallIdFactory,
    arguments_json,
    call_id,
    new_call_id,
    with_calls,
)
from vertexcompat.translate.grounding import url_citations
from vertexcompat.translate.images import to_openai_image
from vertexcompat.translate.logprobs import to_token_logprob
from vertexcompat.translate.thinking import HIDDEN_THOUGHTS, ThoughtPresentation
from vertexcompat.translate.tools import CallStyle
from vertexcompat.translate.usage import to_openai_usage


@dataclass(slots=True)
class _ChoiceState:
    index: int
    started: bool = False
    finished: bool = False
    calls: int = 0
    content_sent: bool = False  # a `content` delta went out (answer text or thought tags)
    image_sent: bool = False
    tag_open: bool = False  # a thought tag was sent and not closed yet
    content_chars: int = 0  # characters of `content` sent
    answer_at: int | None = None  # where in `content` the answer text starts
    grounding: GroundingMetadata | None = None  # sent with the finish_reason
    # Log probabilities of tokens whose content has not gone out yet.
    logprobs: list[TokenLogprob] = field(default_factory=list)


class ChunkTranscoder:
    def __init__(
        self,
        *,
        completion_id: str,
        created: int,
        model: str,
        n: int,
        include_usage: bool,
        call_style: CallStyle = "tool_calls",
        new_id: CallIdFactory = new_call_id,
        thoughts: ThoughtPresentation = HIDDEN_THOUGHTS,
    ) -> None:
        self._thoughts = thoughts
        self._id = completion_id
        self._created = created
        self._model = model
        self._include_usage = include_usage
        self._call_style = call_style
        self._new_id = new_id
        self._choices = [_ChoiceState(index=i) for i in range(n)]
        self._usage: Usage | None = None
        self._done = False

    def start(self) -> list[ChatCompletionChunk]:
        """The role chunk of every choice that has not had one yet."""
        return [chunk for state in self._choices for chunk in self._start(state)]

    def feed(self, event: StreamEvent) -> list[ChatCompletionChunk]:
        match event:
            case ThoughtDelta(candidate=c, text=text):
                state = self._state(c)
                if state.finished or not text or not self._thoughts.show:
                    return []
                return [*self._start(state), self._thought(state, text)]
            case TextDelta(candidate=c, text=text):
                state = self._state(c)
                if state.finished or not text:
                    return []
                opened = self._open(state)
                if state.answer_at is None:
                    state.answer_at = state.content_chars
                return [*opened, self._content(state, text)]
            case ThoughtSignature(candidate=c, signature=signature):
                state = self._state(c)
                if state.finished:
                    return []
                delta = Delta(extra_content=ExtraContent.signature(signature))
                return [*self._open(state), self._chunk(state.index, delta)]
            case FunctionCall():
                state = self._state(event.candidate)
                if state.finished:
                    return []
                return [*self._open(state), *self._call(state, event)]
            case TokenLogprobs(candidate=c):
                state = self._state(c)
                if not state.finished:
                    state.logprobs.append(to_token_logprob(event))
                return []
            case ImageOutput(candidate=c):
                state = self._state(c)
                if state.finished or state.image_sent:
                    return []
                state.image_sent = True
                image = Delta(image=to_openai_image(event))
                return [*self._open(state), self._chunk(state.index, image)]
            case Finished(candidate=c, reason=reason):
                state = self._state(c)
                if state.finished:  # exactly one finish_reason per choice
                    return []
                return [*self._open(state), *self._finish(state, to_openai_finish_reason(reason))]
            case GroundingMetadata(candidate=c):
                state = self._state(c)
                if not state.finished:
                    state.grounding = event  # sent with the finish_reason
                return []
            case SafetyRatings():
                return []  # the finish reason says it (module docstring)
            case PromptFeedback():
                return self._blocked()
            case Usage():
                self._usage = event  # sent by finish(), after every choice has finished
                return []
            case _:
                assert_never(event)

    def finish(self) -> list[ChatCompletionChunk]:
        """Closes every open choice and, with `include_usage`, appends the usage chunk."""
        if self._done:
            return []
        self._done = True
        chunks = self.start()
        for state in self._choices:
            if not state.finished:
                chunks += [*self._open(state), *self._finish(state, "stop")]
        if self._include_usage:
            chunks.append(
                ChatCompletionChunk(
                    id=self._id,
                    object="chat.completion.chunk",
                    created=self._created,
                    model=self._model,
                    choices=[],
                    usage=to_openai_usage(self._usage),
                )
            )
        return chunks

    def _state(self, candidate: int) -> _ChoiceState:
        if not 0 <= candidate < len(self._choices):
            raise ValueError(
                f"backend sent an event for candidate {candidate}, but n={len(self._choices)}"
            )
        return self._choices[candidate]

    def _start(self, state: _ChoiceState) -> list[ChatCompletionChunk]:
        if state.started:
            return []
        state.started = True
        # No `content` key: the turn's first event decides it (module docstring).
        return [self._chunk(state.index, Delta(role="assistant"))]

    def _open(self, state: _ChoiceState) -> list[ChatCompletionChunk]:
        """The role chunk if not sent yet, and the closing thought tag if one is open: the
        answer (or call, or finish) of a choice starts after its thoughts."""
        chunks = self._start(state)
        if state.tag_open:
            state.tag_open = False
            assert self._thoughts.marker is not None
            chunks.append(self._content(state, self._thoughts.marker.close))
        return chunks

    def _thought(self, state: _ChoiceState, text: str) -> ChatCompletionChunk:
        marker = self._thoughts.marker
        if marker is None:
            return self._chunk(state.index, Delta(reasoning_content=text))
        if not state.tag_open:
            state.tag_open = True
            text = marker.open + text
        return self._content(state, text)

    def _content(self, state: _ChoiceState, text: str) -> ChatCompletionChunk:
        state.content_sent = True
        state.content_chars += len(text)
        return self._chunk(state.index, Delta(content=text), logprobs=self._logprobs(state))

    def _logprobs(self, state: _ChoiceState) -> ChoiceLogprobs | None:
        if not state.logprobs:
            return None
        pending, state.logprobs = state.logprobs, []
        return ChoiceLogprobs(content=pending)

    def _call(self, state: _ChoiceState, call: FunctionCall) -> list[ChatCompletionChunk]:
        arguments = arguments_json(call.args)
        if self._call_style == "function_call":
            if state.calls:  # the deprecated shape holds one call per turn
                return []
            state.calls = 1
            head = Delta(
                function_call=FunctionCallDelta(name=call.name, arguments=""),
                **_signed(call.thought_signature),
            )
            body = Delta(function_call=FunctionCallDelta(arguments=arguments))
        else:
            index = state.calls
            state.calls += 1
            head = Delta(
                tool_calls=[
                    ToolCallDelta(
                        index=index,
                        id=call_id(call, self._new_id),
                        type="function",
                        function=FunctionCallDelta(name=call.name, arguments=""),
                        **_signed(call.thought_signature),
                    )
                ]
            )
            body = Delta(
                tool_calls=[ToolCallDelta(index=index, function=FunctionCallDelta(arguments=arguments))]
            )
        return [self._chunk(state.index, head), self._chunk(state.index, body)]

    def _finish(self, state: _ChoiceState, reason: FinishReasonName) -> list[ChatCompletionChunk]:
        state.finished = True
        last = self._last_delta(state)
        if state.calls:
            return [self._chunk(state.index, last, logprobs=self._logprobs(state),
                                finish_reason=with_calls(reason, self._call_style))]
        # A turn without content or calls is `content: ""` in the non-stream message.
        empty = [] if state.content_sent else [self._content(state, "")]
        return [*empty, self._chunk(state.index, last, finish_reason=reason,
                                    logprobs=self._logprobs(state))]

    def _last_delta(self, state: _ChoiceState) -> Delta:
        """The finish chunk's delta: `{}`, or the choice's annotations (module docstring)."""
        if state.grounding is None:
            return Delta()
        shift = state.answer_at if state.answer_at is not None else state.content_chars
        return Delta(annotations=url_citations(state.grounding, shift=shift))

    def _blocked(self) -> list[ChatCompletionChunk]:
        """The one chunk that ends every open choice of a blocked prompt."""
        choices = []
        for state in self._choices:
            if state.finished:
                continue
            delta = Delta() if state.started else Delta(role="assistant")
            state.started = state.finished = True
            choices.append(ChunkChoice(index=state.index, delta=delta,
                                       finish_reason="content_filter", logprobs=None))
        return [self._chunk_of(choices)] if choices else []

    def _chunk(
        self, index: int, delta: Delta, *, finish_reason: FinishReasonName | None = None,
        logprobs: ChoiceLogprobs | None = None,
    ) -> ChatCompletionChunk:
        return self._chunk_of([
            ChunkChoice(index=index, delta=delta, finish_reason=finish_reason, logprobs=logprobs)
        ])

    def _chunk_of(self, choices: list[ChunkChoice]) -> ChatCompletionChunk:
        fields: dict[str, Any] = {}
        if self._include_usage:
            fields["usage"] = None
        return ChatCompletionChunk(
            id=self._id,
            object="chat.completion.chunk",
            created=self._created,
            model=self._model,
            choices=choices,
            **fields,
        )


def _signed(signature: str | None) -> dict[str, Any]:
    """`extra_content` for a delta only when there is a signature (the key stays unset,
    so absent on the wire, otherwise)."""
    return {} if signature is None else {"extra_content": ExtraContent.signature(signature)}
