"""The wire of Google's own Gemini REST API, on either host: the Gemini Developer API
(generativelanguage.googleapis.com) and Vertex AI (aiplatform.googleapis.com), whose
`:generateContent`, `:streamGenerateContent?alt=sse` and `:countTokens` bodies are the same
JSON. A `GenerateContentRequest` → the camelCase body; the answer → domain stream events;
an error body → its message, field and status. Pure: no I/O; the backend that owns the
HTTP client builds the URL (the model goes there, not in the body), feeds this module
parsed JSON and maps HTTP statuses itself.

The request (`to_gemini_body`):

- `contents`, `systemInstruction`, `tools` and `toolConfig` are written by the writers of
  `translate/gemini_contents.py`, so parts, calls, results, declarations
  (`parametersJsonSchema`) and thought signatures look exactly as a Gemini client would
  send them. Signatures pass through untouched (on this backend they are Gemini's own),
  and thought parts of earlier turns go back as `{"text": …, "thought": true}`, which
  Gemini accepts. Changed on the way: what perception made of media
  (`ImageDescriptionPart` / `TranscriptPart`) becomes a text part of its `description`;
  a `data:` URI becomes `inlineData` (Gemini's `fileData` takes no data URIs); a
  `fileData` without a mime type gets the one its file extension names, when it names one
  (Vertex requires it). An empty text part that carries no signature is left out (Gemini
  refuses empty text), and so is a content or system instruction left with no parts.
- `generationConfig` holds only what is set: `temperature`, `topP`, `topK`,
  `candidateCount` (when above 1), `maxOutputTokens`, `stopSequences`, the penalties,
  `seed`, `responseMimeType`, the schema as `responseJsonSchema` (the domain holds full
  JSON Schema, which that field takes as it is; sent only with the JSON mime type, the
  only one it means something with), `thinkingConfig` (`thinkingLevel` upper-cased when a
  level is set — then without `thinkingBudget`, as Gemini refuses both — else
  `thinkingBudget`; `includeThoughts` when true), `responseModalities`,
  `imageConfig.aspectRatio`, and `responseLogprobs: true` when asked, with `logprobs` when
  it asks for alternatives (above 0). It is left out when nothing is set.
- `tools` gets `{"googleSearch": {}}` after the declarations when the request asks for
  `grounding`: Gemini grounds its own answers in Google Search.
- `toolConfig` is left out when it is the default (AUTO, no names).
- `safetySettings`: the request's own, `{"category", "threshold", "method"?}` each (Gemini
  judges its answers itself), `method` only when the client set one and only to Vertex
  (`vertex`: the Developer API's `SafetySetting` has no such field); left out when none.

Dropped, on purpose: `model` (the URL's), `stream` (the endpoint's), `project` and
`cached_content` (this server's own), `parallel_calls` (Gemini has no such switch). The one
refusal: a media part Gemini cannot take — a URI other than http(s), `gs://` or a
well-formed `data:` URI — raises `InvalidArgument`, named by the client's label of the part
(`param`) or by its Gemini location.

`to_count_tokens_body`: Vertex's `:countTokens` takes `contents`, `systemInstruction` and
`tools` at the top level; the Developer API takes `{"generateContentRequest": {"model",
…}}` with the generateContent fields but `generationConfig`.

`to_compute_tokens_body`: Vertex's `:computeTokens` (the Developer API has none) takes the
`contents` alone; `tokens_info_from_compute_tokens` reads its answer, `{"tokensInfo":
[{"tokens": [<base64>…], "tokenIds": ["<int64>"…], "role"}…]}`, and unlike the answers
below refuses junk (`ValueError`): there is nothing to skip to in a list of tokens.

The answer (`events_from_response` for a whole `GenerateContentResponse`, `ChunkDecoder`
for the SSE stream of them) is emitted in the order `domain/events.py` documents. Per
candidate (`index`, else its position — or 0 when its siblings carry indexes, proto3
leaving zero out): a `text` part with `thought: true` → `ThoughtDelta`; `text` →
`TextDelta` (empty text is skipped); `functionCall` → `FunctionCall` with its `id` and
the part's `thoughtSignature`, as soon as it is seen (Gemini sends calls whole);
`inlineData` → `ImageOutput` with the decoded bytes (a thought image, `thought: true`, is
an interim draft and is skipped). The latest `thoughtSignature` on any other part (Gemini
streams often send it on an empty last text part) → one `ThoughtSignature` right before the
candidate's `Finished`, unless one of its calls carried a signature. `finishReason` →
`Finished` by name; IMAGE_SAFETY and IMAGE_PROHIBITED_CONTENT → SAFETY, IMAGE_RECITATION
→ RECITATION, anything else (FINISH_REASON_UNSPECIFIED, LANGUAGE, …) → OTHER. A call part
without a name or with arguments that are not an object is dropped, and a candidate that
would finish STOP finishes MALFORMED_FUNCTION_CALL. A candidate's `safetyRatings` (in a
stream, the latest sent) → one `SafetyRatings` right before its `Finished`. A prompt
blocked before any candidate (`promptFeedback.blockReason`, any name but
BLOCKED_REASON_UNSPECIFIED) → one `PromptFeedback` with that name as its reason and the
ratings of `promptFeedback.safetyRatings`, and no candidate events (a stream's later
candidates are dropped). A rating (`{"category", "probability", "probabilityScore",
"blocked"}`) scores its `probabilityScore`, else the middle of its `probability`'s band
(NEGLIGIBLE .125, LOW .375, MEDIUM .625, HIGH .875); one of a category the domain does not
know (image categories, HARM_CATEGORY_UNSPECIFIED) or with neither is dropped. A
candidate's `groundingMetadata` (in a stream, the latest non-empty value of each of its
fields) → one `GroundingMetadata` after its `ThoughtSignature`, before its `SafetyRatings`:
`webSearchQueries` → queries; each `groundingChunks` entry → a `Source` of its `web` (else
`retrievedContext`, else `maps`) `uri` and `title` (empty when absent, so the supports'
indices still hold); each `groundingSupports` entry → a `Support` whose `segment` UTF-8
byte offsets into the candidate's answer text (its text parts joined, thoughts not
counted) become character offsets, moved to where its `text` occurs when they do not land
on it (offsets of one part of several), keeping the `groundingChunkIndices` in range and
their `confidenceScores` (none when Gemini sends none or not one each); a support left
with no source or no text is dropped. One `Usage`
comes last (`usageMetadata`: completion tokens are the candidates' plus the thoughts';
zeros when absent; in a stream the latest, as Gemini repeats it cumulatively on every
chunk). In a stream, a candidate stays open until a chunk gives its `finishReason`; one the
stream never finished finishes OTHER. Junk (non-object parts, non-list candidates, ratings
that are not objects) is skipped: the answer side never raises.

Log probabilities (asked with `generationConfig.responseLogprobs` and, for k > 0
alternatives, `logprobs: k`): a candidate's `logprobsResult` → one `TokenLogprobs` per
`chosenCandidates` entry (`{"token", "tokenId", "logProbability"}`; the token's text as
UTF-8; proto3 leaves a log probability of 0 out), in order, with the `topCandidates` entry of
the same position as its alternatives, most likely first; `logProbabilitySum` is not read.
They come after the candidate's thoughts and before its text, calls and images of the same
answer or chunk: in a stream Gemini sends each chunk's tokens with that chunk. Were thought
tokens listed too, nothing would tell them apart from the answer's: they pass as they come.
"""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, assert_never
from urllib.parse import unquote, unquote_to_bytes, urlsplit

