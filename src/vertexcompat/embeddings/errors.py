"""`ModelFileError`: a model's data file is missing, does not match its pinned sha256, or
cannot be loaded. A broken install is a server fault (503 at the boundary), never the
caller's 400; the message says which package to (re)install."""

from __future__ import annotations


class ModelFileError(RuntimeError):
    """A model's data file could not be found, verified or loaded."""
