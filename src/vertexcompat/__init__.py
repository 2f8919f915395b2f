"""vertexcompat: a self-hosted, Vertex-AI-compatible Chat Completions server for Gemini."""

__version__ = "0.1.0"
