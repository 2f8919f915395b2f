"""`sanitize_svg`: model-written SVG → a canonical, safe SVG document for the renderer.

The grammar that constrained generation is not trusted: this module re-checks everything
against the allowlist in `allowlist.py` (elements, their placement, attributes, values) and
writes a fresh document from what survives, so nothing the model wrote reaches the renderer
verbatim — not its namespaces, comments, processing instructions, CDATA or entity spellings.

Parsing is expat without namespace processing, driven event by event: a `<!DOCTYPE>` or an
entity declaration is refused outright (they are the only way to XML entity expansion and
external entities), and a document cut off mid-element (generation hit `max_tokens`) keeps
everything before the cut. The input may be a whole `<svg>` document or just its children.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from xml.parsers import expat

from vertexcompat.media.svg import allowlist, values

SVG_NAMESPACE = "http://www.w3.org/2000/svg"
# The largest canvas side a caller may ask for: 8192² RGB is 200 MB, the renderer's bound.
MAX_CANVAS_SIDE = 8192
# SvgLimits.max_depth bounds recursion when the tree is written out.
_MAX_DEPTH_LIMIT = 64

# Our own wrapper around the model's text, so a bare list of children parses as one document.
# A name with a hyphen is not an SVG element, so it can never be confused with one.
_WRAPPER = "vertexcompat-drawing"
_DECLARATION = re.compile(r"<!\s*(?:DOCTYPE|ENTITY|ATTLIST|ELEMENT|NOTATION)", re.IGNORECASE)
# An XML declaration is only legal at the very start of an entity; inside our wrapper it
# would be a parse error, so the one at the start is removed before wrapping.
_XML_DECLARATION = re.compile(r"\s*<\?xml\s[^>]*\?>")
# Chat models like to fence code; a fence is not XML.
_FENCE_OPEN = re.compile(r"\s*```[A-Za-z]*[ \t]*\n?")
_FENCE_CLOSE = re.compile(r"\n?```\s*\Z")


@dataclass(frozen=True, slots=True)
class SvgLimits:
    max_elements: int = 200
    max_depth: int = 8  # nesting of <g>
    max_chars: int = 64_000
    max_path_chars: int = 8_000  # one `d` / `points` attribute
    max_text_chars: int = 200  # one <text> content

    def __post_init__(self) -> None:
        for name in ("max_elements", "max_chars", "max_path_chars", "max_text_chars"):
            if getattr(self, name) <= 0:
                raise ValueError(f"SvgLimits.{name} must be positive")
        if not 0 <= self.max_depth <= _MAX_DEPTH_LIMIT:
            raise ValueError(f"SvgLimits.max_depth must be within 0..{_MAX_DEPTH_LIMIT}")


class SvgRejected(Exception):
    """The model's SVG cannot become a safe drawing; `str()` is a short human reason."""


def sanitize_svg(source: str, *, width: int, height: int,
                 limits: SvgLimits = SvgLimits()) -> str:
    """Model-written SVG (a whole <svg>…</svg> document or just the children) → a canonical,
    safe SVG document string with root `<svg xmlns="http://www.w3.org/2000/svg" width=W
    height=H viewBox=…>`.

    The viewBox is the model's if valid, else `0 0 w h` from the model's own numeric width
    and height (the coordinate system it drew in), else `0 0 W H`. Unknown elements are
    dropped with their subtree, unknown or invalid attributes alone. Elements past
    `max_elements` and groups nested deeper than `max_depth` are dropped; text past
    `max_text_chars` is cut; input past `max_chars` is cut as if generation had stopped there.
    Raises SvgRejected for DOCTYPE/ENTITY declarations and when nothing drawable remains.
    Sanitizing the output again returns it unchanged.
    """
    _check_canvas(width, height)
    text = _unwrap(source[:limits.max_chars])
    if _DECLARATION.search(text):
        raise SvgRejected("DOCTYPE and ENTITY declarations are not allowed")
    builder = _TreeBuilder(limits)
    _parse(text, builder)
    root = builder.root
    if not _has_drawable(root):
        raise SvgRejected("no drawable element (shape or text) survived sanitizing")
    root.attributes = {
        "xmlns": SVG_NAMESPACE,
        "width": str(width),
        "height": str(height),
        "viewBox": _view_box(builder.source_root_attributes, width, height),
        **_clean_attributes(allowlist.ROOT_ATTRIBUTES, builder.source_root_attributes, limits),
    }
    _resolve_references(root)
    out: list[str] = []
    _write(root, out)
    return "".join(out)


