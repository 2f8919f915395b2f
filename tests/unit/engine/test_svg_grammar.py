"""The drawing grammar (engine/svg_grammar.py), parsed and run by llama.cpp itself: it admits
ordinary small drawings and nothing unsafe, its element ceiling stays under the
sanitizer's, and the tiny model decoding under it always writes a caption line and an SVG
that the sanitizer keeps whole (nothing the grammar admits is outside the allowlist)."""

from __future__ import annotations

import asyncio
import ctypes
import os
import re
from collections.abc import Iterator
from pathlib import Path

import llama_cpp
import numpy as np
import platformdirs
import pytest

from tests.unit.engine.tiny import TINY_MODEL
from vertexcompat.domain.events import TextDelta
from vertexcompat.engine.model_files import ModelCatalog
from vertexcompat.engine.sampling import SamplingParams, grammar_sampler
from vertexcompat.engine.svg_grammar import SvgGrammarSpec, svg_grammar
from vertexcompat.engine.tokens import tokenize
from vertexcompat.media.svg.sanitize import SvgLimits, SvgRejected, sanitize_svg

SPEC = SvgGrammarSpec(width=100, height=100)
HEAD = 'A picture:\n<svg viewBox="0 0 100 100">\n<rect x="0" y="0" width="100" height="100" fill="white"/>'

GOOD = [
    HEAD + '\n<circle cx="50" cy="50" r="30" fill="red"/>\n</svg>',
    HEAD + '<rect x="10" y="10" width="80" height="40" rx="4" fill="#1e90ff" stroke="black" stroke-width="2"/></svg>',
    HEAD + '\n<g transform="translate(10,5) rotate(45, 50, 50)" fill="none" stroke="navy">\n'
    '  <line x1="0" y1="0" x2="100" y2="100"/>\n  <ellipse cx="50" cy="50" rx="20" ry="10"/>\n</g>\n</svg>',
    'Sunset.\n<svg viewBox="0 0 100 100">\n<defs>\n<linearGradient id="g1" x1="0%" y1="0%" x2="0%" y2="100%">'
    '\n<stop offset="0%" stop-color="orange"/>\n<stop offset="100%" stop-color="purple" stop-opacity="0.5"/>'
    '\n</linearGradient>\n</defs>\n<rect x="0" y="0" width="100" height="100" fill="skyblue"/>'
    '\n<rect width="100%" height="50" fill="url(#g1)"/>\n<path d="M10 80 L50 20 L90 80 Z" fill="#0a0" opacity="0.8"/>'
    '\n<polygon points="50,15 90,85 10,85" fill="yellow"/>\n<text x="50" y="95" font-size="8" text-anchor="middle" fill="black">Hello</text>\n</svg>',
]

BAD = [
    # Scripts, handlers, external references, foreignObject, styles, entities, images.
    HEAD + '<script>alert(1)</script></svg>',
    HEAD + '<circle cx="5" cy="5" r="5" onload="alert(1)"/></svg>',
    HEAD + '<image href="http://evil.example/x.png" width="10" height="10"/></svg>',
    HEAD + '<use href="#a"/></svg>',
    HEAD + '<foreignObject width="10" height="10"><div/></foreignObject></svg>',
    HEAD + '<rect width="10" height="10" style="fill:red"/></svg>',
    HEAD + '<rect width="10" height="10" fill="url(http://evil.example/p)"/></svg>',
    HEAD + '<text x="1" y="1">&xxe;</text></svg>',
    '<!DOCTYPE svg [<!ENTITY x "y">]>\n<svg viewBox="0 0 100 100"></svg>',
    # Structure: no background first, no caption, text content markup, groups nesting.
    'A picture:\n<svg viewBox="0 0 100 100"><circle cx="5" cy="5" r="5"/></svg>',
    '<svg viewBox="0 0 100 100"></svg>',
    # A background alone is a blank image.
    HEAD + "\n</svg>",
    HEAD + '<text x="1" y="1"><tspan>hi</tspan></text></svg>',
    HEAD + '<g><g><circle cx="5" cy="5" r="5"/></g></g></svg>',
    # Bounds: more top-level elements than the grammar allows.
    HEAD + '<circle cx="5" cy="5" r="5"/>' * (SPEC.max_items + 1) + "</svg>",
]


def _data_dir() -> Path:
    return Path(
        os.environ.get("VERTEXCOMPAT_TEST_DATA_DIR")
        or platformdirs.user_cache_dir("vertexcompat-tests")
    )


@pytest.fixture(scope="module")
def vocab() -> Iterator[llama_cpp.llama_vocab_p]:
    resolved = ModelCatalog(_data_dir(), progress=False).resolve(TINY_MODEL)
    llama_cpp.llama_backend_init()
    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    model = llama_cpp.llama_model_load_from_file(str(resolved.path).encode(), params)
    assert model
    try:
        yield llama_cpp.llama_model_get_vocab(model)
    finally:
        llama_cpp.llama_model_free(model)