from vertexcompat.domain.content import (
    JSON_MIME_TYPE,
    Content,
    FileDataPart,
    FunctionCallPart,
    FunctionResponsePart,
    GenerateContentRequest,
    GenerationConfig,
    ImageDescriptionPart,
    InlineDataPart,
    Part,
    TextPart,
    TranscriptPart,
)
from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.domain.events import (
    Finished,
    FinishReason,
    FunctionCall,
    GroundingMetadata,
    ImageOutput,
    PromptFeedback,
    SafetyRatings,
    StreamEvent,
    TextDelta,
    ThoughtDelta,
    ThoughtSignature,
    TokenChoice,
    TokenLogprobs,
    Usage,
)
from vertexcompat.domain.grounding import Source, Support
from vertexcompat.domain.locations import FieldPath
from vertexcompat.domain.safety import HarmCategory, HarmLevel, SafetyRating, SafetySetting
from vertexcompat.domain.tokens import TokensInfo
from vertexcompat.domain.tools import FunctionCallingMode
from vertexcompat.translate.gemini_contents import (
    _part_to_wire,
    plain as _plain,
    tool_config_to_wire,
    tools_to_wire,
)
from vertexcompat.translate.grounding import to_char_offset

Json = dict[str, Any]

# The URI schemes Gemini's `fileData.fileUri` reads (`data:` is turned into `inlineData`).
_FILE_SCHEMES = frozenset({"http", "https", "gs"})
# RFC 2397: a `data:` URI without a media type holds US-ASCII text.
_DATA_URI_DEFAULT_TYPE = "text/plain"

