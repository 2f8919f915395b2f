"""What the server knows about a model it can serve."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: str            # the id clients use (a Gemini id or a local model name)
    backend_model: str  # the backend's model name it resolves to
    owned_by: str = "vertexcompat"
    context_length: int | None = None
