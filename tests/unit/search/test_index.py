"""`LocalIndex`: adding, replacing, removing and listing documents, BM25 search, a second
instance (a server) seeing a writer's changes, and — with the real MiniLM embedder — the
hybrid ranking and the vector rows kept in step with the catalog."""

import logging
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from tests.unit.search.test_documents import CORPUS
from vertexcompat.embeddings import TextEmbedder
from vertexcompat.search import (
    Document,
    LocalIndex,
    SearchIndexError,
    UnknownDocumentError,
    find_documents,
    read_document,
)
from vertexcompat.search.passages import split_passages
from vertexcompat.search.store import read_catalog, read_vectors, write_catalog


def doc(doc_id: str, text: str, *, title: str | None = None) -> Document:
    return Document(doc_id=doc_id, title=title or f"Title of {doc_id}",
                    url=f"https://docs.example.com/{doc_id}", text=text,
                    path=Path(f"/docs/{doc_id}.md"))


DOCS = [
    doc("k7", "The Korvath K7 drone weighs 1.84 kg and flies for 41 minutes.",
        title="Korvath K7 Drone"),
    doc("sl9", "Every SL-9 street lamp is made in Görlitz. It was drawn by Jürgen Müller.",
        title="Brückenwerk SL-9"),
    doc("q5", "The e-reader's batteries last 41 days. Spare part number QF-2291-B.",
        title="Quillfeather Q5"),
    doc("gc", "The cooler kept ice for nine days in a test at 32 °C.", title="Glacier GC-45"),
]


@pytest.fixture
def index(tmp_path: Path) -> LocalIndex:
    built = LocalIndex(tmp_path / "index", embedder=None)
    built.add(DOCS)
    return built


def ids(hits) -> list[str]:
    return [h.doc_id for h in hits]


def test_a_directory_that_does_not_exist_is_an_empty_index(tmp_path: Path) -> None:
    index = LocalIndex(tmp_path / "no" / "such", embedder=None)
    assert index.is_empty()
    assert index.search("drone", 5) == []
    assert index.documents() == []
    index.warm()
    assert not (tmp_path / "no").exists()


def test_is_empty_before_and_after_adding(tmp_path: Path) -> None:
    index = LocalIndex(tmp_path / "index", embedder=None)
    assert index.is_empty()
    assert index.add([DOCS[0]]) == ["k7"]
    assert not index.is_empty()
    index.remove(["k7"])
    assert index.is_empty() and index.search("drone", 5) == []


@pytest.mark.parametrize(("query", "expected"), [
    ("Korvath", "k7"),                      # a name
    ("How heavy is the drone?", "k7"),
    ("QF-2291-B", "q5"),                    # a part number
    ("2291", "q5"),                         # a number
    ("battery life", "q5"),                 # stemmed: batteries
    ("Muller", "sl9"),                      # accents folded: Müller
    ("Gorlitz", "sl9"),
    ("Brückenwerk", "sl9"),                 # only in the title
    ("BRÜCKENWERK", "sl9"),
    ("ice cooler", "gc"),
])
def test_bm25_finds_the_document(index: LocalIndex, query: str, expected: str) -> None:
    hits = index.search(query, 3)
    assert hits and hits[0].doc_id == expected


def test_a_hit_carries_its_passage_and_how_to_cite_it(index: LocalIndex) -> None:
    (hit,) = index.search("Görlitz", 1)
    assert hit.title == "Brückenwerk SL-9"
    assert hit.url == "https://docs.example.com/sl9"
    assert hit.text == DOCS[1].text
    assert hit.score > 0


def test_k_limits_the_hits_best_first(index: LocalIndex) -> None:
    everything = index.search("41 drone lamp ice batteries", 10)
    assert sorted(ids(everything)) == ["gc", "k7", "q5", "sl9"]
    scores = [h.score for h in everything]
    assert scores == sorted(scores, reverse=True)
    assert ids(index.search("41 drone lamp ice batteries", 2)) == ids(everything)[:2]
    assert index.search("41 drone", 0) == []
    assert index.search("41 drone", -1) == []


@pytest.mark.parametrize("query", ["", "   ", "\n\t", "the and of", "?!"])
def test_a_query_without_words_finds_nothing(index: LocalIndex, query: str) -> None:
    assert index.search(query, 5) == []


