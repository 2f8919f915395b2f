"""The local backend on the llama.cpp engine: plan (plan.py) → engine (backend.py runs the
job) → answers (answers.py)."""

from vertexcompat.backends.local.backend import LocalBackend

__all__ = ["LocalBackend"]
