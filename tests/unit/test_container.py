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

    def load(self, path, name):
        if self.gate:
            self.gate.wait(5)
        if self.fail:
            raise RuntimeError("bad gguf")
        self.loaded = (path, name)

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
