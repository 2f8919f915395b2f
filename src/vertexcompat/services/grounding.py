"""Grounding's two pieces of judgement: the prompt that puts search results before a
question (`grounded_contents`), and which segments of the answer each result supports
(`Attribution`).

Attribution is after the fact, not the model's own citations: a 0.5B model cannot be relied
on to write `[1]` markers where they belong, and Gemini does not put markers in its text
either. The answer is split into sentences (character offsets kept); each sentence is
compared with every passage the prompt held — the cosine of their sentence embeddings, and
the share of the sentence's distinctive tokens (numbers, codes, capitalised words) found in
the passage, whichever is higher — and a sentence whose best passage scores at least
`threshold` is a support of that passage's source, and of any other source whose passage
scores within `margin` of it. The score is the support's confidence.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from vertexcompat.domain.content import Content, TextPart
from vertexcompat.domain.grounding import Source, Support

# Where sentences end: after a full stop, question or exclamation mark followed by space or
# the end ("3.2 kg" is not an end), or at a line break, so list items and headings come out
# as sentences of their own.
_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)|\n")
# Distinctive tokens: anything with a digit, or a capitalised word of 3+ letters, or a
# word with non-ASCII letters (names in other scripts).
_TOKEN = re.compile(r"\w+(?:[.,/-]\w+)*", re.UNICODE)
_MIN_SENTENCE_CHARS = 3
# A lone distinctive token this long with a digit in it (a code, a measurement: "38.5 L",
# "AX3-HL-0457") found in a passage is support enough: a terse answer is the fact itself.
_LONE_CODE_CHARS = 3
_LONE_CODE_SCORE = 0.6
_LONE_NAME_WORDS = 3


class Embedder(Protocol):
    def embed(self, texts: Sequence[str]) -> Any:
        """Unit-length float vectors, one row per text (numpy array)."""
        ...


@dataclass(frozen=True, slots=True)
class Passage:
    """A search result as the prompt held it: its text and the index of its source."""

    text: str
    source: int


def grounded_contents(
    contents: Sequence[Content], sources: Sequence[Source], passages: Sequence[Passage]
) -> tuple[Content, ...]:
    """`contents` with the passages, numbered by source, put before the text of the last
    user turn, and an instruction to answer from them."""
    blocks = [
        f"[{p.source + 1}] {sources[p.source].title}\n{p.text.strip()}" for p in passages
    ]
    preface = (
        "Answer the question using the sources below. Quote names, numbers and dates exactly "
        "as the sources write them. If the sources do not answer it, say so.\n\nSources:\n\n"
        + "\n\n".join(blocks)
        + "\n\nQuestion: "
    )
    out = list(contents)
    for i in range(len(out) - 1, -1, -1):
        content = out[i]
        if content.role != "user":
            continue
        parts = list(content.parts)
        first_text = next((k for k, p in enumerate(parts) if isinstance(p, TextPart)
                           and not p.thought), None)
        if first_text is None:
            parts.insert(0, TextPart(preface.rstrip()))
        else:
            part = parts[first_text]
            assert isinstance(part, TextPart)
            parts[first_text] = TextPart(preface + part.text)
        out[i] = Content(role="user", parts=tuple(parts))
        break
    return tuple(out)


def sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) character offsets of the sentences of `text`, surrounding whitespace
    trimmed; pieces shorter than a few characters are left out."""
    out = []
    cuts = [m.end() for m in _SENTENCE_END.finditer(text)]
    for start, end in zip([0, *cuts], [*cuts, len(text)]):
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end - start >= _MIN_SENTENCE_CHARS:
            out.append((start, end))
    return out


def _distinctive(text: str) -> set[str]:
    return {
        t.lower() for t in _TOKEN.findall(text)
        if any(c.isdigit() for c in t) or (len(t) >= 3 and t[0].isupper())
        or any(ord(c) > 127 for c in t)
    }


class Attribution:
    """`embedder`: sentence embeddings (None: distinctive-token overlap only)."""

    def __init__(
        self, embedder: Embedder | None, *, threshold: float = 0.55, margin: float = 0.05
    ) -> None:
        self._embedder = embedder
        self._threshold = threshold
        self._margin = margin

    def supports(self, answer: str, passages: Sequence[Passage]) -> tuple[Support, ...]:
        """The supports of `answer` (blocking: embeds its sentences and the passages)."""
        spans = sentences(answer)
        if not spans or not passages:
            return ()
        texts = [answer[s:e] for s, e in spans]
        scores = [[self._overlap(t, p.text) for p in passages] for t in texts]
        if self._embedder is not None:
            vectors = self._embedder.embed([*texts, *(p.text for p in passages)])
            said, held = vectors[: len(texts)], vectors[len(texts):]
            for i in range(len(texts)):
                for j in range(len(passages)):
                    cosine = float((said[i] * held[j]).sum())
                    scores[i][j] = max(scores[i][j], cosine)
        out = []
        for (start, end), text, row in zip(spans, texts, scores):
            best = max(row)
            if best < self._threshold:
                continue
            by_source: dict[int, float] = {}
            for passage, score in zip(passages, row):
                if score >= best - self._margin:
                    by_source[passage.source] = max(by_source.get(passage.source, 0.0), score)
            ranked = sorted(by_source.items(), key=lambda kv: -kv[1])
            out.append(Support(
                start=start, end=end, text=text,
                sources=tuple(s for s, _ in ranked),
                scores=tuple(round(min(max(v, 0.0), 1.0), 4) for _, v in ranked),
            ))
        return tuple(out)

    @staticmethod
    def _overlap(sentence: str, passage: str) -> float:
        """The share of the sentence's distinctive tokens the passage holds. With one
        token: a fixed score if the passage holds it and it is a code or number, or a name
        that is nearly the whole sentence; else 0 (one shared name in a longer sentence
        says little)."""
        tokens = _distinctive(sentence)
        held = _distinctive(passage)
        if len(tokens) == 1:
            (token,) = tokens
            code = len(token) >= _LONE_CODE_CHARS and any(c.isdigit() for c in token)
            # A name said alone ("Sapporo.", "In Görlitz") is the answer, as a code is.
            name = len(sentence.split()) <= _LONE_NAME_WORDS and len(token) >= 4
            return _LONE_CODE_SCORE if (code or name) and token in held else 0.0
        if not tokens:
            return 0.0
        return len(tokens & held) / len(tokens)
