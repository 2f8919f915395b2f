"""The local backend's image path (issue 7): no image weights exist on this machine, so the
chat model draws. It writes one short caption line and then an SVG document, decoding
under the SVG grammar (engine/svg_grammar.py); each candidate's SVG is sanitized again
(media/svg/sanitize.py, defence in depth) and rasterized to PNG by a worker process
(media/svg/render.py) off the event loop. Above the backend nothing knows it was SVG: the
events are the caption's `TextDelta`s, one `ImageOutput` per candidate, then `Finished`.

The SVG source is never sent to the client, nor logged: only its size and element count.
So log probabilities (`TokenLogprobs`, when the request asks) go out for the caption's
tokens only, when the caption is part of the answer: those before the first token that
holds the newline ending the caption line (that token, and every SVG token after it, are
dropped — their bytes would spell the drawing). For an image-only answer the plan asks the
engine for none.

Scene mode (issue 23, when the container gives an `Illustrator`): the model writes the
caption line and then a scene as JSON (backends/local_scene.py) instead of SVG; the
illustrator composes it from the OpenMoji library into SVG, which goes the same way
(sanitized, rendered), and the PNG carries the library's source and licence as tEXt
chunks. Objects the library lacks are drawn as plain shapes. The scene's JSON, like the
SVG, is never sent nor logged.

When a drawing cannot become an image (the sanitizer rejects it, the renderer times out
or fails), the candidate gets no image, a one-line note in its text, and finish reason
OTHER (`"stop"` on the wire): the generation happened and its tokens are billed, so a
4xx/5xx would misreport it, and a 500 would be our bug.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import Protocol, assert_never

from vertexcompat.domain.content import Content, GenerateContentRequest, TextPart
from vertexcompat.domain.thinking import THINKING_OFF, ThinkingConfig
from vertexcompat.domain.events import (
    Finished,
    FinishReason,
    FunctionCall,
    GroundingMetadata,
    ImageOutput,
    PromptFeedback,
    SafetyRatings,
    StreamEvent,
    TextDelta,
    ThoughtDelta,
    ThoughtSignature,
    TokenLogprobs,
    Usage,
)
from vertexcompat.backends.local_scene import (
    DEFAULT_SCENE_MAX_TOKENS,
    SceneGrammarSpec,
    scene_example,
    scene_grammar,
    scene_instructions,
)
from vertexcompat.engine.svg_grammar import SvgGrammarSpec
from vertexcompat.media.illustrations import Illustrator, LibraryMissing, SceneInvalid
from vertexcompat.media.svg.png_text import with_text_chunks
from vertexcompat.media.svg.render import RenderFailed, RenderTimeout
from vertexcompat.media.svg.sanitize import SvgLimits, SvgRejected, sanitize_svg

PNG_MIME_TYPE = "image/png"
# The long side of the canvas the model draws on (the viewBox); the renderer scales it to
# the requested pixels. Small numbers are fewer tokens, and a 0-100 square is the canvas
# small models have seen most.
CANVAS_LONG_SIDE = 100
# Drawing budget when the request sets no max_tokens: room for a couple of dozen shapes.
DEFAULT_DRAWING_MAX_TOKENS = 1200
# Drawing works best close to greedy with a small model; Gemini's 1.0 makes it scribble.
DRAWING_DEFAULT_TEMPERATURE = 0.2
# A composed scene is illustrations, each hand drawn with up to a few hundred elements:
# the sanitizer's bounds for it (the render timeout bounds the rest).
SCENE_LIMITS = SvgLimits(max_elements=3000, max_chars=600_000, max_path_chars=40_000)

log = logging.getLogger(__name__)


class PngRenderer(Protocol):
    """media/svg/render.SvgRenderer, or a fake in tests."""

    def render_png(self, svg: str, *, width: int, height: int) -> bytes: ...
    def close(self) -> None: ...


def canvas_for(width: int, height: int) -> tuple[int, int]:
    """The drawing canvas for an image of `width` x `height` pixels: same aspect ratio,
    long side CANVAS_LONG_SIDE."""
    if width >= height:
        return CANVAS_LONG_SIDE, max(1, round(CANVAS_LONG_SIDE * height / width))
    return max(1, round(CANVAS_LONG_SIDE * width / height)), CANVAS_LONG_SIDE


def _scaled(spec: SvgGrammarSpec) -> tuple[Callable[[float], str], Callable[[float], str]]:
    """Coordinates given on a 0-100 square, placed on the spec's canvas."""
    return (
        lambda v: f"{round(v * spec.width / 100)}",
        lambda v: f"{round(v * spec.height / 100)}",
    )