def test_a_query_no_document_matches_finds_nothing(index: LocalIndex) -> None:
    assert index.search("xylophone zeppelin", 5) == []


def test_documents_lists_what_was_added_in_order(index: LocalIndex) -> None:
    listed = index.documents()
    assert [d.doc_id for d in listed] == ["k7", "sl9", "q5", "gc"]
    first = listed[0]
    assert (first.title, first.url, first.path, first.passages) == (
        "Korvath K7 Drone", "https://docs.example.com/k7", "/docs/k7.md", 1)
    assert abs(first.added - datetime.now(UTC)) < timedelta(minutes=1)


def test_adding_a_document_again_replaces_it(index: LocalIndex) -> None:
    new = doc("k7", "The Korvath K7 drone now weighs 1.91 kg with its camera.",
              title="Korvath K7 Drone (2031)")
    assert index.add([new]) == ["k7"]
    assert index.search("84 minutes", 5) == []  # only in the old text
    hits = index.search("Korvath", 5)
    assert ids(hits) == ["k7"] and hits[0].text == new.text
    assert hits[0].title == "Korvath K7 Drone (2031)"
    # Listed once, as the last added.
    assert [d.doc_id for d in index.documents()] == ["sl9", "q5", "gc", "k7"]
    assert index.documents()[-1].title == "Korvath K7 Drone (2031)"


def test_the_last_of_one_id_in_a_batch_wins(tmp_path: Path) -> None:
    index = LocalIndex(tmp_path, embedder=None)
    assert index.add([doc("a", "first zebra"), doc("b", "bee"), doc("a", "second yak")]) == [
        "b", "a"]
    assert index.search("zebra", 5) == []
    assert ids(index.search("yak", 5)) == ["a"]
    assert [d.doc_id for d in index.documents()] == ["b", "a"]
    assert index.add([]) == []


def test_a_long_document_is_several_passages_each_a_hit(tmp_path: Path) -> None:
    text = "\n\n".join(
        f"Chapter {n}. " + " ".join(f"filler{n}w{i}" for i in range(70)) + f" marker{n}."
        for n in range(6))
    passages = split_passages(text)
    assert len(passages) >= 3
    index = LocalIndex(tmp_path, embedder=None)
    index.add([doc("long", text)])
    assert index.documents()[0].passages == len(passages)
    hits = index.search("Chapter", 20)
    assert sorted(h.text for h in hits) == sorted(p.text for p in passages)
    (hit,) = index.search("marker4", 5)
    assert "marker4" in hit.text and len(hit.text) < len(text)


def test_remove_takes_documents_out(index: LocalIndex) -> None:
    removed = index.remove(["sl9", "k7", "sl9"])
    assert [(d.doc_id, d.title) for d in removed] == [("sl9", "Brückenwerk SL-9"),
                                                     ("k7", "Korvath K7 Drone")]
    assert index.search("Muller", 5) == [] and index.search("Korvath", 5) == []
    assert ids(index.search("batteries", 5)) == ["q5"]
    assert [d.doc_id for d in index.documents()] == ["q5", "gc"]
    assert index.remove([]) == []


def test_removing_an_unknown_id_removes_nothing(index: LocalIndex) -> None:
    with pytest.raises(UnknownDocumentError) as caught:
        index.remove(["k7", "nope", "gone"])
    assert caught.value.doc_ids == ("nope", "gone")
    assert "nope, gone" in str(caught.value) and "nothing was removed" in str(caught.value)
    assert isinstance(caught.value, SearchIndexError)
    assert [d.doc_id for d in index.documents()] == ["k7", "sl9", "q5", "gc"]
    assert ids(index.search("Korvath", 5)) == ["k7"]


def test_a_document_without_text_is_refused_and_nothing_changes(index: LocalIndex) -> None:
    with pytest.raises(SearchIndexError, match="no text"):
        index.add([doc("new", "fine text"), doc("blank", " \n ")])
    assert [d.doc_id for d in index.documents()] == ["k7", "sl9", "q5", "gc"]
    assert index.search("fine", 5) == []