_FINISH_REASONS = {
    "STOP": FinishReason.STOP,
    "MAX_TOKENS": FinishReason.MAX_TOKENS,
    "SAFETY": FinishReason.SAFETY,
    "RECITATION": FinishReason.RECITATION,
    "PROHIBITED_CONTENT": FinishReason.PROHIBITED_CONTENT,
    "BLOCKLIST": FinishReason.BLOCKLIST,
    "SPII": FinishReason.SPII,
    "MALFORMED_FUNCTION_CALL": FinishReason.MALFORMED_FUNCTION_CALL,
    "IMAGE_SAFETY": FinishReason.SAFETY,
    "IMAGE_PROHIBITED_CONTENT": FinishReason.SAFETY,
    "IMAGE_RECITATION": FinishReason.RECITATION,
}
# Proto3's default: "no reason yet" in a stream.
_UNSPECIFIED_REASON = "FINISH_REASON_UNSPECIFIED"
# Proto3's default block reason: not blocked.
_UNSPECIFIED_BLOCK = "BLOCKED_REASON_UNSPECIFIED"
_CATEGORIES = {c.value: c for c in HarmCategory}
# A rating that gives only its level scores the middle of the level's band (domain/safety.py).
_LEVEL_SCORES = {
    HarmLevel.NEGLIGIBLE.name: 0.125,
    HarmLevel.LOW.name: 0.375,
    HarmLevel.MEDIUM.name: 0.625,
    HarmLevel.HIGH.name: 0.875,
}


# --- the request ------------------------------------------------------------------------


def to_gemini_body(request: GenerateContentRequest, *, vertex: bool = True) -> dict[str, Any]:
    """The JSON body of `:generateContent` / `:streamGenerateContent` for `request`.
    `vertex`: for Vertex AI (else the Developer API, whose safety settings take no
    `method`)."""
    body = _content_fields(request)
    if request.safety_settings:
        body["safetySettings"] = [_safety_setting(s, vertex) for s in request.safety_settings]
    generation = _generation_config(request.generation_config)
    if generation:
        body["generationConfig"] = generation
    return _plain(body)


def _safety_setting(setting: SafetySetting, vertex: bool) -> Json:
    out: Json = {"category": setting.category.value, "threshold": setting.threshold.value}
    if setting.method is not None and vertex:
        out["method"] = setting.method.value
    return out


def to_count_tokens_body(
    request: GenerateContentRequest, *, vertex: bool, model_resource: str
) -> dict[str, Any]:
    """The JSON body of `:countTokens`. `vertex`: Vertex AI's form (the contents, system
    instruction and tools at the top level); else the Developer API's, which wraps the
    generateContent fields (without `generationConfig`) with `model_resource` (its
    `models/…` name) in `generateContentRequest`."""
    fields = _content_fields(request)
    if vertex:
        keep = ("contents", "systemInstruction", "tools")
        return _plain({k: fields[k] for k in keep if k in fields})
    return _plain({"generateContentRequest": {"model": model_resource, **fields}})


def to_compute_tokens_body(
    request: GenerateContentRequest,
) -> tuple[dict[str, Any], tuple[int, ...]]:
    """The JSON body of Vertex's `:computeTokens` (`{"contents": […]}`), and the indexes in
    `request.contents` of the contents it holds: one left with no parts (only empty text)
    is not sent, as in every body."""
    sent = _wire_contents(request)
    return _plain({"contents": [wire for _, wire in sent]}), tuple(turn for turn, _ in sent)


def _wire_contents(request: GenerateContentRequest) -> list[tuple[int, Json]]:
    """The request's contents as Gemini reads them, each with its index (some are left out)."""
    return [
        (turn, wire)
        for turn, content in enumerate(request.contents)
        if (wire := _content(content, FieldPath.of("contents", turn))) is not None
    ]


def _content_fields(request: GenerateContentRequest) -> Json:
    """`contents`, and `systemInstruction`, `tools` and `toolConfig` when they say anything."""
    body: Json = {"contents": [wire for _, wire in _wire_contents(request)]}
    if request.system_instruction is not None:
        system = _content(request.system_instruction, FieldPath.of("system_instruction"))
        if system is not None:
            body["systemInstruction"] = system
    tools = tools_to_wire(request.tools)
    if request.grounding:
        tools.append({"googleSearch": {}})
    if tools:
        body["tools"] = tools
    config = request.tool_config
    if config.mode is not FunctionCallingMode.AUTO or config.allowed_function_names:
        body["toolConfig"] = tool_config_to_wire(config)
    return body


