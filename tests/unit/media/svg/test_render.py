"""SvgRenderer: real resvg renders in the worker process — pixels where the drawing puts them,
the exact requested size on opaque white, failures reported, and a worker that overruns its
time or dies is replaced."""

import io
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

from vertexcompat.media.svg.render import RenderFailed, RenderTimeout, SvgRenderer
from vertexcompat.media.svg.sanitize import sanitize_svg

RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)

CIRCLE_ON_RECT = ('<svg viewBox="0 0 100 100"><rect width="100" height="100" fill="blue"/>'
                  '<circle cx="50" cy="50" r="25" fill="red"/></svg>')


@pytest.fixture(scope="module")
def renderer():
    # One worker for the module: starting one is the slow part of a render.
    with SvgRenderer(timeout_s=30.0) as shared:
        yield shared


def image(png: bytes) -> Image.Image:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    loaded = Image.open(io.BytesIO(png))
    loaded.load()
    return loaded


def draw(renderer: SvgRenderer, source: str, width: int, height: int) -> Image.Image:
    svg = sanitize_svg(source, width=width, height=height)
    return image(renderer.render_png(svg, width=width, height=height))


def near(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = 8) -> bool:
    return all(abs(p - c) <= tolerance for p, c in zip(pixel, colour, strict=True))


def slow_svg(paths: int) -> str:
    """Long, wide, self-crossing strokes: each path costs resvg tens of milliseconds."""
    segments = " ".join(f"L{(i * 37) % 512} {(i * 91) % 512}" for i in range(900))
    path = (f'<path d="M0 0 {segments}" fill="blue" fill-opacity="0.5" stroke="red" '
            'stroke-width="300" stroke-linejoin="round" stroke-opacity="0.5"/>')
    return ('<svg xmlns="http://www.w3.org/2000/svg" width="512" height="512">'
            + path * paths + "</svg>")


def test_red_circle_on_blue_rect_has_its_colours_where_drawn(renderer):
    drawn = draw(renderer, CIRCLE_ON_RECT, 200, 200)
    assert drawn.mode == "RGB"
    assert near(drawn.getpixel((100, 100)), RED)  # centre of the circle
    assert near(drawn.getpixel((100, 60)), RED)  # inside, near the top of the circle
    assert near(drawn.getpixel((10, 10)), BLUE)  # a corner of the rect
    assert near(drawn.getpixel((100, 40)), BLUE)  # just above the circle (r = 50 px)
    assert near(drawn.getpixel((190, 100)), BLUE)


@pytest.mark.parametrize(("width", "height"), [(512, 512), (640, 360), (360, 640), (1, 1),
                                               (1024, 768), (33, 17)])
def test_png_has_exactly_the_requested_size(renderer, width, height):
    assert draw(renderer, CIRCLE_ON_RECT, width, height).size == (width, height)


def test_view_box_is_scaled_to_fit_and_centred_on_white(renderer):
    drawn = draw(renderer, CIRCLE_ON_RECT, 400, 200)  # square drawing on a wide canvas
    assert drawn.size == (400, 200)
    assert near(drawn.getpixel((50, 100)), WHITE)  # left margin
    assert near(drawn.getpixel((350, 100)), WHITE)  # right margin
    assert near(drawn.getpixel((110, 100)), BLUE)  # the square spans x 100..300
    assert near(drawn.getpixel((200, 100)), RED)


def test_svg_whose_own_size_differs_from_the_request_still_fills_it_exactly(renderer):
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="20">'
           '<rect width="10" height="20" fill="red"/></svg>')
    drawn = image(renderer.render_png(svg, width=300, height=300))
    assert drawn.size == (300, 300)
    assert near(drawn.getpixel((150, 150)), RED)
    assert near(drawn.getpixel((10, 150)), WHITE)


def test_transparent_background_is_composited_on_white(renderer):
    drawn = draw(renderer, '<circle cx="5" cy="5" r="2" fill="red" fill-opacity="0.5"/>',
                 10, 10)
    assert drawn.mode == "RGB"
    assert drawn.getpixel((0, 0)) == WHITE
    assert near(drawn.getpixel((5, 5)), (255, 128, 128), tolerance=12)


