"""The BM25 half: how text becomes terms (the same for passages and queries), and searching and
looking up passages in a tantivy index."""

from pathlib import Path

import pytest

from vertexcompat.search import lexical


@pytest.fixture(scope="module")
def terms() -> lexical.QueryTerms:
    return lexical.QueryTerms()


def test_words_are_lower_cased_folded_and_stemmed(terms: lexical.QueryTerms) -> None:
    assert terms("Müller") == terms("MULLER") == ["muller"]
    assert terms("Straße") == terms("strasse")
    assert terms("batteries") == terms("battery")
    assert terms("Café Mélodie") == terms("cafe melodie")


def test_stop_words_punctuation_and_repeats_are_dropped(terms: lexical.QueryTerms) -> None:
    assert terms("the of and, to?!") == []
    assert terms("") == [] and terms("  ... ") == []
    assert terms("lamp lamp LAMP") == ["lamp"]


def test_numbers_and_codes_are_terms(terms: lexical.QueryTerms) -> None:
    assert terms("AX3-HL-0457") == ["ax3", "hl", "0457"]
    assert "38" in terms("38 mm") and "120" in terms("120,000 hours")


def test_cjk_characters_are_one_term_each(terms: lexical.QueryTerms) -> None:
    assert terms("山田花子") == ["山", "田", "花", "子"]
    assert terms("雲 KR-10") == ["雲", "kr", "10"]


def test_over_long_terms_are_dropped(terms: lexical.QueryTerms) -> None:
    assert terms("a" * 65 + " lamp") == ["lamp"]


def test_search_and_lookup_in_a_tantivy_index(tmp_path: Path, terms: lexical.QueryTerms) -> None:
    index = lexical.open_index(tmp_path / "t", create=True)
    writer = index.writer(heap_size=15_000_000, num_threads=1)
    writer.add_document(lexical.passage_document(
        "d1", 0, "Korvath K7", "https://x/k7", "The drone weighs 1.84 kg."))
    writer.add_document(lexical.passage_document(
        "d1", 1, "Korvath K7", "https://x/k7", "Its batteries last 41 minutes."))
    writer.add_document(lexical.passage_document(
        "d2", 0, "Glacier Cooler", "https://x/gc", "Ice keeps for nine days in the cooler."))
    writer.commit()
    writer.wait_merging_threads()
    reader = lexical.open_index(tmp_path / "t")  # as a server opens it
    reader.reload()
    searcher = reader.searcher()
    hits = lexical.search(searcher, reader.schema, terms("battery"), 10)
    assert [(p.key, p.title, p.url, p.text) for p, _ in hits] == [
        (("d1", 1), "Korvath K7", "https://x/k7", "Its batteries last 41 minutes.")]
    # A word of the title finds every passage of its document, the text ranking among them.
    by_title = lexical.search(searcher, reader.schema, terms("Korvath drone"), 10)
    assert [p.key for p, _ in by_title] == [("d1", 0), ("d1", 1)]
    assert by_title[0][1] > by_title[1][1] > 0
    assert lexical.search(searcher, reader.schema, terms("cooler ice"), 1)[0][0].doc_id == "d2"
    assert lexical.search(searcher, reader.schema, [], 10) == []
    assert lexical.search(searcher, reader.schema, terms("cooler"), 0) == []
    found = lexical.lookup(searcher, reader.schema, [("d1", 1), ("d2", 0), ("d2", 5)])
    assert set(found) == {("d1", 1), ("d2", 0)}
    assert found[("d2", 0)].text == "Ice keeps for nine days in the cooler."