def _content(content: Content, where: FieldPath) -> Json | None:
    parts = [
        wire
        for j, part in enumerate(content.parts)
        if (wire := _part(part, where / "parts" / j)) is not None
    ]
    return {"role": content.role, "parts": parts} if parts else None


def _part(part: Part, at: FieldPath) -> Json | None:
    """One part as Gemini reads it, or None for one it would refuse as empty."""
    match part:
        case TextPart(text="", thought_signature=None):
            return None
        case ImageDescriptionPart(description=text) | TranscriptPart(description=text):
            return {"text": text} if text else None
        case FileDataPart():
            return _file_data(part, at)
        case TextPart() | InlineDataPart() | FunctionCallPart() | FunctionResponsePart():
            return _part_to_wire(part)
        case _:
            assert_never(part)


def _file_data(part: FileDataPart, at: FieldPath) -> Json:
    uri = part.file_uri
    scheme, colon, _ = uri.partition(":")
    scheme = scheme.lower() if colon else ""
    if scheme == "data":
        return _inline_from_data_uri(part, at)
    if scheme not in _FILE_SCHEMES:
        named = f"by {scheme}: URI" if scheme else "by a URI without a scheme"
        raise _refusal(
            f"Gemini reads media by http(s) or gs:// URI or as base64 data, not {named}",
            part.source,
            at,
        )
    wire = _part_to_wire(part)
    if part.mime_type is None:
        guessed, _ = mimetypes.guess_type(urlsplit(uri).path, strict=False)
        if guessed is not None:
            wire["fileData"]["mimeType"] = guessed
    return wire


def _inline_from_data_uri(part: FileDataPart, at: FieldPath) -> Json:
    """`data:[<type>][;<param>…][;base64],<data>` → `inlineData` (base64, as Gemini reads
    it): the URI's own type, else the part's, else RFC 2397's default."""
    header, comma, payload = part.file_uri[len("data:"):].partition(",")
    if not comma:
        raise _refusal("a `data:` URI needs a `,` before its data", part.source, at)
    declared, *params = header.split(";")
    mime = declared.strip().lower() or part.mime_type or _DATA_URI_DEFAULT_TYPE
    if any(p.strip().lower() == "base64" for p in params):
        data = "".join(unquote(payload).split())
    else:
        data = base64.b64encode(unquote_to_bytes(payload)).decode("ascii")
    if not data:
        raise _refusal("the `data:` URI holds no data", part.source, at)
    return {"inlineData": {"mimeType": mime, "data": data}}


def _refusal(reason: str, source: str, at: FieldPath) -> InvalidArgument:
    """A media part that cannot be sent: named by the client's label when it has one."""
    if source:
        return InvalidArgument(f"`{source}`: {reason}.", param=source)
    return InvalidArgument(f"{reason[0].upper()}{reason[1:]}.", location=at)


def _generation_config(cfg: GenerationConfig) -> Json:
    out: Json = {}
    optional: tuple[tuple[str, object], ...] = (
        ("temperature", cfg.temperature),
        ("topP", cfg.top_p),
        ("topK", cfg.top_k),
        ("maxOutputTokens", cfg.max_output_tokens),
        ("presencePenalty", cfg.presence_penalty),
        ("frequencyPenalty", cfg.frequency_penalty),
        ("seed", cfg.seed),
        ("responseMimeType", cfg.response_mime_type),
    )
    for name, value in optional:
        if value is not None:
            out[name] = value
    if cfg.candidate_count > 1:
        out["candidateCount"] = cfg.candidate_count
    if cfg.stop_sequences:
        out["stopSequences"] = list(cfg.stop_sequences)
    if cfg.response_schema is not None and cfg.response_mime_type == JSON_MIME_TYPE:
        out["responseJsonSchema"] = cfg.response_schema
    thinking = cfg.thinking_config
    if thinking is not None:
        wire: Json = {}
        if thinking.level is not None:
            wire["thinkingLevel"] = thinking.level.upper()
        elif thinking.budget is not None:
            wire["thinkingBudget"] = thinking.budget
        if thinking.include_thoughts:
            wire["includeThoughts"] = True
        if wire:
            out["thinkingConfig"] = wire
    if cfg.response_modalities:
        out["responseModalities"] = list(cfg.response_modalities)
    if cfg.image_config is not None and cfg.image_config.aspect_ratio is not None:
        out["imageConfig"] = {"aspectRatio": cfg.image_config.aspect_ratio}
    if cfg.response_logprobs:
        out["responseLogprobs"] = True
        if cfg.logprobs > 0:
            out["logprobs"] = cfg.logprobs
    return out