def test_a_second_instance_sees_additions_and_removals_on_its_next_search(
        tmp_path: Path) -> None:
    directory = tmp_path / "index"
    writer = LocalIndex(directory, embedder=None)
    server = LocalIndex(directory, embedder=None)
    assert server.is_empty()  # before the directory exists
    writer.add(DOCS[:2])
    assert ids(server.search("Korvath", 5)) == ["k7"]
    assert server.search("batteries", 5) == []
    writer.add(DOCS[2:])
    assert ids(server.search("batteries", 5)) == ["q5"]
    writer.remove(["k7"])
    assert server.search("Korvath", 5) == []
    writer.add([doc("sl9", "Now made in Dresden.", title="SL-9 v2")])
    assert server.search("Gorlitz", 5) == []
    assert [h.title for h in server.search("Dresden", 5)] == ["SL-9 v2"]
    writer.remove(["sl9", "q5", "gc"])
    assert server.is_empty()


def test_a_server_sees_a_deleted_and_re_created_index(tmp_path: Path) -> None:
    directory = tmp_path / "index"
    server = LocalIndex(directory, embedder=None)
    LocalIndex(directory, embedder=None).add([DOCS[0]])
    assert ids(server.search("Korvath", 5)) == ["k7"]
    # The operator deletes the directory and adds the documents again, the server not
    # searching in between: the same number of changes as before.
    shutil.rmtree(directory)
    LocalIndex(directory, embedder=None).add([DOCS[3]])
    assert server.search("Korvath", 5) == []
    assert ids(server.search("cooler", 5)) == ["gc"]


