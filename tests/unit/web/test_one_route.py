"""One route per request (issue 13), seen from the HTTP side: the model id is resolved once;
errors below the surface carry a Gemini location that the surface names once, without
changing the error; chat and images answer through one responder (499 when the client
leaves, and it is logged); the `google` fields no code acts on are listed as ignored."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from tests.fakes import FAKE_MODEL, FakeBackend, make_container
from tests.unit.web.helpers import AUTH, VERTEX_CHAT, chat_body, client_for, sse_payloads
from vertexcompat.container import build_generation
from vertexcompat.domain.errors import InvalidArgument, ResourceExhausted
from vertexcompat.domain.events import TextDelta
from vertexcompat.models.registry import ModelRegistry, default_aliases
from vertexcompat.web.app import create_app

VERTEX_IMAGES = "/v1/projects/my-proj/locations/us-central1/endpoints/openapi/images/generations"


def error_of(response):
    return response.json()["error"]


# --- resolve once -----------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_a_chat_request_resolves_its_model_once(monkeypatch, stream):
    container = make_container()
    calls = []
    resolve = container.generation.resolve

    def counting(*args, **kwargs):
        calls.append(args)
        return resolve(*args, **kwargs)

    monkeypatch.setattr(container.generation, "resolve", counting)
    with client_for(container) as client:
        r = client.post(VERTEX_CHAT, json=chat_body(stream=stream), headers=AUTH)
    assert r.status_code == 200
    assert calls == [("google/gemini-2.5-flash",)]


def test_an_images_request_resolves_its_model_once(monkeypatch):
    container = make_container()
    calls = []
    resolve = container.generation.resolve
    monkeypatch.setattr(
        container.generation, "resolve",
        lambda *a, **k: calls.append(a) or resolve(*a, **k),
    )
    with client_for(container) as client:
        client.post(VERTEX_IMAGES, json={"prompt": "a cat"}, headers=AUTH)
    assert calls == [("gemini-2.5-flash-image",)]


# --- errors: one location, named once by the surface ------------------------------------


def raising(error):
    return make_container({"fake": FakeBackend(script=lambda request: [error])})


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("location", "fields", "param"),
    [
        ("generation_config.candidate_count", {}, "n"),
        ("generation_config.max_output_tokens", {"max_completion_tokens": 9}, "max_completion_tokens"),
        ("tools[0].function_declarations[1].parameters",
         {"tools": [{"type": "function", "function": {"name": n}} for n in "ab"]},
         "tools[1].function.parameters"),
        ("generation_config.response_schema", {}, "response_format.json_schema.schema"),
        ("contents[2].parts[0]", {}, "messages"),
        ("generation_config.thinking_config.budget", {"reasoning_effort": "low"}, "reasoning_effort"),
        # No such parameter in an OpenAI request: no param, never the Gemini path.
        ("generation_config.top_k", {}, None),
        ("generation_config.thinking_config.budget", {}, None),
    ],
)
def test_a_backend_error_location_is_named_as_the_client_wrote_it(location, fields, param, stream):
    container = raising(InvalidArgument("no", location=location))
    with client_for(container) as client:
        r = client.post(VERTEX_CHAT, json=chat_body(stream=stream, **fields), headers=AUTH)
    assert r.status_code == 400
    assert error_of(r)["param"] == param


def test_a_backend_gemini_param_never_leaks_out_unmapped():
    # A backend that names a Gemini field OpenAI has no parameter for.
    container = raising(InvalidArgument("no", param="generation_config.top_k"))
    with client_for(container) as client:
        r = client.post(VERTEX_CHAT, json=chat_body(), headers=AUTH)
    assert error_of(r)["param"] is None


def test_the_error_a_backend_raised_is_not_changed_on_its_way_out():
    error = ResourceExhausted("queue full", param="generation_config.candidate_count")
    with client_for(raising(error)) as client:
        r = client.post(VERTEX_CHAT, json=chat_body(), headers=AUTH)
    assert (r.status_code, error_of(r)["param"]) == (429, "n")
    assert error.param == "generation_config.candidate_count" and error.location is None


def test_an_error_after_streaming_started_names_its_location_the_same_way():
    container = raising(TextDelta(0, "a"))
    backend = container.backends["fake"]
    backend.script = lambda request: [
        TextDelta(0, "a"), InvalidArgument("late", location="generation_config.stop_sequences"),
    ]
    with client_for(container) as client:
        r = client.post(VERTEX_CHAT, json=chat_body(stream=True), headers=AUTH)
    assert sse_payloads(r.text)[-1]["error"]["param"] == "stop"


@pytest.mark.parametrize(
    ("location", "param"),
    [("generation_config.candidate_count", "n"), ("contents", "prompt"),
     ("generation_config.image_config", "size"), ("generation_config.temperature", None)],
)
def test_the_images_surface_names_locations_its_own_way(location, param):
    with client_for(raising(InvalidArgument("no", location=location))) as client:
        r = client.post(VERTEX_IMAGES, json={"prompt": "a cat"}, headers=AUTH)
    assert error_of(r)["param"] == param


def test_an_unknown_model_names_the_model_param_on_both_surfaces():
    with client_for() as client:
        chat = client.post(VERTEX_CHAT, json=chat_body(model="google/gemini-9"), headers=AUTH)
        images = client.post(VERTEX_IMAGES, json={"prompt": "x", "model": "nope"}, headers=AUTH)
    assert (chat.status_code, error_of(chat)["param"]) == (404, "model")
    assert (images.status_code, error_of(images)["param"]) == (404, "model")


# --- a failed load says why -------------------------------------------------------------


class FailedLoad:
    def problem(self):
        return "RuntimeError: bad gguf"


def test_a_request_after_a_failed_load_is_told_why():
    backends = {"local": FakeBackend(ready=False)}
    container = make_container(backends)
    container.generation = build_generation(
        backends, ModelRegistry(default_aliases(FAKE_MODEL)), load_status={"local": FailedLoad()}
    )
    with client_for(container) as client:
        r = client.post(VERTEX_CHAT, json=chat_body(), headers=AUTH)
    assert r.status_code == 503
    assert "RuntimeError: bad gguf" in error_of(r)["message"]


# --- one responder: the client that leaves ----------------------------------------------


async def drive(app, path, body):
    """The ASGI app, with a client that disconnects as soon as the request is sent."""
    raw = json.dumps(body).encode()
    sent: list[dict] = []
    first = True

    async def receive():
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": raw, "more_body": False}
        await asyncio.sleep(0.01)
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1", "method": "POST", "scheme": "http", "path": path,
        "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "client": ("127.0.0.1", 1), "server": ("t", 80),
        "headers": [(b"authorization", b"Bearer t"), (b"content-type", b"application/json"),
                    (b"content-length", str(len(raw)).encode())],
        "state": {},
    }
    await asyncio.wait_for(app(scope, receive, send), timeout=5)
    return sent


@pytest.mark.parametrize(
    ("path", "body"),
    [(VERTEX_CHAT, chat_body()), (VERTEX_CHAT, chat_body(stream=True)),
     (VERTEX_IMAGES, {"prompt": "a cat"})],
)
def test_a_client_that_leaves_before_the_answer_cancels_it_and_is_logged_as_499(
    caplog, path, body
):
    backend = FakeBackend(script=lambda request: [], hang=True)
    app = create_app(make_container({"fake": backend}))
    with caplog.at_level(logging.INFO, logger="vertexcompat.web.responder"):
        sent = asyncio.run(drive(app, path, body))
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 499
    assert backend.endings == ["closed"]
    assert "499" in caplog.text and path in caplog.text


# --- the google fields nobody acts on are listed ----------------------------------------


@pytest.mark.parametrize(
    ("fields", "listed"),
    [
        ({"google": {"labels": {}, "tool_hints": 1, "safety_settings": []}},
         "google.labels,google.tool_hints"),
        ({"extra_body": {"google": {"labels": {}, "thought_tag_marker": "think"}}},
         "extra_body.google.labels"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_unacted_google_fields_are_listed_as_ignored(fields, listed, stream):
    with client_for() as client:
        r = client.post(VERTEX_CHAT, json=chat_body(stream=stream, **fields), headers=AUTH)
    assert r.status_code == 200
    assert r.headers["x-vertexcompat-ignored-params"] == listed
