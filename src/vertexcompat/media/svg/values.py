"""Attribute values of the SVG subset the sanitizer lets through.

Each validator takes the model's text and returns the canonical text to write back, or None
when the value is not allowed (the sanitizer then drops the attribute). Canonical means that
validating the output again gives the same text, which is what makes sanitizing idempotent.

Numbers are finite and bounded by `MAX_COORD` (a drawing is at most a few thousand pixels;
larger values only serve to make the rasterizer work), and are written with at most four
decimals. Nothing here can name an external resource: the only reference a value can hold
is `url(#id)`, to an id in the same document.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

MAX_COORD = 100_000.0
# Transform functions per attribute: enough for any hand-written drawing, and a bound on
# the matrix products the renderer has to do.
MAX_TRANSFORMS = 16
MAX_FONT_FAMILY_CHARS = 100

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_LENGTH = re.compile(r"\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*(px|%)?\s*")
_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")
_HEX = re.compile(r"#(?:[0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})")
_RGB = re.compile(r"(rgba?)\(\s*([^()]*)\)")
_URL = re.compile(r"url\(\s*#([A-Za-z][A-Za-z0-9_-]{0,31})\s*\)")
_FONT_FAMILY = re.compile(r"[A-Za-z0-9 ,'\"_-]+")
_SEPARATORS = re.compile(r"[\s,]+")
_TRANSFORM = re.compile(r"\s*(matrix|translate|scale|rotate|skewX|skewY)\s*\(([^()]*)\)\s*,?")
_TRANSFORM_ARITY = {"matrix": (6,), "translate": (1, 2), "scale": (1, 2), "rotate": (1, 3),
                    "skewX": (1,), "skewY": (1,)}

# SVG 1.1 / CSS Color 3 colour keywords, plus CSS 4's `rebeccapurple` and `transparent`.
_COLOR_NAMES = frozenset("""
    aliceblue antiquewhite aqua aquamarine azure beige bisque black blanchedalmond blue
    blueviolet brown burlywood cadetblue chartreuse chocolate coral cornflowerblue cornsilk
    crimson cyan darkblue darkcyan darkgoldenrod darkgray darkgreen darkgrey darkkhaki
    darkmagenta darkolivegreen darkorange darkorchid darkred darksalmon darkseagreen
    darkslateblue darkslategray darkslategrey darkturquoise darkviolet deeppink deepskyblue
    dimgray dimgrey dodgerblue firebrick floralwhite forestgreen fuchsia gainsboro ghostwhite
    gold goldenrod gray grey green greenyellow honeydew hotpink indianred indigo ivory khaki
    lavender lavenderblush lawngreen lemonchiffon lightblue lightcoral lightcyan
    lightgoldenrodyellow lightgray lightgreen lightgrey lightpink lightsalmon lightseagreen
    lightskyblue lightslategray lightslategrey lightsteelblue lightyellow lime limegreen linen
    magenta maroon mediumaquamarine mediumblue mediumorchid mediumpurple mediumseagreen
    mediumslateblue mediumspringgreen mediumturquoise mediumvioletred midnightblue mintcream
    mistyrose moccasin navajowhite navy oldlace olive olivedrab orange orangered orchid
    palegoldenrod palegreen paleturquoise palevioletred papayawhip peachpuff peru pink plum
    powderblue purple rebeccapurple red rosybrown royalblue saddlebrown salmon sandybrown
    seagreen seashell sienna silver skyblue slateblue slategray slategrey snow springgreen
    steelblue tan teal thistle tomato transparent turquoise violet wheat white whitesmoke
    yellow yellowgreen
