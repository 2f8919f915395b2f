"""Safety-classifier failures that are ours, not the client's: model data that is missing,
does not match its pinned sha256, or does not parse. A broken install is a server fault (503
at the boundary), never the caller's 400. A pinned file itself (`PinnedFile`, the MiniLM
embedder) raises the generic `ModelFileError` this is a kind of: catch that for both."""

from __future__ import annotations

from vertexcompat.embeddings.errors import ModelFileError


class SafetyModelError(ModelFileError):
    """A classifier's model data could not be found, verified or loaded."""
