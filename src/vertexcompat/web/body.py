"""Reading a JSON request body: the media type (415 unless it is JSON), a size limit
enforced up front (Content-Length) and while the body streams in (chunked uploads), then
JSON that must be an object and that nothing after this module can choke on.

Python's `json` accepts more than JSON (RFC 8259) and more than the rest of the server can
carry, so `parse_json_object` narrows it before any field is read, and every refusal is a
400 whose `param` is the path of the offending value (`messages[0].content`):

- nesting deeper than `MAX_JSON_DEPTH` levels is refused before parsing, by a scan that
  does not recurse (the C parser recurses and raises RecursionError near 1,000 levels, and
  pydantic recurses again);
- `NaN`, `Infinity` and `-Infinity` (not JSON numbers, RFC 8259 §6), numbers that overflow
  a float to infinity (`1e400`), and integers of more than `MAX_INT_DIGITS` digits (Python
  refuses to convert more than 4,300 digits with a ValueError; no field means anything
  that large);
- strings and keys that are not Unicode text: the escape `"\\ud800"` decodes to a lone
  surrogate, which cannot be encoded as UTF-8 — not by the tokenizer, not in the JSON of an
  error that echoes `model`, not in a response header.

The exact checks (a Python loop per bracket, parse hooks per number, a walk over every
value) cost several times the parse itself on a body of a million small values, so each
runs only when a pass of C-speed regular expressions over the text says the body could
fail it; a typical request pays a few copies of its text.
"""

from __future__ import annotations

import json
import math
import operator
import re
from collections.abc import Iterator
from itertools import accumulate, count
from dataclasses import dataclass
from typing import Any

import anyio
from starlette.requests import Request

from vertexcompat.domain.errors import InvalidArgument, PayloadTooLarge, UnsupportedMediaType

JSON_MEDIA_TYPE = "application/json"
MAX_JSON_DEPTH = 100
MAX_INT_DIGITS = 100
# Bodies larger than this are parsed in a worker thread (a small one parses in well under
# a millisecond, less than the thread hand-off costs).
PARSE_OFF_LOOP_BYTES = 256 * 1024

_STRING = r'"[^"\\]*(?:\\.[^"\\]*)*"'  # one JSON string token, escapes and all
_STRINGS = re.compile(_STRING, re.DOTALL)
# One string or one bracket. What lies between (numbers, literals, `:` and `,`) cannot
# change the depth, and brackets inside strings do not count.
_DEPTH_TOKEN = re.compile(_STRING + r"|[\[\]{}]", re.DOTALL)
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
# Opening brackets weigh 2, closing ones 0: the depth after the i-th bracket (1-based) is
# the running sum of weights minus i.
_BRACKET_WEIGHTS = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")
# Outside strings, what a number `_parse_int` / `_parse_float` / `_Refused.constant` could
# refuse looks like: `NaN` / `Infinity`, a run of digits over the integer limit, or an
# exponent of 3+ digits (without one, a number of at most 100 digits stays below 1e200,
# far from float overflow). Separate searches with anchors: one alternation, or a digit
# run without the look-behind, costs several times more on a body of many numbers.
_LONG_DIGIT_RUN = re.compile(rf"(?<![0-9])[0-9]{{{MAX_INT_DIGITS + 1}}}")
_LONG_EXPONENT = re.compile(r"[eE][+-]?[0-9]{3}")
# In a str that came out of the JSON parser, any code point in the surrogate block is a lone
# one: the parser joins a valid `\ud83d\ude00` pair into one character.
_SURROGATE = re.compile("[\ud800-\udfff]")
# In the text before parsing, a surrogate is raw (UTF-8-encoded surrogates, decoded with
# `surrogatepass`) or an escape (a valid pair matches too). Two searches: one with an
# alternation is several times slower on a large image.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


