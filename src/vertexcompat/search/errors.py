"""What can go wrong reading documents and keeping the index, each saying what to do.

- `DocumentError`: one file cannot be indexed (missing, unreadable, not UTF-8, binary, an
  unsupported type, empty, a PDF pypdf cannot read). It names the file and why; an
  `index add` batch reports it and goes on with the other files.
- `SearchIndexError`: the index directory cannot be written or read (another writer holds
  the lock, a file is corrupt or from an incompatible version).
- `UnknownDocumentError`: a document id the index does not hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class DocumentError(Exception):
    """`path` cannot be indexed because of `reason` (a phrase: "no such file or directory")."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


class SearchIndexError(RuntimeError):
    """The index directory cannot be used as asked."""


class UnknownDocumentError(SearchIndexError):
    """Ids the index does not hold (nothing was changed)."""

    def __init__(self, doc_ids: Sequence[str], directory: Path) -> None:
        listed = ", ".join(doc_ids)
        noun = "document id" if len(doc_ids) == 1 else "document ids"
        super().__init__(
            f"unknown {noun} {listed} in the index at {directory}: nothing was removed; "
            "`vertexcompat index list` shows the ids it holds")
        self.doc_ids = tuple(doc_ids)
