"""The Chat Completions request as it arrives on the wire.

Models are strict (a JSON string is never coerced into a number) and tolerate unknown
fields (`extra="allow"`): the seed says unsupported parameters are ignored, and
`translate/field_support.py` reports which ones were. Ranges are checked here so a bad
value fails with the exact parameter path (`translate/validation.py` turns the pydantic
error into `InvalidArgument(param=...)`).

The real unions (`content`, `stop`, `tool_choice`, `function_call`) use callable discriminators whose tags start with
`UNION_TAG_MARKER`, so the validation layer can remove them from error locations and
only the branch that matches the input's JSON type reports errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, PrivateAttr, Tag, model_validator

from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.domain.thinking import (
    THOUGHT_TAG_MARKER_PATTERN,
    ThinkingLevel,
    ThoughtTagMarker,
)

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


class GooglePartExtras(_WireModel):
    """`extra_content.google` (older name `extra_part.google`) on a part, message or tool
    call (SPEC §5)."""

    thought: bool | None = None
    thought_signature: str | None = None


class PartExtras(_WireModel):
    google: GooglePartExtras | None = None


@dataclass(frozen=True, slots=True)
class SentPartExtras:
    """The `google` extras of one part, message or tool call, read once from whichever key
    carried them (`extra_content` wins over the older `extra_part`); `key` is that key,
    or `extra_content` when none was sent, so errors name the path the client used."""

    thought: bool = False
    thought_signature: str | None = None
    key: str = "extra_content"

    def param(self, *names: str) -> str:
        """`param("thought_signature")` → `extra_content.google.thought_signature`."""
        return ".".join((self.key, "google", *names))


NO_PART_EXTRAS = SentPartExtras()


class _HasExtras(_WireModel):
    extra_content: PartExtras | None = None
    extra_part: PartExtras | None = None
    # A factory, not `default=`: pydantic deep-copies a default for every instance, and
    # this one is frozen (shared safely).
    _extras: SentPartExtras = PrivateAttr(default_factory=lambda: NO_PART_EXTRAS)

    @model_validator(mode="after")
    def _read_extras(self) -> _HasExtras:
        for key in ("extra_content", "extra_part"):
            extras = getattr(self, key)
            if extras is not None and extras.google is not None:
                google = extras.google
                self._extras = SentPartExtras(
                    thought=bool(google.thought), thought_signature=google.thought_signature,
                    key=key,
                )
                break
        return self

    @property
    def extras(self) -> SentPartExtras:
        """The `google` extras, as sent (SPEC §5)."""
        return self._extras


class ContentPart(_HasExtras):
    """One element of a list-valued `content`. Which payload field is required depends on
    `type`; `translate/request_to_gemini.py` checks that."""

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


def _str_or_object_tag(value: Any) -> str | None:
    if isinstance(value, str):
        return UNION_TAG_MARKER + "str"
    if isinstance(value, dict):
        return UNION_TAG_MARKER + "object"
    return None


# OpenAI's rule for function names (and Gemini's, minus the dot): 1-64 of [a-zA-Z0-9_-].
FunctionName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-zA-Z0-9_-]+$")]


class FunctionDefinition(_WireModel):
    """`tools[].function`, and the deprecated `functions[]` entries."""

    name: FunctionName
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolDefinition(_WireModel):
    type: Literal["function"]
    function: FunctionDefinition


class NamedFunction(_WireModel):
    name: str


class NamedToolChoice(_WireModel):
    type: Literal["function"]
    function: NamedFunction


ToolChoice = Annotated[
    Annotated[Literal["none", "auto", "required"], Tag(UNION_TAG_MARKER + "str")]
    | Annotated[NamedToolChoice, Tag(UNION_TAG_MARKER + "object")],
    Discriminator(
        _str_or_object_tag,
        custom_error_type="invalid_type",
        custom_error_message='Input should be "none", "auto", "required" or a named function',
    ),
]

# The deprecated `function_call` request field: "none", "auto" or {"name": ...}.
FunctionCallChoice = Annotated[
    Annotated[Literal["none", "auto"], Tag(UNION_TAG_MARKER + "str")]
    | Annotated[NamedFunction, Tag(UNION_TAG_MARKER + "object")],
    Discriminator(
        _str_or_object_tag,
        custom_error_type="invalid_type",
        custom_error_message='Input should be "none", "auto" or {"name": ...}',
    ),
]


class CalledFunction(_WireModel):
    """A call the assistant made earlier: `arguments` is the JSON text the model wrote."""

    name: str
    arguments: str


class ToolCall(_HasExtras):
    id: Annotated[str, Field(min_length=1)]
    type: Literal["function"] = "function"
    function: CalledFunction


class ChatMessage(_HasExtras):
    role: MessageRole
    content: MessageContent | None = None
    # An assistant message's thoughts, as this server (and others) return them.
    reasoning_content: str | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    # The deprecated single call of an assistant message (`functions` era).
    function_call: CalledFunction | None = None


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


class GoogleThinkingConfig(BaseModel):
    """`extra_body.google.thinking_config` (SPEC §5). Unknown keys are rejected rather than
    ignored: Gemini's ThinkingConfig has exactly these three, and a misspelt
    `thinking_buget` silently ignored would change how long the model thinks."""

    model_config = ConfigDict(extra="forbid", strict=True)

    # 0 = off, -1 = dynamic, N >= 1 = at most N thought tokens.
    thinking_budget: Annotated[int, Field(ge=-1)] | None = None
    include_thoughts: bool | None = None
    thinking_level: ThinkingLevel | None = None


class GoogleImageConfig(_WireModel):
    """`extra_body.google.image_config` (Gemini `imageConfig`). `aspect_ratio` is checked in
    `translate/image_options.py`, so the error can list Gemini's values."""

    aspect_ratio: str | None = None


