"""Safety settings (Gemini `safetySettings`) and the ratings a judged text or image gets.

A `SafetySetting` asks that one harm category be blocked from a threshold up. A classifier
gives each category a probability in [0, 1]; `harm_level` turns it into Gemini's four
levels (NEGLIGIBLE < 0.25 ≤ LOW < 0.5 ≤ MEDIUM < 0.75 ≤ HIGH) and `blocks` says whether a
threshold blocks a level. The classifiers here give one score per category, so a rating's
severity is its probability (`method` SEVERITY and PROBABILITY judge the same number).

`BLOCK_NONE` rates a category but never blocks; `OFF` neither rates nor blocks.
`HARM_CATEGORY_CIVIC_INTEGRITY` is accepted and never rated (no classifier knows it).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


class HarmCategory(enum.Enum):
    HARASSMENT = "HARM_CATEGORY_HARASSMENT"
    HATE_SPEECH = "HARM_CATEGORY_HATE_SPEECH"
    SEXUALLY_EXPLICIT = "HARM_CATEGORY_SEXUALLY_EXPLICIT"
    DANGEROUS_CONTENT = "HARM_CATEGORY_DANGEROUS_CONTENT"
    CIVIC_INTEGRITY = "HARM_CATEGORY_CIVIC_INTEGRITY"


# The categories a classifier rates, in Gemini's order.
RATED_CATEGORIES: tuple[HarmCategory, ...] = (
    HarmCategory.HATE_SPEECH,
    HarmCategory.DANGEROUS_CONTENT,
    HarmCategory.HARASSMENT,
    HarmCategory.SEXUALLY_EXPLICIT,
)


class HarmBlockThreshold(enum.Enum):
    BLOCK_LOW_AND_ABOVE = "BLOCK_LOW_AND_ABOVE"
    BLOCK_MEDIUM_AND_ABOVE = "BLOCK_MEDIUM_AND_ABOVE"
    BLOCK_ONLY_HIGH = "BLOCK_ONLY_HIGH"
    BLOCK_NONE = "BLOCK_NONE"
    OFF = "OFF"


class HarmBlockMethod(enum.Enum):
    SEVERITY = "SEVERITY"
    PROBABILITY = "PROBABILITY"


class HarmLevel(enum.IntEnum):
    """Gemini's `HarmProbability` (and, with the `HARM_SEVERITY_` prefix, `HarmSeverity`)."""

    NEGLIGIBLE = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4


# The lowest level each blocking threshold blocks.
_BLOCKS_FROM: Mapping[HarmBlockThreshold, HarmLevel] = {
    HarmBlockThreshold.BLOCK_LOW_AND_ABOVE: HarmLevel.LOW,
    HarmBlockThreshold.BLOCK_MEDIUM_AND_ABOVE: HarmLevel.MEDIUM,
    HarmBlockThreshold.BLOCK_ONLY_HIGH: HarmLevel.HIGH,
}


def harm_level(probability: float) -> HarmLevel:
    if probability >= 0.75:
        return HarmLevel.HIGH
    if probability >= 0.5:
        return HarmLevel.MEDIUM
    if probability >= 0.25:
        return HarmLevel.LOW
    return HarmLevel.NEGLIGIBLE


def blocks(threshold: HarmBlockThreshold, level: HarmLevel) -> bool:
    lowest = _BLOCKS_FROM.get(threshold)
    return lowest is not None and level >= lowest


@dataclass(frozen=True, slots=True)
class SafetySetting:
    """`method` None: the client named none (Vertex's default, SEVERITY)."""

    category: HarmCategory
    threshold: HarmBlockThreshold
    method: HarmBlockMethod | None = None


@dataclass(frozen=True, slots=True)
class SafetyRating:
    """One category's rating of a prompt or a candidate. `score` is the probability in
    [0, 1] (also its severity, see the module); `blocked`: this rating crossed its
    threshold and is why the prompt or candidate was blocked."""

    category: HarmCategory
    score: float
    blocked: bool = False

    @property
    def level(self) -> HarmLevel:
        return harm_level(self.score)


def effective_settings(
    defaults: Iterable[SafetySetting], requested: Iterable[SafetySetting]
) -> dict[HarmCategory, SafetySetting]:
    """The server's defaults with the request's settings over them, per category."""
    settings = {s.category: s for s in defaults}
    settings.update({s.category: s for s in requested})
    return settings


def rated(settings: Mapping[HarmCategory, SafetySetting]) -> tuple[HarmCategory, ...]:
    """The categories those settings ask to be rated, in Gemini's order: every category a
    classifier knows whose threshold is not OFF."""
    return tuple(
        c for c in RATED_CATEGORIES
        if c in settings and settings[c].threshold is not HarmBlockThreshold.OFF
    )


def judge(
    scores: Mapping[HarmCategory, float], settings: Mapping[HarmCategory, SafetySetting]
) -> tuple[SafetyRating, ...]:
    """Ratings of `scores` (the categories that were rated, in Gemini's order), each marked
    blocked when its setting's threshold blocks its level."""
    return tuple(
        SafetyRating(
            category=c, score=scores[c],
            blocked=c in settings and blocks(settings[c].threshold, harm_level(scores[c])),
        )
        for c in RATED_CATEGORIES if c in scores
    )
