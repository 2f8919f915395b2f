"""The local backend's answer stages pass the safety events (`SafetyRatings`,
`PromptFeedback`) on unchanged: they judge calls and drawings, not safety."""

import asyncio
from collections.abc import AsyncIterator

from vertexcompat.backends.local.answers import CallAnswers
from vertexcompat.backends.local_drawing import SvgDrawing
from vertexcompat.domain.events import (
    PromptFeedback,
    SafetyRatings,
    StreamEvent,
    Usage,
)
from vertexcompat.domain.safety import HarmCategory, SafetyRating

RATINGS = SafetyRatings(0, (SafetyRating(HarmCategory.HARASSMENT, 0.9, blocked=True),))
FEEDBACK = PromptFeedback((SafetyRating(HarmCategory.HATE_SPEECH, 0.8, blocked=True),))


class _NoRenderer:
    def render_png(self, svg: str, *, width: int, height: int) -> bytes:
        raise AssertionError("nothing to draw")

    def close(self) -> None:
        pass


async def _events(items: list[StreamEvent]) -> AsyncIterator[StreamEvent]:
    for item in items:
        yield item


def test_call_answers_pass_them_on() -> None:
    answers = CallAnswers((), end_candidate=lambda c: None)
    assert answers.feed(RATINGS) == [RATINGS]
    assert answers.feed(FEEDBACK) == [FEEDBACK]


def test_drawings_pass_them_on() -> None:
    async def collect() -> list[StreamEvent]:
        drawing = SvgDrawing(_NoRenderer())
        return [e async for e in drawing.images(
            _events([RATINGS, FEEDBACK, Usage(3, 0)]), width=64, height=64)]

    assert asyncio.run(collect()) == [RATINGS, FEEDBACK, Usage(3, 0)]

