"""A document's text → passages: offsets into the text, numbers, sizes, and where they split."""

import pytest

from vertexcompat.search.passages import MAX_CHARS, MIN_CHARS, split_passages


def sentence(n: int, words: int = 12) -> str:
    return " ".join(f"word{n}x{i}" for i in range(words)) + "."


def paragraph(n: int, chars: int) -> str:
    """A paragraph of sentences, about `chars` long (never more)."""
    out, i = "", 0
    while True:
        piece = f"Sentence {n}-{i} says something short."
        if len(out) + len(piece) + 1 > chars:
            return out
        out = f"{out} {piece}" if out else piece
        i += 1


def check_spans(text: str, passages) -> None:
    assert [p.number for p in passages] == list(range(len(passages)))
    previous_end = 0
    for p in passages:
        assert text[p.start:p.end] == p.text
        assert p.text == p.text.strip() and p.text
        assert len(p.text) <= MAX_CHARS
        assert p.start >= previous_end
        assert not text[previous_end:p.start].strip()  # nothing but whitespace is skipped
        previous_end = p.end
    assert not text[previous_end:].strip()


def test_a_short_text_is_one_passage_without_its_surrounding_whitespace() -> None:
    text = "\n\n  The K7 weighs 1.84 kg.\n\nIt flies for 41 minutes.  \n"
    (passage,) = split_passages(text)
    assert passage.number == 0
    assert passage.text == "The K7 weighs 1.84 kg.\n\nIt flies for 41 minutes."
    assert (passage.start, passage.end) == (4, text.index("minutes.") + len("minutes."))


@pytest.mark.parametrize("text", ["", " ", "\n\n\t \n", "\u00a0\u2003\n"])
def test_whitespace_only_is_no_passage(text: str) -> None:
    assert split_passages(text) == []


def test_a_long_text_is_split_at_paragraph_breaks_into_bounded_passages() -> None:
    paragraphs = [paragraph(n, 300) for n in range(12)]
    text = "\n\n".join(paragraphs)
    passages = split_passages(text)
    check_spans(text, passages)
    assert len(passages) >= len(text) // MAX_CHARS
    # Two ~300-character paragraphs share a passage; none is split between two.
    for par in paragraphs:
        assert sum(par in p.text for p in passages) == 1
    assert all(p.text.count("\n\n") >= 1 for p in passages[:-1])
    assert "".join(p.text for p in passages).replace("\n", "") == text.replace("\n", "")


def test_a_paragraph_that_would_not_fit_starts_the_next_passage_once_this_one_is_full() -> None:
    first, second = paragraph(0, 600), paragraph(1, 300)
    assert MIN_CHARS <= len(first) and len(first) + 2 + len(second) > MAX_CHARS
    passages = split_passages(f"{first}\n\n{second}")
    assert [p.text for p in passages] == [first, second]
    small = paragraph(2, 150)
    assert [p.text for p in split_passages(f"{first}\n\n{small}")] == [f"{first}\n\n{small}"]


def test_a_short_passage_takes_the_first_sentences_of_a_long_paragraph() -> None:
    short, long = paragraph(0, 200), paragraph(1, 2000)
    text = f"{short}\n\n{long}"
    passages = split_passages(text)
    check_spans(text, passages)
    assert passages[0].text.startswith(short + "\n\nSentence 1-0 ")
    # The long paragraph is cut at sentence ends.
    assert all(p.text.endswith(".") for p in passages)
    assert len(passages) == 3  # 2143 characters: as few passages as fit
    assert all(len(p.text) >= MIN_CHARS for p in passages[:-1])


def test_a_sentence_longer_than_a_passage_is_cut_between_words() -> None:
    text = " ".join(f"w{i:04d}" for i in range(600))  # one 2999-character "sentence"
    passages = split_passages(text)
    check_spans(text, passages)
    words = text.split()
    assert [w for p in passages for w in p.text.split()] == words  # no word cut in two
    assert all(len(p.text) > MAX_CHARS - 6 for p in passages[:-1])


def test_text_without_spaces_is_cut_at_the_maximum() -> None:
    text = "x" * 2000
    passages = split_passages(text)
    assert [(p.start, p.end) for p in passages] == [(0, 800), (800, 1600), (1600, 2000)]


def test_decimal_numbers_do_not_end_a_sentence() -> None:
    text = " ".join(["The pump moves 3.2 litres a minute at 1.5 bar and weighs 0.84 kg"] * 20)
    text += ". Tail."
    passages = split_passages(text, min_chars=50, max_chars=200)
    check_spans(text, passages)
    assert not any(p.text.endswith(("3.", "1.", "0.")) for p in passages)


def test_smaller_limits_are_respected() -> None:
    text = "\n\n".join(sentence(n) for n in range(30))
    passages = split_passages(text, min_chars=100, max_chars=250)
    assert all(len(p.text) <= 250 for p in passages)
    assert all(len(p.text) >= 100 for p in passages[:-1])
    assert [p.number for p in passages] == list(range(len(passages)))
