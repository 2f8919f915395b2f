"""Safety-classifier failures that are ours, not the client's: a model file that is missing or
does not match its pinned sha256. A broken install is a server fault (503 at the boundary),
never the caller's 400."""

from __future__ import annotations


class SafetyModelError(RuntimeError):
    """A classifier's model data could not be found, verified or loaded."""
