"""`to_rgb` hands the models no more than they read: the longer side at most `MAX_SIDE`,
aspect kept, JPEGs decoded at a reduced DCT scale — and a truncated file still fails."""

import io

import pytest
from PIL import Image

from vertexcompat.media.perception.pixels import MAX_SIDE, to_rgb


def encoded(fmt: str, size: tuple[int, int], mode: str = "RGB", colour=(200, 10, 10)) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, colour).save(out, fmt)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_large_image_is_shrunk_to_the_largest_side_a_model_reads(fmt):
    rgb = to_rgb(encoded(fmt, (4000, 2000)))
    assert rgb.shape == (MAX_SIDE // 2, MAX_SIDE, 3)
    assert tuple(int(c) for c in rgb[500, 1000]) == pytest.approx((200, 10, 10), abs=6)


def test_an_image_within_the_limit_keeps_its_size():
    assert to_rgb(encoded("PNG", (1999, 30))).shape == (30, 1999, 3)


def test_a_shrunk_transparent_image_is_still_drawn_on_white():
    rgb = to_rgb(encoded("PNG", (2400, 2400), mode="RGBA", colour=(0, 0, 0, 0)))
    assert rgb.shape == (MAX_SIDE, MAX_SIDE, 3) and rgb.min() == 255


def test_a_truncated_large_jpeg_still_fails_at_a_reduced_scale():
    data = encoded("JPEG", (4000, 4000))
    with pytest.raises(OSError):
        to_rgb(data[: len(data) // 2])
