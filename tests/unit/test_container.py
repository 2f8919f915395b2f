import asyncio
import threading
from pathlib import Path
from types import SimpleNamespace

from tests.fakes import FakeBackend, make_container
from vertexcompat.container import LocalModelLoader


class FakeEngine:
    def __init__(self, fail=False, gate=None):
        self.loaded = None
        self.closed = False
        self.fail = fail
        self.gate = gate

    def load(self, path, name, draft_path=None):
        if self.gate:
            self.gate.wait(5)
        if self.fail:
            raise RuntimeError("bad gguf")
        self.loaded = (path, name)
        self.draft_path = draft_path

    def close(self):
        self.closed = True


class FakeCatalog:
    def resolve(self, name):
        return SimpleNamespace(name=name, path=Path(f"/models/{name}.gguf"))


def wait_for(predicate):
    for _ in range(200):
        if predicate():
            return
        threading.Event().wait(0.01)
    raise AssertionError("timed out")


def test_readiness_reports_each_backend():
    container = make_container({"a": FakeBackend(["a"]), "b": FakeBackend(["b"], ready=False)})
    assert container.readiness() == {"a": "ready", "b": "loading"}


def test_loader_loads_in_background_without_blocking_start():
    gate = threading.Event()
    engine = FakeEngine(gate=gate)
    loader = LocalModelLoader(engine=engine, catalog=FakeCatalog(), model="m", backend_model="m")
    asyncio.run(loader.start())  # returns while the load is still gated
    assert engine.loaded is None
    gate.set()
    wait_for(lambda: engine.loaded is not None)
    assert engine.loaded == (Path("/models/m.gguf"), "m")


def test_failed_load_is_reported_as_the_readiness_reason():
    engine = FakeEngine(fail=True)
    loader = LocalModelLoader(engine=engine, catalog=FakeCatalog(), model="m", backend_model="m")
    container = make_container({"local": FakeBackend(["m"], ready=False)})
    container.lifecycles = {"local": loader}
    asyncio.run(container.start())
    wait_for(lambda: loader.problem() is not None)
    assert container.readiness() == {"local": "failed: RuntimeError: bad gguf"}


def test_the_draft_model_is_resolved_and_loaded_beside_the_served_one():
    engine = FakeEngine()
    loader = LocalModelLoader(engine=engine, catalog=FakeCatalog(), model="big",
                              backend_model="big", draft_model="small", needs_draft=True)
    asyncio.run(loader.start())
    wait_for(lambda: engine.loaded is not None)
    assert engine.draft_path == Path("/models/small.gguf")


def test_speculation_with_a_draft_model_but_none_named_is_the_readiness_reason():
    engine = FakeEngine()
    loader = LocalModelLoader(engine=engine, catalog=FakeCatalog(), model="m",
                              backend_model="m", draft_model=None, needs_draft=True)
    asyncio.run(loader.start())
    wait_for(lambda: loader.problem() is not None)
    assert "--draft-model" in loader.problem()
    assert engine.loaded is None


def policy_types(capabilities, **kwargs):
    from vertexcompat.container import backend_policies

    return [type(p).__name__ for p in backend_policies(capabilities, **kwargs)]


def test_the_local_model_gets_every_policy_outermost_first():
    from vertexcompat.container import LOCAL_CAPABILITIES

    assert policy_types(LOCAL_CAPABILITIES, media=None, thoughts=object()) == [
        "ImageDefaults", "ThoughtSealing", "MediaPerception", "SafetyFilter", "Grounding",
        "GeminiNamedErrors",
    ]


def test_a_model_that_reads_media_and_seals_its_own_thoughts_gets_only_the_boundary():
    from vertexcompat.domain.models import ModelCapabilities

    upstream = ModelCapabilities(
        vision=True, audio=True, issues_thought_signatures=True, native_images=True,
        logprobs=True, safety_settings=True, grounding=True,
    )
    assert policy_types(upstream, media=None, thoughts=object()) == ["GeminiNamedErrors"]


