"""`ChatParamNames`: the Chat Completions surface's one, complete mapper from Gemini field
locations to the parameter names of the client's request.

Services, policies and backends name Gemini fields (`domain/locations.py`); the client sent
an OpenAI request, so an error's `param` must name what the client wrote: the alias it used
(`max_completion_tokens` or `max_tokens`), the thinking control it sent (`reasoning_effort`
or the `google` object in the form it used), `functions[i]` for a request in the deprecated
shape, `google.safety_settings[i]…` under the key spelling the client used, grounding
(`grounding`, `tools[t].google_search`) as `web_search_options` or `google.tools`. A location
the request has no parameter for is `None`, never the Gemini path.
`web/errors.py` applies it once, when the error becomes HTTP. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from vertexcompat.domain.locations import FieldPath, Step
from vertexcompat.openai_api.request import ChatCompletionRequest
from vertexcompat.translate.gemini_contents import GROUNDING_TOOLS
from vertexcompat.translate.json_schema import SCHEMA_PARAM
from vertexcompat.translate.tools import call_style

# `generation_config` fields named the same way, or under a fixed name, in OpenAI's request.
_GENERATION_CONFIG_PARAMS = {
    "temperature": "temperature",
    "top_p": "top_p",
    "candidate_count": "n",
    "stop_sequences": "stop",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
    "seed": "seed",
    "response_mime_type": "response_format.type",
    "response_logprobs": "logprobs",
    "logprobs": "top_logprobs",
}
# Domain `ThinkingConfig` fields → the wire's `thinking_config` keys.
_THINKING_FIELDS = {
    "budget": "thinking_budget",
    "thinking_budget": "thinking_budget",
    "level": "thinking_level",
    "thinking_level": "thinking_level",
    "include_thoughts": "include_thoughts",
}


@dataclass(frozen=True, slots=True)
class ChatParamNames:
    """`ChatParamNames(chat)(FieldPath.parse("generation_config.max_output_tokens"))` →
    `"max_tokens"` (or `"max_completion_tokens"`, when that is the alias the client used)."""

    chat: ChatCompletionRequest

    def __call__(self, location: FieldPath) -> str | None:
        match location.steps:
            case ("model", *_):
                return "model"
            case ("contents" | "system_instruction", *_):
                return "messages"
            case ("generation_config", str(field), *rest):
                return self._generation_config(field, rest)
            case ("tools", *rest):
                return self._tools(rest)
            case ("tool_config", *rest):
                return self._tool_config(rest)
            case ("safety_settings", *rest):
                google = self.chat.google_options
                if google.safety_settings is None:  # the server's own settings
                    return None
                return google.param(google.safety_settings_key) + _suffix(rest)
            case ("cached_content", *_):
                return self.chat.google_options.param("cached_content")
            case ("grounding", *_):
                return self._grounding()
            case _:
                return None

    def _generation_config(self, field: str, rest: list[Step]) -> str | None:
        chat = self.chat
        match field:
            case "max_output_tokens":
                used_new_name = chat.max_completion_tokens is not None
                return "max_completion_tokens" if used_new_name else "max_tokens"
            case "response_schema":
                return SCHEMA_PARAM + _suffix(rest)
            case "thinking_config":
                return self._thinking(rest)
            case "response_modalities":
                # Without `modalities`, the image output came from the model id's default.
                return "modalities" if chat.modalities is not None else "model"
            case "image_config":
                # `size` wins over `google.image_config.aspect_ratio` (image_options.py).
                google = chat.google_options
                if chat.size is not None or google.image_config is None:
                    return "size"
                return google.param("image_config", "aspect_ratio")
            case _:
                return _GENERATION_CONFIG_PARAMS.get(field)

    def _thinking(self, rest: list[Step]) -> str | None:
        if self.chat.reasoning_effort is not None:
            return "reasoning_effort"
        google = self.chat.google_options
        if google.thinking_config is None:
            return None
        wire = _THINKING_FIELDS.get(rest[0]) if rest and isinstance(rest[0], str) else None
        return google.param("thinking_config", wire) if wire else google.param("thinking_config")

    def _tools(self, rest: list[Step]) -> str | None:
        deprecated = call_style(self.chat) == "function_call"
        # Gemini groups declarations in tools[t].function_declarations[i]; the domain keeps
        # one flat tuple (`tools.function_declarations[i]`). OpenAI has one list of either.
        match rest:
            case [int(), "function_declarations", int(i), *more] | [
                "function_declarations", int(i), *more
            ]:
                declaration = f"functions[{i}]" if deprecated else f"tools[{i}].function"
                return declaration + _suffix(more)
            case [int(), str(name), *_] | [str(name), *_] if name in GROUNDING_TOOLS:
                return self._grounding()
            case _:
                return "functions" if deprecated else "tools"

    def _grounding(self) -> str | None:
        """Grounding is asked for by `web_search_options` or `google.tools` (the first
        sent, in that order)."""
        if self.chat.web_search_options is not None:
            return "web_search_options"
        google = self.chat.google_options
        return google.param("tools") if google.tools is not None else None

    def _tool_config(self, rest: list[Step]) -> str | None:
        deprecated = call_style(self.chat) == "function_call"
        match rest:
            case ["parallel_calls", *_]:
                return None if deprecated else "parallel_tool_calls"
            case ["allowed_function_names", *_] | [
                "function_calling_config", "allowed_function_names", *_
            ]:
                return "function_call.name" if deprecated else "tool_choice.function.name"
            case _:
                return "function_call" if deprecated else "tool_choice"


def _suffix(steps: list[Step]) -> str:
    """The rest of a path below a mapped prefix: `["parameters", "properties"]` →
    `.parameters.properties`."""
    return "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in steps)
