"""Requests a fuzz run turned into 500s or dropped connections (issue 12), sent raw to a
live server: each gets a 4xx with the Google/OpenAI error body and the offending `param`
(or, for an ignored key, a 200 with a header-safe header), the connection is answered
rather than dropped, and the server goes on serving."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from .conftest import NO_AUTH, TINY_MODEL
from .helpers import AUTH, GEMINI_FLASH_001
from .server import ServerProcess
from .test_errors import _assert_error_body

IGNORED = "x-vertexcompat-ignored-params"
HI = '[{"role": "user", "content": "Say hi."}]'
IMAGE_URL_PARAM = "messages[0].content[1].image_url.url"


def _post(server: ServerProcess, body: bytes, *, content_type: str | None = "application/json",
          path: str = "/chat/completions") -> httpx.Response:
    """POST `body` exactly as given. Raises (failing the test) if the server drops the
    connection instead of answering."""
    headers = dict(AUTH)
    if content_type is not None:
        headers["Content-Type"] = content_type
    return httpx.post(f"{server.vertex_base()}{path}", content=body, headers=headers,
                      timeout=120)


def _chat(fields: str = "", *, model: str = GEMINI_FLASH_001, messages: str = HI) -> bytes:
    """A chat body written by hand, since a JSON encoder would refuse to write these."""
    return (f'{{"model": "{model}", "messages": {messages}, "max_tokens": 2, '
            f'"temperature": 0{fields}}}').encode()


def _still_serves(server: ServerProcess) -> None:
    response = _post(server, _chat())
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["finish_reason"] in ("stop", "length")
    assert server.alive


def _assert_400(response: httpx.Response, param: str) -> dict[str, Any]:
    error = _assert_error_body(response, 400, "INVALID_ARGUMENT")
    assert error["param"] == param, error
    assert error["type"] == "invalid_request_error"
    return error


# -- JSON the parser accepted but the server could not carry --------------------------------


def test_json_nested_a_thousand_deep_is_400_naming_the_limit(tiny_server: ServerProcess) -> None:
    deep = "[" * 1000 + "]" * 1000
    error = _assert_400(_post(tiny_server, _chat(messages=deep)), "messages")
    assert "100 levels" in error["message"]
    _still_serves(tiny_server)


def test_a_5000_digit_integer_is_400_naming_its_field(tiny_server: ServerProcess) -> None:
    error = _assert_400(_post(tiny_server, _chat(', "seed": ' + "9" * 5000)), "seed")
    assert "5000 digits" in error["message"]
    _still_serves(tiny_server)


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_are_400_naming_the_field(
    tiny_server: ServerProcess, number: str
) -> None:
    error = _assert_400(_post(tiny_server, _chat(f', "top_p": {number}')), "top_p")
    assert number in error["message"]
    _still_serves(tiny_server)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (_chat(messages=r'[{"role": "user", "content": "hi \ud800"}]'), "messages[0].content"),
        (_chat(model=r"google/gemini-\ud800"), "model"),
        (_chat(r', "\ud800": 1'), "\\ud800"),
        # The same surrogate as raw UTF-8 bytes rather than an escape.
        (_chat(messages='[{"role": "user", "content": "hi SURROGATE"}]').replace(
            b"SURROGATE", b"\xed\xbf\xbf"), "messages[0].content"),
    ],
)
def test_a_lone_surrogate_is_400_naming_where_it_is(
    tiny_server: ServerProcess, body: bytes, param: str
) -> None:
    error = _assert_400(_post(tiny_server, body), param)
    assert "surrogate" in error["message"]
    _still_serves(tiny_server)


def test_a_lone_surrogate_in_an_images_prompt_is_400(tiny_server: ServerProcess) -> None:
    response = _post(tiny_server, rb'{"prompt": "a cat \ud800", "size": "64x64"}',
                     path="/images/generations")
    _assert_400(response, "prompt")
    _still_serves(tiny_server)


# -- the ignored-params header ----------------------------------------------------------------


@pytest.mark.parametrize("stream", ["false", "true"])
def test_a_non_latin1_unknown_key_is_listed_percent_encoded(
    tiny_server: ServerProcess, stream: str
) -> None:
    response = _post(tiny_server, _chat(f', "ключ": 1, "stream": {stream}'))
    assert response.status_code == 200, response.text
    assert response.headers[IGNORED] == "%D0%BA%D0%BB%D1%8E%D1%87"
    assert unquote(response.headers[IGNORED]) == "ключ"
    if stream == "true":
        assert response.text.rstrip().endswith("data: [DONE]")
    _still_serves(tiny_server)


def test_an_unknown_key_with_cr_lf_cannot_split_the_response_headers(
    tiny_server: ServerProcess,
) -> None:
    response = _post(tiny_server, _chat(r', "x\r\nSet-Cookie: a=b\r\n\r\n": 1'))
    assert response.status_code == 200, response.text
    assert "set-cookie" not in response.headers
    assert unquote(response.headers[IGNORED]) == "x\r\nSet-Cookie: a=b\r\n\r\n"
    _still_serves(tiny_server)


def test_thousands_of_unknown_keys_keep_the_header_small(tiny_server: ServerProcess) -> None:
    keys = "".join(f', "unknown_{i:05d}": 1' for i in range(5000))
    response = _post(tiny_server, _chat(keys))  # h11 would refuse a header block over 16 KiB
    assert response.status_code == 200, response.text
    listed = response.headers[IGNORED].split(",")
    assert len(response.headers[IGNORED]) <= 2048
    assert int(response.headers["x-vertexcompat-ignored-params-omitted"]) == 5000 - len(listed)


# -- media types --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/chat/completions", "/images/generations"])
@pytest.mark.parametrize(
    "content_type", ["text/plain", "image/png", "multipart/form-data; boundary=xyz",
                     "application/x-www-form-urlencoded"],
)
def test_a_body_not_declared_as_json_is_415(
    tiny_server: ServerProcess, path: str, content_type: str
) -> None:
    body = _chat() if path == "/chat/completions" else b'{"prompt": "a dot", "size": "64x64"}'
    response = _post(tiny_server, body, content_type=content_type, path=path)
    error = _assert_error_body(response, 415, "INVALID_ARGUMENT")
    assert "application/json" in error["message"]
    assert response.headers["accept"] == "application/json"


def test_a_body_without_content_type_is_still_read_as_json(tiny_server: ServerProcess) -> None:
    response = _post(tiny_server, _chat(), content_type=None)
    assert response.status_code == 200, response.text


# -- media sources --------------------------------------------------------------------------------


def _with_image(url: str) -> bytes:
    return _chat(messages=(
        '[{"role": "user", "content": [{"type": "text", "text": "What is this?"}, '
        f'{{"type": "image_url", "image_url": {{"url": "{url}"}}}}]}}]'
    ))


def test_gs_uri_without_a_store_names_the_real_setting(tiny_server: ServerProcess) -> None:
    error = _assert_400(_post(tiny_server, _with_image("gs://bucket/cat.png")), IMAGE_URL_PARAM)
    assert "VERTEXCOMPAT_MEDIA_GCS_ROOT" in error["message"]


class _Redirector(BaseHTTPRequestHandler):
    """Every GET answers 302 to the URL in its path after `/to/`."""

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.send_response(302)
        self.send_header("Location", self.path.removeprefix("/to/"))
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture(scope="module")
def redirector() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Redirector)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def media_server(data_dir: Path, server_logs: Path) -> Iterator[ServerProcess]:
    """The tiny model, allowed to fetch plain http:// from loopback (the redirector)."""
    server = ServerProcess(
        "hardening-media", model=TINY_MODEL, data_dir=data_dir, log_dir=server_logs,
        threads=1, parallel=1, ctx_per_seq=2048, extra_args=NO_AUTH,
        env={"VERTEXCOMPAT_MEDIA_ALLOW_HTTP": "true",
             "VERTEXCOMPAT_MEDIA_ALLOWLIST": '["127.0.0.1"]'},
    )
    server.start(ready_timeout=120)
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("target", ["data:image/png;base64,iVBORw0KGgo=", "javascript:alert(1)",
                                    "http://xn--a.example/cat.png"])
def test_a_redirect_to_a_url_httpx_cannot_parse_is_400_naming_the_part(
    media_server: ServerProcess, redirector: str, target: str
) -> None:
    response = _post(media_server, _with_image(f"{redirector}/to/{target}"))
    error = _assert_400(response, IMAGE_URL_PARAM)
    assert "redirected to a URL that cannot be fetched" in error["message"]
    _still_serves(media_server)


# -- the server never blamed itself -----------------------------------------------------------


def test_none_of_these_requests_caused_an_internal_error(tiny_server: ServerProcess) -> None:
    log = tiny_server.log_text()
    assert "internal error" not in log.lower(), tiny_server.log_tail()
    assert "Traceback" not in log, tiny_server.log_tail()
    assert tiny_server.alive