# --- the answer -------------------------------------------------------------------------


def count_from_count_tokens(body: Mapping[str, Any]) -> int:
    """`totalTokens` of a `:countTokens` answer; 0 when it is missing or not a count."""
    return _count(_mapping(body).get("totalTokens"))


def tokens_info_from_compute_tokens(body: Any) -> list[TokensInfo]:
    """The `tokensInfo` of a `:computeTokens` answer, in order. Proto3 JSON leaves out what
    is empty: no `tokensInfo` is none, no `tokens` / `tokenIds` no tokens, no `role` an
    empty one. Raises `ValueError` for anything else that is not a `ComputeTokensResponse`:
    a token that is not base64, an id that is not an integer (or its decimal string), a
    different number of tokens and ids."""
    if not isinstance(body, Mapping):
        raise ValueError("the answer is not an object")
    infos = body.get("tokensInfo")
    if infos is None:
        return []
    if not isinstance(infos, list):
        raise ValueError("`tokensInfo` is not a list")
    out: list[TokensInfo] = []
    for i, info in enumerate(infos):
        if not isinstance(info, Mapping):
            raise ValueError(f"`tokensInfo[{i}]` is not an object")
        role = info.get("role")
        if role is None:
            role = ""
        if not isinstance(role, str):
            raise ValueError(f"`tokensInfo[{i}].role` is not a string")
        tokens = tuple(_token_bytes(t) for t in _list_of(info, "tokens", i))
        ids = tuple(_token_id(t) for t in _list_of(info, "tokenIds", i))
        if len(tokens) != len(ids):
            raise ValueError(
                f"`tokensInfo[{i}]` has {len(tokens)} tokens for {len(ids)} token ids"
            )
        out.append(TokensInfo(role=role, token_ids=ids, tokens=tokens))
    return out


def _list_of(info: Mapping[str, Any], key: str, i: int) -> list[Any]:
    value = info.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"`tokensInfo[{i}].{key}` is not a list")
    return value


def _token_bytes(value: Any) -> bytes:
    """Proto3 JSON `bytes`: base64, standard or URL-safe, padded or not."""
    if not isinstance(value, str):
        raise ValueError("a token is not a base64 string")
    try:
        return base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"the token {value[:40]!r} is not base64") from None


