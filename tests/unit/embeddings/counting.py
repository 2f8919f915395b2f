"""`CountingEmbedder`: the real MiniLM embedder (no fake model) that records every list it
is asked to embed, so a test can tell a list read from a cache from one embedded."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vertexcompat.embeddings import TextEmbedder


class CountingEmbedder(TextEmbedder):
    def __init__(self) -> None:
        super().__init__(threads=1)
        self.lists: list[tuple[str, ...]] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.lists.append(tuple(texts))
        return super().embed(texts)
