"""Per-candidate extraction of function calls from a local model's streamed text.

The model writes `text <tool_call>{"name": ..., "arguments": {...}}</tool_call> ...`, or,
as small models often do, the call object bare: `{"name": ..., "arguments": {...}}`
(backends/local_prompt.py; the calls grammar holds both to the declared functions). Text
before the first call streams on as text, except what could still be the start of a call
and trailing whitespace, which are held back until the next text shows what they were (a
turn that only calls has no content). A call is released whole once it is complete. One
extractor per candidate (DESIGN rule 4): candidates never share parse state.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ParsedCall:
    name: str
    args: dict[str, Any]


class MalformedCall(ValueError):
    """A call whose text is not `{"name": <string>, "arguments": <object>}`."""


class _Mode(enum.Enum):
    TEXT = 0
    TAGGED = 1  # inside open … close markers
    BARE = 2  # inside a bare call object


_DECODER = json.JSONDecoder()


class CallExtractor:
    def __init__(self, *, open_marker: str, close_marker: str, bare_start: str) -> None:
        self._open = open_marker
        self._close = close_marker
        self._bare = re.compile(bare_start)
        self._held = ""
        self._mode = _Mode.TEXT
        self.calls = 0

    def feed(self, text: str) -> list[str | ParsedCall]:
        """Raises MalformedCall when a completed call does not parse."""
        buf = self._held + text
        out: list[str | ParsedCall] = []
        while True:
            match self._mode:
                case _Mode.TAGGED:
                    end = buf.find(self._close)
                    if end == -1:
                        self._held = buf
                        return out
                    out.append(_parse(buf[:end]))
                    buf = buf[end + len(self._close) :]
                case _Mode.BARE:
                    try:
                        value, end = _DECODER.raw_decode(buf)
                    except ValueError:  # not complete yet
                        self._held = buf
                        return out
                    out.append(_call_of(value))
                    buf = buf[end:]
                case _Mode.TEXT:
                    start, mode, skip = self._next_call(buf)
                    if mode is None:
                        keep = max(
                            _marker_prefix_len(buf, self._open), _bare_prefix_len(buf)
                        )
                        safe = buf[: len(buf) - keep]
                        stripped = _strip_junk(safe)
                        if stripped:
                            out.append(stripped)
                        self._held = safe[len(stripped) :] + buf[len(buf) - keep :]
                        return out
                    before = _strip_junk(buf[:start])
                    if before:
                        out.append(before)
                    self._mode = mode
                    buf = buf[start + skip :]
                    continue
            self.calls += 1
            self._mode = _Mode.TEXT

    def finish(self) -> tuple[list[str], bool]:
        """End of the candidate: the held-back text to release, and whether a call was
        left open (cut by max_tokens or a stop sequence)."""
        held, self._held = self._held, ""
        if self._mode is not _Mode.TEXT:
            return [], True
        # Whitespace (or a code fence) after the last call is not content; text that never
        # met a call is.
        if self.calls and not _strip_junk(held):
            return [], False
        return ([held] if held else []), False

    def _next_call(self, buf: str) -> tuple[int, _Mode | None, int]:
        """Where the next call starts in `buf`, its form, and how many characters of the
        opening belong to no JSON (the marker)."""
        tagged = buf.find(self._open)
        bare = self._bare.search(buf)
        if bare is not None and (tagged == -1 or bare.start() < tagged):
            return bare.start(), _Mode.BARE, 0
        if tagged != -1:
            return tagged, _Mode.TAGGED, len(self._open)
        return -1, None, 0


# What may surround a call without being content: whitespace, and the ```json fence small
# models put around a bare call object (or the start of one).
_JUNK_SUFFIX = re.compile(r"(?:\s|`{1,3}(?:j(?:s(?:o(?:n)?)?)?)?)*\Z")


def _strip_junk(text: str) -> str:
    """`text` without trailing whitespace and code-fence openers."""
    match = _JUNK_SUFFIX.search(text)
    return text[: match.start()] if match else text


def _marker_prefix_len(buf: str, marker: str) -> int:
    """Length of the longest suffix of `buf` that is a proper prefix of `marker`."""
    for k in range(min(len(marker) - 1, len(buf)), 0, -1):
        if buf.endswith(marker[:k]):
            return k
    return 0


# What a bare call's opening can look like before it is complete: `{`, `{ "na`, ...
_BARE_PREFIX = re.compile(r'\{\s*(?:"(?:n(?:a(?:m(?:e(?:"\s*)?)?)?)?)?)?\Z')


def _bare_prefix_len(buf: str) -> int:
    start = buf.rfind("{")
    if start == -1 or _BARE_PREFIX.match(buf, start) is None:
        return 0
    return len(buf) - start


def _parse(body: str) -> ParsedCall:
    try:
        value = json.loads(body)
    except ValueError as exc:
        raise MalformedCall(f"the call is not JSON: {exc}") from None
    return _call_of(value)


def _call_of(value: Any) -> ParsedCall:
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        raise MalformedCall('the call is not {"name": ..., "arguments": {...}}')
    args = value.get("arguments", {})
    if isinstance(args, str):  # some models write the arguments as a JSON string
        try:
            args = json.loads(args) if args.strip() else {}
        except ValueError:
            raise MalformedCall("the call's arguments are not JSON") from None
    if not isinstance(args, dict):
        raise MalformedCall("the call's arguments are not a JSON object")
    return ParsedCall(name=value["name"], args=args)
