"""The SVG subset a drawing may use: which elements, where each may appear, and which
attributes each may carry with the validator of their values.

Anything not named here is dropped by the sanitizer. The subset is static shapes, groups,
text and gradients: no scripting, no styling language (`style`, `<style>`, `class`), no
references outside the document (`href`, `<use>`, `<image>`, `<foreignObject>`), and no
filters, masks, clips, patterns or markers, whose cost and reach are hardest to bound.
"""

from __future__ import annotations

from collections.abc import Callable

from vertexcompat.media.svg import values

# A value validator: the model's text → canonical text, or None to drop the attribute.
# `d` and `points` also need the length limit, so every validator gets it.
Validator = Callable[[str, int], str | None]

SHAPES = frozenset({"rect", "circle", "ellipse", "line", "polyline", "polygon", "path"})
GRADIENTS = frozenset({"linearGradient", "radialGradient"})
# Elements whose nesting SvgLimits.max_depth bounds.
GROUPS = frozenset({"g", "defs"})
# Elements whose character data is kept (and counted against SvgLimits.max_text_chars).
TEXT_HOLDERS = frozenset({"text", "tspan", "title"})
# Elements that put ink on the canvas: a drawing without any is rejected.
DRAWABLE = SHAPES | {"text"}

_CONTAINER_CHILDREN = SHAPES | GRADIENTS | GROUPS | {"text", "title"}

# Which elements may appear directly inside which. An element out of place is dropped with
# its subtree: a `<stop>` outside a gradient or a `<rect>` inside `<text>` means nothing.
CHILDREN: dict[str, frozenset[str]] = {
    "svg": _CONTAINER_CHILDREN,
    "g": _CONTAINER_CHILDREN,
    "defs": _CONTAINER_CHILDREN,
    **{shape: frozenset({"title"}) for shape in SHAPES},
    "text": frozenset({"tspan", "title"}),
    "tspan": frozenset(),
    "linearGradient": frozenset({"stop"}),
    "radialGradient": frozenset({"stop"}),
    "stop": frozenset(),
    "title": frozenset(),
}


def _simple(check: Callable[[str], str | None]) -> Validator:
    return lambda text, _max_chars: check(text)


VALIDATORS: dict[str, Validator] = {
    **{name: _simple(values.coordinate)
       for name in ("x", "y", "cx", "cy", "x1", "y1", "x2", "y2", "fx", "fy")},
    **{name: _simple(values.non_negative_length)
       for name in ("width", "height", "r", "rx", "ry", "fr", "stroke-width")},
    "points": lambda text, max_chars: values.points(text, max_chars=max_chars),
    "d": lambda text, max_chars: values.path_data(text, max_chars=max_chars),
    "fill": _simple(values.paint),
    "stroke": _simple(values.paint),
    "stop-color": _simple(values.color),
    **{name: _simple(values.fraction)
       for name in ("opacity", "fill-opacity", "stroke-opacity", "stop-opacity", "offset")},
    "stroke-linecap": _simple(values.keyword("butt", "round", "square")),
    "stroke-linejoin": _simple(values.keyword("miter", "round", "bevel")),
    # Issue 23: OpenMoji's illustrations use these two (both only shape the paint).
    "stroke-miterlimit": _simple(values.miter_limit),
    "fill-rule": _simple(values.keyword("nonzero", "evenodd")),
    "font-size": _simple(values.positive_length),
    "font-family": _simple(values.font_family),
    "font-weight": _simple(values.font_weight),
    "text-anchor": _simple(values.keyword("start", "middle", "end")),
    "transform": _simple(values.transform),
    "gradientTransform": _simple(values.transform),
    "gradientUnits": _simple(values.keyword("userSpaceOnUse", "objectBoundingBox")),
    "id": _simple(values.identifier),
}

PRESENTATION = ("fill", "stroke", "stroke-width", "stroke-linecap", "stroke-linejoin",
                "stroke-miterlimit", "fill-rule", "opacity", "fill-opacity", "stroke-opacity",
                "font-size", "font-family", "font-weight", "text-anchor")
_DRAWN = ("id", "transform", *PRESENTATION)

# The root `<svg>` is special-cased by the sanitizer, which writes its width, height and
# viewBox itself; of the model's attributes it keeps only these.
ROOT_ATTRIBUTES = frozenset(PRESENTATION)

# The attributes each element may carry.
ATTRIBUTES: dict[str, frozenset[str]] = {
    "g": frozenset(_DRAWN),
    "defs": frozenset({"id"}),
    "rect": frozenset({*_DRAWN, "x", "y", "width", "height", "rx", "ry"}),
    "circle": frozenset({*_DRAWN, "cx", "cy", "r"}),
    "ellipse": frozenset({*_DRAWN, "cx", "cy", "rx", "ry"}),
    "line": frozenset({*_DRAWN, "x1", "y1", "x2", "y2"}),
    "polyline": frozenset({*_DRAWN, "points"}),
    "polygon": frozenset({*_DRAWN, "points"}),
    "path": frozenset({*_DRAWN, "d"}),
    "text": frozenset({*_DRAWN, "x", "y"}),
    # SVG has no transform on <tspan>.
    "tspan": frozenset({"id", *PRESENTATION, "x", "y"}),
    "linearGradient": frozenset({"id", "x1", "y1", "x2", "y2", "gradientUnits",
                                 "gradientTransform"}),
    "radialGradient": frozenset({"id", "cx", "cy", "r", "fx", "fy", "fr", "gradientUnits",
                                 "gradientTransform"}),
    "stop": frozenset({"offset", "stop-color", "stop-opacity"}),
    "title": frozenset(),
}
