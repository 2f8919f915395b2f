"""The wire of an OpenAI-compatible upstream (vLLM, llama.cpp's server, llama-cpp-python's
server, TGI, SGLang): a `GenerateContentRequest` → the body of `POST {base}/chat/completions`,
and the upstream's answer → domain stream events. Pure: no I/O; the backend that owns the
HTTP client feeds this module parsed JSON and maps HTTP and error bodies itself.

The request (`to_openai_body`):

- `system_instruction` → one `system` message (its text parts, joined by newlines); each
  content → `user` / `assistant` messages. A user turn with only text (and what perception
  made of media: `ImageDescriptionPart` / `TranscriptPart`, sent as their `description`,
  the text a text-only model reads) has a string `content`; with images or audio it has the
  list form: `image_url` (an http(s) or `data:image/…` URL as the client sent it, or inline
  image data as a `data:` URL) and `input_audio` (wav / mp3 only: what the Chat Completions
  wire can name).
- Calls of a model turn → the assistant's `tool_calls`, each with its id, or
  `call_<turn>_<k>` when the part has none (the `k`th call of the content at index `turn`).
  Each function response of a user turn → a `tool` message, before the turn's other
  content, paired with its call: the part's id, else the first unanswered call of that
  name in the latest turn that has one (parallel calls of one function are answered in
  order). A result the client sent as plain text (`{"content": "…"}`, the domain's
  wrapping) goes back as that text, as the local backend shows it; any other as JSON.
- Generation config → `temperature`, `top_p`, `top_k` (vLLM, llama.cpp and SGLang accept
  it), `max_tokens`, `n`, `seed`, `stop`, the penalties; unset ones are left out, so the
  upstream's defaults apply. JSON output → `response_format` (`json_schema`, strict, with
  the schema; `json_object` without one). `response_logprobs` → `logprobs: true`, with
  `top_logprobs: k` when `logprobs` asks for k > 0 alternatives.
- Declarations → `tools`; a declaration without parameters gets an empty object schema
  (llama.cpp's tool-call formats read `function.parameters` unconditionally). The tool
  config → `tool_choice` (left out when it is the default): AUTO `auto`, NONE `none`, ANY
  `required`, or the one function it allows by name; ANY over several allowed functions
  lists only those. `parallel_calls=False` → `parallel_tool_calls: false`.

Dropped, on purpose: thought parts of earlier turns and every thought signature (an
upstream chat server neither reads nor issues them; the thought-sealing policy owns them);
the thinking config (OpenAI-compatible servers share no switch for it: vLLM and SGLang take
per-model `chat_template_kwargs`, llama.cpp a server-wide reasoning budget — a backend that
knows its model may add those; a budget of 0 therefore passes nothing either); `project`
and `cached_content` (the upstream keeps its own prefix cache). What cannot be said on this
wire — an image answer, media in a model turn, `gs://` URIs, other audio formats, a call
in a user turn — raises `InvalidArgument`, named by the client's label of a media value
(`param`) or by its Gemini location.

The answer (`events_from_completion` for `chat.completion`, `ChunkDecoder` for the stream
of `chat.completion.chunk`s) is emitted in the order `domain/events.py` documents: per
choice, thoughts (`reasoning_content`, or `reasoning` as newer vLLM names it), text, whole
function calls (streamed arguments are gathered per call), then `Finished`; one `Usage`
last (zeros when the upstream sent none; a stream asks for it with
`stream_options.include_usage`). Finish reasons: `stop`, `tool_calls`,
`function_call` → STOP, `length` → MAX_TOKENS, `content_filter` → SAFETY, anything else
→ OTHER. A call whose arguments are not a JSON object (or that has no name) is dropped and
its choice finishes MALFORMED_FUNCTION_CALL — unless the upstream said the answer was cut
off (MAX_TOKENS, SAFETY), which stays the reason. A stream that ends before a choice's
`finish_reason` finishes that choice OTHER.

Log probabilities: a choice's `logprobs.content[]` (`{"token", "logprob", "bytes",
"top_logprobs": [same]}`; `bytes` is a list of byte values, and when it is null the token's
UTF-8 stands in; the wire has no token ids) → one `TokenLogprobs` per entry, in order, after
the choice's (or the chunk's) thoughts and before its text; alternatives most likely first.
Every token the model wrote may be listed, not only the answer's: OpenAI's own models list
the answer's, but vLLM (llama.cpp's server likely too) lists the thoughts' as well when it
parses reasoning, and the tool-call markup's. In a stream the chunk tells them apart: the logprobs of a chunk that
carries thoughts and no text are dropped (vLLM sends no chunk at all for a token that makes
no text, such as `</think>`, so its logprob is lost too). In a whole message that has
reasoning, the answer's tokens are those from the last one at which the listed tokens spell
the content (after whitespace the reasoning parser stripped) on; without content there are
none. When the tokens nowhere spell it (vLLM reports a token cut mid-character as U+FFFD; a
tool parser may rewrite the content) the thoughts' tokens cannot be told apart, and all pass
as they come. Tokens after the text (an end-of-turn token, the calls' markup) pass too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, assert_never

from vertexcompat.domain.content import (
    JSON_MIME_TYPE,
    TEXT_MIME_TYPE,
    WRAPPED_RESPONSE_KEY,
    Content,
    FileDataPart,
    FunctionCallPart,
    FunctionResponsePart,
    GenerateContentRequest,
    GenerationConfig,
    ImageDescriptionPart,
    InlineDataPart,
    TextPart,
    TranscriptPart,
)
from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.domain.events import (
    Finished,
    FinishReason,
    FunctionCall,
    StreamEvent,
    TextDelta,
    ThoughtDelta,
    TokenChoice,
    TokenLogprobs,
    Usage,
)
from vertexcompat.domain.locations import FieldPath
from vertexcompat.domain.tools import FunctionCallingMode, FunctionDeclaration, ToolConfig
from vertexcompat.translate.gemini_contents import plain as _plain

Json = dict[str, Any]

# The `input_audio.format` names of the Chat Completions wire, by mime type.
_AUDIO_FORMATS = {
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/vnd.wave": "wav",
    "audio/mp3": "mp3",
    "audio/mpeg": "mp3",
}
_SYSTEM_JOINER = "\n"
# Between a text and what perception found in a medium, in one message.
_ITEM_JOINER = "\n\n"
_NO_PARAMETERS: Json = {"type": "object", "properties": {}}

_FINISH_REASONS = {
    "stop": FinishReason.STOP,
    "tool_calls": FinishReason.STOP,
    "function_call": FinishReason.STOP,
    "length": FinishReason.MAX_TOKENS,
    "content_filter": FinishReason.SAFETY,
    # Older TGI names its stop reasons as its native API does.
    "eos_token": FinishReason.STOP,
    "stop_sequence": FinishReason.STOP,
}
# Whitespace a reasoning parser strips off the start of the content.
_SPACE = re.compile(rb"\s*")
# Reasons that say the answer was cut off: a call that does not parse is then a fragment,
# not the model's mistake, and the reason stands.
_CUT_OFF = frozenset({FinishReason.MAX_TOKENS, FinishReason.SAFETY})


# --- the request ------------------------------------------------------------------------


def to_openai_body(
    request: GenerateContentRequest, *, upstream_model: str, stream: bool,
    json_schema: bool = True,
) -> dict[str, Any]:
    """The JSON body of `POST {base}/chat/completions` for `request`, asking the upstream
    model `upstream_model` (the backend's name for it, not `request.model`).
    `json_schema=False`: the upstream does not take OpenAI's `json_schema` response format
    (llama-cpp-python's server); a schema then goes as `{"type": "json_object", "schema":
    …}`, the form that server reads (others ignore the extra key and return some JSON).

    A stream asks for its usage (`stream_options.include_usage`): vLLM, SGLang, llama.cpp's
    server, TGI and OpenAI then end it with a chunk that carries it; a server that does not
    know the field ignores it (llama-cpp-python's), and its stream's `Usage` is zeros."""
    body: Json = {"model": upstream_model, "messages": _messages(request)}
    body.update(_generation_fields(request.generation_config, json_schema=json_schema))
    body.update(_tool_fields(request.tools, request.tool_config))
    body["stream"] = stream
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


def _generation_fields(cfg: GenerationConfig, *, json_schema: bool = True) -> Json:
    out: Json = {}
    optional: tuple[tuple[str, float | int | None], ...] = (
        ("temperature", cfg.temperature),
        ("top_p", cfg.top_p),
        ("top_k", cfg.top_k),
        ("max_tokens", cfg.max_output_tokens),
        ("seed", cfg.seed),
        ("presence_penalty", cfg.presence_penalty),
        ("frequency_penalty", cfg.frequency_penalty),
    )
    for name, value in optional:
        if value is not None:
            out[name] = value
    if cfg.candidate_count != 1:
        out["n"] = cfg.candidate_count
    if cfg.stop_sequences:
        out["stop"] = list(cfg.stop_sequences)
    if cfg.response_logprobs:
        out["logprobs"] = True
        if cfg.logprobs > 0:
            out["top_logprobs"] = cfg.logprobs
    if cfg.wants_image:
        raise InvalidArgument(
            "This model answers with text only; it cannot make images.",
            location="generation_config.response_modalities",
        )
    response_format = _response_format(cfg, json_schema=json_schema)
    if response_format is not None:
        out["response_format"] = response_format
    return out


def _response_format(cfg: GenerationConfig, *, json_schema: bool = True) -> Json | None:
    if cfg.response_mime_type in (None, TEXT_MIME_TYPE):
        return None  # a schema means something only with the JSON mime type
    if cfg.response_mime_type != JSON_MIME_TYPE:
        raise InvalidArgument(
            f"Unsupported response mime type {cfg.response_mime_type!r}: this model answers "
            f"in {TEXT_MIME_TYPE!r} or {JSON_MIME_TYPE!r}.",
            location="generation_config.response_mime_type",
        )
    if cfg.response_schema is None:
        return {"type": "json_object"}
    if not json_schema:
        return {"type": "json_object", "schema": _plain(cfg.response_schema)}
    schema = {"name": "response", "schema": _plain(cfg.response_schema), "strict": True}
    return {"type": "json_schema", "json_schema": schema}


def _tool_fields(declarations: tuple[FunctionDeclaration, ...], config: ToolConfig) -> Json:
    mode = config.mode
    if not declarations:
        if mode is FunctionCallingMode.ANY:
            raise InvalidArgument(
                "Function calling mode ANY needs at least one function declaration.",
                location="tool_config.mode",
            )
        return {}  # nothing to call: every other mode means the same
    shown = declarations
    choice: str | Json
    match mode:
        case FunctionCallingMode.AUTO:
            choice = "auto"
        case FunctionCallingMode.NONE:
            choice = "none"
        case FunctionCallingMode.ANY if not config.allowed_function_names:
            choice = "required"
        case FunctionCallingMode.ANY:
            names = _allowed_names(declarations, config)
            if len(names) == 1:
                choice = {"type": "function", "function": {"name": names[0]}}
            else:
                choice = "required"
                shown = tuple(d for d in declarations if d.name in names)
        case _:
            assert_never(mode)
    out: Json = {"tools": [_tool(d) for d in shown]}
    if config != ToolConfig():
        out["tool_choice"] = choice
    if not config.parallel_calls:
        out["parallel_tool_calls"] = False
    return out


def _allowed_names(
    declarations: tuple[FunctionDeclaration, ...], config: ToolConfig
) -> tuple[str, ...]:
    declared = {d.name for d in declarations}
    for k, name in enumerate(config.allowed_function_names):
        if name not in declared:
            raise InvalidArgument(
                f"Allowed function `{name}` is not declared.",
                location=FieldPath.of("tool_config", "allowed_function_names", k),
            )
    return config.callable_names(declarations)


def _tool(declaration: FunctionDeclaration) -> Json:
    function: Json = {"name": declaration.name}
    if declaration.description:
        function["description"] = declaration.description
    parameters = declaration.parameters
    function["parameters"] = _NO_PARAMETERS if parameters is None else _plain(parameters)
    return {"type": "function", "function": function}


def _messages(request: GenerateContentRequest) -> list[Json]:
    out: list[Json] = []
    if request.system_instruction is not None:
        system = _system_text(request.system_instruction)
        if system:
            out.append({"role": "system", "content": system})
    calls = _CallBook()
    for turn, content in enumerate(request.contents):
        where = FieldPath.of("contents", turn)
        if content.role == "model":
            out.append(_assistant_message(content, turn, where, calls))
        elif content.role == "user":
            out.extend(_user_messages(content, where, calls))
        else:
            raise InvalidArgument(
                f"Unknown role {content.role!r}: a turn is the user's or the model's.",
                location=where / "role",
            )
    return out


def _system_text(content: Content) -> str:
    texts: list[str] = []
    for j, part in enumerate(content.parts):
        match part:
            case TextPart(thought=True):
                pass
            case TextPart(text=text):
                texts.append(text)
            case ImageDescriptionPart(description=text) | TranscriptPart(description=text):
                texts.append(text)
            case (
                FunctionCallPart() | FunctionResponsePart() | FileDataPart() | InlineDataPart()
            ):
                raise InvalidArgument(
                    "The system instruction may contain only text.",
                    location=FieldPath.of("system_instruction", "parts", j),
                )
            case _:
                assert_never(part)
    return _SYSTEM_JOINER.join(t for t in texts if t)


@dataclass(slots=True)
class _TextRun:
    """A message's text items: adjacent text parts make one item (Gemini's parts of one
    text), a perceived medium one of its own."""

    items: list[Json] = field(default_factory=list)
    joinable: bool = False  # the last item is text that the next text part continues

    def text(self, text: str) -> None:
        if not text:
            return  # e.g. the empty part that carries a thought signature
        if self.joinable:
            self.items[-1]["text"] += text
        else:
            self.items.append({"type": "text", "text": text})
            self.joinable = True

    def item(self, item: Json) -> None:
        self.items.append(item)
        self.joinable = False

    def plain(self) -> str | None:
        """The items as one string when all of them are text."""
        if any(item["type"] != "text" for item in self.items):
            return None
        return _ITEM_JOINER.join(item["text"] for item in self.items)


def _assistant_message(content: Content, turn: int, where: FieldPath, book: _CallBook) -> Json:
    run = _TextRun()
    tool_calls: list[Json] = []
    for j, part in enumerate(content.parts):
        at = where / "parts" / j
        match part:
            case TextPart(thought=True):
                pass  # earlier reasoning: not replayed (module docstring)
            case TextPart(text=text):
                run.text(text)
            case ImageDescriptionPart(description=text) | TranscriptPart(description=text):
                run.item({"type": "text", "text": text})
            case FunctionCallPart():
                call_id = part.id or f"call_{turn}_{len(tool_calls)}"
                book.called(turn, part.name, call_id)
                arguments = json.dumps(_plain(part.args), ensure_ascii=False)
                tool_calls.append({
                    "id": call_id,
                    "type": "function",
                    "function": {"name": part.name, "arguments": arguments},
                })
            case FunctionResponsePart():
                raise InvalidArgument(
                    "A function response belongs in a user turn, not the model's.", location=at
                )
            case FileDataPart() | InlineDataPart():
                raise _refusal(
                    "a model turn can carry only text and function calls to this model",
                    part.source,
                    at,
                )
            case _:
                assert_never(part)
    text = run.plain()
    assert text is not None  # only text items were added
    message: Json = {"role": "assistant", "content": text or (None if tool_calls else "")}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return message


def _user_messages(content: Content, where: FieldPath, book: _CallBook) -> list[Json]:
    results: list[Json] = []
    run = _TextRun()
    for j, part in enumerate(content.parts):
        at = where / "parts" / j
        match part:
            case TextPart(thought=True):
                pass
            case TextPart(text=text):
                run.text(text)
            case ImageDescriptionPart(description=text) | TranscriptPart(description=text):
                run.item({"type": "text", "text": text})
            case FileDataPart():
                run.item(_file_item(part, at))
            case InlineDataPart():
                run.item(_inline_item(part, at))
            case FunctionResponsePart():
                results.append({
                    "role": "tool",
                    "tool_call_id": book.answer(part, at),
                    "content": _response_text(part),
                })
            case FunctionCallPart():
                raise InvalidArgument(
                    "A function call belongs in a model turn, not the user's.", location=at
                )
            case _:
                assert_never(part)
    if run.items or not results:
        text = run.plain()
        results.append({"role": "user", "content": run.items if text is None else text})
    return results


def _file_item(part: FileDataPart, at: FieldPath) -> Json:
    uri = part.file_uri
    if part.mime_type is not None and not part.mime_type.startswith("image/"):
        raise _refusal(f"only images can be sent by URI, not {part.mime_type!r}", part.source, at)
    scheme = uri.partition(":")[0].lower()
    if scheme in ("http", "https") or (scheme == "data" and uri[5:].lower().startswith("image/")):
        return {"type": "image_url", "image_url": {"url": uri}}
    if scheme == "data":
        raise _refusal("a `data:` URI must hold an image (`data:image/…`)", part.source, at)
    raise _refusal(
        f"this model reads images by http(s) URL or as base64 data, not by {scheme}: URI",
        part.source,
        at,
    )


def _inline_item(part: InlineDataPart, at: FieldPath) -> Json:
    mime = part.mime_type.lower()
    if mime.startswith("image/"):
        return {"type": "image_url", "image_url": {"url": f"data:{mime};base64,{part.data}"}}
    audio_format = _AUDIO_FORMATS.get(mime)
    if audio_format is not None:
        return {"type": "input_audio", "input_audio": {"data": part.data, "format": audio_format}}
    raise _refusal(
        f"inline data must be an image or wav / mp3 audio, not {part.mime_type!r}",
        part.source,
        at,
    )


def _refusal(reason: str, source: str, at: FieldPath) -> InvalidArgument:
    """A media part that cannot be sent: named by the client's label when it has one."""
    if source:
        return InvalidArgument(f"`{source}`: {reason}.", param=source)
    return InvalidArgument(f"{reason[0].upper()}{reason[1:]}.", location=at)


def _response_text(result: FunctionResponsePart) -> str:
    response = result.response
    wrapped = response.get(WRAPPED_RESPONSE_KEY)
    if set(response) == {WRAPPED_RESPONSE_KEY} and isinstance(wrapped, str):
        return wrapped
    return json.dumps(_plain(response), ensure_ascii=False)


@dataclass(slots=True)
class _CallBook:
    """The calls of earlier model turns still waiting for their result: (turn, name, id)."""

    waiting: list[tuple[int, str, str]] = field(default_factory=list)

    def called(self, turn: int, name: str, call_id: str) -> None:
        self.waiting.append((turn, name, call_id))

    def answer(self, result: FunctionResponsePart, at: FieldPath) -> str:
        """The id of the call `result` answers (module docstring)."""
        if result.id is not None:
            self.waiting = [w for w in self.waiting if w[2] != result.id]
            return result.id
        same = [w for w in self.waiting if w[1] == result.name]
        if not same:
            raise InvalidArgument(
                f"The response of function `{result.name}` has no id and no earlier call of "
                f"`{result.name}` is waiting for one.",
                location=at,
            )
        latest = max(turn for turn, _, _ in same)
        answered = next(w for w in same if w[0] == latest)
        self.waiting.remove(answered)
        return answered[2]


# --- the answer -------------------------------------------------------------------------


def events_from_completion(body: Mapping[str, Any]) -> list[StreamEvent]:
    """The events of one non-streaming `chat.completion` object."""
    out: list[StreamEvent] = []
    for position, choice in enumerate(_sequence(body.get("choices"))):
        if not isinstance(choice, Mapping):
            continue
        candidate = _choice_index(choice, position)
        message = _mapping(choice.get("message"))
        tokens = _answer_tokens(_logprobs(candidate, choice.get("logprobs")), message)
        out.extend(_said(candidate, message, tokens))
        calls = [
            _Call.of(call, fallback_index=k)
            for k, call in enumerate(_sequence(message.get("tool_calls")))
            if isinstance(call, Mapping)
        ]
        legacy = message.get("function_call")
        if isinstance(legacy, Mapping):
            calls.append(_Call.of({"function": legacy}, fallback_index=len(calls)))
        reason = _finish_reason(choice.get("finish_reason"))
        out.extend(_close(candidate, calls, reason))
    out.append(_usage(body.get("usage")))
    return out


def _said(
    candidate: int, message: Mapping[str, Any], tokens: Sequence[TokenLogprobs] = ()
) -> list[StreamEvent]:
    """The thoughts, the answer tokens' log probabilities and the text of a message or a
    delta, in that order."""
    out: list[StreamEvent] = []
    thought = _reasoning(message)
    if thought:
        out.append(ThoughtDelta(candidate, thought))
    out.extend(tokens)
    text = _text(message)
    if text:
        out.append(TextDelta(candidate, text))
    return out


class ChunkDecoder:
    """Turns the `chat.completion.chunk` objects of one streamed answer into events.

    `feed` each parsed `data:` object in order; call `finish` after `[DONE]` or when the
    stream ends. Text and thoughts pass through as they come; a choice's calls are held
    until its `finish_reason` (they are emitted whole); usage waits for `finish`, which
    also closes choices the stream left open. Nothing is accepted after `finish`.
    """

    def __init__(self) -> None:
        self._choices: dict[int, _ChoiceState] = {}
        self._usage: Usage | None = None
        self._done = False

    def feed(self, chunk: Mapping[str, Any]) -> list[StreamEvent]:
        if self._done:
            return []
        if isinstance(chunk.get("usage"), Mapping):
            self._usage = _usage(chunk["usage"])  # some servers send it on every chunk
        out: list[StreamEvent] = []
        for position, choice in enumerate(_sequence(chunk.get("choices"))):
            if not isinstance(choice, Mapping):
                continue
            candidate = _choice_index(choice, position)
            state = self._choices.setdefault(candidate, _ChoiceState())
            if state.finished:
                continue  # exactly one Finished per candidate; nothing after it
            delta = _mapping(choice.get("delta"))
            tokens = _logprobs(candidate, choice.get("logprobs"))
            if _reasoning(delta) and not _text(delta):
                tokens = []  # the logprobs of thought tokens (module docstring)
            out.extend(_said(candidate, delta, tokens))
            for k, piece in enumerate(_sequence(delta.get("tool_calls"))):
                if isinstance(piece, Mapping):
                    state.add(piece, fallback_index=k)
            legacy = delta.get("function_call")
            if isinstance(legacy, Mapping):
                state.add({"index": 0, "function": legacy}, fallback_index=0)
            reason = choice.get("finish_reason")
            if reason is not None:
                out.extend(state.close(candidate, _finish_reason(reason)))
        return out

    def finish(self) -> list[StreamEvent]:
        """Closes the choices that never got a `finish_reason` (OTHER: the stream broke
        off), then the usage. A second call returns nothing."""
        if self._done:
            return []
        self._done = True
        out: list[StreamEvent] = []
        for candidate, state in self._choices.items():
            if not state.finished:
                out.extend(state.close(candidate, FinishReason.OTHER, broken=True))
        out.append(self._usage or Usage(prompt_tokens=0, completion_tokens=0))
        return out


@dataclass(slots=True)
class _Call:
    """A tool call as the upstream sent it; streamed arguments arrive in pieces."""

    index: int
    id: str | None = None
    name: str = ""
    pieces: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, call: Mapping[str, Any], *, fallback_index: int) -> _Call:
        made = cls(index=_int_or(call.get("index"), fallback_index))
        made.add(call)
        return made

    def add(self, call: Mapping[str, Any]) -> None:
        """Some servers repeat the id and name on every piece: the first ones are kept."""
        call_id = call.get("id")
        if isinstance(call_id, str) and call_id and self.id is None:
            self.id = call_id
        function = _mapping(call.get("function"))
        name = function.get("name")
        if isinstance(name, str) and name and not self.name:
            self.name = name
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            self.pieces.append(arguments)
        elif isinstance(arguments, Mapping):  # not OpenAI's shape, but unambiguous
            self.pieces.append(json.dumps(_plain(arguments)))

    def args(self) -> dict[str, Any] | None:
        """The arguments as an object, or None when they are not one. No arguments at all
        (`""`) are an empty object."""
        text = "".join(self.pieces)
        if not text.strip():
            return {}
        try:
            value = json.loads(text)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None


@dataclass(slots=True)
class _ChoiceState:
    calls: dict[int, _Call] = field(default_factory=dict)  # by the upstream's tool index
    finished: bool = False

    def add(self, piece: Mapping[str, Any], *, fallback_index: int) -> None:
        index = _int_or(piece.get("index"), fallback_index)
        call = self.calls.get(index)
        if call is None:
            self.calls[index] = _Call.of(piece, fallback_index=index)
        else:
            call.add(piece)

    def close(
        self, candidate: int, reason: FinishReason, *, broken: bool = False
    ) -> list[StreamEvent]:
        self.finished = True
        calls = [self.calls[k] for k in sorted(self.calls)]
        self.calls = {}
        return _close(candidate, calls, reason, broken=broken)


def _close(
    candidate: int, calls: Sequence[_Call], reason: FinishReason, *, broken: bool = False
) -> list[StreamEvent]:
    """A choice's calls, whole, then its Finished (module docstring: malformed calls)."""
    out: list[StreamEvent] = []
    malformed = False
    for call in calls:
        args = call.args()
        if args is None or not call.name:
            malformed = True
            continue
        out.append(FunctionCall(candidate, call.name, args, id=call.id))
    if malformed and not broken and reason not in _CUT_OFF:
        reason = FinishReason.MALFORMED_FUNCTION_CALL
    out.append(Finished(candidate, reason))
    return out


def _finish_reason(value: Any) -> FinishReason:
    if not isinstance(value, str):
        return FinishReason.OTHER
    return _FINISH_REASONS.get(value, FinishReason.OTHER)


def _reasoning(message: Mapping[str, Any]) -> str:
    """The thoughts of a message or delta. vLLM has sent the same text under both names
    while renaming the field, so one is read, never both."""
    for key in ("reasoning_content", "reasoning"):
        value = message.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def _text(message: Mapping[str, Any]) -> str:
    text = message.get("content")
    return text if isinstance(text, str) else ""


def _logprobs(candidate: int, raw: Any) -> list[TokenLogprobs]:
    """A choice's `logprobs.content`, one event per token in order; an entry without a
    numeric `logprob` or a token is skipped."""
    out: list[TokenLogprobs] = []
    for entry in _sequence(_mapping(raw).get("content")):
        chosen = _token_choice(entry)
        if chosen is None:
            continue
        top = (_token_choice(t) for t in _sequence(_mapping(entry).get("top_logprobs")))
        ranked = sorted((t for t in top if t is not None), key=lambda t: -t.logprob)
        out.append(TokenLogprobs(candidate, chosen, tuple(ranked)))
    return out


def _token_choice(raw: Any) -> TokenChoice | None:
    """`{"token", "logprob", "bytes"}`: `bytes` (a list of byte values, null when the
    token is not text) when it is one, else the token's UTF-8. The wire has no token ids."""
    entry = _mapping(raw)
    logprob = entry.get("logprob")
    if not isinstance(logprob, int | float) or isinstance(logprob, bool):
        return None
    values = entry.get("bytes")
    token = entry.get("token")
    if isinstance(values, list) and all(
        isinstance(b, int) and not isinstance(b, bool) and 0 <= b <= 255 for b in values
    ):
        data = bytes(values)
    elif isinstance(token, str):
        data = token.encode("utf-8")
    else:
        return None
    return TokenChoice(data, float(logprob))


def _answer_tokens(
    tokens: list[TokenLogprobs], message: Mapping[str, Any]
) -> list[TokenLogprobs]:
    """The tokens of a whole message's answer (module docstring): with reasoning, vLLM
    lists every token the model wrote, thoughts first. The answer's are those
    from the last one at which the rest begins with the content (after whitespace the
    reasoning parser stripped); when there is none, all of them; with no content, none."""
    if not tokens or not _reasoning(message):
        return tokens
    want = _text(message).encode("utf-8")
    if not want:
        return []
    joined = b"".join(t.chosen.token for t in tokens)
    start = len(joined)
    for k in range(len(tokens) - 1, -1, -1):
        start -= len(tokens[k].chosen.token)
        if len(joined) - start < len(want):
            continue
        after_space = _SPACE.match(joined, start)
        assert after_space is not None  # `\s*` matches everywhere
        if joined.startswith(want, start) or joined.startswith(want, after_space.end()):
            return tokens[k:]
    return tokens


def _usage(raw: Any) -> Usage:
    usage = _mapping(raw)
    prompt_details = _mapping(usage.get("prompt_tokens_details"))
    completion_details = _mapping(usage.get("completion_tokens_details"))
    return Usage(
        prompt_tokens=_count(usage.get("prompt_tokens")),
        completion_tokens=_count(usage.get("completion_tokens")),
        cached_tokens=_count(prompt_details.get("cached_tokens")),
        reasoning_tokens=_count(completion_details.get("reasoning_tokens")),
    )


def _choice_index(choice: Mapping[str, Any], position: int) -> int:
    return _int_or(choice.get("index"), position)


def _int_or(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _count(value: Any) -> int:
    return max(_int_or(value, 0), 0)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _sequence(value: Any) -> Sequence[Any]:
    return value if isinstance(value, list | tuple) else ()
