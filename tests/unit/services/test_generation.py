"""`GenerationService`: one model id → one `Route` (the backend serving it, wrapped in its
model's policies, and the id's facts); running a request on that route; listing models."""

import asyncio

import pytest

from tests.fakes import FAKE_MODEL, FakeBackend
from vertexcompat.domain.content import Content, GenerateContentRequest, TextPart
from vertexcompat.domain.errors import NotFound, Unavailable
from vertexcompat.domain.locations import FieldPath
from vertexcompat.domain.models import ModelCapabilities
from vertexcompat.models.registry import ModelRegistry, default_aliases
from vertexcompat.services.generation import GenerationService
from vertexcompat.services.policies import BackendWrapper


def service(backend=None, aliases=None, **kwargs):
    backend = backend or FakeBackend()
    registry = ModelRegistry(aliases if aliases is not None else default_aliases(FAKE_MODEL))
    return GenerationService({"fake": backend}, registry, **kwargs)


def request(model=FAKE_MODEL):
    return GenerateContentRequest(model=model, contents=(Content("user", (TextPart("x"),)),))


def collect(stream):
    async def go():
        return [event async for event in stream]

    return asyncio.run(go())


@pytest.mark.parametrize(
    "requested",
    [
        "gemini-2.5-flash",
        "google/gemini-2.5-flash",
        "models/gemini-2.5-flash",
        "publishers/google/models/gemini-2.5-flash",
        "projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash",
    ],
)
def test_gemini_ids_resolve_through_the_alias_table(requested):
    backend = FakeBackend()
    route = service(backend).resolve(requested)
    assert (route.backend, route.backend_model) == (backend, FAKE_MODEL)
    assert route.requested_id == requested


def test_backend_model_name_resolves_directly():
    assert service().resolve(FAKE_MODEL).backend_model == FAKE_MODEL


def test_unknown_model_is_not_found_with_google_wording_at_the_model_location():
    with pytest.raises(NotFound) as caught:
        service().resolve("google/gemini-9", project="p", location="l")
    assert caught.value.location == FieldPath.of("model")
    assert caught.value.param is None
    assert caught.value.message.startswith(
        "Publisher Model `projects/p/locations/l/publishers/google/models/gemini-9` was not found "
        "or your project does not have access to it."
    )


def test_alias_to_a_model_nobody_serves_is_not_found():
    with pytest.raises(NotFound):
        service(aliases={"gemini-x": "missing"}).resolve("gemini-x")


def test_backend_not_ready_is_unavailable_while_loading():
    with pytest.raises(Unavailable) as caught:
        service(FakeBackend(ready=False)).resolve("gemini-2.5-flash")
    assert "still loading" in caught.value.message


class FailedLoad:
    def problem(self):
        return "RuntimeError: llama.cpp could not load /models/m.gguf"


def test_a_backend_whose_load_failed_says_why_instead_of_still_loading():
    svc = service(FakeBackend(ready=False), load_status={"fake": FailedLoad()})
    with pytest.raises(Unavailable) as caught:
        svc.resolve("gemini-2.5-flash")
    assert "could not be loaded (RuntimeError: llama.cpp could not load" in caught.value.message
    assert "still loading" not in caught.value.message


def test_the_route_carries_the_facts_of_the_requested_id():
    registry = ModelRegistry(
        default_aliases(FAKE_MODEL, ["my-drawer"]),
        image_models=["my-drawer"],
        signature_enforcing=["gemini-3-pro-preview"],
        capabilities={FAKE_MODEL: ModelCapabilities(vision=True)},
    )
    svc = GenerationService({"fake": FakeBackend()}, registry)
    enforcing = svc.resolve("google/gemini-3-pro-preview")
    assert enforcing.enforce_signatures and not enforcing.outputs_images
    assert enforcing.capabilities == ModelCapabilities(vision=True)
    drawer = svc.resolve("my-drawer")
    assert drawer.outputs_images and not drawer.enforce_signatures


class Tag:
    """A policy that records which capabilities it was chosen for."""

    def __init__(self, name, log):
        self.name, self.log = name, log

    def wrap(self, inner, model):
        self.log.append((self.name, model.model_id))
        wrapped = BackendWrapper(inner)
        wrapped.tag = self.name
        return wrapped


def test_resolve_wraps_the_backend_in_the_policies_chosen_for_its_capabilities():
    log, chosen = [], []

    def choose(capabilities):
        chosen.append(capabilities)
        return (Tag("outer", log), Tag("inner", log))

    backend = FakeBackend()
    route = service(backend, policies=choose).resolve("gemini-2.5-flash")
    assert chosen == [ModelCapabilities()]
    assert route.backend.tag == "outer"
    assert route.backend.inner.tag == "inner" and route.backend.inner.inner is backend
    assert log == [("inner", "gemini-2.5-flash"), ("outer", "gemini-2.5-flash")]


def test_stream_runs_the_request_on_the_route_backend():
    backend = FakeBackend()
    svc = service(backend)
    route = svc.resolve("gemini-2.5-flash")
    events = collect(svc.stream(route, request()))
    assert events and backend.requests == [request()]
    assert backend.endings == ["completed"]


def test_compute_tokens_asks_the_route_backend_for_each_content():
    backend = FakeBackend()
    svc = service(backend)
    route = svc.resolve("gemini-2.5-flash")
    asked = GenerateContentRequest(model=FAKE_MODEL, contents=(
        Content("user", (TextPart("two words"),)), Content("model", (TextPart("three more words"),)),
    ))
    infos = asyncio.run(svc.compute_tokens(route, asked))
    assert backend.computed == [asked]
    assert [(i.role, i.token_ids, i.tokens) for i in infos] == [
        ("user", (1, 2), (b"two", b"words")),
        ("model", (3, 4, 5), (b"three", b"more", b"words")),
    ]


def test_list_models_has_aliases_then_backend_names():
    infos = service(aliases={"gemini-2.5-flash": FAKE_MODEL, "gemini-x": "missing"}).list_models()
    assert [(i.id, i.backend_model) for i in infos] == [
        ("google/gemini-2.5-flash", FAKE_MODEL),
        (FAKE_MODEL, FAKE_MODEL),
    ]
    assert infos[0].context_length == 4096


@pytest.mark.parametrize(
    ("requested", "listed"),
    [
        ("google/gemini-2.5-flash", "google/gemini-2.5-flash"),
        ("gemini-2.5-flash", "google/gemini-2.5-flash"),
        ("projects/p/locations/l/publishers/google/models/gemini-2.5-flash",
         "google/gemini-2.5-flash"),
        (FAKE_MODEL, FAKE_MODEL),
    ],
)
def test_describe_model_gives_the_listed_form(requested, listed):
    info = service().describe_model(requested)
    assert (info.id, info.backend_model) == (listed, FAKE_MODEL)


def test_describe_model_does_not_need_the_backend_ready():
    assert service(FakeBackend(ready=False)).describe_model("gemini-2.5-flash").id == (
        "google/gemini-2.5-flash"
    )


def test_describe_unknown_model_is_not_found():
    with pytest.raises(NotFound) as caught:
        service().describe_model("google/gemini-9", project="p", location="l")
    assert "projects/p/locations/l/publishers/google/models/gemini-9" in caught.value.message