def drawing_instructions(spec: SvgGrammarSpec) -> str:
    w, h = spec.width, spec.height
    x, y = _scaled(spec)
    # Measured on Qwen2.5-Coder-0.5B, the ten colour prompts of the e2e test at temperature
    # 0: with a triangle as the worked example and no shape lines it drew the triangle for
    # every shape (colours 7/10 before the grammar forced a background); with these lines
    # and a square example, 9 of 10 shapes are the asked kind and colours match 10/10.
    # The lines say COLOUR, not a real colour: a real one was copied into the drawing.
    return "\n".join((
        "You are an illustrator. You draw the picture the user asks for as an SVG image on a "
        f"{w}x{h} canvas (x from 0 to {w}, y from 0 to {h}). First write one short caption "
        "line, then the SVG. The SVG starts with a rect that fills the whole canvas in the "
        "background colour, then draws each object with simple shapes. Use exactly the "
        "colours the user names; when the user names no background colour, use white.",
        "Shapes:",
        f'- a square: <rect x="{x(25)}" y="{y(25)}" width="{x(50)}" height="{y(50)}" fill="COLOUR"/>',
        f'- a circle: <circle cx="{x(50)}" cy="{y(50)}" r="{x(30)}" fill="COLOUR"/>',
        f'- a triangle: <polygon points="{x(50)},{y(15)} {x(90)},{y(85)} {x(10)},{y(85)}" fill="COLOUR"/>',
        f'- a star: <polygon points="{x(50)},{y(10)} {x(61)},{y(39)} {x(92)},{y(39)} {x(67)},{y(58)} '
        f'{x(76)},{y(89)} {x(50)},{y(70)} {x(24)},{y(89)} {x(33)},{y(58)} {x(8)},{y(39)} '
        f'{x(39)},{y(39)}" fill="COLOUR"/>',
        f'- a line: <line x1="{x(10)}" y1="{y(50)}" x2="{x(90)}" y2="{y(50)}" stroke="COLOUR" stroke-width="4"/>',
    ))


def worked_example(spec: SvgGrammarSpec) -> tuple[str, str]:
    """(user turn, model turn) of one small drawing on the same canvas, so the model sees
    the caption line, the background rect and one shape after it. A square, because the
    model copies the example's shape when unsure, and a square of a useful size is the
    least wrong copy (a small rectangle was copied too small to see)."""
    x, y = _scaled(spec)
    svg = "\n".join((
        spec.opening_tag,
        f'{spec.background_prefix}white"/>',
        f'<rect x="{x(25)}" y="{y(25)}" width="{x(50)}" height="{y(50)}" fill="black"/>',
        "</svg>",
    ))
    return ("A black square on a white background.",
            f"Here is an image of a black square on a white background:\n{svg}")


DrawingSpec = SvgGrammarSpec | SceneGrammarSpec


