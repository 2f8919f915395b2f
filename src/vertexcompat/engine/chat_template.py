"""Renders a conversation with the model's own chat template (from the GGUF metadata)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jinja2 import TemplateError, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from vertexcompat.domain.errors import InvalidArgument

# Used only when a GGUF has no template at all (e.g. a base model): plain ChatML.
FALLBACK_CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


_TEMPLATE_FAILURES = (
    TypeError, ValueError, LookupError, AttributeError, ArithmeticError, RecursionError,
)


def _raise(message: str) -> None:
    raise TemplateError(message)


class ChatTemplate:
    def __init__(self, source: str | None, *, bos_token: str, eos_token: str) -> None:
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = _raise
        env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
        self.source = source or FALLBACK_CHATML
        self._template = env.from_string(self.source)
        # A template that reads a `tools` variable renders function declarations in the
        # format its model was trained on; decided from the template, never the model name.
        variables = meta.find_undeclared_variables(env.parse(self.source))
        self.knows_tools = "tools" in variables
        # Qwen3-style templates switch their reasoning segment with `enable_thinking`.
        self._thinking_switch = "enable_thinking" in variables
        self.bos_token = bos_token
        self.eos_token = eos_token

    def render(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]] | None = None,
        add_generation_prompt: bool = True,
        thinking: bool | None = None,
    ) -> str:
        extra: dict[str, Any] = {"tools": tools} if tools else {}
        if thinking is not None and self._thinking_switch:
            extra["enable_thinking"] = thinking
        try:
            return self._template.render(
                messages=messages,
                **extra,
                add_generation_prompt=add_generation_prompt,
                bos_token=self.bos_token,
                eos_token=self.eos_token,
            )
        except TemplateError as exc:
            # Templates reject conversations they cannot express (e.g. roles out of order).
            raise InvalidArgument(
                f"The model's chat template rejected the conversation: {exc}", param="contents"
            ) from exc
        except _TEMPLATE_FAILURES as exc:
            # The template is the GGUF's code, not ours: an operation it cannot do on this
            # conversation (`str + None`, a missing key) is the conversation's 400.
            raise InvalidArgument(
                f"The model's chat template cannot render the conversation: "
                f"{type(exc).__name__}: {exc}",
                param="contents",
            ) from exc

    def assistant_turn_boundary(self, messages: list[dict[str, Any]]) -> str | None:
        """The text this template puts between the end of an assistant message and the
        start of the next assistant message, after `messages`; None when it cannot render
        two assistant messages in a row as prompt + message + new prompt."""
        sentinel = "\u2063vxc-turn\u2063"
        try:
            prompt = self.render(messages, add_generation_prompt=True)
            both = self.render(
                [*messages, {"role": "assistant", "content": sentinel}],
                add_generation_prompt=True,
            )
            # Later turns show the notes and the answer as two assistant messages in a row.
            self.render(
                [*messages, {"role": "assistant", "content": "a"},
                 {"role": "assistant", "content": "b"}],
                add_generation_prompt=False,
            )
        except InvalidArgument:
            return None
        head, found, tail = both.partition(sentinel)
        if not found or head != prompt or not tail:
            return None
        return tail