def test_linear_gradient_goes_from_its_first_stop_to_its_last(renderer):
    drawn = draw(renderer, '<svg viewBox="0 0 100 10"><defs><linearGradient id="g">'
                 '<stop offset="0" stop-color="red"/><stop offset="1" stop-color="blue"/>'
                 '</linearGradient></defs><rect width="100" height="10" fill="url(#g)"/></svg>',
                 200, 20)
    left, middle, right = (drawn.getpixel((x, 10)) for x in (1, 100, 198))
    assert near(left, RED, tolerance=12) and near(right, BLUE, tolerance=12)
    assert 90 < middle[0] < 170 and 90 < middle[2] < 170 and middle[1] < 20


def test_radial_gradient_is_lighter_at_its_centre(renderer):
    drawn = draw(renderer, '<radialGradient id="g"><stop offset="0" stop-color="white"/>'
                 '<stop offset="1" stop-color="black"/></radialGradient>'
                 '<rect width="100" height="100" fill="url(#g)"/>', 100, 100)
    assert sum(drawn.getpixel((50, 50))) > 700
    assert sum(drawn.getpixel((95, 50))) < 100


def test_path_stroke_and_transform_are_drawn(renderer):
    drawn = draw(renderer, '<svg viewBox="0 0 100 100"><g transform="translate(50 0)">'
                 '<path d="M0 0V100" stroke="black" stroke-width="10"/></g></svg>', 100, 100)
    assert near(drawn.getpixel((50, 50)), (0, 0, 0))
    assert near(drawn.getpixel((20, 50)), WHITE)


def test_text_puts_ink_on_the_canvas(renderer):
    drawn = draw(renderer, '<svg viewBox="0 0 100 50"><text x="5" y="40" font-size="40">'
                 'Hi</text></svg>', 200, 100).convert("L")
    assert sum(drawn.histogram()[:128]) > 200  # dark pixels


def test_unrenderable_svg_fails_and_the_worker_lives_on(renderer):
    draw(renderer, CIRCLE_ON_RECT, 10, 10)
    pid = renderer.worker_pid
    with pytest.raises(RenderFailed):
        renderer.render_png("this is not svg", width=10, height=10)
    assert renderer.worker_pid == pid
    assert draw(renderer, CIRCLE_ON_RECT, 10, 10).size == (10, 10)


def test_request_larger_than_a_pipe_buffer_goes_through_whole(renderer):
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><title>'
           + "x" * 1_000_000 + '</title><rect width="8" height="8" fill="red"/></svg>')
    assert near(image(renderer.render_png(svg, width=8, height=8)).getpixel((4, 4)), RED)


@pytest.mark.parametrize(("width", "height"), [(0, 5), (5, 9000), (-1, 5)])
def test_canvas_outside_bounds_is_a_caller_error(renderer, width, height):
    with pytest.raises(ValueError):
        renderer.render_png(CIRCLE_ON_RECT, width=width, height=height)


def test_concurrent_renders_from_a_thread_pool_each_get_their_own_picture(renderer):
    colours = ["red", "blue", "lime", "black", "yellow", "cyan", "magenta", "white"]

    def one(index: int) -> tuple[int, int, int]:
        source = f'<rect width="8" height="8" fill="{colours[index % len(colours)]}"/>'
        return draw(renderer, source, 8, 8).getpixel((4, 4))

    with ThreadPoolExecutor(max_workers=6) as pool:
        pixels = list(pool.map(one, range(24)))
    expected = [Image.new("RGB", (1, 1), colours[i % len(colours)]).getpixel((0, 0))
                for i in range(24)]
    assert pixels == expected


def test_worker_is_started_lazily_and_reused():
    with SvgRenderer() as fresh:
        assert fresh.worker_pid is None
        fresh.render_png(sanitize_svg(CIRCLE_ON_RECT, width=8, height=8), width=8, height=8)
        pid = fresh.worker_pid
        assert pid is not None
        fresh.render_png(sanitize_svg(CIRCLE_ON_RECT, width=8, height=8), width=8, height=8)
        assert fresh.worker_pid == pid


