"""The offensive-language classifier, on its real model (loaded once for the module)."""

import sys

import pytest

from vertexcompat.domain.safety import HarmCategory
from vertexcompat.safety import LexicalClassifier, TextClassifier
from .threads import concurrently

H = HarmCategory


@pytest.fixture(scope="module")
def lexical() -> LexicalClassifier:
    classifier = LexicalClassifier()
    classifier.warm()
    return classifier


def test_it_is_a_text_classifier_for_harassment_and_hate(lexical: LexicalClassifier) -> None:
    port: TextClassifier = lexical
    assert port.name == "lexical"
    assert port.categories == {H.HARASSMENT, H.HATE_SPEECH}
    assert "profanity_check" not in sys.modules  # its data is read; its code is never run


def test_an_insult_scores_high_and_a_question_low(lexical: LexicalClassifier) -> None:
    insult, question = lexical.score(["you are a worthless idiot", "how do I sort a list"])
    assert set(insult) == set(question) == {H.HARASSMENT, H.HATE_SPEECH}
    assert insult[H.HARASSMENT] >= 0.75 and insult[H.HATE_SPEECH] >= 0.75
    assert question[H.HARASSMENT] < 0.25 and question[H.HATE_SPEECH] < 0.25


def test_empty_input(lexical: LexicalClassifier) -> None:
    assert lexical.score([]) == []
    (empty,) = lexical.score([""])
    assert all(0.0 <= p < 0.25 for p in empty.values())


def test_scores_are_the_same_from_four_threads_at_once(lexical: LexicalClassifier) -> None:
    texts = ["you are a worthless idiot", "how do I sort a list", "shut up, moron", "hello"]
    expected = lexical.score(texts)
    assert concurrently(lambda: lexical.score(texts)) == [expected] * 4
