"""A document's text cut into passages — what the index searches and what grounding quotes —
of about `MIN_CHARS` to `MAX_CHARS` characters, never more than `MAX_CHARS`.

Passages end at paragraph breaks (blank lines) where they can, else at sentence ends; a
sentence longer than `MAX_CHARS` is cut at the last space that fits (or, with none, at
`MAX_CHARS`). Consecutive paragraphs share a passage while they fit; once a passage holds
`MIN_CHARS`, a paragraph that would not fit whole starts the next one rather than being
split. Each passage keeps its character offsets in the text: `text[start:end] ==
passage.text`, surrounding whitespace excluded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MIN_CHARS = 500
MAX_CHARS = 800

_PARAGRAPH_BREAK = re.compile(r"\n[ \t\f\v]*\n\s*")
# A sentence ends after . ! ? … (and closing quotes or brackets) followed by whitespace, or
# after a CJK full stop, question or exclamation mark; "3.2 kg" does not end one.
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)|[。！？]+[」』）]*")


@dataclass(frozen=True, slots=True)
class Passage:
    """One piece of a document's text: its number in the document (from 0) and its span."""

    number: int
    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class _Unit:
    start: int
    end: int
    paragraph_end: int | None  # set on a paragraph's first unit: where that paragraph ends


def split_passages(text: str, *, min_chars: int = MIN_CHARS,
                   max_chars: int = MAX_CHARS) -> list[Passage]:
    """The passages of `text`, in order; none for a text of only whitespace."""
    spans: list[tuple[int, int]] = []
    start = end = -1
    for unit in _units(text, max_chars):
        if start < 0:
            start, end = unit.start, unit.end
            continue
        too_long = unit.end - start > max_chars
        # A new paragraph that would not fit whole starts a passage of its own once this
        # one is long enough, rather than being split across two.
        paragraph_spills = (unit.paragraph_end is not None and end - start >= min_chars
                            and unit.paragraph_end - start > max_chars)
        if too_long or paragraph_spills:
            spans.append((start, end))
            start = unit.start
        end = unit.end
    if start >= 0:
        spans.append((start, end))
    return [Passage(number=n, start=s, end=e, text=text[s:e]) for n, (s, e) in enumerate(spans)]


def _units(text: str, max_chars: int) -> list[_Unit]:
    """The text's paragraphs, each whole if it fits in `max_chars`, else cut into sentences
    and sentences into pieces that fit; each trimmed of surrounding whitespace."""
    units: list[_Unit] = []
    for p_start, p_end in _paragraphs(text):
        if p_end - p_start <= max_chars:
            units.append(_Unit(p_start, p_end, p_end))
            continue
        first = True
        for s_start, s_end in _sentences(text, p_start, p_end):
            for c_start, c_end in _cut(text, s_start, s_end, max_chars):
                units.append(_Unit(c_start, c_end, p_end if first else None))
                first = False
    return units


def _paragraphs(text: str) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    position = 0
    for gap in _PARAGRAPH_BREAK.finditer(text):
        out.extend(_trimmed(text, position, gap.start()))
        position = gap.end()
    out.extend(_trimmed(text, position, len(text)))
    return out


def _sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    position = start
    for stop in _SENTENCE_END.finditer(text, start, end):
        out.extend(_trimmed(text, position, stop.end()))
        position = stop.end()
    out.extend(_trimmed(text, position, end))
    return out


def _cut(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    """[start, end) in pieces of at most `max_chars`, cut at the last whitespace that fits."""
    out: list[tuple[int, int]] = []
    while end - start > max_chars:
        limit = start + max_chars
        space = max(text.rfind(" ", start + 1, limit + 1), text.rfind("\n", start + 1, limit + 1),
                    text.rfind("\t", start + 1, limit + 1))
        stop = space if space > start else limit
        out.extend(_trimmed(text, start, stop))
        start = stop
        while start < end and text[start].isspace():
            start += 1
    out.extend(_trimmed(text, start, end))
    return out


def _trimmed(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """[start, end) without its leading and trailing whitespace; nothing if that is all."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return [(start, end)] if start < end else []
