"""`EmbeddingCache`: the embeddings of fixed text lists kept on disk, so a process that starts
does not embed again what one before it already did. The server keeps its cache under
`<data_dir>/embeddings` (container.py) for the safety classifier's ~770 exemplars (~1.8 s of
CPU to embed) and the illustration library's names (~2.7 s), which every server process
would otherwise embed on its first rated or illustrated request.

A list's vectors are one file, `<directory>/<key>.npy`. The key is the sha256 of one JSON
document holding the embedder's `identity()` (the model's and tokenizer's pinned sha256,
truncation, batching, the runtime's versions) and the texts in order, so a changed text,
model or setting is another file and no two lists share one. A file is written under a
temporary name in the same directory and moved into place (`os.replace`): processes that
share the directory see a whole file or none, and two that write the same list at once
write the same bytes. It is read with `allow_pickle=False`; anything but a finite float32
(texts × dimensions) array of unit-length rows (unreadable, cut short, another shape) is a
miss: the list is embedded again and the file replaced.

The cache never fails a call: a directory that cannot be created or written only means
nothing is kept. Nothing is deleted either: the file of a list no longer asked for (a few
MB) stays until the directory is removed, which is safe at any time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from vertexcompat.embeddings.minilm import TextEmbedder

logger = logging.getLogger(__name__)

# Part of every key: bumped when what a file holds changes meaning.
FORMAT = 1
# How far from 1 a kept row's length may be (the embedder's rows are within ~1e-6).
_UNIT_TOLERANCE = 1e-3


def cache_key(identity: Mapping[str, object], texts: Sequence[str]) -> str:
    """sha256 (hex) of the embedder's identity and the texts, as one JSON document: a JSON
    list of strings says where each text ends, so no two lists give the same document."""
    document = json.dumps({"format": FORMAT, "embedder": dict(identity), "texts": list(texts)},
                          sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(document.encode("ascii")).hexdigest()


class EmbeddingCache:
    """Fixed lists' embeddings under `directory` (created on the first write). Thread- and
    process-safe: files are only ever replaced whole."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def path(self, embedder: TextEmbedder, texts: Sequence[str]) -> Path:
        """The file that holds (or would hold) `embedder`'s vectors of `texts`."""
        return self.directory / f"{cache_key(embedder.identity(), texts)}.npy"

    def embed(self, embedder: TextEmbedder, texts: Sequence[str]) -> np.ndarray:
        """`embedder.embed(texts)`, read from the list's file when an earlier call kept it,
        else computed and kept."""
        path = self.path(embedder, texts)
        kept = _read(path, (len(texts), embedder.dimensions))
        if kept is not None:
            return kept
        vectors = embedder.embed(texts)
        _write(path, vectors)
        return vectors


def _read(path: Path, shape: tuple[int, int]) -> np.ndarray | None:
    """The array in `path` if it is what the embedder would give for `shape`, else None."""
    try:
        with path.open("rb") as f:
            array = np.load(f, allow_pickle=False)
    except FileNotFoundError:
        return None
    except Exception as exc:  # whatever a damaged file raises (ValueError, EOFError, …) is a miss
        logger.warning("Embedding cache file %s is unreadable (%s); embedding again.", path, exc)
        return None
    if not (isinstance(array, np.ndarray) and array.shape == shape
            and array.dtype == np.float32 and bool(np.isfinite(array).all())
            and bool((np.abs(np.linalg.norm(array, axis=1) - 1.0) <= _UNIT_TOLERANCE).all())):
        logger.warning("Embedding cache file %s does not hold %s unit-length float32 rows; "
                       "embedding again.", path, shape)
        return None
    return array


def _write(path: Path, vectors: np.ndarray) -> None:
    """Keep `vectors` in `path`, whole or not at all (no fsync: a file a crash cut short
    reads as a miss)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=f".{path.stem[:16]}.", suffix=".tmp",
                                         dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.save(f, vectors, allow_pickle=False)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        logger.warning("Cannot keep embeddings in %s (%s); they will be computed again.",
                       path, exc)
