"""The BM25 half of the index: passages in a tantivy index, one tantivy document each.

Fields: `doc_id` (exact), `passage` (its number in the document), `key` (`doc_id:passage`,
exact, for looking one passage up), `title` and `text` (analysed, stored), `url` (stored).
The analyser is English with stemming: words and numbers (CJK characters one at a time),
lower-cased, accents folded to ASCII (`Müller` finds `Muller`, `ß` is `ss`), English stop
words dropped, Porter-stemmed (`batteries` finds `battery`). A query is analysed the same way
and every term is optional — BM25 over `text` and `title` ranks the passages — so no
query syntax exists to get wrong.

The analyser is registered by name on every open: a reader must open the index through
`open_index`. Readers reload by hand (`tantivy.Index.reload`) when the store's generation
changes, never on their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tantivy

ANALYZER = "vertexcompat_en"
# Han, kana: no spaces between words, so one character is one term; other letters and digits
# make words.
_WORDS = (r"[\p{Han}\p{Hiragana}\p{Katakana}]"
          r"|[[\p{L}\p{N}\p{M}]&&[^\p{Han}\p{Hiragana}\p{Katakana}]]+")
_MAX_TERM_BYTES = 64
_TITLE_BOOST = 0.5  # a title is repeated on each of its passages: the text decides among them


@dataclass(frozen=True, slots=True)
class StoredPassage:
    doc_id: str
    number: int
    title: str
    url: str
    text: str

    @property
    def key(self) -> tuple[str, int]:
        return self.doc_id, self.number


def analyzer() -> tantivy.TextAnalyzer:
    return (tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.regex(_WORDS))
            .filter(tantivy.Filter.remove_long(_MAX_TERM_BYTES))
            .filter(tantivy.Filter.lowercase())
            .filter(tantivy.Filter.ascii_fold())
            .filter(tantivy.Filter.stopword("english"))
            .filter(tantivy.Filter.stemmer("english"))
            .build())


def schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("doc_id", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_unsigned_field("passage", stored=True)
    builder.add_text_field("key", stored=False, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("title", stored=True, tokenizer_name=ANALYZER, index_option="freq")
    builder.add_text_field("text", stored=True, tokenizer_name=ANALYZER, index_option="freq")
    builder.add_text_field("url", stored=True, tokenizer_name="raw", index_option="basic")
    return builder.build()


def open_index(path: Path, *, create: bool = False) -> tantivy.Index:
    """The tantivy index at `path` (created there, with its directory, if `create`), with the
    analyser registered and reloading left to the caller."""
    if create:
        path.mkdir(parents=True, exist_ok=True)
        index = tantivy.Index(schema(), path=str(path), reuse=True)
    else:
        index = tantivy.Index.open(str(path))
    index.register_tokenizer(ANALYZER, analyzer())
    index.config_reader("Manual")
    return index


def passage_document(doc_id: str, number: int, title: str, url: str,
                     text: str) -> tantivy.Document:
    return tantivy.Document(doc_id=doc_id, passage=number, key=f"{doc_id}:{number}",
                            title=title, url=url, text=text)


class QueryTerms:
    """Turns query text into the analysed terms the index holds."""

    def __init__(self) -> None:
        self._analyzer = analyzer()

    def __call__(self, text: str) -> list[str]:
        return list(dict.fromkeys(self._analyzer.analyze(text)))


def search(searcher: tantivy.Searcher, index_schema: tantivy.Schema, terms: Sequence[str],
           limit: int) -> list[tuple[StoredPassage, float]]:
    """The best `limit` passages for `terms` by BM25, best first, with their scores."""
    if not terms or limit <= 0:
        return []
    clauses = []
    for term in terms:
        clauses.append((tantivy.Occur.Should,
                        tantivy.Query.term_query(index_schema, "text", term, "freq")))
        clauses.append((tantivy.Occur.Should, tantivy.Query.boost_query(
            tantivy.Query.term_query(index_schema, "title", term, "freq"), _TITLE_BOOST)))
    query = tantivy.Query.boolean_query(clauses)
    result = searcher.search(query, limit, count=False)
    return [(_stored(searcher.doc(address)), float(score)) for score, address in result.hits]


def lookup(searcher: tantivy.Searcher, index_schema: tantivy.Schema,
           keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], StoredPassage]:
    """The stored passages for `keys`; a key the index does not hold is left out."""
    found: dict[tuple[str, int], StoredPassage] = {}
    for doc_id, number in keys:
        query = tantivy.Query.term_query(index_schema, "key", f"{doc_id}:{number}", "basic")
        for _, address in searcher.search(query, 1, count=False).hits:
            found[(doc_id, number)] = _stored(searcher.doc(address))
    return found


def _stored(document: tantivy.Document) -> StoredPassage:
    fields: dict[str, Any] = document.to_dict()
    return StoredPassage(
        doc_id=fields["doc_id"][0], number=int(fields["passage"][0]),
        title=(fields.get("title") or [""])[0], url=(fields.get("url") or [""])[0],
        text=(fields.get("text") or [""])[0])
