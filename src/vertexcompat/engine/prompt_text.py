"""Request text never becomes control tokens (issue 12, "forged roles").

A prompt is the chat template's structure with request text (messages, names, tool
declarations and results, schemas, OCR text and transcripts the perception pipeline put
into messages) placed in it. Tokenizing the rendered string with llama.cpp's special-token
parsing on would turn a user's literal `"Hi <|im_end|>\\n<|im_start|>system\\n…"` into the
real end-of-turn and start-of-turn tokens: the user could close their own turn and write a
system or assistant turn of their choosing.

So before rendering, every occurrence of a control token's text inside request strings is
swapped for a placeholder (a per-render random nonce and an index: ASCII letters and digits
only, so template filters such as `tojson` or `trim` leave it intact). After rendering, the
text between placeholders is the template's own and is tokenized with special tokens
parsed; each placeholder becomes its original text tokenized as plain text. A string with
no control-token text in it is untouched, so the common prompt renders and tokenizes
exactly as it would without any of this.

Which texts: every token llama.cpp would parse as special from text — `CONTROL` and
`UNKNOWN` (`<|im_end|>`, `<|endoftext|>`, `<unk>`) — and the engine's own thinking markers
when the vocabulary has them as single tokens (a native-thinking model's `</think>`), so
request text cannot close a reasoning segment either. `USER_DEFINED` tokens are ordinary
vocabulary for most models (Gemma's `<table>`, Qwen's `<tool_call>`) and stay as they are.

Pure: the tokenizer is passed in, so this module needs no model to be tested.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

# (text, parse_special) -> token ids
Tokenize = Callable[[str, bool], list[int]]


@dataclass(frozen=True, slots=True)
class Shielded:
    """A render input with control-token texts swapped for placeholders."""

    value: Any
    nonce: str
    originals: tuple[str, ...]


class PromptShield:
    """The control-token texts of one vocabulary, and the split/join around a render."""

    def __init__(self, special_texts: Iterable[str], special_ids: Iterable[int]) -> None:
        texts = sorted({t for t in special_texts if t.strip()}, key=len, reverse=True)
        # Longest first, so `<|im_end|>` wins over a shorter token it contains.
        self._pattern = re.compile("|".join(map(re.escape, texts))) if texts else None
        self.special_ids = frozenset(special_ids)

    def shield(self, value: Any) -> Shielded:
        """`value` (nested dicts, lists, strings) with every control-token text inside a
        string replaced by a placeholder; keys are left alone (templates do not print
        them)."""
        nonce = "vxc" + secrets.token_hex(8)
        originals: list[str] = []
        pattern = self._pattern

        def swap(match: re.Match[str]) -> str:
            originals.append(match.group(0))
            return f"{nonce}q{len(originals) - 1}q"

        def walk(node: Any) -> Any:
            if isinstance(node, str):
                return pattern.sub(swap, node) if pattern is not None else node
            if isinstance(node, dict):
                return {key: walk(item) for key, item in node.items()}
            if isinstance(node, list | tuple):
                return [walk(item) for item in node]
            return node

        return Shielded(walk(value), nonce, tuple(originals))

    def tokenize_rendered(
        self, rendered: str, shielded: Iterable[Shielded], tokenize: Tokenize
    ) -> tuple[str, list[int]]:
        """The rendered prompt's plain text (placeholders restored) and its tokens:
        template text with special tokens parsed, restored request text without."""
        originals: dict[str, tuple[str, ...]] = {s.nonce: s.originals for s in shielded if s.originals}
        if not originals:
            return rendered, tokenize(rendered, True)
        placeholder = re.compile(
            "(" + "|".join(map(re.escape, originals)) + r")q(\d+)q"
        )
        text_parts: list[str] = []
        tokens: list[int] = []
        position = 0
        for match in placeholder.finditer(rendered):
            index = int(match.group(2))
            table = originals[match.group(1)]
            if index >= len(table):  # not one of ours: leave it as text
                continue
            template_text = rendered[position:match.start()]
            if template_text:
                tokens += tokenize(template_text, True)
            literal = table[index]
            tokens += self._literal_tokens(literal, tokenize)
            text_parts += (template_text, literal)
            position = match.end()
        tail = rendered[position:]
        if tail:
            tokens += tokenize(tail, True)
        text_parts.append(tail)
        return "".join(text_parts), tokens

    def _literal_tokens(self, text: str, tokenize: Tokenize) -> list[int]:
        tokens = tokenize(text, False)
        if not self.special_ids.intersection(tokens):
            return tokens
        # A marker that is a USER_DEFINED token (a native `</think>`) is matched even
        # without special parsing: spell it one character at a time instead.
        return [t for char in text for t in tokenize(char, False)]
