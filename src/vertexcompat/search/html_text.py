"""The title and readable text of an HTML page, with the standard library's `html.parser`:
the `<title>`, and the text of the body with scripts, styles and other non-content elements
dropped. Block elements (paragraphs, headings, list items, table rows, …) end a paragraph —
a blank line in the text, where passages prefer to split — and `<br>` a line; runs of
whitespace inside a paragraph become one space, as a browser shows them.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Whose content is never text a reader sees.
_SKIPPED = frozenset({"script", "style", "noscript", "template", "svg", "math", "head",
                      "iframe", "object", "canvas", "select", "button"})
# Elements that start and end a paragraph of their own.
_BLOCKS = frozenset({
    "address", "article", "aside", "blockquote", "body", "caption", "dd", "details", "dialog",
    "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3",
    "h4", "h5", "h6", "header", "hr", "html", "legend", "li", "main", "nav", "ol", "p", "pre",
    "section", "summary", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
})
# Void elements: no end tag, so never an open skipped region.
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                   "param", "source", "track", "wbr"})
_SPACES = re.compile(r"[ \t\r\n\f\v\u00a0]+")


class _Extractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title: list[str] = []
        self.lines: list[list[str]] = [[]]  # paragraphs, each a list of lines' pieces
        self._line: list[str] = []
        self._skip_depth = 0
        self._in_title = False
        self._title_seen = False  # only the first <title> (an <svg> may hold its own)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = not self._title_seen
        elif tag in _SKIPPED and tag not in _VOID:
            self._skip_depth += 1
        elif tag == "br":
            self._end_line()
        elif tag in _BLOCKS:
            self._end_paragraph()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._end_line()
        elif tag in _BLOCKS:
            self._end_paragraph()

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._title_seen = self._title_seen or self._in_title
            self._in_title = False
        elif tag in _SKIPPED and tag not in _VOID:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in _BLOCKS:
            self._end_paragraph()

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif not self._skip_depth:
            self._line.append(data)

    def _end_line(self) -> None:
        line = _SPACES.sub(" ", "".join(self._line)).strip()
        self._line = []
        if line:
            self.lines[-1].append(line)

    def _end_paragraph(self) -> None:
        self._end_line()
        if self.lines[-1]:
            self.lines.append([])


def html_to_text(source: str) -> tuple[str | None, str]:
    """(the `<title>`, or None when there is none or it is blank; the body's text, paragraphs
    separated by blank lines)."""
    parser = _Extractor()
    parser.feed(source)
    parser.close()
    parser._end_paragraph()
    title = _SPACES.sub(" ", "".join(parser.title)).strip() or None
    text = "\n\n".join("\n".join(lines) for lines in parser.lines if lines)
    return title, text
