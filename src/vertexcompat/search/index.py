"""The search port grounding asks (`SearchIndex`: a query in, the best passages out as
`Hit`s) and its embedded implementation, `LocalIndex`: the operator's own documents in a
directory on disk (the server's is `<data_dir>/index`), filled by `vertexcompat index add`.

`LocalIndex` ranks passages (`passages.py`) two ways and fuses the rankings by reciprocal
rank (`fusion.py`): BM25 over their words (tantivy, `lexical.py`: the 50 best), and the
cosine of their MiniLM embeddings with the query's (the 50 best of all of them: a matrix
product over every passage's vector, `store.py`). Words find names, codes and numbers;
embeddings find a passage that says it in other words. Without an embedder it is BM25
alone. A passage is embedded with its document's title before it, so a passage that does
not repeat the product's name still belongs to it.

Several processes share a directory: one writer at a time (the `index` CLI: `add`,
`remove`, under the directory's write lock) and any number of searching servers. A searcher
reads the store's generation before each search and, when a writer has bumped it, reloads
the tantivy searcher, the catalog and the vectors — so additions and removals are seen on
the next search without a restart. A directory that does not exist (yet) is an empty index.
If a reload fails (a file damaged, or lost to a concurrent writer), the failure is logged
and the previous snapshot keeps answering until the next generation.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from vertexcompat.search import lexical
from vertexcompat.search.documents import Document
from vertexcompat.search.errors import SearchIndexError, UnknownDocumentError
from vertexcompat.search.fusion import reciprocal_rank_fusion
from vertexcompat.search.passages import Passage, split_passages
from vertexcompat.search.store import (
    TANTIVY,
    Catalog,
    CatalogEntry,
    bump_generation,
    new_store_id,
    read_catalog,
    read_generation,
    read_vectors,
    write_catalog,
    write_lock,
)

if TYPE_CHECKING:
    import tantivy

    from vertexcompat.embeddings.minilm import TextEmbedder

logger = logging.getLogger(__name__)

CANDIDATES = 50          # from each ranking, before fusion
EMBED_BATCH = 64         # passages embedded between two progress reports
_WRITER_HEAP = 64_000_000

Progress = Callable[[int, int], None]  # (passages embedded so far, passages to embed)


@dataclass(frozen=True)
class Hit:
    """One passage found, and the document to cite for it. `score` orders one result list
    (the fused reciprocal-rank score; BM25's own without embeddings): higher is better, not
    comparable across queries."""

    doc_id: str
    title: str
    url: str
    text: str
    score: float


class SearchIndex(Protocol):
    """What grounding searches."""

    def search(self, query: str, k: int) -> list[Hit]:
        """The `k` best passages for `query`, best first. Blocking (run it in a worker
        thread); safe to call from several threads at once."""
        ...

    def is_empty(self) -> bool:
        """Whether there is nothing to search (no index yet, or no documents in it)."""
        ...


@dataclass(frozen=True, slots=True)
class IndexedDocument:
    """A document the index holds, as `documents()` lists it."""

    doc_id: str
    title: str
    url: str
    path: str
    passages: int
    added: datetime


@dataclass(frozen=True)
class _Snapshot:
    """What one generation of the directory holds, as searches read it (never mutated)."""

    generation: int | None = None
    entries: dict[str, CatalogEntry] = field(default_factory=dict)
    passages: int = 0
    searcher: tantivy.Searcher | None = None
    schema: tantivy.Schema | None = None
    vectors: np.ndarray | None = None                    # rows of the embedded passages
    vector_keys: tuple[tuple[str, int], ...] = ()         # (doc_id, passage) of each row


class LocalIndex:
    """The documents under `directory` (see the module docstring). `embedder`: MiniLM for
    the hybrid ranking and for embedding what `add` adds; None for BM25 alone."""

    def __init__(self, directory: Path, *, embedder: TextEmbedder | None) -> None:
        self._directory = Path(directory)
        self._embedder = embedder
        self._snapshot = _Snapshot()
        self._reload = threading.Lock()
        self._tantivy: tantivy.Index | None = None
        self._store_id = ""
        self._terms = threading.local()  # a query analyser per thread

    @property
    def directory(self) -> Path:
        return self._directory

    # -- searching ---------------------------------------------------------------------

    def search(self, query: str, k: int) -> list[Hit]:
        snapshot = self._current()
        if k <= 0 or not snapshot.passages or not query.strip():
            return []
        lexical_hits = self._lexical(snapshot, query)
        if self._embedder is None or snapshot.vectors is None or not len(snapshot.vectors):
            return [_hit(p, score) for p, score in lexical_hits[:k]]
        semantic = self._semantic(snapshot, query)
        by_key = {p.key: p for p, _ in lexical_hits}
        fused = reciprocal_rank_fusion([[p.key for p, _ in lexical_hits], semantic])
        hits: list[Hit] = []
        for key, score in fused:
            passage = by_key.get(key) or self._stored(snapshot, key)
            if passage is not None:
                hits.append(_hit(passage, score))
                if len(hits) == k:
                    break
        return hits

    def is_empty(self) -> bool:
        return not self._current().passages

    def warm(self) -> None:
        """Load the embedder and the current snapshot now rather than on the first search."""
        if self._embedder is not None:
            self._embedder.warm()
        self._current()

    def documents(self) -> list[IndexedDocument]:
        """The documents the index holds, in the order they were (last) added."""
        return [_listed(e) for e in read_catalog(self._directory).entries]

    def _lexical(self, snapshot: _Snapshot,
                 query: str) -> list[tuple[lexical.StoredPassage, float]]:
        if snapshot.searcher is None or snapshot.schema is None:
            return []
        terms = getattr(self._terms, "analyse", None)
        if terms is None:
            terms = self._terms.analyse = lexical.QueryTerms()
        found = lexical.search(snapshot.searcher, snapshot.schema, terms(query), CANDIDATES)
        # The catalog is the truth: passages a crashed writer left in tantivy are not hits.
        return [(p, s) for p, s in found if p.doc_id in snapshot.entries]

    def _semantic(self, snapshot: _Snapshot, query: str) -> list[tuple[str, int]]:
        assert self._embedder is not None and snapshot.vectors is not None
        similarity = snapshot.vectors @ self._embedder.embed([query])[0]
        n = min(CANDIDATES, len(similarity))
        best = np.argpartition(-similarity, n - 1)[:n]
        best = best[np.argsort(-similarity[best], kind="stable")]
        return [snapshot.vector_keys[i] for i in best]

    @staticmethod
    def _stored(snapshot: _Snapshot, key: tuple[str, int]) -> lexical.StoredPassage | None:
        if snapshot.searcher is None or snapshot.schema is None or key[0] not in snapshot.entries:
            return None
        return lexical.lookup(snapshot.searcher, snapshot.schema, [key]).get(key)

    def _current(self) -> _Snapshot:
        """The snapshot of the directory's current generation, reloaded if a writer changed it."""
        generation = read_generation(self._directory)
        snapshot = self._snapshot
        if generation == snapshot.generation and generation != -1:
            return snapshot
        with self._reload:
            snapshot = self._snapshot
            if generation == snapshot.generation and generation != -1:
                return snapshot
            try:
                snapshot = self._load(generation)
            except (SearchIndexError, OSError, ValueError) as exc:
                logger.warning("search index at %s: generation %s could not be loaded (%s); "
                               "searching the previous one", self._directory, generation, exc)
                snapshot = dataclasses.replace(snapshot, generation=generation)
            self._snapshot = snapshot
            return snapshot

    def _load(self, generation: int | None) -> _Snapshot:
        if generation is None:
            return _Snapshot()
        catalog = read_catalog(self._directory)
        if self._tantivy is None or catalog.store_id != self._store_id:
            path = self._directory / TANTIVY
            if not (path / "meta.json").is_file():
                raise SearchIndexError(f"{path} holds no tantivy index")
            self._tantivy = lexical.open_index(path)
            self._store_id = catalog.store_id
        self._tantivy.reload()
        vectors, keys = self._vectors(catalog)
        return _Snapshot(
            generation=generation, entries={e.doc_id: e for e in catalog.entries},
            passages=catalog.passage_count, searcher=self._tantivy.searcher(),
            schema=self._tantivy.schema, vectors=vectors, vector_keys=keys)

    def _vectors(self, catalog: Catalog) -> tuple[np.ndarray | None, tuple[tuple[str, int], ...]]:
        if self._embedder is None or catalog.vectors_file is None:
            return None, ()
        if catalog.dimensions != self._embedder.dimensions:
            logger.warning("search index at %s: its vectors have %s dimensions, the embedder "
                           "%s; searching by words only (re-add the documents to re-embed "
                           "them)", self._directory, catalog.dimensions, self._embedder.dimensions)
            return None, ()
        matrix = read_vectors(self._directory, catalog)
        assert matrix is not None
        rows: list[int] = []
        keys: list[tuple[str, int]] = []
        row = 0
        for entry in catalog.entries:
            if entry.embedded:
                rows.extend(range(row, row + entry.passages))
                keys.extend((entry.doc_id, n) for n in range(entry.passages))
            row += entry.passages
        if len(rows) == len(matrix):
            return matrix, tuple(keys)
        return np.ascontiguousarray(matrix[rows]), tuple(keys)

    # -- writing -------------------------------------------------------------------------

    def add(self, documents: Iterable[Document], *,
            progress: Progress | None = None) -> list[str]:
        """Index `documents` (one already held — same `doc_id` — is replaced), embedding
        their passages if there is an embedder; their ids, in order. `progress(done, total)`
        is called as passages are embedded."""
        unique: dict[str, Document] = {}
        for document in documents:
            unique.pop(document.doc_id, None)
            unique[document.doc_id] = document  # the last of one id wins
        if not unique:
            return []
        split: list[tuple[Document, list[Passage]]] = []
        for document in unique.values():
            passages = split_passages(document.text)
            if not passages:
                raise SearchIndexError(f"{document.path}: it has no text to index")
            split.append((document, passages))
        # Embedding is the slow part: done before taking the lock.
        new_vectors = self._embed(split, progress) if self._embedder is not None else None
        added = datetime.now(UTC).isoformat(timespec="seconds")
        with write_lock(self._directory):
            catalog = read_catalog(self._directory)
            old_vectors = read_vectors(self._directory, catalog)
            if new_vectors is not None and old_vectors is not None \
                    and old_vectors.shape[1] != new_vectors.shape[1]:
                raise SearchIndexError(
                    f"the index at {self._directory} holds {old_vectors.shape[1]}-dimensional "
                    f"vectors, the embedder makes {new_vectors.shape[1]}: use a new directory")
            index = lexical.open_index(self._directory / TANTIVY, create=True)
            writer = index.writer(heap_size=_WRITER_HEAP, num_threads=1)
            try:
                if not catalog.store_id:
                    writer.delete_all_documents()  # whatever a crashed first write left
                for document in unique.values():
                    writer.delete_documents_by_term("doc_id", document.doc_id)
                for document, passages in split:
                    for p in passages:
                        writer.add_document(lexical.passage_document(
                            document.doc_id, p.number, document.title, document.url, p.text))
                writer.commit()
            except BaseException:
                writer.rollback()
                raise
            writer.wait_merging_threads()
            kept = [e for e in catalog.entries if e.doc_id not in unique]
            entries = kept + [
                CatalogEntry(doc_id=d.doc_id, title=d.title, url=d.url, path=str(d.path),
                             passages=len(ps), added=added, embedded=new_vectors is not None)
                for d, ps in split]
            new_rows = sum(len(ps) for _, ps in split)
            matrix = _vectors_of(entries, _kept_rows(catalog, old_vectors, kept),
                                 new_vectors, new_rows)
            write_catalog(self._directory, entries, catalog.store_id or new_store_id(), matrix)
            bump_generation(self._directory)
        return list(unique)

    def remove(self, doc_ids: Sequence[str]) -> list[IndexedDocument]:
        """Remove the documents with these ids; what was removed. An id the index does not
        hold is an `UnknownDocumentError`, and then nothing is removed."""
        wanted = list(dict.fromkeys(doc_ids))
        if not wanted:
            return []
        with write_lock(self._directory):
            catalog = read_catalog(self._directory)
            held = {e.doc_id: e for e in catalog.entries}
            unknown = [d for d in wanted if d not in held]
            if unknown:
                raise UnknownDocumentError(unknown, self._directory)
            old_vectors = read_vectors(self._directory, catalog)
            index = lexical.open_index(self._directory / TANTIVY, create=True)
            writer = index.writer(heap_size=_WRITER_HEAP, num_threads=1)
            try:
                for doc_id in wanted:
                    writer.delete_documents_by_term("doc_id", doc_id)
                writer.commit()
            except BaseException:
                writer.rollback()
                raise
            writer.wait_merging_threads()
            removed = set(wanted)
            kept = [e for e in catalog.entries if e.doc_id not in removed]
            matrix = _vectors_of(kept, _kept_rows(catalog, old_vectors, kept), None, 0)
            write_catalog(self._directory, kept, catalog.store_id, matrix)
            bump_generation(self._directory)
        return [_listed(held[d]) for d in wanted]

    def _embed(self, split: Sequence[tuple[Document, list[Passage]]],
               progress: Progress | None) -> np.ndarray:
        assert self._embedder is not None
        texts = [f"{document.title}\n\n{p.text}" for document, passages in split
                 for p in passages]
        out = np.zeros((len(texts), self._embedder.dimensions), dtype=np.float32)
        for start in range(0, len(texts), EMBED_BATCH):
            out[start:start + EMBED_BATCH] = self._embedder.embed(texts[start:start + EMBED_BATCH])
            if progress is not None:
                progress(min(start + EMBED_BATCH, len(texts)), len(texts))
        return out


def _kept_rows(catalog: Catalog, vectors: np.ndarray | None,
               kept: Sequence[CatalogEntry]) -> np.ndarray | None:
    """The vector rows of the `kept` entries of `catalog`, in their order (None if the
    catalog has no vectors)."""
    if vectors is None:
        return None
    start: dict[str, int] = {}
    row = 0
    for entry in catalog.entries:
        start[entry.doc_id] = row
        row += entry.passages
    parts = [vectors[start[e.doc_id]:start[e.doc_id] + e.passages] for e in kept]
    return np.concatenate(parts) if parts else vectors[:0]


def _vectors_of(entries: Sequence[CatalogEntry], kept: np.ndarray | None,
                new: np.ndarray | None, new_rows: int) -> np.ndarray | None:
    """The matrix for `entries`: the kept documents' rows, then the new ones' (zero rows
    for passages without vectors); None when no document has vectors."""
    if not any(e.embedded for e in entries):
        return None
    dimensions = (kept if kept is not None else new).shape[1]  # type: ignore[union-attr]
    kept_rows = sum(e.passages for e in entries) - new_rows
    parts = [kept if kept is not None else np.zeros((kept_rows, dimensions), np.float32),
             new if new is not None else np.zeros((new_rows, dimensions), np.float32)]
    return np.concatenate(parts)


def _hit(passage: lexical.StoredPassage, score: float) -> Hit:
    return Hit(doc_id=passage.doc_id, title=passage.title, url=passage.url, text=passage.text,
               score=score)


def _listed(entry: CatalogEntry) -> IndexedDocument:
    return IndexedDocument(doc_id=entry.doc_id, title=entry.title, url=entry.url,
                           path=entry.path, passages=entry.passages,
                           added=datetime.fromisoformat(entry.added))
