"""Scene mode of the drawing path (backends/local_scene.py, local_drawing.py with an
Illustrator, issue 23), with a fake renderer and the real OpenMoji library: the caption
streams as text, the scene JSON never does, each candidate gets one PNG that credits the
library's licence, and a scene that cannot be read is a note, never an exception."""

import asyncio
import io
import json
from collections.abc import AsyncIterator

import pytest
from PIL import Image

from vertexcompat.backends.local.plan import AnswerMode, LocalModel, plan_decode
from vertexcompat.backends.local_drawing import SvgDrawing, drawing_request, request_text
from vertexcompat.backends.local_scene import (
    DEFAULT_SCENE_MAX_TOKENS,
    SceneGrammarSpec,
    scene_example,
    scene_grammar,
)
from vertexcompat.domain.content import Content, GenerateContentRequest, GenerationConfig, TextPart
from vertexcompat.domain.events import Finished, FinishReason, ImageOutput, TextDelta, Usage
from vertexcompat.engine.grammar_bounds import check_grammar
from vertexcompat.media.illustrations import Illustrator
from vertexcompat.media.svg.png_text import text_chunks

SCENE = {"background": "skyblue", "ground": "green", "objects": [
    {"name": "tree", "count": 1, "color": "none", "position": "center", "size": "large"},
    {"name": "cat", "count": 1, "color": "none", "position": "bottom", "size": "medium"},
]}


class PngRenderer:
    """Returns a real (tiny) PNG, so metadata can be added to it."""

    def __init__(self) -> None:
        self.rendered: list[str] = []

    def render_png(self, svg: str, *, width: int, height: int) -> bytes:
        self.rendered.append(svg)
        out = io.BytesIO()
        Image.new("RGB", (width, height), "white").save(out, format="PNG")
        return out.getvalue()

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def illustrator() -> Illustrator:
    return Illustrator()


async def _events(items) -> AsyncIterator:
    for item in items:
        yield item


def run(drawing: SvgDrawing, items, **kw):
    async def collect():
        return [e async for e in drawing.images(_events(items), width=64, height=64, **kw)]
    return asyncio.run(collect())


def engine_events(body: str, reason=FinishReason.STOP):
    text = "A cat under a tree.\n" + body
    pieces = [text[i:i + 5] for i in range(0, len(text), 5)]
    return [*(TextDelta(0, p) for p in pieces), Finished(0, reason), Usage(30, 80)]


def test_the_scene_becomes_one_png_that_credits_the_library(illustrator):
    renderer = PngRenderer()
    out = run(SvgDrawing(renderer, illustrator=illustrator), engine_events(json.dumps(SCENE)))
    texts = "".join(e.text for e in out if isinstance(e, TextDelta))
    assert texts == "A cat under a tree."
    assert [type(e) for e in out[-3:]] == [ImageOutput, Finished, Usage]
    chunks = text_chunks(out[-3].data)
    assert chunks["License"].startswith("CC BY-SA 4.0")
    assert "U+1F408 cat" in chunks["Comment"] and "U+1F333 deciduous tree" in chunks["Comment"]
    (svg,) = renderer.rendered
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"')


def test_the_prompt_completes_the_scene(illustrator):
    out = run(SvgDrawing(PngRenderer(), illustrator=illustrator),
              engine_events(json.dumps(SCENE)), prompt="a cat under a tree next to a bicycle")
    image = next(e for e in out if isinstance(e, ImageOutput))
    assert "bicycle" in text_chunks(image.data)["Comment"]


def test_a_scene_of_shapes_only_carries_no_licence(illustrator):
    shapes = {"background": "blue", "ground": "none", "objects": [
        {"name": "circle", "count": 1, "color": "red", "position": "center", "size": "large"}]}
    out = run(SvgDrawing(PngRenderer(), illustrator=illustrator),
              engine_events(json.dumps(shapes)))
    image = next(e for e in out if isinstance(e, ImageOutput))
    assert text_chunks(image.data) == {}