class GoogleExtensions(_WireModel):
    """Vertex's Gemini-only request options, `extra_body.google` (SPEC §5). Other fields
    are allowed through; `translate/field_support.py` lists them as ignored."""

    thinking_config: GoogleThinkingConfig | None = None
    image_config: GoogleImageConfig | None = None
    # A context cache (`cachedContents`) by resource name, or by its id alone.
    cached_content: Annotated[str, Field(min_length=1, max_length=512)] | None = None
    thought_tag_marker: Annotated[str, Field(pattern=THOUGHT_TAG_MARKER_PATTERN)] | None = None
    # Gemini `safetySettings`, as JSON: `translate/safety_settings.py` reads it (the same
    # reader as the native surface's), so the errors list Gemini's names. Also accepted
    # as `safetySettings`, Gemini's own spelling, which lands among the extra fields.
    safety_settings: Any = None
    # Gemini grounding tools (`[{"google_search": {}}]`), as JSON: `translate/grounding.py`
    # reads it, so an error names the item and the tool.
    tools: Any = None


class ExtraBody(_WireModel):
    """A literal `"extra_body"` key in the JSON body: what raw REST clients send when they
    copy Vertex's documented `extra_body={"google": ...}` (the Python SDK flattens it into
    the top-level `"google"` key instead)."""

    google: GoogleExtensions | None = None


# The two wire forms of the `google` object (SPEC §5).
FLATTENED_GOOGLE_PATH = "google"
LITERAL_GOOGLE_PATH = "extra_body.google"
# The two spellings of `google.safety_settings`: Vertex's OpenAI docs' and Gemini's own.
SAFETY_SETTINGS_KEYS = ("safety_settings", "safetySettings")


@dataclass(frozen=True, slots=True)
class GoogleOptions:
    """The request's `google` object, read once (`ChatCompletionRequest.google_options`).

    It arrives in one of two forms: a literal `"extra_body": {"google": ...}` key (raw REST
    clients copying Vertex's docs) or a top-level `"google"` key (what the openai Python
    SDK sends for `extra_body={"google": ...}`, which it merges into the body). `path` is
    the form the client used (the literal one when none was sent), so an error names a key
    the client actually sent."""

    path: str = LITERAL_GOOGLE_PATH
    thinking_config: GoogleThinkingConfig | None = None
    image_config: GoogleImageConfig | None = None
    thought_tag_marker: ThoughtTagMarker | None = None
    cached_content: str | None = None
    # The `safety_settings` JSON as sent (None: not sent), and the key that carried it
    # (`safety_settings` or `safetySettings`), so an error names what the client wrote.
    safety_settings: Any = None
    safety_settings_key: str = SAFETY_SETTINGS_KEYS[0]
    # The `tools` JSON as sent (None: not sent): Gemini's grounding tools.
    tools: Any = None

    def param(self, *names: str) -> str:
        """`param("thinking_config", "thinking_budget")` →
        `extra_body.google.thinking_config.thinking_budget` (or `google.…`)."""
        return ".".join((self.path, *names))


