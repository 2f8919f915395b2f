import numpy as np
import pytest

from vertexcompat.media.perception.colors import dominant_colors
from vertexcompat.media.perception.pixels import to_rgb

from .image_samples import stop_sign_jpeg


@pytest.mark.parametrize(("rgb", "name"), [
    ((220, 20, 30), "red"), ((255, 140, 0), "orange"), ((250, 220, 30), "yellow"),
    ((30, 160, 60), "green"), ((30, 80, 220), "blue"), ((0, 200, 220), "blue"),
    ((130, 40, 180), "purple"), ((255, 105, 180), "pink"), ((255, 182, 193), "pink"),
    ((128, 0, 128), "purple"), ((238, 130, 238), "purple"), ((255, 20, 147), "pink"),
    ((120, 70, 20), "brown"), ((10, 10, 10), "black"), ((250, 250, 250), "white"),
    ((128, 128, 128), "grey"),
])
def test_a_flat_colour_gets_its_basic_name(rgb: tuple[int, int, int], name: str) -> None:
    flat = np.full((40, 60, 3), rgb, dtype=np.uint8)
    (only,) = dominant_colors(flat)
    assert (only.name, only.share) == (name, 1.0)
    assert only.hex == "#{:02x}{:02x}{:02x}".format(*rgb)


def test_a_red_sign_on_a_grey_wall_is_mainly_red() -> None:
    colours = dominant_colors(to_rgb(stop_sign_jpeg()))
    assert colours[0].name == "red"
    assert colours[0].share > 0.6
    assert "grey" in {c.name for c in colours}  # the wall; thin white strokes stay under 5%


def test_shares_are_sorted_and_small_details_are_left_out() -> None:
    image = np.zeros((100, 100, 3), dtype=np.uint8)
    image[:, :70] = (30, 80, 220)  # 70% blue
    image[:, 70:98] = (250, 220, 30)  # 28% yellow
    image[:, 98:] = (220, 20, 30)  # 2% red: detail
    colours = dominant_colors(image)
    assert [(c.name, c.share) for c in colours] == [("blue", 0.7), ("yellow", 0.28)]
