"""Turning a parsed JSON body into a `ChatCompletionRequest`, or an `InvalidArgument`
whose `param` is the exact path of the offending value (`messages[0].content`,
`temperature`, `stop`), the way OpenAI and Vertex name parameters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.openai_api.request import UNION_TAG_MARKER, ChatCompletionRequest


def parse_chat_request(body: Any) -> ChatCompletionRequest:
    if not isinstance(body, dict):
        raise InvalidArgument("The request body must be a JSON object.")
    try:
        return ChatCompletionRequest.model_validate(body)
    except ValidationError as exc:
        raise to_invalid_argument(exc) from None


def to_invalid_argument(exc: ValidationError) -> InvalidArgument:
    # Report the first problem only, like OpenAI and Vertex do; the order is the
    # model's field order, so `model` comes before `messages`.
    error = exc.errors(include_url=False)[0]
    param = loc_to_param(error["loc"]) or None
    return InvalidArgument(_message(error, param), param=param)


def loc_to_param(loc: Sequence[int | str]) -> str:
    """`("messages", 0, "~list", 1, "text")` → `messages[0].content[1].text`-style paths,
    dropping the union tags our discriminators add."""
    out = ""
    for item in loc:
        if isinstance(item, int):
            out += f"[{item}]"
        elif item.startswith(UNION_TAG_MARKER):
            continue
        else:
            out += f".{item}" if out else item
    return out


def _message(error: ErrorDetails, param: str | None) -> str:
    where = f"`{param}`" if param else "the request body"
    if error["type"] == "missing":
        return f"Missing required parameter {where}."
    detail = error["msg"]
    if error["type"] == "literal_error" and param and param.endswith(".role"):
        return f"Invalid role {error['input']!r} at {where}: {detail[0].lower()}{detail[1:]}."
    return f"Invalid value for {where}: {detail[0].lower()}{detail[1:]}."