NO_GOOGLE_OPTIONS = GoogleOptions()


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
    # Token log probabilities (OpenAI: `top_logprobs` needs `logprobs: true`).
    logprobs: bool | None = None
    top_logprobs: Annotated[int, Field(ge=0, le=20)] | None = None
    response_format: ResponseFormat | None = None
    tools: Annotated[list[ToolDefinition], Field(min_length=1)] | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    functions: Annotated[list[FunctionDefinition], Field(min_length=1)] | None = None
    function_call: FunctionCallChoice | None = None
    # Checked in `translate/thinking.py`, so the error can list the valid values.
    reasoning_effort: str | None = None
    # Output modalities (OpenAI `modalities`; "image" is Gemini's image output) and the
    # image size "WxH" (checked in `translate/image_options.py`).
    modalities: Annotated[list[Literal["text", "image"]], Field(min_length=1)] | None = None
    size: str | None = None
    # Ground the answer in search results (issue 18). Any object: its options (context
    # size, user location) are ignored, as Vertex's docs say (`translate/grounding.py`).
    web_search_options: dict[str, Any] | None = None
    # Google's extension object, in either of its two wire forms (`google_options`).
    google: GoogleExtensions | None = None
    extra_body: ExtraBody | None = None
    # A factory for the frozen default, as `_HasExtras._extras`.
    _google_options: GoogleOptions = PrivateAttr(default_factory=lambda: NO_GOOGLE_OPTIONS)

    @model_validator(mode="after")
    def _read_google_options(self) -> ChatCompletionRequest:
        literal = self.extra_body.google if self.extra_body is not None else None
        flattened = self.google
        if literal is not None and flattened is not None:
            raise InvalidArgument(
                "The request has both a top-level `google` object and `extra_body.google`; "
                "send the Google options once (the openai SDK's `extra_body={\"google\": "
                "...}` already becomes the top-level `google` key).",
                param="extra_body",
            )
        sent, path = (
            (literal, LITERAL_GOOGLE_PATH) if literal is not None
            else (flattened, FLATTENED_GOOGLE_PATH)
        )
        if sent is not None:
            marker = sent.thought_tag_marker
            key, settings = _safety_settings(sent, path)
            self._google_options = GoogleOptions(
                path=path,
                thinking_config=sent.thinking_config,
                image_config=sent.image_config,
                # The wire model checked the marker's characters.
                thought_tag_marker=ThoughtTagMarker(marker) if marker is not None else None,
                cached_content=sent.cached_content,
                safety_settings=settings,
                safety_settings_key=key,
                tools=sent.tools,
            )
        return self

    @property
    def google_options(self) -> GoogleOptions:
        """The `google` object (either wire form), parsed once; empty when none was sent."""
        return self._google_options

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


def _safety_settings(sent: GoogleExtensions, path: str) -> tuple[str, Any]:
    """(the key, the value) of the safety settings in either spelling; both is refused."""
    snake, camel = SAFETY_SETTINGS_KEYS
    extra = sent.model_extra or {}
    if camel not in extra:
        return snake, sent.safety_settings
    if snake in sent.model_fields_set:
        raise InvalidArgument(
            f"`{path}.{snake}` is given twice (as `{snake}` and `{camel}`).",
            param=f"{path}.{snake}",
        )
    return camel, extra[camel]


class ImageGenerationRequest(_WireModel):
    """OpenAI `images.generate` (`POST /images/generations`). Only `b64_json` responses
    exist here (no files are hosted, so `url` is refused in translation); `quality`,
    `style` and `user` are accepted and ignored."""

    prompt: Annotated[str, Field(min_length=1)]
    model: str | None = None
    n: Annotated[int, Field(ge=1, le=4)] | None = None
    size: str | None = None
    response_format: Literal["b64_json", "url"] | None = None
    quality: str | None = None
    style: str | None = None
    user: str | None = None
    # Not OpenAI's: a client sends it through `extra_body`, like chat's `seed` (SPEC §4).
    seed: int | None = None
