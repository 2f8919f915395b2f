"""Finding Vertex's `extra_body.google` object in a request, and naming its fields the way
the client wrote them.

It arrives in one of two forms (SPEC §5): a literal `"extra_body": {"google": ...}` key
(raw REST clients copying Vertex's docs) or a top-level `"google"` key (what the openai
Python SDK sends for `extra_body={"google": ...}`, which it merges into the body). Errors
must name the path the client actually used, or the message points at a key they never sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.openai_api.request import ChatCompletionRequest, GoogleExtensions

FLATTENED_PATH = "google"
LITERAL_PATH = "extra_body.google"


@dataclass(frozen=True, slots=True)
class SentGoogleExtensions:
    """The `google` object and the path it was sent under."""

    value: GoogleExtensions
    path: str  # FLATTENED_PATH or LITERAL_PATH

    def param(self, *names: str) -> str:
        """`param("thinking_config", "thinking_budget")` →
        `extra_body.google.thinking_config.thinking_budget` (or `google.…`)."""
        return ".".join((self.path, *names))


def google_extensions(chat: ChatCompletionRequest) -> SentGoogleExtensions | None:
    literal = chat.extra_body.google if chat.extra_body is not None else None
    flattened = chat.google
    if literal is not None and flattened is not None:
        raise InvalidArgument(
            "The request has both a top-level `google` object and `extra_body.google`; send "
            "the Google options once (the openai SDK's `extra_body={\"google\": ...}` already "
            "becomes the top-level `google` key).",
            param="extra_body",
        )
    if literal is not None:
        return SentGoogleExtensions(literal, LITERAL_PATH)
    if flattened is not None:
        return SentGoogleExtensions(flattened, FLATTENED_PATH)
    return None
