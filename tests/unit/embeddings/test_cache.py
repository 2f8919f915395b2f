"""The embedding cache (embeddings/cache.py) on the real MiniLM: a kept list comes back
bit for bit without embedding it again; the key changes with any text or pin; a damaged
file is a miss that is embedded and replaced; a directory that cannot be written still
gives the vectors."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from vertexcompat.embeddings import EmbeddingCache, TextEmbedder
from vertexcompat.embeddings.cache import cache_key
from vertexcompat.embeddings.minilm import MINILM_MODEL, MINILM_TOKENIZER

from .counting import CountingEmbedder

TEXTS = ("A man is eating food.", "", "The girl is carrying a baby.", "ünïcödé text, 中文")
WRONG = "0" * 64


@pytest.fixture(scope="module")
def shared() -> CountingEmbedder:
    model = CountingEmbedder()
    model.warm()
    return model


@pytest.fixture
def embedder(shared: CountingEmbedder) -> CountingEmbedder:
    shared.lists.clear()
    return shared


def test_a_kept_list_comes_back_identical_without_embedding(
    embedder: CountingEmbedder, tmp_path: Path
) -> None:
    cache = EmbeddingCache(tmp_path / "embeddings")
    first = cache.embed(embedder, TEXTS)
    assert embedder.lists == [TEXTS]
    assert [p.name for p in (tmp_path / "embeddings").iterdir()] == [
        cache.path(embedder, TEXTS).name]  # no temporary file left behind
    again = EmbeddingCache(tmp_path / "embeddings").embed(embedder, list(TEXTS))
    assert embedder.lists == [TEXTS]
    assert again.dtype == np.float32 and again.shape == (len(TEXTS), 384)
    np.testing.assert_array_equal(again, first)
    np.testing.assert_array_equal(again, embedder.embed(TEXTS))


def test_the_key_changes_with_any_text_or_anything_that_decides_the_vectors() -> None:
    embedder = TextEmbedder()
    identity = embedder.identity()
    keys = {
        cache_key(identity, ["a b", "c"]),
        cache_key(identity, ["a", "b c"]),
        cache_key(identity, ["a bc"]),
        cache_key(identity, ["c", "a b"]),
        cache_key(identity, ["a b", "c", ""]),
        cache_key(identity, ["a b", "c\ud800"]),  # a lone surrogate is keyed too
        cache_key(TextEmbedder(model=replace(MINILM_MODEL, sha256=WRONG)).identity(),
                  ["a b", "c"]),
        cache_key(TextEmbedder(tokenizer=replace(MINILM_TOKENIZER, sha256=WRONG)).identity(),
                  ["a b", "c"]),
        cache_key(TextEmbedder(max_tokens=128).identity(), ["a b", "c"]),
    }
    assert len(keys) == 9
    assert cache_key(identity, ("a b", "c")) == cache_key(TextEmbedder().identity(), ["a b", "c"])
    assert identity["model"] == MINILM_MODEL.sha256
    assert identity["tokenizer"] == MINILM_TOKENIZER.sha256


@pytest.mark.parametrize("damage", ["garbage", "cut short", "empty", "other shape",
                                    "float64", "not unit length", "pickled object"])
def test_a_damaged_file_is_embedded_again_and_replaced(
    embedder: CountingEmbedder, tmp_path: Path, damage: str
) -> None:
    cache = EmbeddingCache(tmp_path)
    expected = cache.embed(embedder, TEXTS)
    path = cache.path(embedder, TEXTS)
    whole = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"\x93NUMPY not really" * 10)
    elif damage == "cut short":
        path.write_bytes(whole[: len(whole) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "other shape":
        np.save(path, expected[:2])
    elif damage == "float64":
        np.save(path, expected.astype(np.float64))
    elif damage == "not unit length":
        np.save(path, expected * 2)
    else:
        np.save(path, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    embedder.lists.clear()
    np.testing.assert_array_equal(cache.embed(embedder, TEXTS), expected)
    assert embedder.lists == [TEXTS]
    assert path.read_bytes() == whole
    embedder.lists.clear()
    np.testing.assert_array_equal(cache.embed(embedder, TEXTS), expected)
    assert embedder.lists == []


def test_a_directory_that_cannot_be_written_still_gives_the_vectors(
    embedder: CountingEmbedder, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    cache = EmbeddingCache(blocker / "embeddings")  # mkdir fails even for root
    first = cache.embed(embedder, TEXTS)
    second = cache.embed(embedder, TEXTS)
    np.testing.assert_array_equal(first, second)
    assert embedder.lists == [TEXTS, TEXTS]
    assert blocker.read_text() == "not a directory"