async def read_json_object(request: Request, max_bytes: int) -> dict[str, Any]:
    """The body of a JSON endpoint, checked in the order that costs least: media type,
    size, then the JSON itself."""
    require_json_media_type(request.headers.get("content-type"))
    raw = await read_body(request, max_bytes)
    if len(raw) > PARSE_OFF_LOOP_BYTES:
        # Parsing and checking 20 MB of JSON takes a second or more: not on the event
        # loop, where it would stall every other request and stream meanwhile.
        return await anyio.to_thread.run_sync(parse_json_object, raw)
    return parse_json_object(raw)


def require_json_media_type(content_type: str | None) -> None:
    """415 unless the body is declared as `application/json` (any parameters, such as
    `charset`). A missing Content-Type is read as JSON: hand-written clients omit it, and a
    browser never does, so allowing it opens nothing. `text/plain` and form types are what a
    web page may POST cross-origin without a CORS preflight; refusing them keeps a page
    from spending a local `--no-auth` server's compute."""
    if content_type is None or not content_type.strip():
        return
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == JSON_MEDIA_TYPE:
        return
    shown = content_type if len(content_type) <= 100 else content_type[:97] + "..."
    raise UnsupportedMediaType(
        f"Unsupported Content-Type {shown!r}: this endpoint reads a JSON body; send it with "
        f"`Content-Type: {JSON_MEDIA_TYPE}`.",
        accepted=JSON_MEDIA_TYPE,
    )


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"Request payload size exceeds the limit: {limit} bytes.")


