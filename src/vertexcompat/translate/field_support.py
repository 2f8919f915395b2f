"""The one table of which OpenAI request fields are honoured: the top-level fields, and
the fields of Google's `google` object (SPEC §5) in either of its wire forms.

Anything else in the body is ignored (seed: "unsupported parameters are ignored") and its
name is reported in the `x-vertexcompat-ignored-params` response header, so a client can
see that e.g. `logprobs` had no effect instead of silently getting a different answer. A
field of the `google` object is named by its path as sent (`google.x` or
`extra_body.google.x`). Later issues move names from "ignored" to the honoured tables as
they are implemented.

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
        "logprobs",
        "top_logprobs",
        "response_format",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "functions",
        "function_call",
        # Thinking (issue 5): budgets, visible thoughts, tag marker, signatures. Of the
        # `google` object, only `HONOURED_GOOGLE_FIELDS` are acted on.
        "reasoning_effort",
        "google",
        "extra_body",
        # Image output (issue 7): translate/image_options.py.
        "modalities",
        "size",
        # Grounding (issue 18): translate/grounding.py. The field is acted on; its options
        # are not, as Vertex's docs say (`HONOURED_WEB_SEARCH_OPTIONS`).
        "web_search_options",
    }
)


# The fields of `google` / `extra_body.google` acted on; any other a client must see had
# no effect. Safety settings (issue 17) are read in both spellings; `tools` holds
# Gemini's grounding tools (issue 18).
HONOURED_GOOGLE_FIELDS: frozenset[str] = frozenset(
    {
        "thinking_config", "thought_tag_marker", "image_config", "cached_content",
        "safety_settings", "safetySettings", "tools",
    }
)
# A literal `extra_body` key carries only the `google` object.
HONOURED_EXTRA_BODY_FIELDS: frozenset[str] = frozenset({"google"})
# `web_search_options` asks for grounding; none of its options (`search_context_size`,
# `user_location`) changes how: each is reported as `web_search_options.x`.
HONOURED_WEB_SEARCH_OPTIONS: frozenset[str] = frozenset()


def ignored_params(raw_body: Mapping[str, Any]) -> list[str]:
    """The paths of the request body's fields that this server does not act on, sorted:
    top-level keys, keys of the `google` object (`google.x`, `extra_body.google.x`) and
    of `web_search_options`. An object of the wrong type is not looked into (the request
    fails validation)."""
    ignored = [key for key in raw_body if key not in HONOURED_FIELDS]
    ignored += _ignored_keys(
        raw_body.get("web_search_options"), "web_search_options", HONOURED_WEB_SEARCH_OPTIONS
    )
    ignored += _ignored_keys(raw_body.get("google"), "google", HONOURED_GOOGLE_FIELDS)
    extra_body = raw_body.get("extra_body")
    ignored += _ignored_keys(extra_body, "extra_body", HONOURED_EXTRA_BODY_FIELDS)
    if isinstance(extra_body, Mapping):
        ignored += _ignored_keys(
            extra_body.get("google"), "extra_body.google", HONOURED_GOOGLE_FIELDS
        )
    return sorted(ignored)


def _ignored_keys(value: Any, path: str, honoured: frozenset[str]) -> list[str]:
    if not isinstance(value, Mapping):
        return []
    return [f"{path}.{key}" for key in value if key not in honoured]


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