def test_a_model_that_cannot_follow_schemas_has_its_answers_checked():
    from vertexcompat.domain.models import ModelCapabilities

    upstream = ModelCapabilities(
        vision=True, audio=True, json_schema=False, issues_thought_signatures=True,
        native_images=True,
    )
    assert policy_types(upstream, media=None, thoughts=None) == [
        "SafetyFilter", "Grounding", "SchemaCheck", "NoLogprobs", "GeminiNamedErrors"]


def test_a_vision_model_without_audio_has_only_its_audio_perceived():
    from vertexcompat.domain.models import ModelCapabilities
    from vertexcompat.container import backend_policies

    [perception] = [
        p for p in backend_policies(ModelCapabilities(vision=True), media=None, thoughts=None)
        if type(p).__name__ == "MediaPerception"
    ]
    assert (perception._images, perception._audio) == (False, True)


def test_without_a_sealer_nothing_is_sealed():
    from vertexcompat.container import LOCAL_CAPABILITIES

    assert "ThoughtSealing" not in policy_types(LOCAL_CAPABILITIES, media=None, thoughts=None)


def test_a_failed_load_is_what_requests_are_told():
    from tests.unit.web.helpers import AUTH, VERTEX_CHAT, chat_body, client_for
    from vertexcompat.container import build_generation
    from vertexcompat.models.registry import ModelRegistry, default_aliases

    loader = LocalModelLoader(
        engine=FakeEngine(fail=True), catalog=FakeCatalog(), model="m", backend_model="m"
    )
    backends = {"local": FakeBackend(["m"], ready=False)}
    container = make_container(backends)
    container.lifecycles = {"local": loader}
    container.generation = build_generation(
        backends, ModelRegistry(default_aliases("m")), load_status=container.lifecycles
    )
    with client_for(container) as client:
        wait_for(lambda: loader.problem() is not None)
        r = client.post(VERTEX_CHAT, json=chat_body(), headers=AUTH)
    assert r.status_code == 503
    assert "RuntimeError: bad gguf" in r.json()["error"]["message"]


def _keep(tmp_path, embedder, texts):
    """Stand-in vectors (unit-length rows) for `texts`, kept where the server's cache under
    data_dir `tmp_path` looks: a list read from there is not embedded."""
    import numpy as np

    from vertexcompat.embeddings import EmbeddingCache

    rows = np.random.default_rng(0).normal(size=(len(texts), 384)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    path = EmbeddingCache(tmp_path / "embeddings").path(embedder, texts)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, rows)


def test_the_safety_classifier_reads_its_exemplars_embeddings_from_the_data_dir(tmp_path):
    from tests.fakes import make_settings
    from tests.unit.embeddings.counting import CountingEmbedder
    from vertexcompat.container import build_safety_judge
    from vertexcompat.safety.exemplars import load_exemplars

    embedder = CountingEmbedder()
    _keep(tmp_path, embedder, [e.text for e in load_exemplars()])
    settings = make_settings(data_dir=tmp_path, safety={"classifiers": ["embedding"]})
    judge = build_safety_judge(settings, None, embedder)
    try:
        judge.warm()
    finally:
        judge.close()
    assert embedder.lists == []


def test_the_illustration_matcher_reads_its_names_embeddings_from_the_data_dir(tmp_path):
    from tests.fakes import make_settings
    from tests.unit.embeddings.counting import CountingEmbedder
    from vertexcompat.container import build_illustrator
    from vertexcompat.media.illustrations import IllustrationLibrary

    embedder = CountingEmbedder()
    illustrations = IllustrationLibrary().illustrations().values()
    _keep(tmp_path, embedder, [i.name for i in sorted(illustrations, key=lambda i: i.key)])
    illustrator = build_illustrator(make_settings(data_dir=tmp_path), embedder)
    assert illustrator is not None
    illustrator.matcher.match("vessel")  # no keyword or name: the embeddings decide
    assert embedder.lists == [("vessel",)]
    assert build_illustrator(
        make_settings(data_dir=tmp_path, image_illustrations=False), embedder) is None
