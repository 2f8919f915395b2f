"""Bodies a fuzz run turned into 500s (issue 12), through the routes: each is a 4xx with the
offending `param`, decided before the backend sees a request."""

from urllib.parse import unquote

import pytest

from tests.fakes import FakeBackend, make_container
from tests.unit.web.helpers import AUTH, VERTEX_CHAT, client_for
from vertexcompat.web.body import MAX_JSON_DEPTH

IMAGES = "/v1/images/generations"
JSON = {**AUTH, "Content-Type": "application/json"}
HELLO = '[{"role": "user", "content": "hi"}]'
IGNORED = "x-vertexcompat-ignored-params"


def post_raw(path, content: bytes, headers=JSON):
    backend = FakeBackend()
    with client_for(make_container({"fake": backend})) as client:
        r = client.post(path, content=content, headers=headers)
    return r, backend


def chat_raw(fields: str, *, messages: str = HELLO) -> bytes:
    """A chat body written by hand: the `json=` encoder cannot carry these values."""
    return f'{{"model": "google/gemini-2.5-flash", "messages": {messages}{fields}}}'.encode()


def error_of(response, status):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "status", "type", "param", "details"}
    assert body["error"]["code"] == status
    return body["error"]


@pytest.mark.parametrize(
    ("content", "param", "words"),
    [
        (chat_raw(', "metadata": ' + "[" * 1000 + "]" * 1000), "metadata",
         f"{MAX_JSON_DEPTH} levels"),
        (chat_raw(', "seed": ' + "7" * 5000), "seed", "5000 digits"),
        (chat_raw(', "temperature": NaN'), "temperature", "NaN"),
        (chat_raw(', "top_p": Infinity'), "top_p", "Infinity"),
        (chat_raw(', "presence_penalty": -Infinity'), "presence_penalty", "-Infinity"),
        (chat_raw(', "frequency_penalty": 1e400'), "frequency_penalty", "1e400"),
        (chat_raw("", messages=r'[{"role": "user", "content": "\ud800"}]'),
         "messages[0].content", "surrogate"),
        (rb'{"model": "google/gemini-\ud800", "messages": [{"role": "user", "content": "hi"}]}',
         "model", "surrogate"),
        (chat_raw(r', "\ud800": 1'), "\\ud800", "surrogate"),
    ],
)
def test_fuzzed_chat_bodies_are_400_naming_the_param_before_generation(content, param, words):
    r, backend = post_raw(VERTEX_CHAT, content)
    error = error_of(r, 400)
    assert (error["status"], error["type"], error["param"]) == (
        "INVALID_ARGUMENT", "invalid_request_error", param)
    assert words in error["message"]
    assert backend.requests == []


def test_a_lone_surrogate_in_an_images_prompt_is_a_400():
    r, backend = post_raw(IMAGES, rb'{"prompt": "a cat \udfff"}')
    assert error_of(r, 400)["param"] == "prompt"
    assert backend.requests == []


@pytest.mark.parametrize("path", [VERTEX_CHAT, IMAGES])
@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "image/png", "multipart/form-data; boundary=xyz",
     "application/x-www-form-urlencoded"],
)
def test_a_body_that_is_not_declared_json_is_415(path, content_type):
    r, backend = post_raw(path, chat_raw(""), headers={**AUTH, "Content-Type": content_type})
    error = error_of(r, 415)
    assert "application/json" in error["message"]
    assert error["status"] == "INVALID_ARGUMENT" and error["param"] is None
    assert r.headers["accept"] == "application/json"
    assert backend.requests == []


def test_a_body_without_content_type_is_still_read_as_json():
    r, _ = post_raw(VERTEX_CHAT, chat_raw(""), headers=AUTH)
    assert r.status_code == 200, r.text


def test_a_json_content_type_with_a_charset_is_read():
    headers = {**AUTH, "Content-Type": "application/json; charset=utf-8"}
    assert post_raw(VERTEX_CHAT, chat_raw(""), headers=headers)[0].status_code == 200


@pytest.mark.parametrize("stream", ["false", "true"])
def test_a_non_latin1_ignored_key_is_percent_encoded_in_the_header(stream):
    r, _ = post_raw(VERTEX_CHAT, chat_raw(f', "ключ": 1, "stream": {stream}'))
    assert r.status_code == 200, r.text
    assert r.headers[IGNORED] == "%D0%BA%D0%BB%D1%8E%D1%87"
    assert unquote(r.headers[IGNORED]) == "ключ"


def test_an_ignored_key_with_cr_lf_cannot_split_the_header():
    r, _ = post_raw(VERTEX_CHAT, chat_raw(r', "x\r\nSet-Cookie: a=b": 1, "user": "u"'))
    assert r.status_code == 200, r.text
    assert "set-cookie" not in r.headers
    names = r.headers[IGNORED].split(",")
    assert names == ["user", "x%0D%0ASet-Cookie:%20a=b"]
    assert unquote(names[1]) == "x\r\nSet-Cookie: a=b"


def test_thousands_of_ignored_keys_fit_a_bounded_header_and_the_rest_are_counted():
    keys = ", ".join(f'"unknown_field_{i:05d}": 1' for i in range(5000))
    r, _ = post_raw(VERTEX_CHAT, chat_raw(", " + keys))
    assert r.status_code == 200, r.text
    listed = r.headers[IGNORED].split(",")
    assert len(r.headers[IGNORED]) <= 2048
    assert listed[0] == "unknown_field_00000"
    assert int(r.headers["x-vertexcompat-ignored-params-omitted"]) == 5000 - len(listed)
