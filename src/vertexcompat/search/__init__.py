"""Search over the operator's own documents, for grounding (issue 18): requests that ask to
be grounded (Gemini's `googleSearch` tool, OpenAI's `web_search_options`) are answered
from the passages of an on-disk index instead of the web.

- `documents.py`: files → `Document`s (Markdown, text, HTML, PDF; title, URL, stable id).
- `passages.py`: a document's text → passages of ~500-800 characters with their offsets.
- `index.py`: the `SearchIndex` port (`search`, `is_empty` → `Hit`s) and `LocalIndex`, the
  embedded implementation — BM25 (`lexical.py`, tantivy) fused with MiniLM embeddings
  (`fusion.py`), kept in a directory (`store.py`) one CLI process writes while servers read.
- `errors.py`: `DocumentError`, `SearchIndexError`, `UnknownDocumentError`.

Filled by `vertexcompat index add` (`cli/index.py`). This package imports only
`vertexcompat.embeddings`, tantivy, pypdf, numpy and the standard library.
"""

from __future__ import annotations

from vertexcompat.search.documents import Document, find_documents, read_document
from vertexcompat.search.errors import DocumentError, SearchIndexError, UnknownDocumentError
from vertexcompat.search.index import Hit, IndexedDocument, LocalIndex, SearchIndex

__all__ = ["Document", "DocumentError", "Hit", "IndexedDocument", "LocalIndex", "SearchIndex",
           "SearchIndexError", "UnknownDocumentError", "find_documents",
           "read_document"]