@dataclass(slots=True)
class _Element:
    tag: str
    attributes: dict[str, str]
    children: list[_Element | str] = field(default_factory=list)
    # Characters of content still allowed, on <text> and <title> (tspans spend their text's).
    text_budget: int = 0


@dataclass(frozen=True, slots=True)
class _Frame:
    """One open element of the source: where its content goes, or None if it is dropped."""

    element: _Element | None
    groups: int = 0  # g/defs elements open at this point, this one included
    text_owner: _Element | None = None  # whose text_budget character data here spends


_DROPPED = _Frame(None)


class _TreeBuilder:
    """Builds the allowlisted tree from expat events as they arrive, so that whatever was
    built before a parse error is kept (the salvage of a cut-off document)."""

    def __init__(self, limits: SvgLimits) -> None:
        self._limits = limits
        self.root = _Element("svg", {})
        self.source_root_attributes: dict[str, str] = {}
        self._frames: list[_Frame] = []
        self._elements = 0
        # What the wrapper holds: "empty" so far, the model's own "svg" root, or a "fragment"
        # of bare children.
        self._top = "empty"

    def start(self, name: str, attributes: dict[str, str]) -> None:
        frames = self._frames
        if not frames:  # our wrapper
            frames.append(_Frame(self.root))
            return
        parent = frames[-1]
        if len(frames) == 1:
            if self._top == "empty" and name == "svg":
                self._top = "svg"
                self.source_root_attributes = attributes
                frames.append(_Frame(self.root))
                return
            if self._top == "svg":  # anything after the model's </svg> is not the drawing
                frames.append(_DROPPED)
                return
            self._top = "fragment"
        if parent.element is None:
            frames.append(_DROPPED)
            return
        # A nested <svg> would open a new viewport; its content is kept as a plain group.
        tag = "g" if name == "svg" else name
        groups = parent.groups + (tag in allowlist.GROUPS)
        if (tag not in allowlist.CHILDREN.get(parent.element.tag, frozenset())
                or groups > self._limits.max_depth
                or self._elements >= self._limits.max_elements):
            frames.append(_DROPPED)
            return
        element = _Element(tag, _clean_attributes(allowlist.ATTRIBUTES[tag], attributes,
                                                     self._limits))
        owner = parent.text_owner
        if tag in ("text", "title"):
            element.text_budget = self._limits.max_text_chars
            owner = element
        parent.element.children.append(element)
        self._elements += 1
        frames.append(_Frame(element, groups, owner))

    def end(self, _name: str) -> None:
        self._frames.pop()

    def characters(self, data: str) -> None:
        if not self._frames:
            return
        frame = self._frames[-1]
        element, owner = frame.element, frame.text_owner
        if element is None or owner is None or element.tag not in allowlist.TEXT_HOLDERS:
            return
        kept = data[:owner.text_budget]
        owner.text_budget -= len(kept)
        if not kept:
            return
        if element.children and isinstance(element.children[-1], str):
            element.children[-1] += kept
        else:
            element.children.append(kept)


def _parse(text: str, builder: _TreeBuilder) -> None:
    # No namespace processing: a prefixed name (`svg:rect`, `xlink:href`) stays prefixed and
    # so is never on the allowlist, and the output declares the one namespace itself.
    parser = expat.ParserCreate()
    parser.buffer_text = True
    # Belt and braces behind the _DECLARATION check: a DTD or entity never gets processed.
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_declaration
    parser.EntityDeclHandler = _refuse_declaration
    parser.ExternalEntityRefHandler = _refuse_declaration
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.characters
    try:
        parser.Parse(f"<{_WRAPPER}>", False)
        parser.Parse(text, False)
        parser.Parse(f"</{_WRAPPER}>", True)
    except expat.ExpatError:
        # Malformed from here on (typically a cut-off tail): keep what was built before.
        pass


