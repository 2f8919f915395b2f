"""Chat Completions response objects: `chat.completion` and `chat.completion.chunk`.

Chunks are serialised with `exclude_unset`, so what the transcoder sets explicitly is
exactly what goes on the wire: `"usage": null` only when `include_usage` was asked for,
and an empty `delta: {}` on the chunk that carries a choice's `finish_reason`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

FinishReasonName = Literal["stop", "length", "content_filter", "tool_calls", "function_call"]


class PromptTokensDetails(BaseModel):
    cached_tokens: int = 0


class CompletionTokensDetails(BaseModel):
    reasoning_tokens: int = 0


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails = Field(default_factory=PromptTokensDetails)
    completion_tokens_details: CompletionTokensDetails = Field(
        default_factory=CompletionTokensDetails
    )


class FunctionCall(BaseModel):
    name: str
    arguments: str  # JSON text of an object


def _absent(value: object) -> bool:
    return value is None


class GoogleExtraContent(BaseModel):
    """`extra_content.google` on a message, tool call or delta (SPEC §5)."""

    thought_signature: str | None = Field(default=None, exclude_if=_absent)
    thought: bool | None = Field(default=None, exclude_if=_absent)


class ExtraContent(BaseModel):
    google: GoogleExtraContent

    @classmethod
    def signature(cls, value: str | None) -> ExtraContent | None:
        return None if value is None else cls(google=GoogleExtraContent(thought_signature=value))


class ToolCall(BaseModel):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall
    extra_content: ExtraContent | None = Field(default=None, exclude_if=_absent)


class GoogleImageInfo(BaseModel):
    mime_type: str


class ImageExtraContent(BaseModel):
    google: GoogleImageInfo


class Image(BaseModel):
    """A generated image as Vertex sends it (SPEC §6, seed 000):
    `{"data": "<base64>", "extra_content": {"google": {"mime_type": "image/png"}}}`."""

    data: str  # base64
    extra_content: ImageExtraContent


class AnnotationURLCitation(BaseModel):
    """Where an answer cites a source (OpenAI's `url_citation`): `start_index` /
    `end_index` are character offsets into `message.content`."""

    end_index: int
    start_index: int
    title: str
    url: str


class Annotation(BaseModel):
    """One entry of `message.annotations` (openai-python's `Annotation`). `type` has no
    default so that a chunk, written without unset fields, still carries it."""

    type: Literal["url_citation"]
    url_citation: AnnotationURLCitation


class Message(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None = None
    # Only present when there is something to say (OpenAI leaves the keys out otherwise).
    reasoning_content: str | None = Field(default=None, exclude_if=_absent)
    tool_calls: list[ToolCall] | None = Field(default=None, exclude_if=_absent)
    function_call: FunctionCall | None = Field(default=None, exclude_if=_absent)
    extra_content: ExtraContent | None = Field(default=None, exclude_if=_absent)
    # Only present when the model made an image (issue 7): where OpenAI SDK users look.
    image: Image | None = Field(default=None, exclude_if=_absent)
    # Only present when the answer was grounded (issue 18), then a list (maybe empty).
    annotations: list[Annotation] | None = Field(default=None, exclude_if=_absent)


class TopLogprob(BaseModel):
    token: str
    logprob: float
    bytes: list[int] | None


class TokenLogprob(BaseModel):
    """One answer token (OpenAI `choices[].logprobs.content[]`): its text (its bytes as
    UTF-8, a split character replaced), its log probability, its bytes, and the most
    likely tokens at its position."""

    token: str
    logprob: float
    bytes: list[int] | None
    top_logprobs: list[TopLogprob]


class ChoiceLogprobs(BaseModel):
    content: list[TokenLogprob] | None
    refusal: None = None


class Choice(BaseModel):
    index: int
    message: Message
    finish_reason: FinishReasonName | None
    logprobs: ChoiceLogprobs | None = None
    # Vertex's image responses (seed 000) put `image`, `content` and `role` on the choice
    # itself; they are sent exactly so, for image choices only, next to `message`.
    image: Image | None = Field(default=None, exclude_if=_absent)
    content: str | None = Field(default=None, exclude_if=_absent)
    role: Literal["assistant"] | None = Field(default=None, exclude_if=_absent)


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class FunctionCallDelta(BaseModel):
    name: str | None = None
    arguments: str | None = None


class ToolCallDelta(BaseModel):
    """The first delta of a call carries `index`, `id`, `type`, `function.name` and
    `function.arguments: ""`; later ones carry `index` and argument text only."""

    index: int
    id: str | None = None
    type: Literal["function"] | None = None
    function: FunctionCallDelta | None = None
    extra_content: ExtraContent | None = None


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None
    reasoning_content: str | None = None
    tool_calls: list[ToolCallDelta] | None = None
    function_call: FunctionCallDelta | None = None
    extra_content: ExtraContent | None = None
    image: Image | None = None
    # A grounded choice's citations, whole, on the chunk with its finish_reason.
    annotations: list[Annotation] | None = None


class ChunkChoice(BaseModel):
    index: int
    delta: Delta
    finish_reason: FinishReasonName | None = None
    logprobs: ChoiceLogprobs | None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None

    def to_wire(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", exclude_unset=True)
        # `object` has a default, so unless set explicitly it is "unset": put it back.
        if "object" not in data:
            data = {"id": data.pop("id"), "object": self.object, **data}
        return data


class ImageData(BaseModel):
    b64_json: str
    # The model's own caption of the image, when it wrote one.
    revised_prompt: str | None = Field(default=None, exclude_if=_absent)


class ImagesResponse(BaseModel):
    """OpenAI `images.generate`'s response (b64_json only)."""

    created: int
    data: list[ImageData]

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
