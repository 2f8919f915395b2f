"""Scene mode of the local backend's image path (issue 23): with the illustration library
on, the model does not draw SVG; it writes one short caption line and then the scene as
JSON (media/illustrations/scene.py), decoding under a grammar made from the scene's JSON
schema, so the scene always parses. The composer draws each object from the library
(local_drawing.py runs it), and the drawing is sanitized and rendered as before.

Here: the grammar's spec and text (the caption line's rule, then the schema's rules), and
the prompt — instructions and one worked example — the model reads.

No space after a key's colon (the example shows it, the grammar holds it): in the default
model's vocabulary `": "` is two tokens (`":` then ` "`) where `":"` is one, so a scene's
JSON is ~17% fewer tokens (one object 38 instead of 46, each further object 25 instead of
30): every image decodes that many fewer steps. The space after a comma stays: writing all
of it compact saved more per object but made the default model add objects (a sun, a
second shape) to simple prompts, so its scenes came out no shorter.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from vertexcompat.engine.constraints import schema_to_grammar
from vertexcompat.media.illustrations.scene import POSITIONS, SCENE_SCHEMA

# A scene of six objects is ~250 tokens of JSON; the caption line adds a few dozen.
DEFAULT_SCENE_MAX_TOKENS = 400
# The schema's strings are enums and a bounded pattern; this only bounds what is left.
_SCHEMA_STRING_BOUND = 64


@dataclass(frozen=True, slots=True)
class SceneGrammarSpec:
    """One scene grammar: the canvas (`width` x `height`, the composer's viewBox) and the
    caption's bound. The canvas does not change the grammar; it travels with the plan to
    the composer."""

    width: int
    height: int
    max_caption_chars: int = 100

    def key(self) -> str:
        return f"scene:{self.max_caption_chars}"


def scene_grammar(spec: SceneGrammarSpec) -> str:
    """GBNF whose root is: caption line, newline, one scene JSON object."""
    # A key's colon with no space either side, as the worked example writes it.
    body = schema_to_grammar(SCENE_SCHEMA, default_max_length=_SCHEMA_STRING_BOUND,
                             colon_space=False)
    # The schema's root becomes `scene`; nothing else in the converter's output names it.
    body = re.sub(r"^root ::=", "scene ::=", body, count=1, flags=re.MULTILINE)
    caption = (
        f"[A-Za-z0-9] [A-Za-z0-9 ,.:;!?'()-]{{0,{spec.max_caption_chars - 1}}}"
    )
    return f'root ::= caption "\\n" scene\ncaption ::= {caption}\n{body}'


def scene_instructions() -> str:
    positions = ", ".join(POSITIONS)
    return "\n".join((
        "You are an illustrator. For the picture the user asks for, first write one short "
        "caption line, then describe the scene as JSON:",
        '- "background": the colour behind everything; use the colour the user names, '
        "skyblue for an outdoor scene, else white.",
        '- "ground": the colour of the ground (green grass, gray road, brown floor), or '
        '"none" when there is no ground.',
        '- "objects": every thing the user names, each in its own object, from back to '
        'front. "name" is the thing itself in one or two lowercase words (like "tree", '
        '"car", "coffee", "laptop"), "count" how many, "color" the colour the user names '
        f'for it or "none", "position" one of: {positions}; "size" small, medium or large.',
        "A thing under or below another is lower; a thing above is higher; things next to "
        "each other are left and right.",
    ))


def scene_example() -> tuple[str, str]:
    """(user turn, model turn): one small scene, so the model sees the caption line and
    the JSON after it."""
    # Measured on the default model: with "two black dogs" here, cats, horses and buses
    # came out black; a colour named for one thing only, and "none" for the rest, is
    # copied as "the colour asked for, else none".
    scene = {
        "background": "skyblue",
        "ground": "green",
        "objects": [
            {"name": "tree", "count": 1, "color": "none", "position": "left", "size": "large"},
            {"name": "dog", "count": 2, "color": "none", "position": "bottom right",
             "size": "medium"},
            {"name": "ball", "count": 1, "color": "red", "position": "bottom",
             "size": "small"},
            {"name": "sun", "count": 1, "color": "none", "position": "top right",
             "size": "small"},
        ],
    }
    return ("Two dogs with a red ball next to a tree in the sun.",
            "Two dogs playing with a red ball next to a tree on a sunny day.\n"
            + json.dumps(scene, separators=(", ", ":")))
