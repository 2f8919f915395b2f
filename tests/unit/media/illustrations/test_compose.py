"""Composing a scene (media/illustrations/compose.py, illustrator.py): objects become
illustrations placed on the canvas, geometry and unknown things become plain shapes, a
colour the illustration lacks tints it, and what the request names but the scene left
out is added. The result sanitizes to a drawable document."""

import json
import re

import pytest

from vertexcompat.backends.local_drawing import SCENE_LIMITS
from vertexcompat.media.illustrations import Illustrator
from vertexcompat.media.illustrations.scene import SceneObject, parse_scene
from vertexcompat.media.svg.sanitize import sanitize_svg


def obj(name, **kw):
    return {"name": name, "count": kw.get("count", 1), "color": kw.get("color", "none"),
            "position": kw.get("position", "center"), "size": kw.get("size", "medium")}


def scene(*objects, background="white", ground="none"):
    return json.dumps({"background": background, "ground": ground, "objects": list(objects)})


@pytest.fixture(scope="module")
def illustrator() -> Illustrator:
    return Illustrator()


def test_objects_are_drawn_from_the_library_and_credited(illustrator):
    composed = illustrator.compose(
        scene(obj("tree", size="large"), obj("cat", position="bottom")), width=100, height=100)
    assert [d.illustration.name for d in composed.drawn] == ["deciduous tree", "cat"]
    texts = illustrator.png_texts(composed)
    assert texts["License"].startswith("CC BY-SA 4.0 https://creativecommons.org/licenses/by-sa/4.0")
    assert "OpenMoji" in texts["Source"] and "OpenMoji" in texts["Copyright"]
    assert "U+1F333 deciduous tree" in texts["Comment"] and "U+1F408 cat" in texts["Comment"]
    clean = sanitize_svg(composed.svg, width=512, height=512, limits=SCENE_LIMITS)
    assert clean.count("<g transform=") == 2


def test_geometry_is_drawn_as_shapes_in_its_colour_and_owes_no_credit(illustrator):
    composed = illustrator.compose(
        scene(obj("circle", color="red"), obj("star", color="yellow"), background="blue"),
        width=100, height=100)
    assert [(d.illustration, d.how) for d in composed.drawn] == [(None, "shape")] * 2
    assert '<rect x="0" y="0" width="100" height="100" fill="#0000ff"/>' in composed.svg
    assert '<circle' in composed.svg and 'fill="#ff0000"' in composed.svg
    assert 'fill="#ffff00"' in composed.svg
    assert illustrator.png_texts(composed) == {}


def test_an_unknown_thing_falls_back_to_a_shape(illustrator):
    composed = illustrator.compose(scene(obj("wooden table", color="brown")),
                                   width=100, height=100)
    assert composed.drawn[0].how == "unmatched" and composed.drawn[0].illustration is None
    assert 'fill="#a52a2a"' in composed.svg


def test_a_colour_the_illustration_lacks_tints_it_and_one_it_has_does_not(illustrator):
    blue = illustrator.compose(scene(obj("car", color="blue")), width=100, height=100)
    red = illustrator.compose(scene(obj("car", color="red")), width=100, height=100)
    plain = illustrator.compose(scene(obj("car")), width=100, height=100)
    assert blue.drawn[0].tinted and not red.drawn[0].tinted
    assert red.svg == plain.svg != blue.svg
    assert "some recoloured" in illustrator.png_texts(blue)["Comment"]


def test_copies_and_neighbours_in_one_cell_do_not_overlap(illustrator):
    composed = illustrator.compose(scene(obj("dog", count=2), obj("cat")), width=100, height=50)
    boxes = [(float(x), float(y), float(s) * 72) for x, y, s in re.findall(
        r'translate\(([\d.-]+) ([\d.-]+)\) scale\(([\d.]+)\)', composed.svg)]
    assert len(boxes) == 3
    for (x1, _, s1), (x2, _, _) in zip(boxes, boxes[1:]):
        assert x1 + s1 <= x2 + 1e-6
    for x, y, side in boxes:
        assert 0 <= x and x + side <= 100 and 0 <= y and y + side <= 50 + 1e-6


def test_what_the_prompt_names_and_the_scene_left_out_is_added(illustrator):
    composed = illustrator.compose(
        scene(obj("umbrella")), width=100, height=100,
        prompt="A girl holding an umbrella in the rain")
    assert [(d.illustration.name, d.from_prompt) for d in composed.drawn] == [
        ("umbrella", False), ("girl", True), ("cloud with rain", True)]


