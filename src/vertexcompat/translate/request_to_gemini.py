"""`to_generate_request`: an OpenAI `ChatCompletionRequest` lowered to one Gemini
`GenerateContentRequest` (system instruction, contents → parts, generation config)."""

from __future__ import annotations

from typing import assert_never

from vertexcompat.domain.content import (
    Content,
    GenerateContentRequest,
    GenerationConfig,
    Part,
    Role,
    TextPart,
)
from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.openai_api.request import ChatCompletionRequest, ChatMessage, ContentPart
from vertexcompat.translate.json_schema import SCHEMA_PARAM, to_response_mime_and_schema

# Vertex joins several system messages into one system instruction; keep them apart
# by a blank line so the model still sees separate paragraphs.
_SYSTEM_JOINER = "\n\n"
# Until tool calling lands, a tool/function result is shown to the model as user text.
_TOOL_RESULT_ROLE: Role = "user"


def to_generate_request(
    chat: ChatCompletionRequest, *, backend_model: str
) -> GenerateContentRequest:
    system_texts: list[str] = []
    contents: list[Content] = []
    for i, message in enumerate(chat.messages):
        parts = _parts(message, i)
        match message.role:
            case "system" | "developer":
                system_texts.append("".join(p.text for p in parts))
            case "user":
                contents.append(Content(role="user", parts=_required(parts, i)))
            case "assistant":
                # An assistant turn that only called tools has no text; the tool-calling
                # issue gives it function-call parts. Until then it contributes nothing.
                if parts:
                    contents.append(Content(role="model", parts=parts))
            case "tool" | "function":
                contents.append(Content(role=_TOOL_RESULT_ROLE, parts=_required(parts, i)))
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
    return GenerateContentRequest(
        model=backend_model,
        contents=tuple(contents),
        system_instruction=system,
        generation_config=to_generation_config(chat),
    )


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
    )


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
            return TextPart(part.text)
        case "image_url" | "input_audio":
            # Never drop media silently: the answer would be about a prompt the user did
            # not send. The multimodal issue replaces this.
            raise InvalidArgument(
                f"Content part type `{part.type}` at `{param}`: media input is not "
                "supported yet by this server.",
                param=param,
            )
        case _:
            assert_never(part.type)


def _required(parts: tuple[Part, ...], i: int) -> tuple[Part, ...]:
    if not parts:
        raise InvalidArgument(
            f"`messages[{i}].content` must not be empty.", param=f"messages[{i}].content"
        )
    return parts


def to_openai_param(param: str | None, chat: ChatCompletionRequest) -> str | None:
    """Backends speak Gemini and name Gemini fields in their errors; the client sent an
    OpenAI request, so `param` must name what the client wrote (e.g. `max_completion_tokens`
    when that is the alias it used)."""
    match param:
        case "generation_config.candidate_count":
            return "n"
        case "generation_config.max_output_tokens":
            return "max_completion_tokens" if chat.max_completion_tokens is not None else "max_tokens"
        case "generation_config.stop_sequences":
            return "stop"
        case "generation_config.response_schema":
            return SCHEMA_PARAM
        case "generation_config.response_mime_type":
            return "response_format.type"
        case "contents" | "system_instruction":
            return "messages"
        case _:
            return param