async def read_body(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            declared_size = int(declared)
        except ValueError:
            raise InvalidArgument("Invalid Content-Length header.") from None
        if declared_size > max_bytes:
            raise _too_large(max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json_object(raw: bytes) -> dict[str, Any]:
    try:
        # What json.loads(bytes) does: UTF-8, -16 or -32 by RFC 4627's detection, and
        # `surrogatepass` so that UTF-8-encoded surrogates reach the check below, which
        # names where they are.
        text = raw.decode(json.detect_encoding(raw), "surrogatepass")
    except UnicodeDecodeError as exc:
        raise InvalidArgument(f"Invalid JSON payload received. {exc}.") from None
    skeleton = _STRINGS.sub('""', text)  # what is outside strings: brackets and numbers
    if _nests_too_deep(skeleton):
        _check_depth(text)  # raises, naming the top-level field
        raise _too_deep(None)
    unusual_numbers = _may_have_unusual_numbers(skeleton)
    hooks: dict[str, Any] = (
        {"parse_constant": _Refused.constant, "parse_float": _parse_float,
         "parse_int": _parse_int}
        if unusual_numbers else {}
    )
    try:
        body = json.loads(text, **hooks)
    except RecursionError:  # unbalanced brackets the depth checks let through
        raise _too_deep(None) from None
    except ValueError as exc:  # JSONDecodeError and anything else the parser refuses
        raise InvalidArgument(f"Invalid JSON payload received. {exc}.") from None
    if not isinstance(body, dict):
        raise InvalidArgument(
            f"Invalid JSON payload received: expected an object, got {type(body).__name__}."
        )
    if unusual_numbers or _SURROGATE_ESCAPE.search(text) or _has_surrogate(text):
        _check_values(body)
    return body


def _nests_too_deep(skeleton: str) -> bool:
    """Whether the brackets outside strings nest deeper than `MAX_JSON_DEPTH`: one pass of
    C iterators, about a second for 20 MB of brackets (json.loads takes several)."""
    brackets = _NOT_BRACKETS.sub("", skeleton)
    if brackets.count("[") + brackets.count("{") <= MAX_JSON_DEPTH:
        return False  # cannot nest deeper than it has brackets
    weights = brackets.encode("ascii").translate(_BRACKET_WEIGHTS)
    return max(map(operator.sub, accumulate(weights), count(1))) > MAX_JSON_DEPTH


def _may_have_unusual_numbers(skeleton: str) -> bool:
    return (
        "NaN" in skeleton
        or "Infinity" in skeleton
        or _LONG_DIGIT_RUN.search(skeleton) is not None
        or _LONG_EXPONENT.search(skeleton) is not None
    )


def _check_depth(text: str) -> None:
    """Raises naming the top-level field if the text nests deeper than the limit: a loop
    per bracket, run only once `_nests_too_deep` has said so."""
    depth = 0
    key_token: str | None = None  # the last string at depth 1: the key whose value we are in
    for match in _DEPTH_TOKEN.finditer(text):
        token = match.group()
        if token[0] == '"':
            if depth == 1:
                key_token = token
        elif token in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise _too_deep(_decoded_key(key_token))
        else:
            depth -= 1
            if depth == 1:
                key_token = None


def _decoded_key(token: str | None) -> str | None:
    if token is None:
        return None
    try:
        key = json.loads(token)
    except ValueError:
        return None
    return _shown_key(key) if isinstance(key, str) else None


def _too_deep(param: str | None) -> InvalidArgument:
    where = f"`{param}`" if param else "The request body"
    return InvalidArgument(
        f"Invalid JSON payload received: {where} is nested more than {MAX_JSON_DEPTH} levels "
        f"deep (the limit is {MAX_JSON_DEPTH} levels of objects and arrays).",
        param=param,
    )


@dataclass(frozen=True, slots=True)
class _Refused:
    """A number the parser read but this server refuses. Returned by the parse hooks
    rather than raised, so that `_check_values` can name where it was."""

    reason: str

    @staticmethod
    def constant(name: str) -> _Refused:
        return _Refused(f"`{name}` is not a JSON number (RFC 8259 §6); send a finite number")


def _parse_float(literal: str) -> float | _Refused:
    value = float(literal)
    if math.isinf(value):
        return _Refused(f"the number {_shorten(literal)} is out of range (it overflows to "
                        "infinity)")
    return value


def _parse_int(literal: str) -> int | _Refused:
    digits = len(literal) - literal.startswith("-")
    if digits > MAX_INT_DIGITS:
        return _Refused(f"an integer of {digits} digits is too long (at most "
                        f"{MAX_INT_DIGITS} digits)")
    return int(literal)


def _check_values(body: dict[str, Any]) -> None:
    """Every key, string and number in document order, without recursion; the first
    refused one is reported with its path."""
    stack: list[tuple[Iterator[tuple[Any, Any]], str]] = [(iter(body.items()), "")]
    while stack:
        items, path = stack[-1]
        for key, value in items:
            if isinstance(key, str):
                where = f"{path}.{_shown_key(key)}" if path else _shown_key(key)
                if _has_surrogate(key):
                    raise _not_text(where, "key")
            else:
                where = f"{path}[{key}]"
            if isinstance(value, str):
                if _has_surrogate(value):
                    raise _not_text(where, "string")
            elif isinstance(value, dict):
                stack.append((iter(value.items()), where))
                break
            elif isinstance(value, list):
                stack.append((enumerate(value), where))
                break
            elif isinstance(value, _Refused):
                raise InvalidArgument(f"Invalid value for `{where}`: {value.reason}.",
                                      param=where)
        else:
            stack.pop()


def _has_surrogate(text: str) -> bool:
    return not text.isascii() and _SURROGATE.search(text) is not None


def _shown_key(key: str) -> str:
    # A key is part of the `param` path, which goes out in a UTF-8 JSON body.
    return key.encode("utf-8", "backslashreplace").decode("utf-8") if _has_surrogate(key) else key


def _not_text(where: str, what: str) -> InvalidArgument:
    return InvalidArgument(
        f"Invalid {what} at `{where}`: it contains an unpaired UTF-16 surrogate (an escape "
        "such as `\\ud800` without its pair), which is not Unicode text and cannot be "
        "encoded as UTF-8.",
        param=where,
    )


def _shorten(literal: str) -> str:
    return literal if len(literal) <= 24 else literal[:21] + "..."