""".split())

# Arguments per path command; arcs (`a`) carry two one-character flags at positions 3 and 4.
_PATH_ARITY = {"m": 2, "l": 2, "t": 2, "h": 1, "v": 1, "c": 6, "s": 4, "q": 4, "a": 7, "z": 0}
_PATH_COMMAND = re.compile(r"[\s,]*([MmLlHhVvCcSsQqTtAaZz])")
_PATH_NUMBER = re.compile(r"[\s,]*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")
_PATH_FLAG = re.compile(r"[\s,]*([01])")


def format_number(value: float) -> str:
    """Shortest fixed-point text with at most four decimals (`12.5`, `-3`, `0.0001`)."""
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def number(text: str) -> float | None:
    """A plain SVG number, finite and within ±MAX_COORD."""
    stripped = text.strip()
    if not _NUMBER.fullmatch(stripped):
        return None
    return _bounded(float(stripped))


def coordinate(text: str) -> str | None:
    """A length that may be negative: `12`, `-3.5px`, `50%` (px is the default unit)."""
    return _length(text, minimum=-MAX_COORD)


def non_negative_length(text: str) -> str | None:
    """width, height, r, rx, ry, stroke-width: a negative value is an error in SVG."""
    return _length(text, minimum=0.0)


def positive_length(text: str) -> str | None:
    """font-size: zero draws nothing, so it is as good as absent."""
    value = _length(text, minimum=0.0)
    return None if value is None or value in ("0", "0%") else value


def miter_limit(text: str) -> str | None:
    """stroke-miterlimit: a plain number, at least 1 (SVG's own lower bound)."""
    value = number(text)
    return None if value is None or value < 1 else format_number(value)


def fraction(text: str) -> str | None:
    """opacity, offset: a number or a percentage, clamped to 0..1 as CSS does."""
    match = _LENGTH.fullmatch(text)
    if match is None or match.group(2) == "px":
        return None
    value = _bounded(float(match.group(1)))
    if value is None:
        return None
    if match.group(2) == "%":
        value /= 100.0
    return format_number(min(1.0, max(0.0, value)))


def identifier(text: str) -> str | None:
    """An id: ASCII, starts with a letter, at most 32 characters."""
    stripped = text.strip()
    return stripped if _ID.fullmatch(stripped) else None


def color(text: str) -> str | None:
    """A colour keyword, `#rgb`/`#rgba`/`#rrggbb`/`#rrggbbaa`, or `rgb()`/`rgba()` numbers."""
    lowered = text.strip().lower()
    if lowered in _COLOR_NAMES or _HEX.fullmatch(lowered):
        return lowered
    match = _RGB.fullmatch(lowered)
    if match is None:
        return None
    args = [a for a in _SEPARATORS.split(match.group(2).replace("/", " ")) if a]
    if len(args) not in (3, 4):
        return None
    channels = [_channel(a) for a in args[:3]]
    if any(c is None for c in channels):
        return None
    body = ",".join(str(c) for c in channels)
    if len(args) == 3:
        return f"rgb({body})"
    alpha = fraction(args[3])
    return None if alpha is None else f"rgba({body},{alpha})"


def paint(text: str) -> str | None:
    """fill, stroke: `none`, a colour, or `url(#id)` naming a gradient of this document."""
    stripped = text.strip()
    if stripped.lower() == "none":
        return "none"
    match = _URL.fullmatch(stripped)
    if match is not None:
        return f"url(#{match.group(1)})"
    return color(stripped)


def paint_reference(value: str) -> str | None:
    """The id a canonical paint value points at, if it is a `url(#id)`."""
    match = _URL.fullmatch(value)
    return match.group(1) if match else None


def keyword(*allowed: str) -> Callable[[str], str | None]:
    """A validator accepting exactly one of `allowed` (as written in the SVG spec)."""
    choices = frozenset(allowed)

    def validate(text: str) -> str | None:
        stripped = text.strip()
        return stripped if stripped in choices else None

    return validate


def font_family(text: str) -> str | None:
    stripped = " ".join(text.split())
    if not stripped or len(stripped) > MAX_FONT_FAMILY_CHARS:
        return None
    return stripped if _FONT_FAMILY.fullmatch(stripped) else None


def font_weight(text: str) -> str | None:
    stripped = text.strip().lower()
    if stripped in ("normal", "bold", "bolder", "lighter"):
        return stripped
    return stripped if stripped in {str(w) for w in range(100, 1000, 100)} else None


def transform(text: str) -> str | None:
    """A transform list of translate/scale/rotate/skewX/skewY/matrix with numeric arguments."""
    functions: list[str] = []
    position = 0
    while position < len(text):
        match = _TRANSFORM.match(text, position)
        if match is None:
            # Whitespace may end the list; anything else makes the whole list invalid,
            # as it does in the SVG spec.
            if text[position:].strip():
                return None
            break
        name, raw_args = match.group(1), match.group(2)
        args = _numbers(raw_args)
        if args is None or len(args) not in _TRANSFORM_ARITY[name]:
            return None
        functions.append(f"{name}({' '.join(format_number(a) for a in args)})")
        if len(functions) > MAX_TRANSFORMS:
            return None
        position = match.end()
    return " ".join(functions) if functions else None


def view_box(text: str) -> tuple[float, float, float, float] | None:
    """`min-x min-y width height` with a positive width and height."""
    parts = _numbers(text)
    if parts is None or len(parts) != 4:
        return None
    x, y, w, h = parts
    return (x, y, w, h) if w > 0 and h > 0 else None


def points(text: str, *, max_chars: int) -> str | None:
    """polyline/polygon points as `x,y x,y`. An odd trailing number is dropped, as SVG renders
    up to the first error."""
    if len(text) > max_chars:
        return None
    numbers = _numbers(text)
    if numbers is None or len(numbers) < 2:
        return None
    pairs = [f"{format_number(x)},{format_number(y)}"
             for x, y in zip(numbers[0::2], numbers[1::2], strict=False)]
    return " ".join(pairs)


def path_data(text: str, *, max_chars: int) -> str | None:
    """Path data rewritten canonically (`M10 20L30 40Z`). SVG renders a path up to its first
    error, so an error — including a number out of bounds or a cut-off tail — ends the path
    there instead of dropping it; a path that does not start with a moveto is dropped."""
    if len(text) > max_chars:
        return None
    segments: list[str] = []
    position = 0
    while True:
        match = _PATH_COMMAND.match(text, position)
        if match is None:
            break
        command = match.group(1)
        if not segments and command not in "Mm":
            return None
        position = match.end()
        arity = _PATH_ARITY[command.lower()]
        if arity == 0:
            segments.append(command)
            continue
        values: list[str] = []
        while True:
            group = _path_arguments(text, position, command, arity)
            if group is None:
                break
            args, position = group
            values.extend(args)
        if not values:
            break
        segments.append(command + " ".join(values))
    return "".join(segments) if segments else None


def _path_arguments(text: str, position: int, command: str,
                    arity: int) -> tuple[list[str], int] | None:
    """One complete argument group of `command` at `position`, or None (an error or the end)."""
    args: list[str] = []
    for index in range(arity):
        if command in "Aa" and index in (3, 4):
            flag = _PATH_FLAG.match(text, position)
            if flag is None:
                return None
            args.append(flag.group(1))
            position = flag.end()
            continue
        match = _PATH_NUMBER.match(text, position)
        if match is None:
            return None
        value = _bounded(float(match.group(1)))
        if value is None:
            return None
        args.append(format_number(value))
        position = match.end()
    return args, position


def _numbers(text: str) -> list[float] | None:
    """Numbers separated by whitespace and/or commas; None if any is not a bounded number."""
    numbers: list[float] = []
    for part in _SEPARATORS.split(text.strip()):
        if not part:
            continue
        value = number(part)
        if value is None:
            return None
        numbers.append(value)
    return numbers


def _length(text: str, *, minimum: float) -> str | None:
    match = _LENGTH.fullmatch(text)
    if match is None:
        return None
    value = _bounded(float(match.group(1)))
    if value is None or value < minimum:
        return None
    return format_number(value) + ("%" if match.group(2) == "%" else "")


def _channel(text: str) -> int | None:
    match = _LENGTH.fullmatch(text)
    if match is None or match.group(2) == "px":
        return None
    value = _bounded(float(match.group(1)))
    if value is None:
        return None
    if match.group(2) == "%":
        value = value * 255.0 / 100.0
    return int(round(min(255.0, max(0.0, value))))


def _bounded(value: float) -> float | None:
    return value if math.isfinite(value) and abs(value) <= MAX_COORD else None
