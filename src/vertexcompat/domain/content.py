"""Gemini's request shape: contents made of parts, generation config, the request itself.

A part the client sent carries a label (`source`, `signature_source`): the client's own
name for that value, written by the API surface that built the request (Chat Completions:
`messages[0].content[1].image_url.url`). Code below the surface uses it only to name that
value when refusing it (`ApiError.param`); everything else about a request is named by its
Gemini location (`domain/locations.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from vertexcompat.domain.safety import SafetySetting
from vertexcompat.domain.thinking import ThinkingConfig
from vertexcompat.domain.tools import FunctionDeclaration, ToolConfig

Role = Literal["user", "model"]

# Gemini's `responseMimeType` values this server understands. "application/json" without a
# schema means "any JSON object" (OpenAI's `json_object`).
JSON_MIME_TYPE = "application/json"
TEXT_MIME_TYPE = "text/plain"


@dataclass(frozen=True, slots=True)
class TextPart:
    """`thought`: this text is reasoning, not answer. `thought_signature`: the opaque token
    a model turn's last text part carries back (SPEC §5); `signature_source` is the
    client's name for it (the module's labels), so a bad signature is named."""

    text: str
    thought: bool = False
    thought_signature: str | None = None
    signature_source: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class FunctionCallPart:
    """A call the model made (Gemini `functionCall`). `id` is the client-visible call id
    when one is known (OpenAI `tool_calls[].id`); the local model never makes one up."""

    name: str
    args: Mapping[str, Any]
    id: str | None = None
    # The turn's thought signature, on its first call (SPEC §5), and where the client
    # sent it (or where it should have), for errors.
    thought_signature: str | None = None
    signature_source: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class FunctionResponsePart:
    """The result of a call, sent back by the client (Gemini `functionResponse`).

    `response` is always an object, as on Gemini: a tool result that is a JSON object is
    kept as it is; anything else (plain text, a JSON array or number) is wrapped as
    `{"content": <the text>}` (`WRAPPED_RESPONSE_KEY`)."""

    name: str
    response: Mapping[str, Any]
    id: str | None = None


WRAPPED_RESPONSE_KEY = "content"


@dataclass(frozen=True, slots=True)
class FileDataPart:
    """Media by reference (Gemini `fileData`): an image URL as the client sent it — a
    `data:` URI, `https://` or `gs://`. Nothing is fetched or decoded in `translate/`.
    `source` is the client's name for it (the module's labels), so a failure to load it
    names the part."""

    file_uri: str
    source: str
    mime_type: str | None = None


@dataclass(frozen=True, slots=True)
class InlineDataPart:
    """Media by value (Gemini `inlineData`): base64 `data` with its declared type, e.g.
    an `input_audio` part (`audio/wav`). `source`: the client's name for `data`."""

    mime_type: str
    data: str = field(repr=False)  # base64 text, possibly megabytes: kept out of reprs
    source: str = ""


@dataclass(frozen=True, slots=True)
class ImageDescriptionPart:
    """What the perception pipeline found in an image: `description` is what a text-only
    model reads; the other fields are for policy (safety settings) and tests. A model
    that sees images itself gets the FileDataPart instead."""

    description: str
    mime_type: str
    width: int
    height: int
    text_lines: tuple[str, ...] = ()
    nsfw_score: float = 0.0


@dataclass(frozen=True, slots=True)
class TranscriptPart:
    """What speech recognition heard in an audio part."""

    description: str
    mime_type: str
    transcript: str
    language: str | None
    duration_s: float


# The parts a text-only backend receives in place of media.
PerceivedPart = ImageDescriptionPart | TranscriptPart
MediaPart = FileDataPart | InlineDataPart

# A discriminated union; every `match` over Part ends in `assert_never`, so a new kind
# cannot be silently dropped.
Part = TextPart | FunctionCallPart | FunctionResponsePart | MediaPart | PerceivedPart


@dataclass(frozen=True, slots=True)
class Content:
    role: Role
    parts: tuple[Part, ...]


