"""`SceneComposer`: a Scene (scene.py) → one SVG document, each object drawn from the
illustration library when the matcher finds it, else as a plain shape (what the model drew
before issue 23: a circle, a square, a star … in the object's colour).

Layout: the background fills the canvas, a ground band (if any) its lower 30%. Each object
sits in one of nine cells, sized small / medium / large against the canvas's short side;
`count` copies stand side by side; objects that share a cell are set side by side too, so
none hides another. Objects are drawn in the scene's order (back to front).

An illustration's own colours are kept unless the object names a colour the illustration
has no trace of ("a blue car" from a red one): then its coloured fills are tinted to that
hue, its shading and black outlines kept.

The SVG written here is not trusted either: illustrations were sanitized when the library
read them, and the whole scene is sanitized again before it is rendered
(backends/local_drawing.py).
"""

from __future__ import annotations

import colorsys
import math
import re
from dataclasses import dataclass

from vertexcompat.media.illustrations.library import (
    ILLUSTRATION_SIDE,
    Illustration,
    IllustrationLibrary,
)
from vertexcompat.media.illustrations.matcher import IllustrationMatcher, Match, nouns
from vertexcompat.media.illustrations.scene import COLOURS, Scene, SceneObject

# Fraction of the canvas's short side an object's box takes.
SIZE_FRACTION = {"small": 0.24, "medium": 0.36, "large": 0.52}
# Cell centres as fractions of the canvas (x, y).
CELLS = {
    "top left": (0.22, 0.24), "top": (0.5, 0.24), "top right": (0.78, 0.24),
    "left": (0.22, 0.52), "center": (0.5, 0.52), "right": (0.78, 0.52),
    "bottom left": (0.22, 0.76), "bottom": (0.5, 0.76), "bottom right": (0.78, 0.76),
}
GROUND_TOP = 0.7
# A scene of one or two objects has room: they are drawn larger, and a lone object fills
# most of the picture whatever its size word (measured: a banana at "medium" alone covered
# under 5% of the canvas, too little to read as its colour).
FEW_OBJECTS_BOOST = {1: 2.2, 2: 1.4}
LONE_SIDE_FRACTION = 0.8
MAX_SIDE_FRACTION = 0.9
# Nouns that are geometry, not things: drawn as shapes whatever the library holds.
SHAPE_WORDS = frozenset({
    "circle", "square", "rectangle", "triangle", "line", "dot", "oval", "ellipse",
    "disc", "disk", "box", "shape", "stripe",
})
# Geometry when a colour is named ("a white star on blue"), a thing when not ("a tent
# under the stars").
COLOURED_SHAPE_WORDS = frozenset({"star"})
_HEX_PAINT = re.compile(r'(fill|stop-color)="#([0-9a-fA-F]{6}|[0-9a-fA-F]{3})"')
_INNER = re.compile(r"\A<svg[^>]*>(.*)</svg>\Z", re.DOTALL)
# Hue distance (degrees) under which an illustration already "has" a named colour.
_SAME_HUE = 30.0


@dataclass(frozen=True, slots=True)
class Drawn:
    """How one scene object was drawn: `illustration` None means as a plain shape."""

    name: str
    count: int
    illustration: Illustration | None
    how: str  # the matcher's `how`, "shape" for geometry, "unmatched" for a fallback
    tinted: bool = False
    from_prompt: bool = False

    def describe(self) -> str:
        times = f"{self.count} x " if self.count > 1 else ""
        added = ", added from the prompt" if self.from_prompt else ""
        if self.illustration is None:
            return f"{times}{self.name} → shape ({self.how}{added})"
        tint = ", tinted" if self.tinted else ""
        return (f"{times}{self.name} → {self.illustration.name} "
                f"(U+{self.illustration.key}, {self.how}{tint}{added})")


@dataclass(frozen=True, slots=True)
class ComposedScene:
    svg: str
    drawn: tuple[Drawn, ...]

    @property
    def illustrations(self) -> tuple[Illustration, ...]:
        return tuple(d.illustration for d in self.drawn if d.illustration is not None)


@dataclass(frozen=True, slots=True)
class _Box:
    x: float  # centre
    y: float
    side: float


def head_noun(name: str) -> str:
    """The word of an object's name that says what it is ("cup of coffee" → "coffee")."""
    _, content = nouns(name)
    return content[0] if content else name


