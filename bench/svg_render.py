"""Model-drawn images: what does sanitizing and rasterizing an SVG cost?

Prints, for 512×512 renders (median of --runs, after one warm-up):
  - a simple drawing (a rect, a circle, a line of text) and a 200-element drawing
    (shapes, paths, gradients, text), through SvgRenderer (worker process) and through the
    same render function called in-process — the difference is the worker's per-render
    overhead (pipe round trip, copying the PNG);
  - sanitize_svg on each;
  - a costly drawing within the default SvgLimits (200 canvas-sized rects, each with a
    gradient fill, a wide gradient stroke and group opacity, which makes resvg composite a
    layer per element), timed --worst-runs times: it shows what the timeout is there for;
  - the worker's first-start cost: a fresh renderer's first tiny render minus a warm one.

    .venv/bin/python bench/svg_render.py [--runs 20] [--starts 5] [--worst-runs 1]
    .venv/bin/python bench/svg_render.py --quick   # smoke: 1 run, 1 start, 40 elements, no costly one

`--quick` proves the script works (tests/e2e/test_bench_smoke.py runs it), not the numbers.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

from vertexcompat.media.svg import worker
from vertexcompat.media.svg.render import SvgRenderer
from vertexcompat.media.svg.sanitize import sanitize_svg

SIZE = 512

SIMPLE = ('<svg viewBox="0 0 100 100"><rect width="100" height="100" fill="skyblue"/>'
          '<circle cx="50" cy="55" r="25" fill="gold" stroke="orange" stroke-width="2"/>'
          '<text x="50" y="20" font-size="10" text-anchor="middle">Sun</text></svg>')


def busy_drawing(elements: int = 200, seed: int = 7) -> str:
    """`elements` elements of every kind the allowlist has, with two gradients."""
    rng = random.Random(seed)
    parts = ['<defs><linearGradient id="lg" x1="0" y1="0" x2="1" y2="1">'
             '<stop offset="0" stop-color="red"/><stop offset="1" stop-color="blue"/>'
             '</linearGradient><radialGradient id="rg"><stop offset="0" stop-color="white"/>'
             '<stop offset="1" stop-color="green"/></radialGradient></defs>']
    count = 7  # defs, two gradients, four stops
    fills = ["url(#lg)", "url(#rg)", "tomato", "#3a7", "rgb(20,40,200)", "none"]

    def n() -> int:
        return rng.randint(0, SIZE)

    while count < elements:
        kind = count % 6
        fill = rng.choice(fills)
        common = f'fill="{fill}" stroke="black" stroke-width="{rng.randint(1, 6)}" opacity="0.8"'
        if kind == 0:
            parts.append(f'<rect x="{n()}" y="{n()}" width="{n() // 3}" height="{n() // 3}" '
                         f'rx="4" {common}/>')
        elif kind == 1:
            parts.append(f'<circle cx="{n()}" cy="{n()}" r="{n() // 6}" {common}/>')
        elif kind == 2:
            parts.append(f'<ellipse cx="{n()}" cy="{n()}" rx="{n() // 5}" ry="{n() // 8}" '
                         f'transform="rotate({rng.randint(0, 90)} 256 256)" {common}/>')
        elif kind == 3:
            d = f"M{n()} {n()}" + "".join(f" Q{n()} {n()} {n()} {n()}" for _ in range(6)) + " Z"
            parts.append(f'<path d="{d}" {common}/>')
        elif kind == 4:
            points = " ".join(f"{n()},{n()}" for _ in range(8))
            parts.append(f'<polygon points="{points}" {common}/>')
        else:
            parts.append(f'<text x="{n()}" y="{n()}" font-size="{rng.randint(10, 40)}" '
                         f'fill="{fill}">Label {count}</text>')
        count += 1
    return f'<svg viewBox="0 0 {SIZE} {SIZE}">' + "".join(parts) + "</svg>"


def costly_drawing() -> str:
    """200 elements that each cost resvg a full-canvas layer with two gradients."""
    defs = ('<defs><linearGradient id="lg"><stop offset="0" stop-color="red"/>'
            '<stop offset="1" stop-color="blue"/></linearGradient><radialGradient id="rg">'
            '<stop offset="0" stop-color="white"/><stop offset="1" stop-color="green"/>'
            '</radialGradient></defs>')
    rect = (f'<rect width="{SIZE}" height="{SIZE}" fill="url(#rg)" stroke="url(#lg)" '
            'stroke-width="50" opacity="0.5"/>')
    return f'<svg viewBox="0 0 {SIZE} {SIZE}">' + defs + rect * 200 + "</svg>"


def median_s(action: Callable[[], object], runs: int, *, warm_up: bool = True) -> float:
    if warm_up:
        action()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--starts", type=int, default=5, help="fresh workers to time")
    parser.add_argument("--worst-runs", type=int, default=1,
                        help="renders of the costly drawing (~10 s each on 2 cores; 0 skips it)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 1 run without warm-up, 1 fresh worker, 40 elements "
                             "instead of 200, the costly drawing skipped")
    args = parser.parse_args()
    elements, warm = 200, True
    if args.quick:
        args.runs, args.starts, args.worst_runs, elements, warm = 1, 1, 0, 40, False

    print(f"512x512 renders, median of {args.runs} ({args.worst_runs} for the costly one), "
          "seconds")
    print(f"{'drawing':<26}{'elements':>9}{'sanitize':>11}{'in-process':>12}"
          f"{'renderer':>11}{'overhead':>11}")
    with SvgRenderer(timeout_s=60.0) as renderer:
        drawings = [("simple", SIMPLE, args.runs),
                    (f"{elements} elements", busy_drawing(elements), args.runs)]
        if args.worst_runs > 0:
            drawings.append(("costly, within limits", costly_drawing(), args.worst_runs))
        for name, source, runs in drawings:
            svg = sanitize_svg(source, width=SIZE, height=SIZE)
            elements = svg.count("<") - svg.count("</") - 1
            sanitize = median_s(lambda s=source: sanitize_svg(s, width=SIZE, height=SIZE),
                                args.runs, warm_up=warm)
            warm_up = warm and runs == args.runs
            direct = median_s(lambda s=svg: worker.render(s, SIZE, SIZE), runs, warm_up=warm_up)
            through = median_s(lambda s=svg: renderer.render_png(s, width=SIZE, height=SIZE),
                               runs, warm_up=warm_up)
            print(f"{name:<26}{elements:>9}{sanitize:>11.4f}{direct:>12.4f}{through:>11.4f}"
                  f"{through - direct:>11.4f}")

        tiny = sanitize_svg('<rect width="8" height="8" fill="red"/>', width=8, height=8)
        warm_s = median_s(lambda: renderer.render_png(tiny, width=8, height=8), args.runs)

    firsts = []
    for _ in range(args.starts):
        with SvgRenderer() as fresh:
            started = time.perf_counter()
            fresh.render_png(tiny, width=8, height=8)
            firsts.append(time.perf_counter() - started)
    first = statistics.median(firsts)
    print(f"\nworker first start: {first - warm_s:.4f} s (first 8x8 render {first:.4f} s, "
          f"warm {warm_s:.4f} s; median of {args.starts} fresh workers)")


if __name__ == "__main__":
    main()
