"""Grounding (issue 18, domain/grounding.py) in the surfaces' terms.

- Whether a chat request asks to be grounded: OpenAI's `web_search_options` (any object;
  its options — context size, user location — are ignored, as Vertex's docs say), or
  Gemini's grounding tools in the `google` object's `tools` (`[{"google_search": {}}]`,
  either key spelling; also `google_search_retrieval` and `retrieval`, whose options are
  objects, read and ignored: the server searches its own index). Any other tool there
  (`code_execution`, `function_declarations`, …) is refused naming it, with `param` the
  item as the client wrote it (`extra_body.google.tools[0]`). The native surface reads its
  `tools` in translate/gemini_contents.py.
- A support's offsets as each wire counts them: the domain counts characters of the
  candidate's answer text; OpenAI's `url_citation` counts characters of `message.content`
  (`url_citations`), Gemini's `segment` UTF-8 bytes of the answer (`to_byte_offset`,
  `to_char_offset`).

Pure.
"""

from __future__ import annotations

from collections.abc import Mapping

from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.domain.events import GroundingMetadata
from vertexcompat.openai_api.request import ChatCompletionRequest, GoogleOptions
from vertexcompat.openai_api.response import Annotation, AnnotationURLCitation
from vertexcompat.translate.gemini_contents import json_kind

# The grounding tools of `google.tools`, in both spellings (Gemini's `Tool` fields).
GROUNDING_TOOL_KEYS = frozenset({
    "google_search", "googleSearch",
    "google_search_retrieval", "googleSearchRetrieval",
    "retrieval",
})
_NAMED = "`google_search` (or `google_search_retrieval`, `retrieval`)"
_FUNCTION_KEYS = frozenset({"function_declarations", "functionDeclarations"})


def to_grounding(chat: ChatCompletionRequest) -> bool:
    """Whether the request asks for a grounded answer (module docstring). Both ways may
    be sent; `google.tools: []` asks for nothing."""
    from_tools = _google_tools(chat.google_options)
    return chat.web_search_options is not None or from_tools


def _google_tools(google: GoogleOptions) -> bool:
    value = google.tools
    if value is None:
        return False
    param = google.param("tools")
    if not isinstance(value, list):
        raise InvalidArgument(
            f"`{param}` must be a list of tools such as [{{\"google_search\": {{}}}}], got "
            f"{json_kind(value)}.",
            param=param,
        )
    for t, tool in enumerate(value):
        at = f"{param}[{t}]"
        if not isinstance(tool, Mapping):
            raise InvalidArgument(
                f"`{at}` must be an object naming a tool such as {{\"google_search\": {{}}}}, "
                f"got {json_kind(tool)}.",
                param=at,
            )
        if not tool:
            raise InvalidArgument(f"`{at}` names no tool; set {_NAMED}.", param=at)
        for key, options in tool.items():
            if key not in GROUNDING_TOOL_KEYS:
                raise InvalidArgument(_other_tool(at, key), param=at)
            if not isinstance(options, Mapping):
                where = f"{at}.{key}"
                raise InvalidArgument(
                    f"`{where}` must be an object (the tool's options), got {json_kind(options)}.",
                    param=where,
                )
    return bool(value)


def _other_tool(at: str, key: object) -> str:
    shown = repr(key) if not isinstance(key, str) else f"`{key[:100]}`"
    if key in _FUNCTION_KEYS:
        return (
            f"`{at}`: {shown} is not a grounding tool; declare functions in the request's "
            "`tools` (OpenAI's `{\"type\": \"function\", ...}`)."
        )
    return (
        f"`{at}`: the tool {shown} is not supported by this server; `google.tools` takes "
        f"the grounding tools {_NAMED}."
    )


# --- offsets ----------------------------------------------------------------------------


def url_citations(grounding: GroundingMetadata, *, shift: int = 0) -> list[Annotation]:
    """OpenAI's `annotations`: one `url_citation` per (support, source) pair, in support
    order, its indices the support's character offsets moved by `shift` (the characters
    of `message.content` before the answer text, e.g. thoughts in tags). A source index
    out of range is skipped, and a citation that repeats one already made (two documents
    sharing a URL and title) is left out."""
    out: list[Annotation] = []
    seen: set[tuple[str, str, int, int]] = set()
    for support in grounding.supports:
        for k in support.sources:
            if not 0 <= k < len(grounding.sources):
                continue
            source = grounding.sources[k]
            key = (source.uri, source.title, support.start, support.end)
            if key in seen:  # two documents with one URL and title: one citation
                continue
            seen.add(key)
            out.append(Annotation(type="url_citation", url_citation=AnnotationURLCitation(
                url=source.uri, title=source.title,
                start_index=support.start + shift, end_index=support.end + shift,
            )))
    return out


def to_byte_offset(text: str, offset: int) -> int:
    """Character `offset` of `text` as a UTF-8 byte offset (clamped to the text)."""
    return len(text[: max(offset, 0)].encode("utf-8", "surrogatepass"))


def to_char_offset(encoded: bytes, offset: int) -> int:
    """UTF-8 byte `offset` of `encoded` (a text's UTF-8, `surrogatepass`) as a character
    offset (clamped to the text); a byte inside a character counts as the character's
    start."""
    at = min(max(offset, 0), len(encoded))
    while 0 < at < len(encoded) and encoded[at] & 0xC0 == 0x80:  # a continuation byte
        at -= 1
    return len(encoded[:at].decode("utf-8", "surrogatepass"))
