import numpy as np
import pytest

from vertexcompat.media.perception.pixels import fit_within, to_rgb

from .. import samples


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF"])
def test_every_image_format_decodes_to_rgb(fmt: str) -> None:
    rgb = to_rgb(samples.image(fmt, size=(64, 48), colour="blue"))
    assert rgb.shape == (48, 64, 3) and rgb.dtype == np.uint8
    assert rgb[24, 32, 2] > 200 and rgb[24, 32, 0] < 40


def test_an_animation_is_read_at_its_first_frame() -> None:
    rgb = to_rgb(samples.animated_gif(frames=3))  # red, green, blue
    assert tuple(rgb[0, 0]) == (255, 0, 0)


def test_fit_within_downscales_keeping_the_aspect_and_never_upscales() -> None:
    big = np.zeros((1000, 2000, 3), dtype=np.uint8)
    assert fit_within(big, 500).shape == (250, 500, 3)
    small = np.zeros((10, 20, 3), dtype=np.uint8)
    assert fit_within(small, 500) is small
