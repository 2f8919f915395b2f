"""The one table of which top-level OpenAI request fields are honoured.

Anything else in the body is ignored (seed: "unsupported parameters are ignored") and its
name is reported in the `x-vertexcompat-ignored-params` response header, so a client can
see that e.g. `logprobs` had no effect instead of silently getting a different answer.
Later issues move names from "ignored" to `HONOURED_FIELDS` as they are implemented.

A JSON key is any Unicode text; a header value is visible ASCII (RFC 9110 §5.5), written as
Latin-1 by the server, and CR/LF in it would end the header. So each name is
percent-encoded (RFC 3986 §2.1, its UTF-8 bytes) except for visible ASCII other than `%`
and `,` — the comma separates names — and `urllib.parse.unquote` gives the name back. The
value stops before `MAX_IGNORED_PARAMS_HEADER_CHARS` (a client's whole header block is
often capped near 16 KiB: h11, which httpx and the openai SDK use, allows 16 KiB); the
names left out are counted in `x-vertexcompat-ignored-params-omitted`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

IGNORED_PARAMS_HEADER = "x-vertexcompat-ignored-params"
IGNORED_PARAMS_OMITTED_HEADER = "x-vertexcompat-ignored-params-omitted"
MAX_IGNORED_PARAMS_HEADER_CHARS = 2048

# Kept as they are in a header name list: visible ASCII but `%` (the escape) and `,`.
_HEADER_SAFE = frozenset(chr(c) for c in range(0x21, 0x7F)) - {"%", ","}

HONOURED_FIELDS: frozenset[str] = frozenset(
    {
        "model",
        "messages",
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "n",
        "seed",
        "stop",
        "frequency_penalty",
        "presence_penalty",
        "stream",
        "stream_options",
        "response_format",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "functions",
        "function_call",
        # Thinking (issue 5): budgets, visible thoughts, tag marker, signatures. Other keys
        # inside `google` / `extra_body` (safety_settings, cached_content) are not yet acted
        # on; they are nested, so this top-level table cannot name them.
        "reasoning_effort",
        "google",
        "extra_body",
        # Image output (issue 7): translate/image_options.py.
        "modalities",
        "size",
    }
)


def ignored_params(raw_body: Mapping[str, Any]) -> list[str]:
    """Top-level keys of the request body that this server does not act on, sorted."""
    return sorted(key for key in raw_body if key not in HONOURED_FIELDS)


def ignored_params_header(raw_body: Mapping[str, Any]) -> dict[str, str]:
    """The response headers naming the ignored fields, header-safe (module docstring);
    empty when nothing was ignored."""
    listed: list[str] = []
    length = 0
    names = ignored_params(raw_body)
    for name in names:
        encoded = header_safe_name(name)
        length += len(encoded) + (1 if listed else 0)
        if length > MAX_IGNORED_PARAMS_HEADER_CHARS:
            break
        listed.append(encoded)
    headers = {IGNORED_PARAMS_HEADER: ",".join(listed)} if listed else {}
    if len(listed) < len(names):
        headers[IGNORED_PARAMS_OMITTED_HEADER] = str(len(names) - len(listed))
    return headers


def header_safe_name(name: str) -> str:
    """`name` percent-encoded for a comma-separated header value; never raises (a lone
    surrogate is encoded as the bytes `surrogatepass` gives it)."""
    if all(ch in _HEADER_SAFE for ch in name):
        return name
    return "".join(
        ch if ch in _HEADER_SAFE
        else "".join(f"%{byte:02X}" for byte in ch.encode("utf-8", "surrogatepass"))
        for ch in name
    )
