"""Perception failures that are ours, not the client's: a model file that is missing or
corrupt. The media itself was checked by the intake before perception saw it, so these are
server faults (a broken install), to be mapped to 503 at the boundary, never to 400."""

from __future__ import annotations


class PerceptionModelError(RuntimeError):
    """A perception model could not be found, assembled or verified."""
