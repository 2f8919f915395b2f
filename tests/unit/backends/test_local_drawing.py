"""The drawing path's post-processing (backends/local_drawing.py) with a fake renderer: the
caption line streams as text, the SVG never does, each candidate gets one PNG or a clear
note (never an exception), and what reaches the renderer is the sanitized document."""

import asyncio
from collections.abc import AsyncIterator

import pytest

from vertexcompat.backends.local_drawing import (
    SvgDrawing,
    canvas_for,
    drawing_request,
)
from vertexcompat.domain.content import Content, GenerateContentRequest, GenerationConfig, TextPart
from vertexcompat.domain.events import Finished, FinishReason, ImageOutput, TextDelta, Usage
from vertexcompat.media.svg.render import RenderFailed, RenderTimeout

SVG = '<svg viewBox="0 0 100 100">\n<rect x="0" y="0" width="100" height="100" fill="blue"/>\n<circle cx="50" cy="50" r="30" fill="red"/>\n</svg>'


class FakeRenderer:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.rendered: list[tuple[str, int, int]] = []
        self.closed = False

    def render_png(self, svg: str, *, width: int, height: int) -> bytes:
        if self.error is not None:
            raise self.error
        self.rendered.append((svg, width, height))
        return b"PNG" + bytes([width % 256, height % 256])

    def close(self) -> None:
        self.closed = True


async def _events(items) -> AsyncIterator:
    for item in items:
        yield item


def run(drawing: SvgDrawing, items, **kw):
    async def collect():
        return [e async for e in drawing.images(_events(items), width=kw.pop("width", 64),
                                                height=kw.pop("height", 32), **kw)]
    return asyncio.run(collect())


def engine_events(svg: str = SVG, reason=FinishReason.STOP):
    # Token-sized pieces, the newline inside one of them.
    text = "A red circle on blue.\n" + svg
    pieces = [text[i:i + 7] for i in range(0, len(text), 7)]
    return [*(TextDelta(0, p) for p in pieces), Finished(0, reason), Usage(30, 80)]


def test_caption_streams_as_text_and_the_svg_becomes_one_png():
    renderer = FakeRenderer()
    out = run(SvgDrawing(renderer), engine_events())
    texts = [e.text for e in out if isinstance(e, TextDelta)]
    assert "".join(texts) == "A red circle on blue."
    assert not any("<" in t for t in texts)
    assert [type(e) for e in out[-3:]] == [ImageOutput, Finished, Usage]
    image = out[-3]
    assert image.mime_type == "image/png" and image.data == b"PNG" + bytes([64, 32])
    assert out[-2] == Finished(0, FinishReason.STOP)
    assert out[-1] == Usage(30, 80)  # the SVG tokens stay counted
    svg, width, height = renderer.rendered[0]
    assert (width, height) == (64, 32)
    assert 'width="64"' in svg and 'height="32"' in svg and "circle" in svg


def test_image_only_requests_drop_the_caption():
    out = run(SvgDrawing(FakeRenderer()), engine_events(), caption=False)
    assert not [e for e in out if isinstance(e, TextDelta)]
    assert any(isinstance(e, ImageOutput) for e in out)


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (RenderTimeout(), "took too long"),
        (RenderFailed("worker died"), "could not be rendered"),
    ],
)
def test_render_problems_become_a_note_and_no_image(error, words):
    drawing = SvgDrawing(FakeRenderer(error))
    out = run(drawing, engine_events())
    assert not any(isinstance(e, ImageOutput) for e in out)
    text = "".join(e.text for e in out if isinstance(e, TextDelta))
    assert words in text and text.startswith("A red circle on blue. (No image:")
    assert Finished(0, FinishReason.OTHER) in out
    assert drawing.stats()["images_failed"] == 1


def test_an_svg_with_nothing_drawable_is_rejected_with_a_note():
    out = run(SvgDrawing(FakeRenderer()), engine_events(svg='<svg viewBox="0 0 100 100"></svg>'))
    assert not any(isinstance(e, ImageOutput) for e in out)
    assert "not a usable SVG image" in "".join(e.text for e in out if isinstance(e, TextDelta))


def test_a_drawing_cut_by_max_tokens_keeps_what_was_drawn():
    cut = SVG[: SVG.index("<circle")] + '<circle cx="50" cy='
    renderer = FakeRenderer()
    out = run(SvgDrawing(renderer), engine_events(svg=cut, reason=FinishReason.MAX_TOKENS))
    assert any(isinstance(e, ImageOutput) for e in out)
    assert Finished(0, FinishReason.MAX_TOKENS) in out
    assert "blue" in renderer.rendered[0][0]


def test_malicious_markup_never_reaches_the_renderer():
    evil = ('<svg viewBox="0 0 100 100"><script>alert(1)</script>'
            '<image href="http://evil.example/x.png"/><rect width="100" height="100" '
            'fill="red" onload="x()"/><foreignObject><p>hi</p></foreignObject></svg>')
    renderer = FakeRenderer()
    run(SvgDrawing(renderer), engine_events(svg=evil))
    (svg, _, _), = renderer.rendered
    for word in ("script", "image", "href", "onload", "foreignObject", "evil"):
        assert word not in svg


def test_each_candidate_gets_its_own_image():
    items = [TextDelta(1, "Two.\n" + SVG), TextDelta(0, "One.\n" + SVG),
             Finished(1, FinishReason.STOP), Finished(0, FinishReason.STOP)]
    out = run(SvgDrawing(FakeRenderer()), items)
    assert [e.candidate for e in out if isinstance(e, ImageOutput)] == [1, 0]
    assert drawing_stats_after(items) == 2


def drawing_stats_after(items) -> int:
    drawing = SvgDrawing(FakeRenderer())
    run(drawing, items)
    return drawing.stats()["images_rendered"]


@pytest.mark.parametrize(
    ("size", "canvas"), [((1024, 1024), (100, 100)), ((1344, 768), (100, 57)), ((768, 1344), (57, 100))]
)
def test_canvas_keeps_the_aspect_ratio(size, canvas):
    assert canvas_for(*size) == canvas


def test_drawing_request_adds_instructions_and_an_example_before_the_conversation():
    request = GenerateContentRequest(
        model="m",
        contents=(Content("user", (TextPart("Draw a cat."),)),),
        system_instruction=Content("user", (TextPart("Be brief."),)),
        generation_config=GenerationConfig(response_modalities=("TEXT", "IMAGE")),
    )
    drawing = SvgDrawing(FakeRenderer())
    lowered = drawing_request(request, drawing.spec_for(512, 512))
    system = lowered.system_instruction.parts[0].text
    assert "SVG" in system and system.endswith("Be brief.")
    assert [c.role for c in lowered.contents] == ["user", "model", "user"]
    assert lowered.contents[-1] == request.contents[0]
    assert lowered.generation_config.temperature is not None


def test_close_closes_the_renderer():
    renderer = FakeRenderer()
    SvgDrawing(renderer).close()
    assert renderer.closed


def test_each_render_is_timed_for_the_metrics():
    seconds = []
    run(SvgDrawing(FakeRenderer(), on_render=seconds.append), engine_events())
    assert len(seconds) == 1 and seconds[0] >= 0
    run(SvgDrawing(FakeRenderer(RenderFailed("x")), on_render=seconds.append), engine_events())
    assert len(seconds) == 1  # a failed render is not a render time