# Gemini `responseModalities`: what the answer may contain.
Modality = Literal["TEXT", "IMAGE"]
IMAGE_MODALITY: Modality = "IMAGE"
TEXT_MODALITY: Modality = "TEXT"


@dataclass(frozen=True, slots=True)
class ImageConfig:
    """Gemini `imageConfig` plus the pixel size the translation layer resolved for it
    (from OpenAI `size`, or Gemini's table for `aspect_ratio`)."""

    width: int
    height: int
    aspect_ratio: str | None = None


# Gemini's image models answer 1024x1024 when nothing says otherwise.
DEFAULT_IMAGE_SIZE = (1024, 1024)


@dataclass(frozen=True, slots=True)
class GenerationConfig:
    """Gemini `generationConfig`. `None` means "not set": the backend applies its default."""

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    candidate_count: int = 1
    max_output_tokens: int | None = None
    stop_sequences: tuple[str, ...] = ()
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    seed: int | None = None
    # Structured output (Gemini `responseMimeType` + `responseSchema`). The schema is a JSON
    # Schema document (OpenAPI-subset on real Gemini; full JSON Schema here), already
    # checked by `translate/json_schema.py`. It is only meaningful with the JSON mime type.
    response_mime_type: str | None = None
    response_schema: Mapping[str, Any] | None = None
    # Gemini puts `thinkingConfig` inside `generationConfig`; `None` = the client said
    # nothing about thinking (the model's default applies).
    thinking_config: ThinkingConfig | None = None
    # Empty = the model's default (text only, except on image model ids:
    # services/policies/image_defaults.py).
    response_modalities: tuple[Modality, ...] = ()
    image_config: ImageConfig | None = None
    # Gemini `responseLogprobs` / `logprobs` (OpenAI `logprobs` / `top_logprobs`): report
    # each answer token's log probability, and that many alternatives (0-20) at each
    # position (`TokenLogprobs` events).
    response_logprobs: bool = False
    logprobs: int = 0

    @property
    def wants_json(self) -> bool:
        return self.response_mime_type == JSON_MIME_TYPE

    @property
    def wants_image(self) -> bool:
        return IMAGE_MODALITY in self.response_modalities

    @property
    def image_size(self) -> tuple[int, int]:
        """(width, height) in pixels of each image asked for."""
        if self.image_config is None:
            return DEFAULT_IMAGE_SIZE
        return self.image_config.width, self.image_config.height


@dataclass(frozen=True, slots=True)
class GenerateContentRequest:
    """What every backend receives. `model` is the resolved backend model name."""

    model: str
    contents: tuple[Content, ...]
    system_instruction: Content | None = None
    generation_config: GenerationConfig = field(default_factory=GenerationConfig)
    # Gemini groups declarations into `tools[].functionDeclarations`; only function tools
    # exist here, so the declarations are kept as one flat tuple.
    tools: tuple[FunctionDeclaration, ...] = ()
    tool_config: ToolConfig = field(default_factory=ToolConfig)
    # The project the request is made for (None: unknown). Work kept between requests,
    # such as a local engine's prompt prefixes, is shared only within one project.
    project: str | None = None
    # The cachedContents resource whose contents lead `contents` (services/context_cache.py),
    # so a backend may keep the work of that prefix while the cache lives.
    cached_content: str | None = None
    # Ground the answer in search results (Gemini's `googleSearch` / `retrieval` tools;
    # OpenAI's `web_search_options`): services/policies/grounding.py.
    grounding: bool = False
    # Gemini `safetySettings` as the client sent them (the server's defaults are applied
    # by services/policies/safety.py, not here).
    safety_settings: tuple[SafetySetting, ...] = ()
    # Whether the client reads the answer as it is written (Gemini's streamGenerateContent,
    # chat `stream: true`) or whole. Backends may ignore it; an upstream asks its server the
    # same way, so that a whole answer can still be retried on another replica when one
    # fails halfway.
    stream: bool = True