def drawing_request(request: GenerateContentRequest, spec: DrawingSpec) -> GenerateContentRequest:
    """The request the model decodes: drawing (or scene) instructions, then the client's
    own system instruction, the worked example, then the client's conversation."""
    if isinstance(spec, SceneGrammarSpec):
        instructions, (ask, answer) = scene_instructions(), scene_example()
    else:
        instructions, (ask, answer) = drawing_instructions(spec), worked_example(spec)
    system_parts: list[TextPart] = [TextPart(instructions)]
    if request.system_instruction is not None:
        system_parts += [p for p in request.system_instruction.parts if isinstance(p, TextPart)]
    system_text = "\n\n".join(p.text for p in system_parts)
    example = (
        Content(role="user", parts=(TextPart(ask),)),
        Content(role="model", parts=(TextPart(answer),)),
    )
    # No thinking while drawing: the grammar holds from the first token, and thoughts would
    # only spend the drawing's token budget.
    cfg = replace(request.generation_config, thinking_config=ThinkingConfig(budget=THINKING_OFF))
    if cfg.temperature is None:
        cfg = replace(cfg, temperature=DRAWING_DEFAULT_TEMPERATURE)
    return replace(
        request,
        system_instruction=Content(role="user", parts=(TextPart(system_text),)),
        contents=(*example, *request.contents),
        generation_config=cfg,
    )


def request_text(request: GenerateContentRequest) -> str:
    """The text of the request's last user turn: what the picture is asked to show."""
    for content in reversed(request.contents):
        if content.role == "user":
            return " ".join(p.text for p in content.parts if isinstance(p, TextPart))
    return ""


@dataclass(slots=True)
class _Candidate:
    in_svg: bool = False
    svg: str = ""
    captioned: bool = False
    # A sampled token held the caption's newline: no token after it is the caption's.
    caption_tokens_over: bool = False


