"""The Chat Completions request as it arrives on the wire.

Models are strict (a JSON string is never coerced into a number) and tolerate unknown
fields (`extra="allow"`): the seed says unsupported parameters are ignored, and
`translate/field_support.py` reports which ones were. Ranges are checked here so a bad
value fails with the exact parameter path (`translate/validation.py` turns the pydantic
error into `InvalidArgument(param=...)`).

The two real unions (`content`, `stop`) use callable discriminators whose tags start with
`UNION_TAG_MARKER`, so the validation layer can remove them from error locations and
only the branch that matches the input's JSON type reports errors.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

UNION_TAG_MARKER = "~"

MessageRole = Literal["system", "developer", "user", "assistant", "tool", "function"]


class _WireModel(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class ImageURL(_WireModel):
    url: str
    detail: str | None = None


class InputAudio(_WireModel):
    data: str
    format: str


class ContentPart(_WireModel):
    """One element of a list-valued `content`. Which payload field is required depends on
    `type`; `translate/request_to_gemini.py` checks that (and rejects media for now)."""

    type: Literal["text", "image_url", "input_audio"]
    text: str | None = None
    image_url: ImageURL | None = None
    input_audio: InputAudio | None = None


def _str_or_list_tag(value: Any) -> str | None:
    if isinstance(value, str):
        return UNION_TAG_MARKER + "str"
    if isinstance(value, list):
        return UNION_TAG_MARKER + "list"
    return None


MessageContent = Annotated[
    Annotated[str, Tag(UNION_TAG_MARKER + "str")]
    | Annotated[list[ContentPart], Tag(UNION_TAG_MARKER + "list")],
    Discriminator(
        _str_or_list_tag,
        custom_error_type="invalid_type",
        custom_error_message="Input should be a string or an array of content parts",
    ),
]

NonEmptyStr = Annotated[str, Field(min_length=1)]

StopSequences = Annotated[
    Annotated[NonEmptyStr, Tag(UNION_TAG_MARKER + "str")]
    | Annotated[list[NonEmptyStr], Field(max_length=5), Tag(UNION_TAG_MARKER + "list")],
    Discriminator(
        _str_or_list_tag,
        custom_error_type="invalid_type",
        custom_error_message="Input should be a string or an array of at most 5 strings",
    ),
]


class ChatMessage(_WireModel):
    role: MessageRole
    content: MessageContent | None = None
    name: str | None = None
    # Tool calling is a later issue; until then these are accepted but not interpreted.
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None


class JsonSchemaFormat(_WireModel):
    """`response_format.json_schema`. `schema` is stored as `schema_` (pydantic reserves the
    name on BaseModel) but read and reported under its wire name."""

    name: Annotated[str, Field(min_length=1, max_length=64)]
    description: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class ResponseFormat(_WireModel):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None


class StreamOptions(_WireModel):
    include_usage: bool | None = None


class ChatCompletionRequest(_WireModel):
    model: str
    messages: Annotated[list[ChatMessage], Field(min_length=1)]
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    n: Annotated[int, Field(ge=1, le=8)] | None = None
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    max_completion_tokens: Annotated[int, Field(ge=1)] | None = None
    seed: int | None = None
    stop: StopSequences | None = None
    presence_penalty: Annotated[float, Field(ge=-2, le=2)] | None = None
    frequency_penalty: Annotated[float, Field(ge=-2, le=2)] | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    response_format: ResponseFormat | None = None

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)
