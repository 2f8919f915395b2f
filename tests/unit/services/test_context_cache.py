"""`ContextCaches` with a scripted backend: a cache's requests name it (so a backend may
keep its work), and deleting or sweeping a cache tells the backends serving its model."""

import asyncio

import pytest

from tests.fakes import FAKE_MODEL, FakeBackend
from vertexcompat.domain.cached_content import CachedParts, CacheSpec
from vertexcompat.domain.content import Content, GenerateContentRequest, TextPart
from vertexcompat.models.registry import ModelRegistry, default_aliases
from vertexcompat.services.context_cache import ContextCaches
from vertexcompat.services.generation import GenerationService
from vertexcompat.store.cached_contents import SqlCachedContents
from vertexcompat.store.sqlite import open_database
from vertexcompat.translate.cached_contents import WireCodec


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def setup(tmp_path):
    backend = FakeBackend()
    generation = GenerationService(
        {"fake": backend}, ModelRegistry(default_aliases(FAKE_MODEL))
    )
    clock = Clock()
    db = open_database(tmp_path)
    caches = ContextCaches(SqlCachedContents(db), generation, WireCodec(),
                           min_tokens=10, clock=clock)
    yield caches, backend, clock
    db.close()


def spec(ttl_s=60.0) -> CacheSpec:
    doc = Content("user", (TextPart("a long document " * 20),))
    return CacheSpec(model="gemini-2.5-flash", parts=CachedParts(contents=(doc,)), ttl_s=ttl_s)


def test_the_warm_up_and_every_request_through_a_cache_name_it(setup):
    caches, backend, _ = setup
    cache = asyncio.run(caches.create("p", "us-central1", spec()))
    name = cache.record.name
    assert [r.cached_content for r in backend.requests] == [name]
    question = GenerateContentRequest(FAKE_MODEL, (Content("user", (TextPart("q?"),)),))
    applied = caches.apply(question, name, project="p", location=None,
                           model_id="gemini-2.5-flash", param="cached_content")
    assert applied.cached_content == name
    assert len(applied.contents) == 2


def test_deleting_or_sweeping_a_cache_releases_it_in_the_backend(setup):
    caches, backend, clock = setup
    kept = asyncio.run(caches.create("p", "l", spec(ttl_s=600))).record.name
    deleted = asyncio.run(caches.create("p", "l", spec())).record.name
    expiring = asyncio.run(caches.create("p", "l", spec(ttl_s=30))).record.name
    caches.delete("p", "l", deleted.rsplit("/", 1)[1])
    assert backend.released_caches == [deleted]
    clock.now += 31
    assert caches.sweep() == 1
    assert backend.released_caches == [deleted, expiring]
    assert kept not in backend.released_caches