class SceneComposer:
    """Composes scenes from one library through one matcher. Thread-safe (both are)."""

    def __init__(self, library: IllustrationLibrary, matcher: IllustrationMatcher) -> None:
        self._library = library
        self._matcher = matcher

    def compose(self, scene: Scene, *, width: int, height: int) -> ComposedScene:
        """The scene on a `width` x `height` canvas (the viewBox)."""
        parts = [f'<svg viewBox="0 0 {width} {height}">',
                 f'<rect x="0" y="0" width="{width}" height="{height}" '
                 f'fill="{COLOURS[scene.background]}"/>']
        if scene.ground is not None:
            top = round(height * GROUND_TOP, 2)
            parts.append(f'<rect x="0" y="{top}" width="{width}" height="{height - top}" '
                         f'fill="{COLOURS[scene.ground]}"/>')
        drawn: list[Drawn] = []
        for obj, boxes in zip(scene.objects, _layout(scene.objects, width, height)):
            record, markup = self._draw(obj, boxes)
            drawn.append(record)
            parts.extend(markup)
        parts.append("</svg>")
        return ComposedScene("".join(parts), tuple(drawn))

    def _draw(self, obj: SceneObject, boxes: list[_Box]) -> tuple[Drawn, list[str]]:
        head = head_noun(obj.name)
        if head in SHAPE_WORDS or (head in COLOURED_SHAPE_WORDS and obj.colour is not None):
            shape = [_shape(head, box, obj.colour) for box in boxes]
            return Drawn(obj.name, obj.count, None, "shape", from_prompt=obj.from_prompt), shape
        match = self._matcher.match(obj.name)
        inner = _inner(self._library.svg(match.illustration.key)) if match else None
        if match is None or inner is None:
            shape = [_shape(head, box, obj.colour) for box in boxes]
            return Drawn(obj.name, obj.count, None, "unmatched",
                         from_prompt=obj.from_prompt), shape
        tinted = False
        if obj.colour is not None and _wants_tint(match, inner, obj.colour):
            inner, tinted = _tint(inner, COLOURS[obj.colour]), True
        markup = [_placed(inner, box) for box in boxes]
        drawn = Drawn(obj.name, obj.count, match.illustration, match.how, tinted,
                      from_prompt=obj.from_prompt)
        return drawn, markup


def _layout(objects: tuple[SceneObject, ...], width: int, height: int) -> list[list[_Box]]:
    """Each object's copies' boxes. Objects in the same cell (and the copies of one object)
    stand side by side, centred on the cell, shrunk to fit the canvas's width."""
    short = min(width, height)
    boost = FEW_OBJECTS_BOOST.get(len(objects), 1.0)
    by_cell: dict[str, list[int]] = {}
    for i, obj in enumerate(objects):
        by_cell.setdefault(obj.position, []).append(i)
    out: list[list[_Box]] = [[] for _ in objects]
    for cell, members in by_cell.items():
        cx, cy = CELLS.get(cell, CELLS["center"])
        sides = []
        for i in members:
            obj = objects[i]
            fraction = min(SIZE_FRACTION[obj.size] * boost, MAX_SIDE_FRACTION)
            if len(objects) == 1 and obj.count == 1:
                fraction = max(fraction, LONE_SIDE_FRACTION)
            side = fraction * short
            if obj.count > 1:
                side *= max(0.55, 1 / math.sqrt(obj.count))
            sides.append(side)
        gap = 0.04 * short
        row = sum(s * objects[i].count for s, i in zip(sides, members)) + gap * (
            sum(objects[i].count for i in members) - 1)
        scale = min(1.0, 0.96 * width / row) if row > 0 else 1.0
        x = cx * width - row * scale / 2
        # A row wider than the room right of the cell's start slides back onto the canvas.
        x = min(max(x, 0.02 * width), 0.98 * width - row * scale)
        for side, i in zip(sides, members):
            side *= scale
            y = min(max(cy * height, side / 2), height - side / 2)
            for _ in range(objects[i].count):
                out[i].append(_Box(x + side / 2, y, side))
                x += side + gap * scale
    return out


def _inner(svg: str | None) -> str | None:
    if svg is None:
        return None
    found = _INNER.match(svg)
    return found.group(1) if found else None


def _placed(inner: str, box: _Box) -> str:
    scale = box.side / ILLUSTRATION_SIDE
    left, top = box.x - box.side / 2, box.y - box.side / 2
    return (f'<g transform="translate({left:.2f} {top:.2f}) scale({scale:.4f})">'
            f"{inner}</g>")