def _token_id(value: Any) -> int:
    """Proto3 JSON `int64`: a decimal string (or a JSON number)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,19}", value):
        return int(value)
    raise ValueError(f"the token id {str(value)[:40]!r} is not an integer")


def events_from_response(body: Mapping[str, Any]) -> list[StreamEvent]:
    """The events of one whole `GenerateContentResponse`."""
    body = _mapping(body)
    out: list[StreamEvent] = []
    candidates = _candidates(body)
    for candidate, fields in candidates:
        state = _CandidateState()
        out.extend(state.read(candidate, fields))
        out.extend(state.close(candidate, _finish_reason(fields) or FinishReason.OTHER))
    if not candidates:
        blocked = _blocked(body)
        if blocked is not None:
            out.append(blocked)
    out.append(_usage(body.get("usageMetadata")))
    return out


class ChunkDecoder:
    """Turns the `GenerateContentResponse` chunks of one `:streamGenerateContent?alt=sse`
    answer (each `data:` line's JSON) into events.

    `feed` each parsed chunk in order; call `finish` when the stream ends. Thoughts, text,
    calls and images pass through as they come; a candidate's `ThoughtSignature` and
    `SafetyRatings` wait for its `finishReason`; usage waits for `finish`, which also
    closes candidates the stream left open. A blocked prompt's `PromptFeedback` goes out
    at once, and nothing but the usage follows it. Nothing is accepted after `finish`.
    """

    def __init__(self) -> None:
        self._candidates: dict[int, _CandidateState] = {}
        self._usage: Usage | None = None
        self._blocked = False  # the prompt was: no candidate follows
        self._done = False

    def feed(self, chunk: Mapping[str, Any]) -> list[StreamEvent]:
        if self._done:
            return []
        chunk = _mapping(chunk)
        if isinstance(chunk.get("usageMetadata"), Mapping):
            self._usage = _usage(chunk["usageMetadata"])  # cumulative: the latest wins
        if self._blocked:
            return []
        out: list[StreamEvent] = []
        candidates = _candidates(chunk)
        for candidate, fields in candidates:
            state = self._candidates.setdefault(candidate, _CandidateState())
            if state.finished:
                continue  # exactly one Finished per candidate; nothing after it
            out.extend(state.read(candidate, fields))
            reason = _finish_reason(fields)
            if reason is not None:
                out.extend(state.close(candidate, reason))
        if not candidates and not self._candidates:
            blocked = _blocked(chunk)
            if blocked is not None:
                self._blocked = True
                out.append(blocked)
        return out

    def finish(self) -> list[StreamEvent]:
        """Closes the candidates that never got a `finishReason` (OTHER: the stream broke
        off), then the usage. A second call returns nothing."""
        if self._done:
            return []
        self._done = True
        out: list[StreamEvent] = []
        for candidate, state in self._candidates.items():
            if not state.finished:
                out.extend(state.close(candidate, FinishReason.OTHER))
        out.append(self._usage or Usage(prompt_tokens=0, completion_tokens=0))
        return out


@dataclass(slots=True)
class _CandidateState:
    signature: str | None = None  # the latest signature on a part that is not a call
    call_signed: bool = False  # a call carried the turn's signature
    malformed: bool = False  # a call part was dropped
    ratings: tuple[SafetyRating, ...] | None = None  # the latest `safetyRatings`
    answer: list[str] = field(default_factory=list)  # the answer text, for grounding
    grounding: dict[str, Any] | None = None  # `groundingMetadata`, latest of each field
    finished: bool = False

    def read(self, candidate: int, fields: Mapping[str, Any]) -> list[StreamEvent]:
        """The events of a candidate's `content.parts` and `logprobsResult` (module
        docstring): the tokens' log probabilities after the thoughts, before the rest.
        Its `safetyRatings` and `groundingMetadata` are kept for `close`."""
        if "safetyRatings" in fields:
            self.ratings = _ratings(fields.get("safetyRatings"))
        grounding = fields.get("groundingMetadata")
        if isinstance(grounding, Mapping):
            self.grounding = self.grounding or {}
            self.grounding.update((k, v) for k, v in grounding.items() if v)
        out = self._parts(candidate, fields)
        tokens = _logprobs(candidate, fields.get("logprobsResult"))
        if tokens:
            at = next(
                (k for k, e in enumerate(out) if not isinstance(e, ThoughtDelta)), len(out)
            )
            out[at:at] = tokens
        return out

    def _parts(self, candidate: int, fields: Mapping[str, Any]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for part in _sequence(_mapping(fields.get("content")).get("parts")):
            if not isinstance(part, Mapping):
                continue
            signature = _string(part.get("thoughtSignature"))
            thought = part.get("thought") is True
            if "functionCall" in part:
                call = self._call(candidate, part.get("functionCall"), signature)
                if call is not None:
                    out.append(call)
                continue
            if signature is not None:
                self.signature = signature
            text = part.get("text")
            if isinstance(text, str):
                if text and thought:
                    out.append(ThoughtDelta(candidate, text))
                elif text:
                    self.answer.append(text)
                    out.append(TextDelta(candidate, text))
            elif "inlineData" in part and not thought:  # a thought image is a draft
                image = _image(candidate, part.get("inlineData"))
                if image is not None:
                    out.append(image)
        return out

    def _call(self, candidate: int, raw: Any, signature: str | None) -> FunctionCall | None:
        call = _mapping(raw)
        name = _string(call.get("name"))
        args = call.get("args", {})
        if args is None:
            args = {}  # proto3's "not set"
        if name is None or not isinstance(args, Mapping):
            self.malformed = True
            return None
        if signature is not None:
            self.call_signed = True
        return FunctionCall(
            candidate, name, args, id=_string(call.get("id")), thought_signature=signature
        )

    def close(self, candidate: int, reason: FinishReason) -> list[StreamEvent]:
        self.finished = True
        out: list[StreamEvent] = []
        if self.signature is not None and not self.call_signed:
            out.append(ThoughtSignature(candidate, self.signature))
        if self.malformed and reason is FinishReason.STOP:
            reason = FinishReason.MALFORMED_FUNCTION_CALL
        if self.grounding is not None:
            out.append(_grounding(candidate, self.grounding, "".join(self.answer)))
        if self.ratings:
            out.append(SafetyRatings(candidate, self.ratings))
        out.append(Finished(candidate, reason))
        return out


def _grounding(candidate: int, raw: Mapping[str, Any], answer: str) -> GroundingMetadata:
    """A candidate's `groundingMetadata` (module docstring); `answer` is its answer text."""
    queries = tuple(q for q in _sequence(raw.get("webSearchQueries")) if isinstance(q, str))
    sources = tuple(_source(c) for c in _sequence(raw.get("groundingChunks")))
    encoded = answer.encode("utf-8", "surrogatepass")
    supports = tuple(
        s for s in (
            _support(_mapping(entry), answer, encoded, len(sources))
            for entry in _sequence(raw.get("groundingSupports"))
        ) if s is not None
    )
    return GroundingMetadata(candidate, queries, sources, supports)


