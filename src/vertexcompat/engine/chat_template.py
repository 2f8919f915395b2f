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
        self.knows_tools = "tools" in meta.find_undeclared_variables(env.parse(self.source))
        self.bos_token = bos_token
        self.eos_token = eos_token

    def render(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]] | None = None,
        add_generation_prompt: bool = True,
    ) -> str:
        extra = {"tools": tools} if tools else {}
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
