"""OpenAI `tools` / `tool_choice` / `parallel_tool_calls` (and the deprecated `functions` /
`function_call`) → Gemini function declarations + tool config, with the checks OpenAI and
Vertex make, each failing with the exact `param`.

Pure: schemas are only checked to be valid JSON Schema object schemas here; whether a
backend can enforce them while decoding is its own business.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, assert_never

from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.domain.tools import FunctionCallingMode, FunctionDeclaration, ToolConfig
from vertexcompat.openai_api.request import (
    ChatCompletionRequest,
    FunctionDefinition,
    NamedFunction,
    NamedToolChoice,
)
from vertexcompat.translate.json_schema import check_schema

# How the answer names its calls: `tool_calls[]` (current API) or the deprecated single
# `function_call` of a request that used `functions`.
CallStyle = Literal["tool_calls", "function_call"]


def call_style(chat: ChatCompletionRequest) -> CallStyle:
    return "function_call" if chat.functions is not None and chat.tools is None else "tool_calls"


def to_declarations_and_config(
    chat: ChatCompletionRequest,
) -> tuple[tuple[FunctionDeclaration, ...], ToolConfig]:
    if chat.tools is not None and chat.functions is not None:
        raise InvalidArgument(
            "`tools` and the deprecated `functions` cannot be used together; use `tools`.",
            param="functions",
        )
    if chat.functions is not None:
        if chat.tool_choice is not None:
            raise InvalidArgument(
                "`tool_choice` goes with `tools`; with the deprecated `functions` use "
                "`function_call`.",
                param="tool_choice",
            )
        declarations = _declarations(chat.functions, lambda i: f"functions[{i}]")
        config = _function_call_config(chat.function_call, declarations)
        # The deprecated shape can only carry one call per turn.
        return declarations, ToolConfig(
            mode=config.mode, allowed_function_names=config.allowed_function_names,
            parallel_calls=False,
        )
    if chat.function_call is not None:
        raise InvalidArgument(
            "`function_call` goes with the deprecated `functions`; with `tools` use "
            "`tool_choice`.",
            param="function_call",
        )
    definitions = [tool.function for tool in chat.tools or ()]
    declarations = _declarations(definitions, lambda i: f"tools[{i}].function")
    config = _tool_choice_config(chat.tool_choice, declarations)
    return declarations, ToolConfig(
        mode=config.mode,
        allowed_function_names=config.allowed_function_names,
        parallel_calls=chat.parallel_tool_calls is not False,
    )


def _declarations(
    definitions: list[FunctionDefinition], where: Any
) -> tuple[FunctionDeclaration, ...]:
    seen: set[str] = set()
    out = []
    for i, fn in enumerate(definitions):
        if fn.name in seen:
            raise InvalidArgument(
                f"Duplicate function name {fn.name!r}: function names must be unique.",
                param=f"{where(i)}.name",
            )
        seen.add(fn.name)
        if fn.parameters is not None:
            _check_parameters(fn.parameters, f"{where(i)}.parameters")
        out.append(
            FunctionDeclaration(name=fn.name, description=fn.description, parameters=fn.parameters)
        )
    return tuple(out)


def _check_parameters(schema: Mapping[str, Any], param: str) -> None:
    """A function's parameters are an object schema: the arguments are a JSON object."""
    if schema.get("type", "object") != "object":
        raise InvalidArgument(
            f"`{param}` must be a JSON Schema for an object (`\"type\": \"object\"`), got "
            f"type {schema.get('type')!r}.",
            param=param,
        )
    check_schema(schema, param=param)


def _tool_choice_config(
    choice: Literal["none", "auto", "required"] | NamedToolChoice | None,
    declarations: tuple[FunctionDeclaration, ...],
) -> ToolConfig:
    match choice:
        case None | "auto":
            return ToolConfig(mode=FunctionCallingMode.AUTO)
        case "none":
            return ToolConfig(mode=FunctionCallingMode.NONE)
        case "required":
            if not declarations:
                raise InvalidArgument(
                    "`tool_choice` is \"required\" but no `tools` were given.",
                    param="tool_choice",
                )
            return ToolConfig(mode=FunctionCallingMode.ANY)
        case NamedToolChoice(function=NamedFunction(name=name)):
            _require_declared(name, declarations, "tool_choice.function.name", "tools")
            return ToolConfig(mode=FunctionCallingMode.ANY, allowed_function_names=(name,))
        case _:
            assert_never(choice)


def _function_call_config(
    choice: Literal["none", "auto"] | NamedFunction | None,
    declarations: tuple[FunctionDeclaration, ...],
) -> ToolConfig:
    match choice:
        case None | "auto":
            return ToolConfig(mode=FunctionCallingMode.AUTO)
        case "none":
            return ToolConfig(mode=FunctionCallingMode.NONE)
        case NamedFunction(name=name):
            _require_declared(name, declarations, "function_call.name", "functions")
            return ToolConfig(mode=FunctionCallingMode.ANY, allowed_function_names=(name,))
        case _:
            assert_never(choice)


def _require_declared(
    name: str, declarations: tuple[FunctionDeclaration, ...], param: str, field: str
) -> None:
    if not any(d.name == name for d in declarations):
        declared = ", ".join(repr(d.name) for d in declarations) or "none"
        raise InvalidArgument(
            f"`{param}` names {name!r}, which is not a function in `{field}` "
            f"(declared: {declared}).",
            param=param,
        )
