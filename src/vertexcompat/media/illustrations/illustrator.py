"""`Illustrator`: the one object the drawing path talks to in scene mode (issue 23) — the
library, the matcher and the composer built together, plus the licence metadata a
composed picture carries. One per container (container.build_container), nothing global;
everything heavy (the index, the names' embeddings, each illustration) loads on first use.
"""

from __future__ import annotations

from dataclasses import replace

from vertexcompat.media.illustrations.compose import ComposedScene, SceneComposer, head_noun
from vertexcompat.media.illustrations.library import (
    ATTRIBUTION,
    LICENCE,
    LICENCE_URL,
    SOURCE,
    SOURCE_URL,
    IllustrationLibrary,
)
from vertexcompat.media.illustrations.matcher import (
    Embed,
    IllustrationMatcher,
    Mention,
    nouns,
)
from vertexcompat.media.illustrations.scene import (
    COLOURS,
    MAX_COUNT,
    MAX_OBJECTS,
    Scene,
    SceneObject,
    parse_scene,
)

# How many illustrations the PNG's `Comment` chunk lists at most (a scene has at most six
# objects; copies of one are listed once).
_LISTED = 12
# Where objects the scene left out go, in order of preference.
_FREE_CELLS = ("bottom left", "bottom right", "left", "right", "center", "bottom",
               "top left", "top right", "top")


class Illustrator:
    """Scene JSON → composed SVG, and the PNG text chunks that credit the library."""

    def __init__(self, library: IllustrationLibrary | None = None, *,
                 embed: Embed | None = None, embed_names: Embed | None = None) -> None:
        """`embed`: texts → unit vectors, for the matcher's last resort; `embed_names`: the
        same for the library's names, a fixed list (default `embed`; the server's keeps
        them on disk)."""
        self.library = library or IllustrationLibrary()
        self.matcher = IllustrationMatcher(self.library, embed=embed, embed_names=embed_names)
        self._composer = SceneComposer(self.library, self.matcher)

    def compose(self, scene_json: str, *, width: int, height: int,
                prompt: str = "") -> ComposedScene:
        """The model's scene, completed with what `prompt` (the request's text) names and
        the scene left out, composed on a `width` x `height` canvas. Raises
        scene.SceneInvalid for JSON that is no scene, library.LibraryMissing when the
        wheel is gone."""
        scene = self.completed(parse_scene(scene_json), prompt)
        return self._composer.compose(scene, width=width, height=height)

    def completed(self, scene: Scene, prompt: str) -> Scene:
        """`scene` plus an object for each thing `prompt` names that no object of the scene
        shows. A small model often lists one or two of three things asked for ("a girl
        holding an umbrella in the rain" laid out as an umbrella); it is the request, not
        the model, that says what must be in the picture. Added objects take cells no
        object uses, so they hide nothing. In a full scene (MAX_OBJECTS) an added object
        takes the place of the last one the request does not name: the tiny model fills
        "a bicycle next to a house" with a house and five cars, and the bicycle asked for
        must not be what is left out."""
        mentions = self.matcher.named_in(prompt)
        scene = self._specific(scene, mentions)
        shown_keys: dict[str, str] = {}  # illustration key → the object's name
        shown_heads: set[str] = set()
        named_keys = {m.illustration.key for m in mentions}
        named_heads = {head_noun(m.name) for m in mentions}
        kept: list[SceneObject] = []
        unnamed: list[SceneObject] = []  # kept objects the request does not name
        for obj in scene.objects:
            match = self.matcher.match(obj.name)
            key = match.illustration.key if match is not None else None
            # "cup" and "coffee" laid out for "a cup of coffee" are one thing, not two
            # (the same name twice is two places for it, and is kept).
            if key is not None and shown_keys.get(key, obj.name) != obj.name:
                continue
            kept.append(obj)
            shown_heads.add(head_noun(obj.name))
            if key is not None:
                shown_keys[key] = obj.name
            if key not in named_keys and head_noun(obj.name) not in named_heads:
                unnamed.append(obj)
        used = {obj.position for obj in kept}
        free = [cell for cell in _FREE_CELLS if cell not in used]
        added: list[SceneObject] = []
        for mention in mentions:
            key = mention.illustration.key
            if key in shown_keys or head_noun(mention.name) in shown_heads:
                continue
            if len(kept) + len(added) >= MAX_OBJECTS:
                if not unnamed:
                    break
                dropped = unnamed.pop()
                kept = [obj for obj in kept if obj is not dropped]
                if all(obj.position != dropped.position for obj in kept):
                    free.insert(0, dropped.position)
            shown_keys[key] = mention.name
            added.append(SceneObject(
                name=mention.name, count=min(mention.count, MAX_COUNT),
                colour=mention.colour if mention.colour in COLOURS else None,
                position=free.pop(0) if free else "center", size="medium", from_prompt=True,
            ))
        if not added and len(kept) == len(scene.objects):
            return scene
        return replace(scene, objects=(*kept, *added))

    @staticmethod
    def _specific(scene: Scene, mentions: list[Mention]) -> Scene:
        """An object named by its last word alone takes the request's longer name for the
        same thing: "tree" in a scene asked for "a christmas tree" is the christmas tree."""
        names = {obj.name for obj in scene.objects}
        # Not when the scene holds the longer one already ("a dog eating a hot dog").
        longer = {head_noun(m.name): m.name for m in mentions
                  if " " in m.name and m.name not in names}
        objects = tuple(
            replace(obj, name=longer[head_noun(obj.name)])
            if len(nouns(obj.name)[1]) == 1 and head_noun(obj.name) in longer else obj
            for obj in scene.objects
        )
        return scene if objects == scene.objects else replace(scene, objects=objects)

    def warm(self) -> None:
        """Build the index now (the embeddings of names still load on first need)."""
        self.library.illustrations()

    def png_texts(self, composed: ComposedScene) -> dict[str, str]:
        """tEXt chunks for a picture composed from `composed`: empty when it holds no
        illustration (plain shapes owe nobody credit), else the source, the licence and
        the illustrations used (CC BY-SA 4.0 asks for credit and the licence with every
        copy)."""
        used = list(dict.fromkeys(composed.illustrations))
        if not used:
            return {}
        listed = "; ".join(f"U+{i.key} {i.name}" for i in used[:_LISTED])
        changed = "scaled and placed, some recoloured" if any(
            d.tinted for d in composed.drawn) else "scaled and placed"
        return {
            "Source": f"{SOURCE} {self.library.version} ({SOURCE_URL})",
            "Copyright": ATTRIBUTION,
            "License": f"{LICENCE} {LICENCE_URL}",
            "Comment": f"Illustrations ({changed}): {listed}",
        }