def test_overrunning_render_times_out_and_the_next_render_gets_a_new_worker():
    # slow_svg(100) takes resvg seconds (about 90 ms a path on the 2-core dev machine);
    # the timeout is a small fraction of that.
    with SvgRenderer(timeout_s=0.5) as renderer:
        draw(renderer, CIRCLE_ON_RECT, 16, 16)
        slow_pid = renderer.worker_pid
        started = time.monotonic()
        with pytest.raises(RenderTimeout):
            renderer.render_png(slow_svg(100), width=512, height=512)
        assert time.monotonic() - started < 10  # killed, not waited for
        assert renderer.worker_pid is None
        assert not _alive(slow_pid)
        assert near(draw(renderer, CIRCLE_ON_RECT, 16, 16).getpixel((8, 8)), RED)
        assert renderer.worker_pid not in (None, slow_pid)


def test_tiny_timeout_times_out_even_a_simple_drawing_and_recovers():
    with SvgRenderer(timeout_s=0.001) as renderer:
        svg = sanitize_svg(CIRCLE_ON_RECT, width=1024, height=1024)
        for _ in range(3):
            with pytest.raises(RenderTimeout):
                renderer.render_png(svg, width=1024, height=1024)


def test_killed_worker_is_replaced_on_the_next_render(renderer):
    draw(renderer, CIRCLE_ON_RECT, 8, 8)
    pid = renderer.worker_pid
    os.kill(pid, signal.SIGKILL)
    _wait_until_dead(renderer)
    assert near(draw(renderer, CIRCLE_ON_RECT, 16, 16).getpixel((8, 8)), RED)
    assert renderer.worker_pid not in (None, pid)


def test_worker_killed_mid_render_fails_that_render_only():
    with SvgRenderer(timeout_s=30.0) as renderer:
        draw(renderer, CIRCLE_ON_RECT, 8, 8)
        pid = renderer.worker_pid
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(renderer.render_png, slow_svg(100), width=512, height=512)
            time.sleep(0.3)
            os.kill(pid, signal.SIGKILL)
            with pytest.raises(RenderFailed, match="worker"):
                pending.result(timeout=30)
        assert near(draw(renderer, CIRCLE_ON_RECT, 16, 16).getpixel((8, 8)), RED)


def test_close_stops_the_worker_and_forbids_further_renders():
    renderer = SvgRenderer()
    draw(renderer, CIRCLE_ON_RECT, 8, 8)
    pid = renderer.worker_pid
    renderer.close()
    renderer.close()  # idempotent
    assert renderer.worker_pid is None
    assert not _alive(pid)
    with pytest.raises(RuntimeError):
        renderer.render_png(CIRCLE_ON_RECT, width=8, height=8)


def test_worker_runs_under_an_address_space_cap(renderer):
    draw(renderer, CIRCLE_ON_RECT, 8, 8)
    limits = Path(f"/proc/{renderer.worker_pid}/limits").read_text()
    soft = next(line for line in limits.splitlines() if line.startswith("Max address space"))
    assert soft.split()[3] == str(2 * 1024**3)


def test_timeout_must_be_positive():
    with pytest.raises(ValueError):
        SvgRenderer(timeout_s=0)


def _alive(pid: int) -> bool:
    # Our own child, already reaped by the renderer: the pid no longer names a process.
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_until_dead(renderer: SvgRenderer) -> None:
    # SIGKILL is asynchronous: wait until the worker is seen dead, so that the next render
    # exercises the replacement of a dead worker rather than a race with a dying one.
    deadline = time.monotonic() + 5
    while renderer.worker_pid is not None and time.monotonic() < deadline:
        time.sleep(0.01)


def test_text_fonts_come_with_the_dependencies_not_the_host():
    from vertexcompat.media.svg.worker import bundled_fonts

    fonts = bundled_fonts()
    assert any(f.endswith("/DejaVuSans.ttf") for f in fonts), fonts
