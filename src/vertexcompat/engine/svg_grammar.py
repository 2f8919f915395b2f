"""A GBNF grammar for the SVG subset a local model may draw (issue 7): one short caption
line, then one `<svg>` document of basic shapes.

What it admits: `rect`, `circle`, `ellipse`, `line`, `polygon`, `polyline`, `path`, `text`,
one level of `g` (with `transform`), a first `rect` that covers the canvas (the background),
and up to `max_gradients` linear or radial gradients
in one leading `<defs>`; paint is `fill` / `stroke` / `stroke-width` / `opacity` with a
named colour or `#hex`. Attribute order is fixed per element (it is the order models
write them in anyway), and every repetition is bounded, so the element count has a hard
ceiling (`SvgGrammarSpec.max_elements`) that stays under the sanitizer's limit, and no
number, path or text can run on until `max_tokens`.

What it cannot produce, whatever the prompt says: scripts, event handlers (`on*`), `style`,
`foreignObject`, `image`, `use`, any `href` or external reference (the only `url(...)` is
`url(#gN)`, a local gradient), entities or CDATA. The output is sanitized again before it
is rendered (defence in depth: media/svg/sanitize.py).
"""

from __future__ import annotations

from dataclasses import dataclass

# CSS named colours the model may use: the common ones small models know by name.
NAMED_COLORS: tuple[str, ...] = (
    "black", "white", "red", "green", "blue", "yellow", "orange", "purple", "pink", "brown",
    "gray", "grey", "cyan", "magenta", "navy", "teal", "lime", "maroon", "olive", "silver",
    "gold", "skyblue", "darkgreen", "darkblue", "darkred", "lightblue", "lightgreen",
    "lightgray", "violet", "indigo", "beige", "tan", "coral", "salmon", "crimson",
    "turquoise", "khaki", "orchid", "chocolate", "sienna", "tomato", "steelblue",
)


@dataclass(frozen=True, slots=True)
class SvgGrammarSpec:
    """The bounds of one drawing grammar. `width` x `height` is the canvas the model draws
    on (the `viewBox`); the renderer scales it to the requested pixel size."""

    width: int
    height: int
    max_items: int = 24  # top-level shapes or groups
    max_group_items: int = 6  # shapes in one group (groups do not nest)
    max_gradients: int = 2
    max_stops: int = 4
    max_points: int = 16  # polygon / polyline vertices
    max_path_chars: int = 300
    max_text_chars: int = 60
    max_caption_chars: int = 100

    @property
    def max_elements(self) -> int:
        """The most elements any admitted document has (svg, defs and background included)."""
        gradients = self.max_gradients * (1 + self.max_stops)
        return 3 + gradients + self.max_items * (1 + self.max_group_items)

    @property
    def opening_tag(self) -> str:
        # No xmlns, width or height: the sanitizer writes the root itself (and the pixel
        # size is the renderer's); every token here is one more decoding step.
        return f'<svg viewBox="0 0 {self.width} {self.height}">'

    @property
    def background_prefix(self) -> str:
        """The first element, up to its colour: a rect over the whole canvas."""
        return f'<rect x="0" y="0" width="{self.width}" height="{self.height}" fill="'

    def key(self) -> str:
        return "svg:" + repr(self)


