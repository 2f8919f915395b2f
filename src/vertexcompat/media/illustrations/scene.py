"""The scene a model lays out for a picture (issue 23): a background and a few objects,
each named, coloured, placed and sized with words a small model uses reliably. The model
writes it as JSON under `SCENE_SCHEMA` (a grammar makes it always parse);
`parse_scene` turns that JSON into the dataclasses the composer (compose.py) draws.

Objects are listed from back to front: a later object is drawn over an earlier one.
Positions are nine cells of the canvas, sizes three steps; the composer turns them into
coordinates and keeps objects that share a cell apart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# The colours a scene may name, with the RGB the composer paints them in (CSS's values).
COLOURS: dict[str, str] = {
    "white": "#ffffff", "black": "#000000", "red": "#ff0000", "green": "#008000",
    "blue": "#0000ff", "yellow": "#ffff00", "orange": "#ffa500", "purple": "#800080",
    "pink": "#ffc0cb", "brown": "#a52a2a", "gray": "#808080", "skyblue": "#87ceeb",
    "lightblue": "#add8e6", "darkblue": "#00008b", "lightgreen": "#90ee90",
    "darkgreen": "#006400", "gold": "#ffd700", "beige": "#f5f5dc", "tan": "#d2b48c",
    "navy": "#000080",
}
NO_COLOUR = "none"
POSITIONS: tuple[str, ...] = (
    "center", "left", "right", "top", "bottom", "top left", "top right", "bottom left",
    "bottom right",
)
SIZES: tuple[str, ...] = ("small", "medium", "large")
MAX_OBJECTS = 6
MAX_COUNT = 5
MAX_NAME_CHARS = 30

_MAX_SALVAGED_CHARS = 8_000
_MAX_SALVAGE_TRIES = 8

_COLOUR_ENUM = [*COLOURS]
SCENE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "background": {"type": "string", "enum": _COLOUR_ENUM},
        "ground": {"type": "string", "enum": [NO_COLOUR, *_COLOUR_ENUM]},
        "objects": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_OBJECTS,
            "items": {
                "type": "object",
                "properties": {
                    # Lowercase words: what the matcher reads (a pattern, so bounded here).
                    "name": {"type": "string",
                             "pattern": f"^[a-z][a-z ]{{0,{MAX_NAME_CHARS - 1}}}$"},
                    "count": {"type": "integer", "enum": list(range(1, MAX_COUNT + 1))},
                    "color": {"type": "string", "enum": [NO_COLOUR, *_COLOUR_ENUM]},
                    "position": {"type": "string", "enum": list(POSITIONS)},
                    "size": {"type": "string", "enum": list(SIZES)},
                },
                "required": ["name", "count", "color", "position", "size"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["background", "ground", "objects"],
    "additionalProperties": False,
}


class SceneInvalid(ValueError):
    """The text is not a scene (`str()` says why, briefly)."""


@dataclass(frozen=True, slots=True)
class SceneObject:
    name: str
    count: int = 1
    colour: str | None = None  # a key of COLOURS; None: the illustration's own colours
    position: str = "center"
    size: str = "medium"
    # Not in the model's scene but named in the request (illustrator.py adds it).
    from_prompt: bool = False


@dataclass(frozen=True, slots=True)
class Scene:
    background: str  # a key of COLOURS
    ground: str | None  # a key of COLOURS; None: no ground band
    objects: tuple[SceneObject, ...]


def parse_scene(text: str) -> Scene:
    """The model's JSON → a Scene. Lenient where the grammar already held (unknown values
    fall back to defaults) and with a scene cut off by `max_tokens` (the objects complete
    before the cut are kept), strict about shape: raises SceneInvalid for text that is not
    a JSON object or holds no object with a name."""
    data = _loads(text)
    if not isinstance(data, dict):
        raise SceneInvalid("not a JSON object")
    objects = tuple(
        obj for raw in _list(data.get("objects"))[:MAX_OBJECTS]
        if (obj := _object(raw)) is not None
    )
    if not objects:
        raise SceneInvalid("no objects")
    return Scene(
        background=_colour(data.get("background")) or "white",
        ground=_colour(data.get("ground")),
        objects=objects,
    )


def _loads(text: str) -> object:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        problem = f"not JSON ({type(exc).__name__})"
    if len(text) > _MAX_SALVAGED_CHARS:
        raise SceneInvalid(problem)
    # Cut off: close the objects array after the last object that was complete. The
    # grammar writes "objects" last, so nothing after it is lost.
    end = len(text)
    for _ in range(_MAX_SALVAGE_TRIES):
        end = text.rfind("}", 0, end)
        if end < 0:
            break
        try:
            return json.loads(text[:end + 1] + "]}")
        except (ValueError, RecursionError):
            continue
    raise SceneInvalid(problem)


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _colour(value: object) -> str | None:
    return value if isinstance(value, str) and value in COLOURS else None


def _object(raw: object) -> SceneObject | None:
    if not isinstance(raw, dict):
        return None
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        return None
    count = raw.get("count")
    position = raw.get("position")
    size = raw.get("size")
    return SceneObject(
        name=" ".join(name.lower().split())[:MAX_NAME_CHARS],
        count=count if isinstance(count, int) and 1 <= count <= MAX_COUNT else 1,
        colour=_colour(raw.get("color")),
        position=position if position in POSITIONS else "center",
        size=size if size in SIZES else "medium",
    )
