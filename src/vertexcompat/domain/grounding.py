"""Grounding: answers written from passages a search found, with the places they support
(Gemini's `groundingMetadata`; OpenAI's `url_citation` annotations).

`Source` is one document a candidate's answer may cite; `Support` one segment of the answer
text (character offsets into the candidate's answer: the concatenation of its `TextDelta`
texts) with the sources that back it and how strongly. Surfaces convert the offsets to
what their wire wants (characters for OpenAI, UTF-8 bytes for Gemini).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Source:
    uri: str
    title: str


@dataclass(frozen=True, slots=True)
class Support:
    """`start`/`end`: character offsets of `text` in the candidate's answer
    (`answer[start:end] == text`); `sources`: indices into the grounding's sources, with
    a confidence in [0, 1] each (`scores`, same order)."""

    start: int
    end: int
    text: str
    sources: tuple[int, ...]
    scores: tuple[float, ...]