def test_a_thing_already_shown_under_another_name_is_not_added_twice(illustrator):
    # "cup" and "coffee" are both the hot beverage the scene already holds.
    laid_out = parse_scene(scene(obj("coffee"), obj("laptop")))
    assert illustrator.completed(laid_out, "a cup of coffee next to a laptop") == laid_out


def test_the_added_objects_respect_the_scene_bound(illustrator):
    # A full scene makes room by dropping the last objects the request does not name.
    full = parse_scene(scene(*[obj(n, position=p) for n, p in (
        ("cat", "center"), ("dog", "left"), ("cow", "right"), ("pig", "top"),
        ("hen", "top left"), ("owl", "top right"))]))
    grown = illustrator.completed(full, "a fox and a bee")
    assert grown.objects[:4] == full.objects[:4]
    assert [(o.name, o.position, o.from_prompt) for o in grown.objects[4:]] == [
        ("fox", "top right", True), ("bee", "top left", True)]
    named = parse_scene(scene(*[obj(n) for n in ("fox", "dog", "cow", "pig", "hen", "owl")]))
    assert illustrator.completed(named, "a fox and a dog and a cow and a pig and a hen "
                                        "and an owl and a bee") == named
    small = parse_scene(scene(obj("cat")))
    grown = illustrator.completed(small, "two red cars and a fox")
    assert grown.objects[1:] == (
        SceneObject("car", 2, "red", "bottom left", "medium", from_prompt=True),
        SceneObject("fox", 1, None, "bottom right", "medium", from_prompt=True),
    )


def test_a_coloured_star_is_geometry_and_a_plain_one_an_illustration(illustrator):
    white = illustrator.compose(scene(obj("star", color="white")), width=100, height=100)
    plain = illustrator.compose(scene(obj("stars", count=3)), width=100, height=100)
    assert white.drawn[0].how == "shape" and 'fill="#ffffff"' in white.svg
    assert plain.drawn[0].illustration.name == "white medium star"


def test_two_word_things_in_the_prompt_are_one_thing(illustrator):
    laid_out = parse_scene(scene(obj("snowman")))
    grown = illustrator.completed(laid_out, "a snowman next to a christmas tree")
    assert [o.name for o in grown.objects] == ["snowman", "christmas tree"]


def test_a_thing_named_by_its_last_word_takes_the_longer_name_the_prompt_gives(illustrator):
    laid_out = parse_scene(scene(obj("snowman"), obj("tree")))
    grown = illustrator.completed(laid_out, "a snowman next to a christmas tree")
    assert [o.name for o in grown.objects] == ["snowman", "christmas tree"]
    composed = illustrator.compose(scene(obj("tree")), width=100, height=100,
                                   prompt="a christmas tree")
    assert [d.illustration.name for d in composed.drawn] == ["christmas tree"]
    both = parse_scene(scene(obj("dog"), obj("hot dog")))
    assert illustrator.completed(both, "a dog eating a hot dog") == both


def test_two_names_for_one_thing_are_drawn_once_and_one_name_twice_is_kept(illustrator):
    twice = parse_scene(scene(obj("cup"), obj("laptop"), obj("coffee")))
    assert [o.name for o in illustrator.completed(twice, "").objects] == ["cup", "laptop"]
    two_places = parse_scene(scene(obj("tree", position="left"), obj("tree", position="right")))
    assert illustrator.completed(two_places, "") == two_places


def test_a_plural_last_word_takes_the_longer_name_too(illustrator):
    laid_out = parse_scene(scene(obj("trees")))
    assert illustrator.completed(laid_out, "christmas trees").objects[0].name == "christmas tree"


def test_a_lone_object_is_drawn_larger_than_one_of_three(illustrator):
    def side(composed) -> float:
        return float(re.search(r"scale\(([\d.]+)\)", composed.svg).group(1))

    alone = illustrator.compose(scene(obj("banana")), width=100, height=100)
    crowded = illustrator.compose(
        scene(obj("banana"), obj("cat", position="left"), obj("dog", position="right")),
        width=100, height=100)
    assert side(alone) > 1.5 * side(crowded)
    assert side(alone) * 72 <= 90
