"""Log probabilities through the local backend without a model: the plan hands the engine
what the request asks (None when it does not), the answers pass `TokenLogprobs` on before
the text they describe, and a drawing reports its caption's tokens, never the SVG's."""

import asyncio
from collections.abc import AsyncIterator

import pytest

from vertexcompat.backends.local.answers import CallAnswers, JsonAnswers
from vertexcompat.backends.local.plan import LocalModel, plan_decode
from vertexcompat.backends.local_drawing import SvgDrawing
from vertexcompat.domain.content import (
    IMAGE_MODALITY,
    JSON_MIME_TYPE,
    TEXT_MODALITY,
    Content,
    GenerateContentRequest,
    GenerationConfig,
    TextPart,
)
from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.domain.events import (
    Finished,
    FinishReason,
    FunctionCall,
    ImageOutput,
    TextDelta,
    TokenChoice,
    TokenLogprobs,
    Usage,
)
from vertexcompat.domain.tools import FunctionDeclaration
from vertexcompat.engine.svg_grammar import SvgGrammarSpec

MODEL = LocalModel(parallel=2, window=1000, thinks_natively=False)
WEATHER = FunctionDeclaration(
    "get_weather", "Weather.", {"type": "object", "properties": {"city": {"type": "string"}}}
)


def request(**cfg) -> GenerateContentRequest:
    tools = cfg.pop("tools", ())
    return GenerateContentRequest(
        model="m", contents=(Content("user", (TextPart("hi"),)),),
        generation_config=GenerationConfig(**cfg), tools=tools,
    )


def lp(candidate: int, piece: str) -> TokenLogprobs:
    return TokenLogprobs(candidate, TokenChoice(piece.encode(), -0.25, 7))


def tokens(candidate: int, text: str, size: int = 5):
    """A candidate's engine events: each piece's log probabilities, then its text."""
    out = []
    for i in range(0, len(text), size):
        piece = text[i:i + size]
        out += [lp(candidate, piece), TextDelta(candidate, piece)]
    return out


# -- the plan -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cfg", "expected"),
    [
        ({}, None),
        ({"logprobs": 5}, None),  # alternatives without response_logprobs: not asked
        ({"response_logprobs": True}, 0),
        ({"response_logprobs": True, "logprobs": 20}, 20),
    ],
)
def test_the_plan_hands_the_engine_what_was_asked(cfg, expected):
    assert plan_decode(request(**cfg), MODEL).sampling.logprobs == expected
    json = plan_decode(request(response_mime_type=JSON_MIME_TYPE, **cfg), MODEL)
    assert json.sampling.logprobs == expected


def test_more_than_twenty_alternatives_are_refused():
    with pytest.raises(InvalidArgument) as err:
        plan_decode(request(response_logprobs=True, logprobs=21), MODEL)
    assert str(err.value.location) == "generation_config.logprobs"


# -- answers --------------------------------------------------------------------------


def test_json_answers_pass_them_on_in_order():
    answers = JsonAnswers(None)
    script = [*tokens(0, '{"a": 1}'), Finished(0, FinishReason.STOP), Usage(3, 4)]
    assert [out for e in script for out in answers.feed(e)] == script


def test_call_answers_pass_them_on_also_for_the_tokens_of_a_call():
    answers = CallAnswers((WEATHER,), end_candidate=lambda c: None)
    call = '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>'
    script = [*tokens(0, "Sure. " + call), Finished(0, FinishReason.STOP)]
    out = [o for e in script for o in answers.feed(e)]
    reported = [e for e in out if isinstance(e, TokenLogprobs)]
    assert reported == [e for e in script if isinstance(e, TokenLogprobs)]
    assert [type(e) for e in out if not isinstance(e, TokenLogprobs)][-2:] == [FunctionCall, Finished]
    # Each one before the text it describes.
    assert isinstance(out[0], TokenLogprobs) and out[1] == TextDelta(0, "Sure.")


def test_call_answers_drop_them_once_a_candidates_text_no_longer_counts():
    ended: list[int] = []
    answers = CallAnswers((WEATHER,), end_candidate=ended.append)
    call = '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>'
    for event in tokens(0, call + call):
        answers.feed(event)
    assert ended == [0]  # the repeated call ended the candidate: what follows is dropped
    assert answers.feed(lp(0, " more")) == []
    assert answers.feed(lp(1, " other")) == [lp(1, " other")]


# -- drawings -------------------------------------------------------------------------


class FakeRenderer:
    def render_png(self, svg: str, *, width: int, height: int) -> bytes:
        return b"PNG"

    def close(self) -> None:
        pass


async def _events(items) -> AsyncIterator:
    for item in items:
        yield item


def draw(items, *, caption=True):
    async def collect():
        drawing = SvgDrawing(FakeRenderer())
        return [e async for e in drawing.images(_events(items), width=64, height=64,
                                                caption=caption)]
    return asyncio.run(collect())


SVG = '<svg viewBox="0 0 100 100">\n<rect x="0" y="0" width="100" height="100" fill="blue"/>\n</svg>'


def test_a_drawing_reports_its_captions_tokens_and_none_of_the_svgs():
    script = [*tokens(0, "A blue square.\n" + SVG, size=4), Finished(0, FinishReason.STOP)]
    out = draw(script)
    reported = b"".join(e.chosen.token for e in out if isinstance(e, TokenLogprobs))
    caption = "".join(e.text for e in out if isinstance(e, TextDelta))
    assert caption == "A blue square."
    # The piece "e.\n<" holds the caption's end and the SVG's start: it is not reported.
    assert reported == b"A blue squar"
    assert not any(b"<" in e.chosen.token for e in out if isinstance(e, TokenLogprobs))
    assert any(isinstance(e, ImageOutput) for e in out)


def test_an_image_only_drawing_reports_none():
    script = [*tokens(0, "A blue square.\n" + SVG), Finished(0, FinishReason.STOP)]
    assert not [e for e in draw(script, caption=False) if isinstance(e, TokenLogprobs)]


class Canvas:
    max_tokens = 100

    def spec_for(self, width, height):
        return SvgGrammarSpec(width=100, height=100)


@pytest.mark.parametrize(
    ("modalities", "expected"), [((TEXT_MODALITY, IMAGE_MODALITY), 3), ((IMAGE_MODALITY,), None)]
)
def test_the_drawing_plan_asks_only_when_the_caption_is_part_of_the_answer(modalities, expected):
    req = request(response_modalities=modalities, response_logprobs=True, logprobs=3)
    assert plan_decode(req, MODEL, canvas=Canvas()).sampling.logprobs == expected