def _source(raw: Any) -> Source:
    chunk = _mapping(raw)
    found = next(
        (_mapping(chunk[k]) for k in ("web", "retrievedContext", "maps")
         if isinstance(chunk.get(k), Mapping)),
        {},
    )
    return Source(uri=_string(found.get("uri")) or "", title=_string(found.get("title")) or "")


def _support(raw: Mapping[str, Any], answer: str, encoded: bytes, sources: int) -> Support | None:
    segment = _mapping(raw.get("segment"))
    start = to_char_offset(encoded, _count(segment.get("startIndex")))
    end = max(to_char_offset(encoded, _count(segment.get("endIndex"))), start)
    text = segment.get("text")
    if isinstance(text, str) and text and answer[start:end] != text:
        at = answer.find(text, max(start - len(text), 0))
        at = at if at >= 0 else answer.find(text)
        if at >= 0:
            start, end = at, at + len(text)
    indices = _sequence(raw.get("groundingChunkIndices"))
    scores = _sequence(raw.get("confidenceScores"))
    scored = len(scores) == len(indices) and all(
        isinstance(x, int | float) and not isinstance(x, bool) for x in scores
    )
    kept = [
        (k, float(scores[n]) if scored else None)
        for n, k in enumerate(indices)
        if isinstance(k, int) and not isinstance(k, bool) and 0 <= k < sources
    ]
    if not kept or start == end:
        return None
    return Support(
        start=start, end=end, text=answer[start:end],
        sources=tuple(k for k, _ in kept),
        scores=tuple(x for _, x in kept if x is not None),
    )


def _candidates(body: Mapping[str, Any]) -> list[tuple[int, Mapping[str, Any]]]:
    """(index, candidate) pairs. A missing `index` is the position, unless a sibling has
    one: then proto3 left out a zero."""
    raw = [c for c in _sequence(body.get("candidates")) if isinstance(c, Mapping)]
    indexed = any(_index(c) is not None for c in raw)
    out: list[tuple[int, Mapping[str, Any]]] = []
    for position, candidate in enumerate(raw):
        index = _index(candidate)
        out.append((index if index is not None else (0 if indexed else position), candidate))
    return out


def _index(candidate: Mapping[str, Any]) -> int | None:
    value = candidate.get("index")
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _logprobs(candidate: int, raw: Any) -> list[TokenLogprobs]:
    """`logprobsResult.chosenCandidates`, one event per position, with the alternatives of
    `topCandidates` at the same position."""
    result = _mapping(raw)
    tops = _sequence(result.get("topCandidates"))
    out: list[TokenLogprobs] = []
    for k, entry in enumerate(_sequence(result.get("chosenCandidates"))):
        chosen = _token_choice(entry)
        if chosen is None:
            continue
        listed = _sequence(_mapping(tops[k]).get("candidates")) if k < len(tops) else ()
        top = (_token_choice(t) for t in listed)
        ranked = sorted((t for t in top if t is not None), key=lambda t: -t.logprob)
        out.append(TokenLogprobs(candidate, chosen, tuple(ranked)))
    return out


def _token_choice(raw: Any) -> TokenChoice | None:
    """`{"token", "tokenId", "logProbability"}`; proto3 JSON leaves out zeros, so a missing
    log probability is 0 (a certain token) and a missing id unknown."""
    entry = raw if isinstance(raw, Mapping) else None
    if entry is None:
        return None
    token = entry.get("token", "")
    logprob = entry.get("logProbability", 0.0)
    if not isinstance(token, str):
        return None
    if not isinstance(logprob, int | float) or isinstance(logprob, bool):
        return None
    token_id = entry.get("tokenId")
    if not isinstance(token_id, int) or isinstance(token_id, bool):
        token_id = None
    return TokenChoice(token.encode("utf-8"), float(logprob), token_id)


def _image(candidate: int, raw: Any) -> ImageOutput | None:
    blob = _mapping(raw)
    mime = _string(blob.get("mimeType"))
    data = blob.get("data")
    if mime is None or not isinstance(data, str) or not data:
        return None
    try:
        decoded = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        try:
            decoded = base64.urlsafe_b64decode(data)
        except (binascii.Error, ValueError):
            return None
    return ImageOutput(candidate, mime, decoded)


def _finish_reason(candidate: Mapping[str, Any]) -> FinishReason | None:
    """The candidate's reason, or None while it has none (a stream's open candidate)."""
    value = candidate.get("finishReason")
    if not isinstance(value, str) or value in ("", _UNSPECIFIED_REASON):
        return None
    return _FINISH_REASONS.get(value, FinishReason.OTHER)


