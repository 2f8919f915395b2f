import pytest

from tests.fakes import FakeBackend, make_container
from tests.unit.web.helpers import AUTH, VERTEX_CHAT, chat_body, client_for


@pytest.mark.parametrize(
    "path",
    [
        "/v1/models",
        "/v1/projects/p/locations/l/endpoints/openapi/models",
        "/v1beta1/projects/p/locations/l/endpoints/openapi/models",
    ],
)
def test_models_are_listed_in_the_openai_shape(path):
    with client_for() as client:
        r = client.get(path, headers=AUTH)
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "list"
    ids = [m["id"] for m in body["data"]]
    assert "google/gemini-2.5-flash" in ids and "fake-model" in ids
    assert set(body["data"][0]) == {"id", "object", "created", "owned_by"}
    assert body["data"][0]["object"] == "model"


def test_models_require_credentials():
    with client_for() as client:
        assert client.get("/v1/models").status_code == 401


def test_healthz_is_ok_even_while_loading():
    with client_for(make_container({"fake": FakeBackend(ready=False)})) as client:
        r = client.get("/healthz")
    assert (r.status_code, r.json()) == (200, {"status": "ok"})


def test_readyz_is_503_until_every_backend_is_ready():
    loading = FakeBackend(["b"], ready=False)
    container = make_container({"a": FakeBackend(["a"]), "b": loading})
    with client_for(container) as client:
        r = client.get("/readyz")
        assert r.status_code == 503
        assert r.json()["backends"] == {"a": "ready", "b": "loading"}
        loading.ready = True
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["load"]["a"] == {
            "busy_slots": 0, "active_requests": 0, "queued_requests": 0
        }


def test_unknown_path_is_a_404_error_body():
    with client_for() as client:
        r = client.get("/v1/nope")
    assert r.status_code == 404
    assert r.json()["error"]["status"] == "NOT_FOUND"


def test_two_apps_in_one_process_are_independent():
    first, second = FakeBackend(["one"]), FakeBackend(["two"])
    with (
        client_for(make_container({"x": first}, aliases={})) as a,
        client_for(make_container({"x": second}, aliases={})) as b,
    ):
        assert a.post(VERTEX_CHAT, json=chat_body(model="one"), headers=AUTH).status_code == 200
        assert b.post(VERTEX_CHAT, json=chat_body(model="one"), headers=AUTH).status_code == 404
        assert b.post(VERTEX_CHAT, json=chat_body(model="two"), headers=AUTH).status_code == 200
    assert len(first.requests) == 1 and len(second.requests) == 1


def test_lifespan_starts_and_closes_the_container():
    calls = []

    class Recorder:
        async def start(self):
            calls.append("start")

        async def close(self):
            calls.append("close")

        def problem(self):
            return None

    container = make_container()
    container.lifecycles = {"fake": Recorder()}
    with client_for(container) as client:
        client.get("/healthz")
        assert calls == ["start"]
    assert calls == ["start", "close"]


@pytest.mark.parametrize(
    "base",
    ["/v1", "/v1/projects/p/locations/l/endpoints/openapi",
     "/v1beta1/projects/p/locations/l/endpoints/openapi"],
)
@pytest.mark.parametrize(
    ("model", "listed"),
    [("google/gemini-2.5-flash", "google/gemini-2.5-flash"),
     ("google%2Fgemini-2.5-flash", "google/gemini-2.5-flash"),  # as the openai SDK sends it
     ("gemini-2.5-flash", "google/gemini-2.5-flash"),
     ("fake-model", "fake-model")],
)
def test_one_model_is_retrieved_by_its_id_slashes_and_all(base, model, listed):
    with client_for() as client:
        r = client.get(f"{base}/models/{model}", headers=AUTH)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == listed and body["object"] == "model"
    assert set(body) == {"id", "object", "created", "owned_by"}


def test_an_unknown_model_is_404_in_googles_shape():
    with client_for() as client:
        vertex = client.get(
            "/v1/projects/p/locations/us-east1/endpoints/openapi/models/google/gemini-9",
            headers=AUTH,
        )
        plain = client.get("/v1/models/gemini-9", headers=AUTH)
    assert vertex.status_code == plain.status_code == 404
    error = vertex.json()["error"]
    assert (error["code"], error["status"], error["type"]) == (404, "NOT_FOUND", "not_found_error")
    assert error["message"].startswith(
        "Publisher Model `projects/p/locations/us-east1/publishers/google/models/gemini-9` "
        "was not found"
    )
    # The plain OpenAI path names no location, as chat completions there do not.
    assert plain.json()["error"]["message"].startswith(
        "Publisher Model `publishers/google/models/gemini-9` was not found"
    )


def test_retrieving_a_model_requires_credentials():
    with client_for() as client:
        assert client.get("/v1/models/google/gemini-2.5-flash").status_code == 401
