import pytest

from tests.fakes import FakeBackend, make_container
from tests.unit.web.helpers import AUTH, USER, VERTEX_CHAT, chat_body, client_for
from vertexcompat.domain.errors import InvalidArgument, ResourceExhausted, Unavailable


def test_non_stream_completion_has_openai_shape_and_echoes_the_model():
    with client_for() as client:
        r = client.post(VERTEX_CHAT, json=chat_body(n=2), headers=AUTH)
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == "google/gemini-2.5-flash"
    assert body["id"].startswith("chatcmpl-") and len(body["id"]) >= len("chatcmpl-") + 24
    assert [c["message"]["content"] for c in body["choices"]] == ["Hello world", "Hello world 1"]
    assert [c["finish_reason"] for c in body["choices"]] == ["stop", "stop"]
    assert body["usage"]["prompt_tokens_details"] == {"cached_tokens": 1}
    assert body["usage"]["completion_tokens_details"] == {"reasoning_tokens": 0}


@pytest.mark.parametrize(
    "path",
    [
        VERTEX_CHAT,
        "/v1beta1/projects/p/locations/global/endpoints/openapi/chat/completions",
        "/v1/chat/completions",
    ],
)
def test_every_chat_path_answers(path):
    with client_for() as client:
        assert client.post(path, json=chat_body(), headers=AUTH).status_code == 200


def test_request_is_lowered_to_the_backend_model():
    backend = FakeBackend()
    with client_for(make_container({"fake": backend})) as client:
        client.post(VERTEX_CHAT, json=chat_body(temperature=0.2, max_tokens=5), headers=AUTH)
    (request,) = backend.requests
    assert request.model == "fake-model"
    assert request.generation_config.temperature == 0.2
    assert request.generation_config.max_output_tokens == 5
    assert backend.endings == ["completed"]


def test_ignored_params_are_listed_in_a_header():
    with client_for() as client:
        r = client.post(VERTEX_CHAT, json=chat_body(user="u", logit_bias={}), headers=AUTH)
        plain = client.post(VERTEX_CHAT, json=chat_body(), headers=AUTH)
    assert r.headers["x-vertexcompat-ignored-params"] == "logit_bias,user"
    assert "x-vertexcompat-ignored-params" not in plain.headers


def error_of(response):
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "status", "type", "param", "details"}
    assert body["error"]["code"] == response.status_code
    assert body["error"]["details"] == []
    return body["error"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (chat_body(temperature=3), "temperature"),
        (chat_body(messages=[]), "messages"),
        (chat_body(messages=[{"role": "x", "content": "a"}]), "messages[0].role"),
        (chat_body(messages=[{"role": "user", "content": 1}]), "messages[0].content"),
        (chat_body(stop=["a"] * 6), "stop"),
        ({"messages": [USER]}, "model"),
        (
            chat_body(
                messages=[
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}],
                    }
                ]
            ),
            "messages[0].content[0].image_url.url",
        ),
    ],
)
def test_invalid_request_is_400_invalid_argument_naming_the_param(body, param):
    with client_for() as client:
        r = client.post(VERTEX_CHAT, json=body, headers=AUTH)
    assert r.status_code == 400
    error = error_of(r)
    assert (error["status"], error["type"], error["param"]) == (
        "INVALID_ARGUMENT",
        "invalid_request_error",
        param,
    )


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b"\xff\xfe", b""])
def test_malformed_or_non_object_json_is_400_with_null_param(content):
    with client_for() as client:
        r = client.post(
            VERTEX_CHAT, content=content, headers={**AUTH, "Content-Type": "application/json"}
        )
    assert r.status_code == 400
    error = error_of(r)
    assert error["param"] is None and "JSON" in error["message"]


def test_unknown_model_is_404_not_found():
    with client_for() as client:
        r = client.post(VERTEX_CHAT, json=chat_body(model="google/gemini-9"), headers=AUTH)
    assert r.status_code == 404
    error = error_of(r)
    assert (error["status"], error["param"]) == ("NOT_FOUND", "model")
    assert (
        "projects/my-proj/locations/us-central1/publishers/google/models/gemini-9"
        in error["message"]
    )


def test_local_model_name_is_accepted_directly():
    with client_for() as client:
        r = client.post(VERTEX_CHAT, json=chat_body(model="fake-model"), headers=AUTH)
    assert r.status_code == 200 and r.json()["model"] == "fake-model"


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "}]
)
def test_missing_or_malformed_credentials_are_401(headers):
    with client_for() as client:
        r = client.post(VERTEX_CHAT, json=chat_body(), headers=headers)
    assert r.status_code == 401
    assert error_of(r)["status"] == "UNAUTHENTICATED"


def test_body_over_the_limit_is_413_from_content_length():
    with client_for(make_container(max_body_bytes=100)) as client:
        r = client.post(
            VERTEX_CHAT,
            json=chat_body(messages=[{"role": "user", "content": "x" * 200}]),
            headers=AUTH,
        )
    assert r.status_code == 413
    error = error_of(r)
    assert (error["status"], error["param"]) == ("INVALID_ARGUMENT", None)


def test_body_over_the_limit_is_413_while_streaming_without_content_length():
    def chunks():
        yield b'{"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "'
        for _ in range(10):
            yield b"x" * 50
        yield b'"}]}'

    with client_for(make_container(max_body_bytes=200)) as client:
        r = client.post(VERTEX_CHAT, content=chunks(), headers=AUTH)
    assert r.status_code == 413


def failing_backend(error):
    return FakeBackend(script=lambda request: [error])


@pytest.mark.parametrize(
    ("error", "status", "name", "retry_after"),
    [
        (ResourceExhausted("queue full", retry_after_s=3), 429, "RESOURCE_EXHAUSTED", "3"),
        (Unavailable("loading", retry_after_s=7), 503, "UNAVAILABLE", "7"),
        (InvalidArgument("prompt too long", param="messages"), 400, "INVALID_ARGUMENT", None),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_backend_errors_before_generation_become_http_errors(
    error, status, name, retry_after, stream
):
    backend = failing_backend(error)
    with client_for(make_container({"fake": backend})) as client:
        r = client.post(VERTEX_CHAT, json=chat_body(stream=stream), headers=AUTH)
    assert r.status_code == status
    assert error_of(r)["status"] == name
    assert r.headers.get("retry-after") == retry_after
    assert backend.endings == ["error"]


def test_backend_not_ready_is_503_with_retry_after():
    with client_for(make_container({"fake": FakeBackend(ready=False)})) as client:
        r = client.post(VERTEX_CHAT, json=chat_body(), headers=AUTH)
    assert r.status_code == 503 and r.headers["retry-after"] == "5"


def test_unexpected_exception_is_500_with_a_request_id(caplog):
    backend = failing_backend(TypeError("bug in our code"))
    with client_for(make_container({"fake": backend})) as client:
        r = client.post(VERTEX_CHAT, json=chat_body(), headers=AUTH)
    assert r.status_code == 500
    error = error_of(r)
    assert error["status"] == "INTERNAL" and "request id" in error["message"]
    assert "bug in our code" not in error["message"]
    assert "bug in our code" in caplog.text