class SvgDrawing:
    """Owns the renderer, the sanitizer limits and (in scene mode) the illustrator; one per
    local backend. Thread-safe: the counters are behind a lock, the renderer and the
    illustrator are thread-safe."""

    def __init__(
        self,
        renderer: PngRenderer,
        *,
        limits: SvgLimits = SvgLimits(),
        max_tokens: int | None = None,
        on_render: Callable[[float], None] | None = None,
        illustrator: Illustrator | None = None,
    ) -> None:
        """`on_render`: told the seconds of each drawing sanitized and rendered to a PNG
        (metrics; called on the worker thread). `illustrator`: scene mode (the model lays
        out a scene, drawn from the illustration library); None: the model draws SVG.
        `max_tokens`: a drawing's budget when its request sets none (default: the mode's)."""
        self._renderer = renderer
        self._on_render = on_render
        self._limits = limits
        self._illustrator = illustrator
        if max_tokens is None:
            max_tokens = (DEFAULT_SCENE_MAX_TOKENS if illustrator is not None
                          else DEFAULT_DRAWING_MAX_TOKENS)
        self.max_tokens = max_tokens
        self._lock = threading.Lock()
        self._rendered = 0
        self._failed = 0
        self._render_ms = 0
        self._scene_grammars: dict[str, str] = {}

    def spec_for(self, width: int, height: int) -> DrawingSpec:
        cw, ch = canvas_for(width, height)
        if self._illustrator is not None:
            return SceneGrammarSpec(width=cw, height=ch)
        spec = SvgGrammarSpec(width=cw, height=ch)
        if spec.max_elements > self._limits.max_elements:
            # The grammar must never admit more than the sanitizer keeps.
            raise ValueError("the SVG grammar admits more elements than the sanitizer's limit")
        return spec

    def scene_grammar(self, spec: SceneGrammarSpec) -> str:
        """The scene grammar's GBNF (compiled once per spec). Blocking."""
        with self._lock:
            cached = self._scene_grammars.get(spec.key())
        if cached is None:
            cached = scene_grammar(spec)
            with self._lock:
                self._scene_grammars[spec.key()] = cached
        return cached

    def stats(self) -> dict[str, int]:
        """`images_rendered`, `images_failed`, `render_ms_total` (for operations and the
        bench's generating/rendering split)."""
        with self._lock:
            return {
                "images_rendered": self._rendered,
                "images_failed": self._failed,
                "render_ms_total": self._render_ms,
            }

    def close(self) -> None:
        self._renderer.close()

    async def images(
        self,
        events: AsyncIterator[StreamEvent],
        *,
        width: int,
        height: int,
        caption: bool = True,
        prompt: str = "",
    ) -> AsyncIterator[StreamEvent]:
        """The engine's raw events (caption line + SVG text, or scene JSON, per candidate)
        → caption text (unless `caption` is false: an image-only request), one image and
        `Finished` per candidate, `Usage` as it comes. `prompt`: the request's own text (in
        scene mode, what it names completes the scene: Illustrator.completed)."""
        states: dict[int, _Candidate] = {}
        async for event in events:
            match event:
                case TextDelta(candidate=c, text=text):
                    state = states.setdefault(c, _Candidate())
                    if state.in_svg:
                        state.svg += text
                        continue
                    line, newline, rest = text.partition("\n")
                    if line and caption:
                        state.captioned = True
                        yield TextDelta(c, line)
                    if newline:
                        state.in_svg = True
                        state.svg = rest
                case Finished(candidate=c, reason=reason):
                    state = states.pop(c, _Candidate())
                    image, problem = await asyncio.to_thread(
                        self._png, state.svg, c, width=width, height=height, prompt=prompt
                    )
                    if image is not None:
                        yield ImageOutput(c, PNG_MIME_TYPE, image)
                        yield Finished(c, reason)
                    else:
                        note = f"(No image: {problem}.)"
                        yield TextDelta(c, f" {note}" if state.captioned else note)
                        yield Finished(c, FinishReason.OTHER)
                case TokenLogprobs(candidate=c, chosen=chosen):
                    state = states.setdefault(c, _Candidate())
                    if state.caption_tokens_over or b"\n" in chosen.token:
                        state.caption_tokens_over = True
                    elif caption:
                        yield event
                case (
                    Usage() | FunctionCall() | ImageOutput() | ThoughtDelta() | ThoughtSignature()
                    | GroundingMetadata() | SafetyRatings() | PromptFeedback()
                ):
                    yield event
                case _:
                    assert_never(event)

    def _png(
        self, body: str, candidate: int, *, width: int, height: int, prompt: str = ""
    ) -> tuple[bytes | None, str]:
        """(PNG, "") or (None, why not): `body` is the model's SVG, or in scene mode its
        scene JSON. Blocking: runs in a worker thread."""
        start = time.monotonic()
        texts: dict[str, str] = {}
        limits = self._limits
        svg = body
        try:
            if self._illustrator is not None:
                cw, ch = canvas_for(width, height)
                composed = self._illustrator.compose(body, width=cw, height=ch, prompt=prompt)
                svg, limits = composed.svg, SCENE_LIMITS
                texts = self._illustrator.png_texts(composed)
                log.info("candidate %d: scene of %d objects, %d drawn from the library",
                         candidate, len(composed.drawn), len(composed.illustrations))
            clean = sanitize_svg(svg, width=width, height=height, limits=limits)
            png = self._renderer.render_png(clean, width=width, height=height)
            if texts:
                png = with_text_chunks(png, texts)
        except SceneInvalid as exc:
            return self._failure(candidate, f"the scene could not be read ({exc})")
        except LibraryMissing as exc:
            return self._failure(candidate, f"the illustration library is missing ({exc})")
        except SvgRejected as exc:
            return self._failure(candidate, f"the drawing was not a usable SVG image ({exc})")
        except RenderTimeout:
            return self._failure(candidate, "the drawing took too long to render")
        except RenderFailed as exc:
            return self._failure(candidate, f"the drawing could not be rendered ({exc})")
        elapsed_s = time.monotonic() - start
        elapsed_ms = round(elapsed_s * 1000)
        if self._on_render is not None:
            self._on_render(elapsed_s)
        with self._lock:
            self._rendered += 1
            self._render_ms += elapsed_ms
        log.info(
            "candidate %d: drew %d chars of SVG (%d elements after sanitizing), rendered "
            "%dx%d PNG in %d ms", candidate, len(svg), clean.count("<") - clean.count("</"),
            width, height, elapsed_ms,
        )
        return png, ""

    def _failure(self, candidate: int, problem: str) -> tuple[None, str]:
        with self._lock:
            self._failed += 1
        log.warning("candidate %d: no image: %s", candidate, problem)
        return None, problem