def _refuse_declaration(*_args: object) -> int:
    raise SvgRejected("DOCTYPE and ENTITY declarations are not allowed")


def _unwrap(source: str) -> str:
    text = source.lstrip("\ufeff")
    fenced = _FENCE_OPEN.match(text)
    if fenced is not None:
        text = _FENCE_CLOSE.sub("", text[fenced.end():])
    declaration = _XML_DECLARATION.match(text)
    return text[declaration.end():] if declaration else text


def _check_canvas(width: int, height: int) -> None:
    for name, side in (("width", width), ("height", height)):
        if isinstance(side, bool) or not isinstance(side, int):
            raise TypeError(f"{name} must be an int")
        if not 1 <= side <= MAX_CANVAS_SIDE:
            raise ValueError(f"{name} must be within 1..{MAX_CANVAS_SIDE}")


def _clean_attributes(allowed: frozenset[str], raw: dict[str, str],
                      limits: SvgLimits) -> dict[str, str]:
    cleaned: dict[str, str] = {}
    for name, value in raw.items():
        if name in allowed:
            canonical = allowlist.VALIDATORS[name](value, limits.max_path_chars)
            if canonical is not None:
                cleaned[name] = canonical
    return cleaned


def _view_box(raw: dict[str, str], width: int, height: int) -> str:
    box = values.view_box(raw["viewBox"]) if "viewBox" in raw else None
    if box is None:
        # A root with width="200" height="100" and no viewBox was drawn in 0 0 200 100;
        # keeping that system lets the drawing scale to the requested canvas.
        own_w = values.non_negative_length(raw.get("width", ""))
        own_h = values.non_negative_length(raw.get("height", ""))
        if own_w and own_h and "%" not in own_w + own_h:
            box = values.view_box(f"0 0 {own_w} {own_h}")
    if box is None:
        box = (0.0, 0.0, float(width), float(height))
    return " ".join(values.format_number(v) for v in box)


def _elements(root: _Element) -> list[_Element]:
    """Every element below `root` in document order."""
    found: list[_Element] = []
    pending = [c for c in reversed(root.children) if isinstance(c, _Element)]
    while pending:
        element = pending.pop()
        found.append(element)
        pending.extend(c for c in reversed(element.children) if isinstance(c, _Element))
    return found


def _resolve_references(root: _Element) -> None:
    """Ids unique (the first one wins), and every `url(#id)` paint names a gradient that is in
    the output — else it becomes `none`, which is what browsers draw for a dangling one."""
    elements = _elements(root)
    seen: set[str] = set()
    gradients: set[str] = set()
    for element in elements:
        element_id = element.attributes.get("id")
        if element_id is None:
            continue
        if element_id in seen:
            del element.attributes["id"]
            continue
        seen.add(element_id)
        if element.tag in allowlist.GRADIENTS:
            gradients.add(element_id)
    for element in [root, *elements]:
        for name in ("fill", "stroke"):
            reference = values.paint_reference(element.attributes.get(name, ""))
            if reference is not None and reference not in gradients:
                element.attributes[name] = "none"


def _has_drawable(root: _Element) -> bool:
    return any(e.tag in allowlist.DRAWABLE for e in _elements(root))


def _write(element: _Element, out: list[str]) -> None:
    out.append(f"<{element.tag}")
    for name, value in element.attributes.items():
        out.append(f' {name}="{_escape(value, attribute=True)}"')
    if not element.children:
        out.append("/>")
        return
    out.append(">")
    for child in element.children:
        if isinstance(child, str):
            out.append(_escape(child, attribute=False))
        else:
            _write(child, out)
    out.append(f"</{element.tag}>")


def _escape(text: str, *, attribute: bool) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if attribute:
        # Parsers normalise whitespace characters in attributes; references keep them.
        text = (text.replace('"', "&quot;").replace("\t", "&#9;")
                .replace("\n", "&#10;").replace("\r", "&#13;"))
    else:
        # A bare CR would be normalised to LF on re-parsing; keep it exact.
        text = text.replace("\r", "&#13;")
    return text