def _lit(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _attr(name: str, rule: str) -> str:
    """` name="<rule>"` as GBNF."""
    return f'{_lit(f" {name}=")} "\\"" {rule} "\\""'


def _opt(name: str, rule: str) -> str:
    return f"({_attr(name, rule)})?"


def svg_grammar(spec: SvgGrammarSpec) -> str:
    """GBNF text whose root is: caption line, newline, one SVG document."""
    colors = " | ".join(_lit(c) for c in sorted(NAMED_COLORS, key=len, reverse=True))
    presentation = " ".join((
        _opt("fill", "paint"), _opt("stroke", "color"), _opt("stroke-width", "num"),
        _opt("opacity", "frac"),
    ))
    # A shape's transform comes last, a group's first: the orders models write them in.
    paint = f"{presentation} tr?"
    end = '" "? "/>"'
    rules = {
        "root": f'caption "\\n" svg',
        # No `<`, `>`, `&` or quotes: the caption is plain text, never markup.
        "caption": f"[A-Za-z0-9] [A-Za-z0-9 ,.:;!?'()-]{{0,{spec.max_caption_chars - 1}}}",
        # The background comes first and always covers the canvas: small models otherwise
        # forget it ("a red circle on a blue background" drawn on white). At least one
        # shape follows it: a drawing that is only a background is a blank image.
        "svg": (
            f'{_lit(spec.opening_tag)} defs? background item{{1,{spec.max_items}}} sp "</svg>"'
        ),
        "background": f'sp {_lit(spec.background_prefix)} color "\\"" {end}',
        "sp": '("\\n" " "{0,4})?',
        "defs": f'sp "<defs>" grad{{1,{spec.max_gradients}}} sp "</defs>"',
        "grad": "lingrad | radgrad",
        "lingrad": (
            f'sp "<linearGradient id=\\"" gid "\\"" '
            f'({_attr("x1", "pct")} {_attr("y1", "pct")} {_attr("x2", "pct")} {_attr("y2", "pct")})? '
            f'">" stop{{2,{spec.max_stops}}} sp "</linearGradient>"'
        ),
        "radgrad": (
            f'sp "<radialGradient id=\\"" gid "\\">" stop{{2,{spec.max_stops}}} '
            f'sp "</radialGradient>"'
        ),
        "gid": f'"g" [1-{spec.max_gradients}]',
        "stop": (
            f'sp "<stop" {_attr("offset", "pct")} {_attr("stop-color", "color")} '
            f'{_opt("stop-opacity", "frac")} {end}'
        ),
        "item": "shape | group",
        "group": f'sp "<g" tr? {presentation} ">" shape{{1,{spec.max_group_items}}} sp "</g>"',
        "shape": "rect | circle | ellipse | line | polygon | polyline | path | text",
        "rect": (
            f'sp "<rect" {_opt("x", "len")} {_opt("y", "len")} {_attr("width", "len")} '
            f'{_attr("height", "len")} {_opt("rx", "num")} {paint} {end}'
        ),
        "circle": (
            f'sp "<circle" {_attr("cx", "len")} {_attr("cy", "len")} {_attr("r", "len")} '
            f"{paint} {end}"
        ),
        "ellipse": (
            f'sp "<ellipse" {_attr("cx", "len")} {_attr("cy", "len")} {_attr("rx", "len")} '
            f'{_attr("ry", "len")} {paint} {end}'
        ),
        "line": (
            f'sp "<line" {_attr("x1", "len")} {_attr("y1", "len")} {_attr("x2", "len")} '
            f'{_attr("y2", "len")} {paint} {end}'
        ),
        "polygon": f'sp "<polygon" {_attr("points", "points")} {paint} {end}',
        "polyline": f'sp "<polyline" {_attr("points", "points")} {paint} {end}',
        "points": f'pt (" " pt){{1,{spec.max_points - 1}}}',
        "pt": 'num "," " "? num',
        "path": f'sp "<path" {_attr("d", "pathd")} {paint} {end}',
        "pathd": f"[Mm] [MmLlHhVvCcSsQqTtAaZz0-9 ,.-]{{1,{spec.max_path_chars - 1}}}",
        "text": (
            f'sp "<text" {_attr("x", "len")} {_attr("y", "len")} {_opt("font-size", "num")} '
            f'{_opt("text-anchor", "anchor")} {_opt("font-family", "family")} {paint} ">" '
            f'textchars "</text>"'
        ),
        "anchor": '"start" | "middle" | "end"',
        "family": '"sans-serif" | "serif" | "monospace" | "Arial"',
        "textchars": f"[A-Za-z0-9 ,.!?'-]{{1,{spec.max_text_chars}}}",
        "tr": _attr("transform", 'tfn (" " tfn){0,2}'),
        "tfn": (
            '"translate(" num ("," " "? num)? ")" | "rotate(" num ("," " "? num "," " "? num)? ")" '
            '| "scale(" num ("," " "? num)? ")"'
        ),
        "paint": 'color | "none" | "url(#" gid ")"',
        "color": f'{colors} | "#" hex hex hex (hex hex hex)?',
        "hex": "[0-9a-fA-F]",
        "num": '"-"? [0-9]{1,4} ("." [0-9]{1,2})?',
        "len": 'num "%"?',
        "pct": '[0-9]{1,2} "%" | "100%"',
        "frac": '"0" ("." [0-9]{1,2})? | "1" (".0")? | "." [0-9]{1,2}',
    }
    return "".join(f"{name} ::= {body}\n" for name, body in rules.items())