def _shape(head: str, box: _Box, colour: str | None) -> str:
    """A plain shape for `head` in the box: today's drawing vocabulary."""
    fill = COLOURS[colour] if colour is not None else "#808080"
    x, y, r = box.x, box.y, box.side / 2
    if head in ("circle", "dot", "disc", "disk", "ball", "sun", "moon", "wheel"):
        return f'<circle cx="{x:.2f}" cy="{y:.2f}" r="{r:.2f}" fill="{fill}"/>'
    if head in ("oval", "ellipse", "egg"):
        return (f'<ellipse cx="{x:.2f}" cy="{y:.2f}" rx="{r:.2f}" ry="{r * 0.65:.2f}" '
                f'fill="{fill}"/>')
    if head == "triangle":
        return (f'<polygon points="{x:.2f},{y - r:.2f} {x + r:.2f},{y + r:.2f} '
                f'{x - r:.2f},{y + r:.2f}" fill="{fill}"/>')
    if head == "star":
        points = " ".join(
            f"{x + (r if k % 2 == 0 else r * 0.4) * math.sin(k * math.pi / 5):.2f},"
            f"{y - (r if k % 2 == 0 else r * 0.4) * math.cos(k * math.pi / 5):.2f}"
            for k in range(10))
        return f'<polygon points="{points}" fill="{fill}"/>'
    if head in ("line", "stripe"):
        return (f'<line x1="{x - r:.2f}" y1="{y:.2f}" x2="{x + r:.2f}" y2="{y:.2f}" '
                f'stroke="{fill}" stroke-width="{max(1.0, r / 8):.2f}"/>')
    if head in ("table", "desk", "bench"):
        # A top and two legs: furniture the library lacks, still recognisable.
        fill = COLOURS[colour] if colour is not None else "#a0522d"
        top, leg = r * 0.16, r * 0.14
        return (f'<g fill="{fill}"><rect x="{x - r:.2f}" y="{y - r * 0.3:.2f}" '
                f'width="{2 * r:.2f}" height="{top:.2f}"/>'
                f'<rect x="{x - r * 0.85:.2f}" y="{y - r * 0.3:.2f}" width="{leg:.2f}" '
                f'height="{r * 1.1:.2f}"/><rect x="{x + r * 0.85 - leg:.2f}" '
                f'y="{y - r * 0.3:.2f}" width="{leg:.2f}" height="{r * 1.1:.2f}"/></g>')
    if head in ("rectangle", "wall", "road"):
        return (f'<rect x="{x - r:.2f}" y="{y - r * 0.5:.2f}" width="{2 * r:.2f}" '
                f'height="{r:.2f}" fill="{fill}"/>')
    return (f'<rect x="{x - r:.2f}" y="{y - r:.2f}" width="{2 * r:.2f}" height="{2 * r:.2f}" '
            f'rx="{r * (0 if head in ("square", "box") else 0.15):.2f}" fill="{fill}"/>')


def _hls(hex_colour: str) -> tuple[float, float, float]:
    digits = hex_colour.lstrip("#")
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    r, g, b = (int(digits[i:i + 2], 16) / 255 for i in (0, 2, 4))
    return colorsys.rgb_to_hls(r, g, b)


def _hue_distance(a: float, b: float) -> float:
    d = abs(a - b) * 360 % 360
    return min(d, 360 - d)


def _wants_tint(match: Match, inner: str, colour: str) -> bool:
    """Tint unless the illustration's name says the colour or it already has the hue."""
    if colour in match.illustration.words:
        return False
    th, tl, ts = _hls(COLOURS[colour])
    for _, value in _HEX_PAINT.findall(inner):
        h, light, s = _hls(value)
        if ts < 0.2:  # white, black, gray: the same lightness, little colour
            if s < 0.25 and abs(light - tl) < 0.2:
                return False
        elif s > 0.3 and 0.15 < light < 0.9 and _hue_distance(h, th) < _SAME_HUE:
            return False
    return True


def _tint(inner: str, target: str) -> str:
    """Coloured fills (not outlines: those are strokes) moved to `target`'s hue, their
    lightness kept; for an achromatic target, greyed towards its lightness."""
    th, tl, ts = _hls(target)

    def repaint(found: re.Match[str]) -> str:
        h, light, s = _hls(found.group(2))
        if s < 0.15 and (light < 0.1 or light > 0.95):
            return found.group(0)  # black and white details stay
        if ts < 0.2:
            light, s = 0.3 * light + 0.7 * tl, 0.0
        else:
            h, s = th, max(0.45, ts * 0.85)
            light = min(max(light, 0.25), 0.8)
        r, g, b = colorsys.hls_to_rgb(h, light, s)
        return f'{found.group(1)}="#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"'

    return _HEX_PAINT.sub(repaint, inner)
