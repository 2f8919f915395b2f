"""Gemini contents → the message list (and tool list) a local model's chat template renders.

Function calling has two formats, chosen from the model's chat template, never its name:

- native: the template reads a `tools` variable (Qwen2.5 does). Declarations go to the
  template as OpenAI-style tool dicts, earlier calls as assistant `tool_calls`, results as
  `role: "tool"` messages, and the model writes calls the way it was trained to;
- generic: for any other template, this module describes the functions and the call syntax
  in the system message and renders calls and results as plain text in that same syntax.

After function results, by default (`answer_from_results`), the turn that reads them is
rendered for answering: when the conversation ends with function responses and the model
may choose (tool_choice auto or none), the declarations and the calls are left out and each
result is information in the user's turn that led to it (`_answer_input` has the numbers).
Measured on Qwen2.5-Coder-0.5B-Instruct (the default model), the native format makes it
repeat the call it already has the result for (8 of 8 samples). `--tool-result-turn native`
keeps the native format throughout, for models strong enough to chain calls.

Both use one call syntax, which `call_extractor.py` parses and the calls grammar enforces:
`<tool_call>{"name": ..., "arguments": {...}}</tool_call>`; a bare `{"name": ...,
"arguments": ...}` object (what small models often write instead) is read as a call too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, assert_never

from vertexcompat.domain.content import (
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
from vertexcompat.domain.errors import Internal
from vertexcompat.domain.tools import FunctionCallingMode, FunctionDeclaration
from vertexcompat.engine.thinking import history_messages

CALL_OPEN = "<tool_call>"
CALL_CLOSE = "</tool_call>"
# Small models often leave out the markers and write the call object bare; this is where
# such an object shows itself to be a call (a regular expression over the output).
BARE_CALL_START = r'\{\s*"name"\s*:'
_RESPONSE_OPEN = "<tool_response>"
_RESPONSE_CLOSE = "</tool_response>"

_TEMPLATE_ROLE = {"user": "user", "model": "assistant"}


@dataclass(frozen=True, slots=True)
class TemplateInput:
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None  # only for a template that knows tools


def json_hint(cfg: GenerationConfig) -> str | None:
    """The system-instruction line that asks for JSON, or None for a text request."""
    if not cfg.wants_json:
        return None
    if cfg.response_schema is None:
        return "Respond only with a JSON object."
    schema = json.dumps(cfg.response_schema, separators=(",", ":"))
    return f"Respond only with a JSON object matching this JSON schema: {schema}"


def to_template_input(
    request: GenerateContentRequest,
    *,
    native_tools: bool,
    answer_from_results: bool = False,
    thinking_instruction: str | None = None,
    native_thinking: bool = False,
) -> TemplateInput:
    """`thinking_instruction`: a system paragraph asking a model without native thinking
    to think first (engine/thinking.py). `native_thinking`: how earlier turns' thoughts
    (thought parts, e.g. restored from a thought signature) are framed."""
    declarations = request.tools
    mode = request.tool_config.mode
    if answer_from_results and mode is not FunctionCallingMode.ANY and _ends_with_results(request):
        return _answer_input(request, thinking_instruction, native_thinking)
    system = [] if request.system_instruction is None else [_text_of(request.system_instruction)]
    hint = json_hint(request.generation_config)
    if hint is not None:
        system.append(hint)
    if thinking_instruction is not None:
        system.append(thinking_instruction)
    if declarations and not native_tools:
        system.append(_generic_tools_text(declarations, mode))
    elif declarations and mode is FunctionCallingMode.NONE:
        system.append("Do not call any function in this answer; reply with text.")
    messages: list[dict[str, Any]] = []
    if system:
        messages.append({"role": "system", "content": "\n\n".join(system)})
    for content in request.contents:
        messages.extend(
            _with_thoughts(content, _messages(content, native_tools=native_tools), native_thinking)
        )
    tools = [_tool_dict(d) for d in declarations] if native_tools and declarations else None
    return TemplateInput(messages=messages, tools=tools)


def _ends_with_results(request: GenerateContentRequest) -> bool:
    last = request.contents[-1] if request.contents else None
    return last is not None and any(isinstance(p, FunctionResponsePart) for p in last.parts)


def _answer_input(
    request: GenerateContentRequest, thinking_instruction: str | None, native_thinking: bool
) -> TemplateInput:
    """The conversation for answering from function results, without declarations: each
    result is information in the user's own turn (`Information from get_weather: Sunny`,
    after the words that led to the call), and the calls are not written at all.

    Measured on the default model, greedy, 24 tool loops (bench/tool_results.py): with the
    calls written as the assistant's sentences (`I called f({...}).`) and the results as a
    user's (`f returned: ...`), 11 answers repeated that history back (`I called ...`), 7
    refused or ignored the result, 6 used it; any wording of ours in the assistant's voice
    is copied. The question followed by the results in one user message: 22 of 24 use the
    result, none repeats the history (results before the question: 19; as a system message:
    20). A calling turn's restored thoughts (SPEC §5) stay, as the assistant's notes; the
    results then come in a user message of their own (20 of 24; restating the question
    there: 15)."""
    system = [] if request.system_instruction is None else [_text_of(request.system_instruction)]
    if thinking_instruction is not None:
        system.append(thinking_instruction)
    messages: list[dict[str, Any]] = []
    if system:
        messages.append({"role": "system", "content": "\n\n".join(system)})
    for content in request.contents:
        text = _text_of(content)
        if any(isinstance(p, FunctionCallPart) for p in content.parts):
            # Only the calling turn's thoughts: its words before a call are no answer, and
            # the call is what the model would copy.
            messages.extend(_with_thoughts(content, [], native_thinking))
            continue
        results = [p for p in content.parts if isinstance(p, FunctionResponsePart)]
        if not results:
            messages.extend(
                _with_thoughts(content, [{"role": _TEMPLATE_ROLE[content.role], "content": text}],
                               native_thinking)
            )
            continue
        info = "\n".join(f"Information from {r.name}: {_response_text(r)}" for r in results)
        if text:
            info = f"{info}\n\n{text}"
        last = messages[-1] if messages else None
        if last is not None and last["role"] == "user":
            last["content"] = f"{last['content']}\n\n{info}" if last["content"] else info
        else:
            messages.append({"role": "user", "content": info})
    return TemplateInput(messages=messages)


def _with_thoughts(
    content: Content, messages: list[dict[str, Any]], native_thinking: bool
) -> list[dict[str, Any]]:
    """A model turn's thought parts go back in as thoughts, framed like the model's own
    (never as answer text, SPEC §5); other turns are unchanged."""
    thoughts = "".join(
        p.text for p in content.parts if isinstance(p, TextPart) and p.thought
    ).strip()
    if content.role != "model" or not thoughts:
        return messages
    role = _TEMPLATE_ROLE[content.role]
    at = next((i for i, m in enumerate(messages) if m["role"] == role), None)
    if at is None:
        return [*messages, *history_messages(native=native_thinking, role=role, thoughts=thoughts,
                                             answer=None)]
    answer = messages[at]
    if not answer.get("content") and not answer.get("tool_calls"):
        answer = None
    framed = history_messages(native=native_thinking, role=role, thoughts=thoughts, answer=answer)
    return [*messages[:at], *framed, *messages[at + 1 :]]


def to_template_messages(request: GenerateContentRequest) -> list[dict[str, Any]]:
    """The messages for a request without function declarations."""
    return to_template_input(request, native_tools=False).messages


def content_text(content: Content) -> str:
    """The text a content's message carries in the prompt (`_text_of`): what perception
    found in its media, then its text parts joined. Thought parts and function calls and
    results are not in it: the prompt frames those according to the template and the turn."""
    return _text_of(content)


def _text_of(content: Content) -> str:
    """A content's text for the template. What perception found in its images and audio
    comes first, one paragraph per part in order, like attachments shown above a message:
    measured on the default model, "Transcribe this audio" after the transcript gets the
    transcript back in 8 of 8 answers, before it in 6 of 8 (the rest refuse)."""
    attachments = []
    texts = []
    for part in content.parts:
        match part:
            case TextPart(text=text, thought=False):
                texts.append(text)
            case TextPart(thought=True):
                pass  # earlier reasoning is not replayed as answer text (SPEC §5)
            case FunctionCallPart() | FunctionResponsePart():
                pass  # rendered by _messages
            case ImageDescriptionPart(description=text) | TranscriptPart(description=text):
                attachments.append(text)  # what perception found, in place of the media
            case FileDataPart() | InlineDataPart():
                # services/media.py replaces media before a text-only backend sees it.
                raise Internal("media reached the local model without perception")
            case _:
                assert_never(part)
    if not attachments:
        return "".join(texts)
    return "\n\n".join([*attachments, "".join(texts)]).strip()


def _messages(content: Content, *, native_tools: bool) -> list[dict[str, Any]]:
    role = _TEMPLATE_ROLE[content.role]
    text = _text_of(content)
    calls = [p for p in content.parts if isinstance(p, FunctionCallPart)]
    results = [p for p in content.parts if isinstance(p, FunctionResponsePart)]
    out: list[dict[str, Any]] = []
    if results:
        if native_tools:
            out.extend({"role": "tool", "content": _response_text(r)} for r in results)
        else:
            out.append({"role": "user", "content": "\n".join(_generic_response(r) for r in results)})
    if calls and native_tools:
        out.append({
            "role": role,
            "content": text,
            "tool_calls": [
                {"type": "function", "function": {"name": c.name, "arguments": dict(c.args)}}
                for c in calls
            ],
        })
    elif calls:
        written = "\n".join(_generic_call(c) for c in calls)
        out.append({"role": role, "content": f"{text}\n{written}" if text else written})
    elif text or not results:
        out.append({"role": role, "content": text})
    return out


def _tool_dict(declaration: FunctionDeclaration) -> dict[str, Any]:
    function: dict[str, Any] = {"name": declaration.name}
    if declaration.description:
        function["description"] = declaration.description
    function["parameters"] = (
        dict(declaration.parameters)
        if declaration.parameters is not None
        else {"type": "object", "properties": {}}
    )
    return {"type": "function", "function": function}


def _call_json(name: str, args: Any) -> str:
    return json.dumps({"name": name, "arguments": args}, ensure_ascii=False)


def _generic_call(call: FunctionCallPart) -> str:
    return f"{CALL_OPEN}\n{_call_json(call.name, dict(call.args))}\n{CALL_CLOSE}"


def _response_text(result: FunctionResponsePart) -> str:
    """A wrapped text result is shown as the text the tool returned; a structured one as
    its JSON."""
    response = result.response
    if set(response) == {WRAPPED_RESPONSE_KEY} and isinstance(response[WRAPPED_RESPONSE_KEY], str):
        return response[WRAPPED_RESPONSE_KEY]
    return json.dumps(response, ensure_ascii=False)


def _generic_response(result: FunctionResponsePart) -> str:
    return f"{_RESPONSE_OPEN}\n{_response_text(result)}\n{_RESPONSE_CLOSE}"


def _generic_tools_text(declarations: tuple[FunctionDeclaration, ...], mode: FunctionCallingMode) -> str:
    listing = "\n".join(json.dumps(_tool_dict(d)["function"], ensure_ascii=False) for d in declarations)
    if mode is FunctionCallingMode.NONE:
        return (
            "These functions exist, but do not call any of them in this answer; reply with "
            f"text.\n<tools>\n{listing}\n</tools>"
        )
    return (
        "You can call functions to help answer. The functions, as JSON Schema:\n"
        f"<tools>\n{listing}\n</tools>\n"
        "To call a function, reply with exactly this and nothing after it:\n"
        f'{CALL_OPEN}\n{{"name": "<function name>", "arguments": {{<the arguments as JSON>}}}}\n'
        f"{CALL_CLOSE}\n"
        f"Function results come back inside {_RESPONSE_OPEN}{_RESPONSE_CLOSE}. If no "
        "function is needed, answer normally."
    )