def _blocked(body: Mapping[str, Any]) -> PromptFeedback | None:
    """The `promptFeedback` of a blocked prompt; None when it was not blocked."""
    feedback = _mapping(body.get("promptFeedback"))
    reason = _string(feedback.get("blockReason"))
    if reason is None or reason == _UNSPECIFIED_BLOCK:
        return None
    return PromptFeedback(_ratings(feedback.get("safetyRatings")), reason=reason)


def _ratings(raw: Any) -> tuple[SafetyRating, ...]:
    return tuple(r for r in map(_rating, _sequence(raw)) if r is not None)


def _rating(raw: Any) -> SafetyRating | None:
    """`{"category", "probability", "probabilityScore", "blocked"}` (module docstring)."""
    rating = _mapping(raw)
    category = _CATEGORIES.get(_string(rating.get("category")) or "")
    score = rating.get("probabilityScore")
    if not isinstance(score, int | float) or isinstance(score, bool) or not 0 <= score <= 1:
        score = _LEVEL_SCORES.get(_string(rating.get("probability")) or "")
    if category is None or score is None:
        return None
    return SafetyRating(category, float(score), blocked=rating.get("blocked") is True)


def _usage(raw: Any) -> Usage:
    usage = _mapping(raw)
    thoughts = _count(usage.get("thoughtsTokenCount"))
    return Usage(
        prompt_tokens=_count(usage.get("promptTokenCount")),
        completion_tokens=_count(usage.get("candidatesTokenCount")) + thoughts,
        cached_tokens=_count(usage.get("cachedContentTokenCount")),
        reasoning_tokens=thoughts,
    )


def _count(value: Any) -> int:
    """A token count: a non-negative integer, or a decimal string of one (proto3 JSON
    writes 64-bit integers as strings); anything else is 0."""
    if isinstance(value, int) and not isinstance(value, bool):
        return max(value, 0)
    if isinstance(value, str) and value.isdecimal():
        return int(value)
    return 0


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _sequence(value: Any) -> Sequence[Any]:
    return value if isinstance(value, list | tuple) else ()


# --- errors -----------------------------------------------------------------------------


@dataclass(frozen=True)
class GoogleErrorBody:
    """What a Google error body says (`parse_error_body`)."""

    message: str
    field: str | None = None  # the first `fieldViolations[].field` of the details
    status: str | None = None  # the canonical status name
    reasons: frozenset[str] = frozenset()  # the details' `ErrorInfo` reasons
    retry_delay_s: int | None = None  # the details' `RetryInfo` delay, whole seconds (>= 1)


def parse_error_body(raw: bytes) -> GoogleErrorBody:
    """A Google error body, `{"error": {"code", "message", "status", "details"}}` (the
    streaming endpoint may wrap it in a JSON array), parsed once. A body of another shape
    gives its text and nothing else."""
    text = raw.decode("utf-8", errors="replace").strip()
    try:
        body = json.loads(text)
    except ValueError:
        return GoogleErrorBody(text[:500])
    if isinstance(body, list) and body:
        body = body[0]
    error = _mapping(_mapping(body).get("error"))
    if not error:
        return GoogleErrorBody(text[:500])
    details = error.get("details")
    reasons, delay = _error_details(details)
    return GoogleErrorBody(
        message=_string(error.get("message")) or text[:500],
        field=_violated_field(details),
        status=_string(error.get("status")),
        reasons=reasons,
        retry_delay_s=delay,
    )


def error_fields(raw: bytes) -> tuple[str, str | None, str | None]:
    """(message, param, status) of a Google error body (`parse_error_body`)."""
    error = parse_error_body(raw)
    return error.message, error.field, error.status


def _error_details(details: Any) -> tuple[frozenset[str], int | None]:
    reasons: set[str] = set()
    delay: int | None = None
    for detail in _sequence(details):
        if not isinstance(detail, dict):
            continue
        if isinstance(detail.get("reason"), str):
            reasons.add(detail["reason"])
        found = re.fullmatch(r"(\d+(?:\.\d+)?)s", str(detail.get("retryDelay", "")))
        if found:
            delay = max(1, round(float(found.group(1))))
    return frozenset(reasons), delay


def _violated_field(details: Any) -> str | None:
    for detail in _sequence(details):
        for violation in _sequence(_mapping(detail).get("fieldViolations")):
            field = _string(_mapping(violation).get("field"))
            if field is not None:
                return field
    return None