def test_a_damaged_generation_keeps_the_previous_snapshot(tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    directory = tmp_path / "index"
    LocalIndex(directory, embedder=None).add(DOCS)
    server = LocalIndex(directory, embedder=None)
    assert ids(server.search("Korvath", 5)) == ["k7"]
    (directory / "catalog.json").write_text("{damaged", encoding="utf-8")
    (directory / "generation").write_text("999")
    with caplog.at_level(logging.WARNING, logger="vertexcompat.search.index"):
        assert ids(server.search("Korvath", 5)) == ["k7"]
    assert "could not be loaded" in caplog.text
    assert not server.is_empty()


def test_the_catalog_decides_which_passages_are_found(tmp_path: Path) -> None:
    # What a writer that crashed between tantivy's commit and the catalog would leave.
    directory = tmp_path / "index"
    index = LocalIndex(directory, embedder=None)
    index.add(DOCS)
    catalog = read_catalog(directory)
    write_catalog(directory, [e for e in catalog.entries if e.doc_id != "k7"],
                  catalog.store_id, None)
    (directory / "generation").write_text("1000")
    assert index.search("Korvath", 5) == []
    assert ids(index.search("batteries", 5)) == ["q5"]


def test_the_corpus_files_are_found_by_their_questions(tmp_path: Path) -> None:
    import json

    files = [p for p in find_documents([CORPUS]) if isinstance(p, Path)]
    index = LocalIndex(tmp_path, embedder=None)
    index.add(read_document(p) for p in files)
    assert len(index.documents()) == len(files) > 30
    questions = [json.loads(line) for line in
                 (CORPUS / "questions.jsonl").read_text(encoding="utf-8").splitlines()
                 if line.strip()]
    names = {d.doc_id: Path(d.path).name for d in index.documents()}
    found = 0
    for question in questions:
        hits = index.search(question["question"], 3)
        found += question["doc"] in {names[h.doc_id] for h in hits}
    assert found >= len(questions) - 2


# -- with the real embedder ---------------------------------------------------------------

@pytest.fixture(scope="module")
def embedder() -> TextEmbedder:
    model = TextEmbedder(threads=1)
    model.warm()
    return model


MEANING = [
    doc("dog", "Our office dog, a golden retriever named Biscuit, loves chasing tennis balls "
               "across the park every afternoon.", title="Biscuit"),
    doc("tax", "The quarterly filing deadline with the revenue authority is the fifteenth of "
               "April; late returns are fined.", title="Filing deadlines"),
    doc("loaf", "Preheat the oven, then bake the sourdough loaf for forty minutes until the "
                "crust turns deep brown.", title="Sourdough"),
]
# Paraphrases sharing no word (after stemming and stop words) with any document.
PARAPHRASES = {
    "dog": "Which pet enjoys playing fetch?",
    "tax": "When must my company submit its paperwork to the government?",
    "loaf": "How long should bread cook?",
}


def test_the_paraphrases_share_no_word_with_the_documents(tmp_path: Path) -> None:
    words_only = LocalIndex(tmp_path, embedder=None)
    words_only.add(MEANING)
    for query in PARAPHRASES.values():
        assert words_only.search(query, 5) == []


def test_hybrid_search_finds_a_passage_by_its_meaning(tmp_path: Path,
                                                     embedder: TextEmbedder) -> None:
    index = LocalIndex(tmp_path, embedder=embedder)
    index.add(MEANING + DOCS)
    for doc_id, query in PARAPHRASES.items():
        hits = index.search(query, 3)
        assert hits[0].doc_id == doc_id, query
        assert len(hits) == 3
    # Words still count: a part number is found, fused with the semantic ranking.
    hits = index.search("QF-2291-B", 3)
    assert hits[0].doc_id == "q5" and hits[0].text == DOCS[2].text


def row_owners(directory: Path) -> tuple[list[tuple[str, int]], np.ndarray]:
    catalog = read_catalog(directory)
    vectors = read_vectors(directory, catalog)
    assert vectors is not None and vectors.shape == (catalog.passage_count, 384)
    owners = [(e.doc_id, n) for e in catalog.entries for n in range(e.passages)]
    return owners, vectors


def assert_rows_are_their_passages(directory: Path, documents: dict[str, Document],
                                   embedder: TextEmbedder) -> None:
    owners, vectors = row_owners(directory)
    catalog = {e.doc_id: e for e in read_catalog(directory).entries}
    for row, (doc_id, number) in enumerate(owners):
        if not catalog[doc_id].embedded:
            assert not vectors[row].any()
            continue
        document = documents[doc_id]
        passage = split_passages(document.text)[number]
        expected = embedder.embed([f"{document.title}\n\n{passage.text}"])[0]
        np.testing.assert_allclose(vectors[row], expected, atol=1e-5)


def test_vector_rows_follow_removals_and_re_additions(tmp_path: Path,
                                                      embedder: TextEmbedder) -> None:
    long_text = "\n\n".join(
        f"Section {n}: " + " ".join(f"term{n}x{i}" for i in range(80)) for n in range(3))
    documents = {d.doc_id: d for d in [MEANING[0], doc("long", long_text), MEANING[1],
                                       MEANING[2]]}
    index = LocalIndex(tmp_path, embedder=embedder)
    index.add(documents.values())
    assert index.documents()[1].passages >= 2
    assert_rows_are_their_passages(tmp_path, documents, embedder)

    index.remove(["long"])  # a middle document with several rows
    assert_rows_are_their_passages(tmp_path, documents, embedder)
    index.remove(["dog"])
    for doc_id in ("tax", "loaf"):
        assert index.search(PARAPHRASES[doc_id], 1)[0].doc_id == doc_id

    index.add([MEANING[0]])
    assert [d.doc_id for d in index.documents()] == ["tax", "loaf", "dog"]
    assert_rows_are_their_passages(tmp_path, documents, embedder)
    for doc_id, query in PARAPHRASES.items():
        assert index.search(query, 1)[0].doc_id == doc_id


def test_documents_added_without_embeddings_get_zero_rows(tmp_path: Path,
                                                         embedder: TextEmbedder) -> None:
    documents = {d.doc_id: d for d in MEANING + DOCS}
    LocalIndex(tmp_path, embedder=embedder).add(MEANING[:2])
    LocalIndex(tmp_path, embedder=None).add(DOCS[:2])     # words only
    hybrid = LocalIndex(tmp_path, embedder=embedder)
    hybrid.add([MEANING[2]])
    assert [d.doc_id for d in hybrid.documents()] == ["dog", "tax", "k7", "sl9", "loaf"]
    assert_rows_are_their_passages(tmp_path, documents, embedder)
    for doc_id, query in PARAPHRASES.items():
        assert hybrid.search(query, 1)[0].doc_id == doc_id
    assert hybrid.search("Korvath", 1)[0].doc_id == "k7"  # found by its words
    LocalIndex(tmp_path, embedder=None).remove(["tax"])    # a words-only writer removes
    assert_rows_are_their_passages(tmp_path, documents, embedder)
    assert hybrid.search(PARAPHRASES["loaf"], 1)[0].doc_id == "loaf"
    LocalIndex(tmp_path, embedder=None).remove(["dog", "loaf"])
    assert read_catalog(tmp_path).vectors_file is None  # no document has vectors left
    assert hybrid.search("Korvath", 1)[0].doc_id == "k7"
