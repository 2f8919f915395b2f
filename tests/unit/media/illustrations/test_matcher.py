"""Names → illustrations (media/illustrations/matcher.py) on the real library: keywords
first, then Unicode names (a stated colour wins), then a name's head word, then — only
with an embedder, and only near enough — the nearest name in meaning (the names' vectors
from `embed_names` when given: the server's disk cache)."""

import functools

import numpy as np
import pytest

from tests.unit.embeddings.counting import CountingEmbedder
from vertexcompat.embeddings import EmbeddingCache
from vertexcompat.media.illustrations.library import IllustrationLibrary
from vertexcompat.media.illustrations.matcher import IllustrationMatcher, nouns, singular


@pytest.fixture(scope="module")
def library() -> IllustrationLibrary:
    return IllustrationLibrary()


@pytest.fixture(scope="module")
def matcher(library) -> IllustrationMatcher:
    return IllustrationMatcher(library)


@pytest.mark.parametrize(("phrase", "name", "how"), [
    ("two red cars", "automobile", "keyword"),
    ("cup of coffee", "hot beverage", "keyword"),
    ("kittens", "cat", "keyword"),
    ("a tall tree", "deciduous tree", "keyword"),
    ("green apple", "green apple", "name"),
    ("teapot", "teapot", "name"),
    ("sunflowers", "sunflower", "name"),
    ("red circle", "large red circle", "word"),
    ("hamster", "hamster face", "word"),
])
def test_everyday_names_find_their_illustration(matcher, phrase, name, how):
    found = matcher.match(phrase)
    assert found is not None, phrase
    assert (found.illustration.name, found.how) == (name, how)


@pytest.mark.parametrize("phrase", ["wooden table", "desk", "field", "the", "blorp"])
def test_a_word_that_only_modifies_a_name_is_no_match(matcher, phrase):
    # "table tennis paddle and ball" is not a table; without an embedder nothing else runs.
    assert matcher.match(phrase) is None


@pytest.mark.parametrize(("word", "one"), [
    ("cars", "car"), ("cherries", "cherry"), ("boxes", "box"), ("mice", "mouse"),
    ("glasses", "glasses"), ("bus", "bus"), ("leaves", "leaf"), ("cat", "cat"),
])
def test_plurals_become_singular(word, one):
    assert singular(word) == one


def test_of_makes_what_follows_it_the_head_noun():
    assert nouns("a cup of coffee") == ("cup of coffee", ["coffee", "cup"])
    assert nouns("two big red cars")[1] == ["car"]


class FakeEmbedder:
    """Unit vectors: a text containing "sedan" points where "automobile" does."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, texts):
        self.calls += 1
        out = np.zeros((len(texts), 3), dtype=np.float32)
        for i, text in enumerate(texts):
            if "automobile" in text or "sedan" in text:
                out[i] = (1, 0, 0)
            elif "zzz" in text:
                out[i] = (0.5, 0.866, 0)  # cosine 0.5 with automobile: not near enough
            else:
                out[i] = (0, 0, 1)
        return out


def test_an_embedding_match_is_taken_only_when_near_enough(library):
    embed = FakeEmbedder()
    matcher = IllustrationMatcher(library, embed=embed, min_similarity=0.6)
    found = matcher.match("sedan")
    assert found is not None and found.how == "embedding"
    assert found.illustration.name == "automobile" and found.score == pytest.approx(1.0)
    assert matcher.match("zzz") is None
    # The names are embedded once, then only the phrases.
    assert embed.calls == 3


def test_named_in_finds_the_things_a_request_names(matcher):
    found = matcher.named_in("Generate an image of two red cars, a teddy bear and the rain")
    assert [(m.name, m.illustration.name, m.count, m.colour) for m in found] == [
        ("car", "automobile", 2, "red"),
        ("teddy bear", "teddy bear", 1, None),
        ("rain", "cloud with rain", 1, None),
    ]


def test_named_in_skips_colours_and_the_scene_itself(matcher):
    assert matcher.named_in("an orange circle on a blue background under the sky") == []


@pytest.fixture(scope="module")
def sample_library(library, tmp_path_factory) -> IllustrationLibrary:
    """Every sixth illustration of the real library (quick to embed)."""
    directory = tmp_path_factory.mktemp("openmoji-sample")
    for key in sorted(library.illustrations())[::6]:
        (directory / f"{key}.svg").symlink_to(library.directory() / f"{key}.svg")
    return IllustrationLibrary(directory)


EMBEDDED_PHRASES = ["vessel", "canine", "skyscraper", "sedan", "blorp", "zzz"]


def test_cached_name_vectors_give_the_same_matches_and_are_not_embedded_again(
    sample_library, tmp_path
):
    embedder = CountingEmbedder()
    plain = IllustrationMatcher(sample_library, embed=embedder.embed)
    expected = [plain.match(p) for p in EMBEDDED_PHRASES]
    assert sum(m is not None and m.how == "embedding" for m in expected) >= 3
    names = tuple(i.name for i in sorted(sample_library.illustrations().values(),
                                         key=lambda i: i.key))
    cache = EmbeddingCache(tmp_path)
    for run in range(2):
        embedder.lists.clear()
        matcher = IllustrationMatcher(sample_library, embed=embedder.embed,
                                      embed_names=functools.partial(cache.embed, embedder))
        assert [matcher.match(p) for p in EMBEDDED_PHRASES] == expected
        asked = [texts for texts in embedder.lists if len(texts) > 1]
        assert asked == ([names] if run == 0 else [])  # the second run reads the cache
