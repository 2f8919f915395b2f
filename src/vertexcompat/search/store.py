"""The index directory's files besides the tantivy index, and how a writer changes them while
servers read them.

    <directory>/
      tantivy/              the passages' BM25 index (`lexical.py`)
      catalog.json          the documents, in order, and which vectors file is theirs
      vectors-<token>.npy   float32 (passages × dimensions) unit-length passage embeddings,
                            one row per passage in catalog order; a zero row for a passage
                            added without an embedder
      generation            a number the writer raises after every change (to at least
                            the clock's µs: a re-created directory repeats no old one)
      write.lock            held (flock) by the one process writing

The catalog is the root: it is replaced atomically (written aside, then renamed) and names
its vectors file, which is written in full under a new name first, so a reader that reads
the catalog always finds the matrix that goes with it (the old file is deleted only after;
a reader that loses that race sees the next generation). The writer's last step is bumping
`generation`: a reader compares it before each search and reloads when it changed. Until
then readers keep searching the snapshot they have.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import secrets
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vertexcompat.search.errors import SearchIndexError

FORMAT = 1
CATALOG = "catalog.json"
GENERATION = "generation"
LOCK = "write.lock"
TANTIVY = "tantivy"


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One indexed document."""

    doc_id: str
    title: str
    url: str
    path: str
    passages: int
    added: str       # ISO 8601, UTC
    embedded: bool   # whether its passages have vectors


@dataclass(frozen=True, slots=True)
class Catalog:
    """The documents in order (their passages' vector rows follow that order), the random id
    of this index's tantivy directory (a new one means "reopen it"), and the vectors file."""

    entries: tuple[CatalogEntry, ...] = ()
    store_id: str = ""
    vectors_file: str | None = None
    dimensions: int | None = None

    @property
    def passage_count(self) -> int:
        return sum(e.passages for e in self.entries)


def read_generation(directory: Path) -> int | None:
    """The current generation, or None while nothing has been written."""
    try:
        return int((directory / GENERATION).read_text().strip() or 0)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except ValueError:
        return -1  # being replaced: os.replace makes this all but impossible; reload anyway


def bump_generation(directory: Path) -> int:
    """Raise the generation: past the previous one and to at least the clock (µs), so a
    directory deleted and made again never repeats a generation a reader still holds."""
    generation = max((read_generation(directory) or 0) + 1, time.time_ns() // 1000)
    _write_atomically(directory / GENERATION, str(generation).encode())
    return generation


def read_catalog(directory: Path) -> Catalog:
    """The catalog, empty when there is none yet."""
    path = directory / CATALOG
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Catalog()
    except (OSError, ValueError) as exc:
        raise SearchIndexError(f"the search index catalog {path} cannot be read ({exc}): "
                               "re-create the index (delete its directory, then "
                               "`vertexcompat index add` your documents again)") from exc
    if raw.get("format") != FORMAT:
        raise SearchIndexError(
            f"the search index at {directory} has format {raw.get('format')!r}; this version "
            f"reads format {FORMAT}: delete the directory and add your documents again")
    try:
        entries = tuple(CatalogEntry(**e) for e in raw["documents"])
        return Catalog(entries, raw["store_id"], raw.get("vectors_file"), raw.get("dimensions"))
    except (KeyError, TypeError) as exc:
        raise SearchIndexError(f"the search index catalog {path} is damaged ({exc}): delete "
                               "the directory and add your documents again") from exc


def read_vectors(directory: Path, catalog: Catalog) -> np.ndarray | None:
    """The catalog's vectors (rows in passage order), or None when it has none."""
    if catalog.vectors_file is None:
        return None
    path = directory / catalog.vectors_file
    try:
        vectors = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise SearchIndexError(f"the search index's vectors {path} cannot be read ({exc})") \
            from exc
    if vectors.ndim != 2 or vectors.shape[0] != catalog.passage_count:
        raise SearchIndexError(
            f"the search index's vectors {path} hold {vectors.shape[0]} rows for "
            f"{catalog.passage_count} passages: delete the directory and add the documents again")
    return np.ascontiguousarray(vectors, dtype=np.float32)


def write_catalog(directory: Path, entries: Sequence[CatalogEntry], store_id: str,
                  vectors: np.ndarray | None) -> None:
    """Write `vectors` (if any) under a new name, then the catalog naming it; delete the
    vectors files no catalog names any more."""
    vectors_file = None
    if vectors is not None:
        vectors_file = f"vectors-{secrets.token_hex(8)}.npy"
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(vectors, dtype=np.float32), allow_pickle=False)
        _write_atomically(directory / vectors_file, buffer.getvalue())
    body = {
        "format": FORMAT, "store_id": store_id, "vectors_file": vectors_file,
        "dimensions": None if vectors is None else int(vectors.shape[1]),
        "documents": [asdict(e) for e in entries],
    }
    _write_atomically(directory / CATALOG,
                      json.dumps(body, ensure_ascii=False, indent=1).encode("utf-8"))
    for stale in directory.glob("vectors-*.npy"):
        if stale.name != vectors_file:
            stale.unlink(missing_ok=True)


def new_store_id() -> str:
    return secrets.token_hex(8)


@contextlib.contextmanager
def write_lock(directory: Path, *, timeout_s: float = 30.0) -> Iterator[None]:
    """Hold `write.lock` (one writing process at a time); wait up to `timeout_s` for it."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK
    with path.open("a+b") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise SearchIndexError(
                        f"another process is changing the search index at {directory} (it "
                        f"holds {path}); try again once it has finished") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)
