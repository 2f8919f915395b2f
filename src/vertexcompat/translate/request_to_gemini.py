"""`to_generate_request`: an OpenAI `ChatCompletionRequest` lowered to one Gemini
`GenerateContentRequest` (system instruction, contents → parts, generation config, function
declarations and tool config, and the `google` object's safety settings, read as the native
surface reads them: translate/safety_settings.py). `web_search_options` and the grounding
tools of `google.tools` set `grounding` (translate/grounding.py).

Tool calling history: an assistant message's `tool_calls` become function-call parts, and
each later `role: "tool"` message becomes a function-response part matched to its call by
`tool_call_id` (the function's name comes from that call). Consecutive tool results form
one user content, as Gemini expects all responses to one model turn together.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from typing import Any, assert_never

from vertexcompat.domain.content import (
    WRAPPED_RESPONSE_KEY,
    Content,
    FileDataPart,
    InlineDataPart,
    FunctionCallPart,
    FunctionResponsePart,
    GenerateContentRequest,
    GenerationConfig,
    Part,
    TextPart,
)
from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.domain.locations import FieldPath
from vertexcompat.domain.safety import SafetySetting
from vertexcompat.domain.thinking import ThoughtTagMarker
from vertexcompat.openai_api.request import (
    ChatCompletionRequest,
    ChatMessage,
    ContentPart,
    GoogleOptions,
)
from vertexcompat.translate.grounding import to_grounding
from vertexcompat.translate.image_options import to_image_config, to_response_modalities
from vertexcompat.translate.json_schema import to_response_mime_and_schema
from vertexcompat.translate.safety_settings import safety_settings
from vertexcompat.translate.thinking import to_thinking_config
from vertexcompat.translate.tools import to_declarations_and_config

# Vertex joins several system messages into one system instruction; keep them apart
# by a blank line so the model still sees separate paragraphs.
_SYSTEM_JOINER = "\n\n"


def to_generate_request(
    chat: ChatCompletionRequest, *, backend_model: str
) -> GenerateContentRequest:
    system_texts: list[str] = []
    contents: list[Content] = []
    calls_by_id: dict[str, str] = {}  # tool_call_id → function name, from earlier turns
    marker = chat.google_options.thought_tag_marker
    for i, message in enumerate(chat.messages):
        parts = _parts(message, i)
        match message.role:
            case "system" | "developer":
                system_texts.append("".join(_texts(_no_media(parts, i, message.role))))
            case "user":
                # Only the model's turns hold thoughts; a user's text is always read.
                parts = tuple(
                    dataclasses.replace(p, thought=False)
                    if isinstance(p, TextPart) and p.thought else p
                    for p in parts
                )
                contents.append(Content(role="user", parts=_required(parts, i)))
            case "assistant":
                parts = _thoughts_apart(message, _no_media(parts, i, "assistant"), marker)
                calls = _calls(message, i)
                calls_by_id.update((c.id, c.name) for c in calls if c.id is not None)
                parts, calls = _message_signature(message, i, parts, calls)
                if parts or calls:
                    contents.append(Content(role="model", parts=(*parts, *calls)))
            case "tool":
                result = _tool_result(message, parts, i, calls_by_id)
                _add_result(contents, result, _media(parts))
            case "function":
                _add_result(contents, _function_result(message, parts, i), _media(parts))
            case _:
                assert_never(message.role)
    if not contents:
        raise InvalidArgument(
            "`messages` must contain at least one user message.", param="messages"
        )
    system = (
        Content(role="user", parts=(TextPart(_SYSTEM_JOINER.join(system_texts)),))
        if system_texts
        else None
    )
    declarations, tool_config = to_declarations_and_config(chat)
    return GenerateContentRequest(
        model=backend_model,
        contents=tuple(contents),
        system_instruction=system,
        generation_config=to_generation_config(chat),
        tools=declarations,
        tool_config=tool_config,
        grounding=to_grounding(chat),
        safety_settings=_safety_settings(chat.google_options),
    )


def _safety_settings(google: GoogleOptions) -> tuple[SafetySetting, ...]:
    """`google.safety_settings` (or `safetySettings`); an error's `param` is the path the
    client wrote (`extra_body.google.safety_settings[1].threshold`), and so is its text."""
    if google.safety_settings is None:
        return ()
    sent = FieldPath.parse(google.param(google.safety_settings_key))
    try:
        return safety_settings(google.safety_settings, sent)
    except InvalidArgument as exc:
        where = exc.location or sent
        raise InvalidArgument(exc.message, param=str(where)) from None


def _texts(parts: tuple[Part, ...]) -> list[str]:
    return [p.text for p in parts if isinstance(p, TextPart)]


def _calls(message: ChatMessage, i: int) -> tuple[FunctionCallPart, ...]:
    calls = []
    for j, call in enumerate(message.tool_calls or ()):
        extras = call.extras
        calls.append(
            FunctionCallPart(
                name=call.function.name,
                args=_arguments(
                    call.function.arguments, f"messages[{i}].tool_calls[{j}].function.arguments"
                ),
                id=call.id,
                thought_signature=extras.thought_signature,
                signature_source=(
                    f"messages[{i}].tool_calls[{j}].{extras.param('thought_signature')}"
                ),
            )
        )
    if message.function_call is not None:
        fn = message.function_call
        calls.append(
            FunctionCallPart(
                fn.name,
                _arguments(fn.arguments, f"messages[{i}].function_call.arguments"),
                signature_source=f"messages[{i}].extra_content.google.thought_signature",
            )
        )
    return tuple(calls)


def _thoughts_apart(
    message: ChatMessage, parts: tuple[Part, ...], marker: ThoughtTagMarker | None
) -> tuple[Part, ...]:
    """An assistant message's thoughts become thought parts, never answer text (SPEC §5):
    its `reasoning_content`, parts marked `extra_content.google.thought`, a message marked
    so as a whole, and — when the request sets a tag marker — text inside `<X>…</X>`."""
    whole = message.extras.thought
    out: list[Part] = []
    if message.reasoning_content:
        out.append(TextPart(message.reasoning_content, thought=True))
    for part in parts:
        if isinstance(part, TextPart) and (whole or part.thought):
            out.append(dataclasses.replace(part, thought=True))
        elif isinstance(part, TextPart) and marker is not None:
            out.extend(_split_tags(part, marker))
        else:
            out.append(part)
    return tuple(out)


def _split_tags(part: TextPart, marker: ThoughtTagMarker) -> list[TextPart]:
    """`a<X>b</X>c` → answer `a`, thought `b`, answer `c`; an unclosed tag's text is
    thought to the end (a cut-off turn)."""
    pieces: list[TextPart] = []
    pattern = re.compile(f"{re.escape(marker.open)}(.*?)(?:{re.escape(marker.close)}|$)", re.S)
    at = 0
    for match in pattern.finditer(part.text):
        if match.start() > at:
            pieces.append(TextPart(part.text[at : match.start()]))
        if match.group(1).strip():
            pieces.append(TextPart(match.group(1), thought=True))
        at = match.end()
    rest = part.text[at:]
    if rest or not pieces:
        pieces.append(TextPart(rest))
    if part.thought_signature is not None:  # a signature stays on the part's last answer text
        last = max((k for k, p in enumerate(pieces) if not p.thought), default=len(pieces) - 1)
        pieces[last] = dataclasses.replace(
            pieces[last], thought_signature=part.thought_signature,
            signature_source=part.signature_source,
        )
    return pieces


def _message_signature(
    message: ChatMessage,
    i: int,
    parts: tuple[Part, ...],
    calls: tuple[FunctionCallPart, ...],
) -> tuple[tuple[Part, ...], tuple[FunctionCallPart, ...]]:
    """A signature sent on the message itself (`messages[i].extra_content.google.
    thought_signature`, where this server puts a text turn's signature and the deprecated
    `function_call`'s) belongs to the turn's first call when it has calls without their
    own, else to its last answer text."""
    signature = message.extras.thought_signature
    if signature is None:
        return parts, calls
    source = f"messages[{i}].{message.extras.param('thought_signature')}"
    if calls and calls[0].thought_signature is None:
        first = dataclasses.replace(calls[0], thought_signature=signature, signature_source=source)
        return parts, (first, *calls[1:])
    answer = [k for k, p in enumerate(parts) if isinstance(p, TextPart) and not p.thought]
    if not answer:
        return (*parts, TextPart("", thought_signature=signature, signature_source=source)), calls
    k = answer[-1]
    signed = dataclasses.replace(parts[k], thought_signature=signature, signature_source=source)
    return (*parts[:k], signed, *parts[k + 1 :]), calls


def _arguments(text: str, param: str) -> Mapping[str, Any]:
    """A call's `arguments` as the model wrote them: JSON text of an object ("" = none)."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidArgument(f"`{param}` is not valid JSON: {exc}", param=param) from None
    if not isinstance(value, dict):
        raise InvalidArgument(f"`{param}` must be a JSON object.", param=param)
    return value


def _tool_result(
    message: ChatMessage, parts: tuple[Part, ...], i: int, calls_by_id: dict[str, str]
) -> FunctionResponsePart:
    call_id = message.tool_call_id
    if call_id is None:
        raise InvalidArgument(
            f"Missing required parameter `messages[{i}].tool_call_id`.",
            param=f"messages[{i}].tool_call_id",
        )
    name = calls_by_id.get(call_id)
    if name is None:
        raise InvalidArgument(
            f"`messages[{i}].tool_call_id` is {call_id!r}, which matches no tool call of an "
            "earlier assistant message.",
            param=f"messages[{i}].tool_call_id",
        )
    return FunctionResponsePart(name=name, response=_response(message, parts, i), id=call_id)


def _function_result(message: ChatMessage, parts: tuple[Part, ...], i: int) -> FunctionResponsePart:
    if not message.name:
        raise InvalidArgument(
            f"Missing required parameter `messages[{i}].name` (the function's name).",
            param=f"messages[{i}].name",
        )
    return FunctionResponsePart(name=message.name, response=_response(message, parts, i))


def _response(message: ChatMessage, parts: tuple[Part, ...], i: int) -> Mapping[str, Any]:
    """A JSON-object result stays structured; any other result is wrapped as text."""
    if message.content is None:
        raise InvalidArgument(
            f"Missing required parameter `messages[{i}].content`.", param=f"messages[{i}].content"
        )
    text = "".join(_texts(parts))
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if isinstance(value, dict):
        return value
    return {WRAPPED_RESPONSE_KEY: text}


def _media(parts: tuple[Part, ...]) -> tuple[Part, ...]:
    return tuple(p for p in parts if isinstance(p, FileDataPart | InlineDataPart))


def _add_result(
    contents: list[Content], part: FunctionResponsePart, media: tuple[Part, ...] = ()
) -> None:
    """A tool result joins the results right before it; media the tool returned follows
    its result in the same content."""
    last = contents[-1] if contents else None
    if last is not None and last.role == "user" and all(
        isinstance(p, FunctionResponsePart | FileDataPart | InlineDataPart) for p in last.parts
    ) and any(isinstance(p, FunctionResponsePart) for p in last.parts):
        contents[-1] = Content(role="user", parts=(*last.parts, part, *media))
    else:
        contents.append(Content(role="user", parts=(part, *media)))


def to_generation_config(chat: ChatCompletionRequest) -> GenerationConfig:
    stop = chat.stop
    mime_type, schema = to_response_mime_and_schema(chat.response_format)
    return GenerationConfig(
        temperature=chat.temperature,
        top_p=chat.top_p,
        candidate_count=chat.n if chat.n is not None else 1,
        # `max_completion_tokens` is the newer name and wins when both are given.
        max_output_tokens=(
            chat.max_completion_tokens
            if chat.max_completion_tokens is not None
            else chat.max_tokens
        ),
        stop_sequences=(stop,) if isinstance(stop, str) else tuple(stop or ()),
        presence_penalty=chat.presence_penalty,
        frequency_penalty=chat.frequency_penalty,
        seed=chat.seed,
        response_mime_type=mime_type,
        response_schema=schema,
        thinking_config=to_thinking_config(chat),
        response_modalities=to_response_modalities(chat),
        image_config=to_image_config(chat),
        response_logprobs=_wants_logprobs(chat),
        logprobs=chat.top_logprobs or 0,
    )


def _wants_logprobs(chat: ChatCompletionRequest) -> bool:
    """OpenAI: `top_logprobs` needs `logprobs: true` (a 400 naming it otherwise)."""
    if chat.top_logprobs is not None and not chat.logprobs:
        raise InvalidArgument(
            "`top_logprobs` needs `logprobs: true`.", param="top_logprobs"
        )
    return bool(chat.logprobs)


def _parts(message: ChatMessage, i: int) -> tuple[Part, ...]:
    content = message.content
    if content is None:
        return ()
    if isinstance(content, str):
        return (TextPart(content),)
    return tuple(_part(part, i, j) for j, part in enumerate(content))


def _part(part: ContentPart, i: int, j: int) -> Part:
    param = f"messages[{i}].content[{j}]"
    match part.type:
        case "text":
            if part.text is None:
                raise InvalidArgument(
                    f"Missing required parameter `{param}.text`.", param=f"{param}.text"
                )
            extras = part.extras
            return TextPart(
                part.text,
                thought=extras.thought,
                thought_signature=extras.thought_signature,
                signature_source=f"{param}.{extras.param('thought_signature')}",
            )
        case "image_url":
            if part.image_url is None:
                raise InvalidArgument(
                    f"Missing required parameter `{param}.image_url`.", param=f"{param}.image_url"
                )
            return FileDataPart(file_uri=part.image_url.url, source=f"{param}.image_url.url")
        case "input_audio":
            if part.input_audio is None:
                raise InvalidArgument(
                    f"Missing required parameter `{param}.input_audio`.",
                    param=f"{param}.input_audio",
                )
            return InlineDataPart(
                mime_type=f"audio/{part.input_audio.format.lower()}",
                data=part.input_audio.data,
                source=f"{param}.input_audio.data",
            )
        case _:
            assert_never(part.type)


def _no_media(parts: tuple[Part, ...], i: int, role: str) -> tuple[Part, ...]:
    """Media is read from user messages and tool results only (SPEC §4); anywhere else it
    would be dropped, and a silently dropped image changes the question. `parts` are the
    message's content parts, one for one (`_parts`)."""
    for j, part in enumerate(parts):
        if isinstance(part, FileDataPart | InlineDataPart):
            param = f"messages[{i}].content[{j}]"
            raise InvalidArgument(
                f"`{param}`: {role} messages cannot contain images or audio; send media in a "
                "user message.",
                param=param,
            )
    return parts


def _required(parts: tuple[Part, ...], i: int) -> tuple[Part, ...]:
    if not parts:
        raise InvalidArgument(
            f"`messages[{i}].content` must not be empty.", param=f"messages[{i}].content"
        )
    return parts
