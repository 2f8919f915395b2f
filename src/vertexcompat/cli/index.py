"""`vertexcompat index add|list|remove`: the search index grounded requests are answered from
(`<data_dir>/index`, `vertexcompat.search.LocalIndex`).

`add PATH…` reads each file, and each directory's supported files recursively (Markdown,
text, HTML, PDF), and indexes every document it could read — a file added before is
replaced — printing one line per document; each file it could not read is an `error:` line
on stderr, and the exit status is then 1 (the rest of the batch is still indexed). Passages
are embedded with MiniLM for the hybrid ranking unless `--no-embeddings` (BM25 only: those
documents are then found by their words alone). A server searching the same directory sees
the change on its next search; only one `index` command writes at a time.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from vertexcompat.cli.models import format_table
from vertexcompat.cli.serve import settings_from_args

if TYPE_CHECKING:
    from vertexcompat.search import Document, LocalIndex

PROGRESS_MIN_PASSAGES = 50  # show a progress bar when embedding more than this
_EMBEDDING_THREADS = 4


def _index_directory(args: argparse.Namespace) -> Path:
    """The server's index: `search_index_dir` in the config, else <data_dir>/index."""
    return settings_from_args(args).index_dir


def run_add(args: argparse.Namespace) -> int:
    from vertexcompat.search import DocumentError, find_documents, read_document

    directory = _index_directory(args)
    # pypdf logs what it finds wrong in a damaged PDF ("EOF marker not found") as bare
    # stderr lines; the file's `error:` line already says why it cannot be read.
    logging.getLogger("pypdf").setLevel(logging.CRITICAL)
    documents: list[Document] = []
    failed = False
    for item in find_documents(args.paths):
        try:
            if isinstance(item, DocumentError):
                raise item  # a path that does not exist, an unreadable directory
            documents.append(read_document(item))
        except DocumentError as exc:
            _error(exc.path, exc.reason)
            failed = True
    if not documents:
        return 1
    index = _open(directory, embeddings=args.embeddings)
    try:
        with _ProgressBar() as progress:
            added = index.add(documents, progress=progress)
        passages = {d.doc_id: d.passages for d in index.documents()}
    except Exception as exc:  # the lock, a damaged index, the embedding model's files
        _error(directory, str(exc))
        return 1
    by_id = {d.doc_id: d for d in documents}
    for doc_id in added:
        document = by_id[doc_id]
        print(f"added {doc_id}  {document.title}  {document.url}  "
              f"({passages.get(doc_id, 0)} passages)")
    return 1 if failed else 0


def run_list(args: argparse.Namespace) -> int:
    from vertexcompat.search import LocalIndex, SearchIndexError

    directory = _index_directory(args)
    try:
        documents = LocalIndex(directory, embedder=None).documents()
    except SearchIndexError as exc:
        _error(directory, str(exc))
        return 1
    if not documents:
        print(f"The search index at {directory} is empty: add documents with "
              "`vertexcompat index add PATH…`.")
        return 0
    rows = [(d.doc_id, d.title, d.url, str(d.passages),
             d.added.astimezone().strftime("%Y-%m-%d %H:%M")) for d in documents]
    print(format_table(("ID", "TITLE", "URL", "PASSAGES", "ADDED"), rows))
    return 0


def run_remove(args: argparse.Namespace) -> int:
    from vertexcompat.search import LocalIndex, SearchIndexError

    directory = _index_directory(args)
    try:
        removed = LocalIndex(directory, embedder=None).remove(args.doc_ids)
    except SearchIndexError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for document in removed:
        print(f"removed {document.doc_id}  {document.title}  {document.url}")
    return 0


def _open(directory: Path, *, embeddings: bool) -> LocalIndex:
    from vertexcompat.search import LocalIndex

    if not embeddings:
        return LocalIndex(directory, embedder=None)
    from vertexcompat.embeddings import TextEmbedder

    threads = max(1, min(_EMBEDDING_THREADS, os.cpu_count() or 1))
    return LocalIndex(directory, embedder=TextEmbedder(threads=threads))


def _error(path: Path | str, why: str) -> None:
    print(f"error: {path}: {why}", file=sys.stderr)


class _ProgressBar:
    """A tqdm bar on stderr (a terminal only) once more than `PROGRESS_MIN_PASSAGES`
    passages are to be embedded."""

    def __init__(self) -> None:
        self._bar = None

    def __enter__(self) -> Callable[[int, int], None]:
        return self._update

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.close()

    def _update(self, done: int, total: int) -> None:
        if total <= PROGRESS_MIN_PASSAGES:
            return
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="passage", desc="embedding", file=sys.stderr,
                             disable=None)
        self._bar.update(done - self._bar.n)