def _allowed(sampler: llama_cpp.llama_sampler_p, token: int) -> bool:
    cell = (llama_cpp.llama_token_data * 1)()
    cell[0].id, cell[0].logit, cell[0].p = token, 0.0, 0.0
    arr = llama_cpp.llama_token_data_array(data=cell, size=1, selected=-1, sorted=False)
    llama_cpp.llama_sampler_apply(sampler, ctypes.byref(arr))
    return bool(np.isfinite(cell[0].logit))


def accepts(vocab: llama_cpp.llama_vocab_p, grammar: str, text: str) -> bool:
    """Whether the grammar admits `text` as a complete answer (then end of generation)."""
    sampler = grammar_sampler(vocab, grammar)
    assert sampler is not None, "llama.cpp could not parse the grammar"
    try:
        for token in tokenize(vocab, text):
            if not _allowed(sampler, token):
                return False
            # Accepting a token the grammar rejects aborts the process: checked above.
            llama_cpp.llama_sampler_accept(sampler, token)
        return _allowed(sampler, llama_cpp.llama_vocab_eos(vocab))
    finally:
        llama_cpp.llama_sampler_free(sampler)


@pytest.fixture(scope="module")
def grammar() -> str:
    return svg_grammar(SPEC)


@pytest.mark.parametrize("text", GOOD)
def test_grammar_admits_simple_drawings(vocab, grammar, text):
    assert accepts(vocab, grammar, text)


@pytest.mark.parametrize("text", BAD)
def test_grammar_refuses_unsafe_or_unbounded_svg(vocab, grammar, text):
    assert not accepts(vocab, grammar, text)


def test_what_the_grammar_admits_the_sanitizer_keeps_whole():
    for text in GOOD:
        svg = text.partition("\n")[2]
        clean = sanitize_svg(svg, width=256, height=256)
        assert _element_count(clean) == _element_count(svg), (svg, clean)


def test_element_ceiling_stays_under_the_sanitizer_limit():
    assert SPEC.max_elements <= SvgLimits().max_elements


def test_canvas_size_is_in_the_grammar(vocab):
    wide = svg_grammar(SvgGrammarSpec(width=100, height=56))
    text = ('Wide.\n<svg viewBox="0 0 100 56">\n<rect x="0" y="0" width="100" height="56" '
            'fill="blue"/>\n<circle cx="50" cy="28" r="20" fill="red"/>\n</svg>')
    assert accepts(vocab, wide, text)
    assert not accepts(vocab, wide, text.replace('height="56"', 'height="100"'))


def _element_count(svg: str) -> int:
    return len(re.findall(r"<(?![/!?])", svg))


@pytest.mark.parametrize("seed", [1, pytest.param(2, marks=pytest.mark.panel)])
def test_tiny_model_under_the_grammar_writes_a_bounded_sanitizable_svg(seed):
    """Two candidates per seed, sampled (not greedy), so the grammar is what holds them.
    Seed 2 is in the `panel` run (`pytest -m panel`). 210 tokens (~17 ms of CPU each
    under the grammar): seed 1's two drawings are cut by max_tokens, as they were at 300,
    one before its first shape (the sanitizer says so), the other after a few (kept)."""
    from tests.unit.engine.tiny import tiny_backend

    async def run() -> list[str]:
        with tiny_backend(parallel=2) as backend:
            engine = backend.engine
            grammar = await asyncio.to_thread(engine.svg_grammar, SPEC)
            prompt = engine.prompt_tokens(
                [{"role": "user", "content": "Draw a red house with a blue door as SVG."}]
            )
            handle = engine.submit(
                prompt, n=2, params=SamplingParams(temperature=0.8, seed=seed, grammar=grammar),
                max_tokens=210, stop=(),
            )
            texts = ["", ""]
            async for event in handle.events():
                if isinstance(event, TextDelta):
                    texts[event.candidate] += event.text
            return texts

    limits = SvgLimits()
    for text in asyncio.run(run()):
        caption, newline, svg = text.partition("\n")
        assert newline and caption and "<" not in caption, text
        assert svg.startswith(SPEC.opening_tag), svg
        assert len(svg) <= limits.max_chars
        assert _element_count(svg) <= SPEC.max_elements
        for forbidden in ("<script", "href", "<foreignObject", "<image", "style", "<use", "&"):
            assert forbidden not in svg, svg
        assert not re.search(r"\son[a-z]+=", svg), svg
        if svg.rstrip().endswith("</svg>"):
            # A complete drawing is kept whole: the grammar admits only allowlisted SVG.
            clean = sanitize_svg(svg, width=128, height=128, limits=limits)
            assert _element_count(clean) == _element_count(svg), (svg, clean)
        else:
            # Cut by max_tokens: what was drawn is kept, or, when nothing drawable was
            # finished yet, the sanitizer says so (the backend then sends a note, no image).
            try:
                sanitize_svg(svg, width=128, height=128, limits=limits)
            except SvgRejected as exc:
                assert "no drawable element" in str(exc)
