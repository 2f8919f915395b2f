"""Scene JSON (media/illustrations/scene.py): what the model writes under the schema
parses; a scene cut off by max_tokens keeps its complete objects; anything else is
refused with SceneInvalid, never another exception."""

import json

import jsonschema
import pytest

from vertexcompat.media.illustrations.scene import (
    SCENE_SCHEMA,
    Scene,
    SceneInvalid,
    SceneObject,
    parse_scene,
)

CAT = {"name": "cat", "count": 1, "color": "black", "position": "bottom", "size": "medium"}
TREE = {"name": "tree", "count": 1, "color": "none", "position": "center", "size": "large"}
SCENE = {"background": "skyblue", "ground": "green", "objects": [TREE, CAT]}


def test_a_scene_under_the_schema_parses():
    jsonschema.validate(SCENE, SCENE_SCHEMA)
    assert parse_scene(json.dumps(SCENE)) == Scene(
        background="skyblue", ground="green",
        objects=(SceneObject("tree", 1, None, "center", "large"),
                 SceneObject("cat", 1, "black", "bottom", "medium")),
    )


def test_a_scene_cut_off_keeps_its_complete_objects():
    text = json.dumps(SCENE)
    cut = text[: text.index('"cat"') + 2]
    assert parse_scene(cut).objects == (SceneObject("tree", 1, None, "center", "large"),)


def test_ground_none_and_unknown_values_fall_back_to_defaults():
    scene = parse_scene(json.dumps({
        "background": "plaid", "ground": "none",
        "objects": [{"name": "  Big   Dog ", "count": 99, "color": "ultraviolet",
                     "position": "somewhere", "size": "huge"}],
    }))
    assert scene == Scene("white", None, (SceneObject("big dog"),))


@pytest.mark.parametrize("text", [
    "", "not json", "[]", '"scene"', '{"objects": []}', '{"objects": [{"name": ""}]}',
    '{"objects": [1, null, {"count": 2}]}', "[" * 100_000, "{" + '"a":' * 5000,
])
def test_what_is_no_scene_is_refused(text):
    with pytest.raises(SceneInvalid):
        parse_scene(text)


def test_the_schema_bounds_names_objects_and_counts():
    objects = SCENE_SCHEMA["properties"]["objects"]
    assert objects["maxItems"] == 6
    item = objects["items"]["properties"]
    assert item["count"]["enum"] == [1, 2, 3, 4, 5]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**SCENE, "objects": [{**CAT, "name": "x" * 31}]}, SCENE_SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**SCENE, "objects": [{**CAT, "name": "<script>"}]}, SCENE_SCHEMA)