@pytest.mark.parametrize("body", ["", "{not json", '{"objects": []}', "<svg><circle r='9'/></svg>"])
def test_a_scene_that_cannot_be_read_is_a_note_and_no_image(illustrator, body):
    drawing = SvgDrawing(PngRenderer(), illustrator=illustrator)
    out = run(drawing, engine_events(body))
    assert not any(isinstance(e, ImageOutput) for e in out)
    text = "".join(e.text for e in out if isinstance(e, TextDelta))
    assert "(No image: the scene could not be read" in text
    assert Finished(0, FinishReason.OTHER) in out
    assert drawing.stats()["images_failed"] == 1


def test_a_scene_cut_by_max_tokens_keeps_its_complete_objects(illustrator):
    text = json.dumps(SCENE)
    cut = text[: text.index('"cat"') + 3]
    out = run(SvgDrawing(PngRenderer(), illustrator=illustrator),
              engine_events(cut, FinishReason.MAX_TOKENS))
    image = next(e for e in out if isinstance(e, ImageOutput))
    assert "tree" in text_chunks(image.data)["Comment"]
    assert Finished(0, FinishReason.MAX_TOKENS) in out


def test_the_grammar_is_a_caption_line_then_the_scene_schema():
    grammar = scene_grammar(SceneGrammarSpec(100, 100))
    check_grammar(grammar)
    assert grammar.startswith('root ::= caption "\\n" scene\n')
    assert "\nscene ::= " in grammar and grammar.count("root ::=") == 1
    assert '"\\"name\\""' in grammar
    # Keys take a bare colon (`"name":"tree"`, a token fewer than `": "`), as the example.
    assert 'space ":" space' not in grammar and '":"' in grammar


def test_the_worked_example_is_a_caption_and_a_scene_under_the_schema():
    _, answer = scene_example()
    caption, _, body = answer.partition("\n")
    assert caption and "\n" not in body
    assert json.loads(body)["objects"][0]["name"] == "tree"
    assert '"name":"tree"' in body and '": ' not in body


def image_request(text="Draw a cat.") -> GenerateContentRequest:
    return GenerateContentRequest(
        model="m",
        contents=(Content("user", (TextPart(text),)),),
        generation_config=GenerationConfig(response_modalities=("TEXT", "IMAGE")),
    )


def test_scene_mode_plans_the_scene_grammar_and_its_budget(illustrator):
    drawing = SvgDrawing(PngRenderer(), illustrator=illustrator)
    plan = plan_decode(image_request(), LocalModel(parallel=2, window=4096,
                                                   thinks_natively=False), canvas=drawing)
    assert plan.answers is AnswerMode.IMAGE
    assert plan.constraint == SceneGrammarSpec(100, 100)
    assert plan.default_max_tokens == DEFAULT_SCENE_MAX_TOKENS
    system = plan.request.system_instruction.parts[0].text
    assert "JSON" in system and "SVG" not in system
    assert plan.request.contents[-1].parts[0].text == "Draw a cat."


def test_without_an_illustrator_the_model_still_draws_svg():
    drawing = SvgDrawing(PngRenderer())
    lowered = drawing_request(image_request(), drawing.spec_for(512, 512))
    assert "SVG" in lowered.system_instruction.parts[0].text


def test_request_text_is_the_last_user_turn():
    request = GenerateContentRequest(model="m", contents=(
        Content("user", (TextPart("a dog"),)), Content("model", (TextPart("ok"),)),
        Content("user", (TextPart("a cat"), TextPart("and a tree"))),
    ))
    assert request_text(request) == "a cat and a tree"


def test_the_library_is_on_by_default_and_an_env_setting_turns_it_off(monkeypatch):
    from vertexcompat.config import Settings

    assert Settings().image_illustrations is True
    monkeypatch.setenv("VERTEXCOMPAT_IMAGE_ILLUSTRATIONS", "false")
    assert Settings().image_illustrations is False
