"""The access log (`web/access_log.py`, `web/tracking.py`): one JSON line per request, its
id on the response and in a 500's message, the fields each layer fills in, and never a
token or a word of the prompt."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes import FakeBackend, make_container
from tests.unit.web.helpers import AUTH, VERTEX_CHAT, chat_body, client_for
from vertexcompat.domain.events import TextDelta, Usage
from vertexcompat.domain.principal import Principal
from vertexcompat.services.metering import GenerationReport
from vertexcompat.web.access_log import (
    ACCESS_LOGGER,
    AccessRecord,
    configure_access_log,
    request_id_for,
)
from vertexcompat.web.metrics import PrometheusMetrics
from vertexcompat.web.tracking import RequestTracking, RouteTemplates

NATIVE = "/v1beta1/projects/my-proj/locations/us-central1/publishers/google/models/" \
    "gemini-2.5-flash:generateContent"
SECRET_PROMPT = "my-very-secret-prompt-words"


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(record.getMessage()))


@pytest.fixture
def access() -> Iterator[Lines]:
    logger = logging.getLogger(ACCESS_LOGGER)
    handler, level = Lines(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


# -- the request id ------------------------------------------------------------------------


@pytest.mark.parametrize("sent", ["abc-123", "x" * 128, "A.B_c:d/e+f=g"])
def test_a_sane_client_request_id_is_kept(sent: str) -> None:
    assert request_id_for(sent) == sent


@pytest.mark.parametrize("sent", [None, "", "x" * 129, "has space", "tab\there", "ключ",
                                  "line\nbreak"])
def test_anything_else_gets_a_new_id(sent: str | None) -> None:
    rid = request_id_for(sent)
    assert rid != sent and len(rid) == 32 and int(rid, 16) >= 0
    assert request_id_for(sent) != rid  # new each time


# -- the record ----------------------------------------------------------------------------


def test_the_line_has_the_fields_each_layer_filled_and_leaves_out_the_unknown() -> None:
    record = AccessRecord(request_id="r1", method="POST")
    assert json.loads(record.line()) == {"request_id": "r1", "method": "POST"}
    record.authenticated_as(Principal("serviceAccount:sa@demo.iam.gserviceaccount.com", "demo"))
    record.generation_finished(GenerationReport(
        model_name="m", requested_model="google/gemini-2.5-flash", finished_reason="length",
        e2e_s=2.0, ttft_s=0.12345, usage=Usage(10, 5, cached_tokens=2)))
    record.route, record.status, record.duration_ms = "/r/{x}", 200, 2001.5
    assert json.loads(record.line()) == {
        "request_id": "r1", "method": "POST", "route": "/r/{x}", "status": 200,
        "project": "demo", "principal": "sa@demo.iam.gserviceaccount.com",
        "model": "google/gemini-2.5-flash", "model_name": "m", "prompt_tokens": 10,
        "completion_tokens": 5, "cached_tokens": 2, "ttft_ms": 123.5, "duration_ms": 2001.5,
        "finish_reason": "length",
    }


def test_a_principal_without_an_email_is_left_out() -> None:
    record = AccessRecord(request_id="r", method="GET")
    record.authenticated_as(Principal("bearer:0123abcd", "p"))
    assert record.principal is None and record.project == "p"


def test_the_access_logger_writes_bare_json_lines_to_its_stream() -> None:
    logger = logging.getLogger(ACCESS_LOGGER)
    saved = (list(logger.handlers), logger.level, logger.propagate)

    class Sink:
        def __init__(self) -> None:
            self.text = ""

        def write(self, text: str) -> None:
            self.text += text

        def flush(self) -> None:
            pass

    sink = Sink()
    try:
        # From a logger without our handler: a server started in-process by an earlier
        # test in this process (the CLI tests' `serve`) left one on its own stderr.
        logger.handlers[:] = [h for h in logger.handlers
                              if not getattr(h, "_vertexcompat_access", False)]
        configure_access_log(sink)
        configure_access_log(sink)  # idempotent: one handler
        logger.info(AccessRecord(request_id="r", method="GET").line())
        assert sink.text == '{"request_id":"r","method":"GET"}\n'
        assert not logger.propagate
    finally:
        logger.handlers[:] = saved[0]
        logger.setLevel(saved[1])
        logger.propagate = saved[2]


# -- through the app -----------------------------------------------------------------------


def test_one_line_per_request_with_the_id_the_response_carries(access: Lines) -> None:
    client = client_for(make_container(metrics=PrometheusMetrics()))
    messages = [{"role": "user", "content": SECRET_PROMPT}]
    r = client.post(VERTEX_CHAT, json=chat_body(messages=messages),
                    headers={**AUTH, "x-request-id": "client-id-1"})
    assert r.status_code == 200 and r.headers["x-request-id"] == "client-id-1"
    streamed = client.post(VERTEX_CHAT, json=chat_body(messages=messages, stream=True),
                           headers=AUTH)
    native = client.post(NATIVE, json={"contents": [{"role": "user",
                                                      "parts": [{"text": SECRET_PROMPT}]}]},
                         headers=AUTH)
    health = client.get("/healthz")
    assert [line["request_id"] for line in access.lines] == [
        "client-id-1", streamed.headers["x-request-id"], native.headers["x-request-id"],
        health.headers["x-request-id"]]
    whole, stream, gen, ok = access.lines
    route = "/v1/projects/{project}/locations/{location}/endpoints/openapi/chat/completions"
    for line in (whole, stream):
        assert line == {
            "request_id": line["request_id"], "method": "POST", "route": route,
            "status": 200, "project": "my-proj", "model": "google/gemini-2.5-flash",
            "model_name": "fake-model", "prompt_tokens": 7, "completion_tokens": 2,
            "cached_tokens": 1, "ttft_ms": line["ttft_ms"], "duration_ms": line["duration_ms"],
            "finish_reason": "stop",
        }
        assert 0 <= line["ttft_ms"] <= line["duration_ms"]
    assert gen["route"].endswith("/models/{model_method}") and gen["status"] == 200
    assert gen["prompt_tokens"] == 7 and gen["model"] == "gemini-2.5-flash"
    assert ok == {"request_id": ok["request_id"], "method": "GET", "route": "/healthz",
                  "status": 200, "duration_ms": ok["duration_ms"]}
    text = json.dumps(access.lines)
    assert SECRET_PROMPT not in text and "test-token" not in text


def test_a_refused_request_says_why_and_names_the_urls_project(access: Lines) -> None:
    client = client_for(make_container())
    r = client.post(VERTEX_CHAT, json=chat_body())
    assert r.status_code == 401
    [line] = access.lines
    assert line["status"] == 401 and line["auth_failure"] == "missing"
    assert line["project"] == "my-proj" and "principal" not in line
    assert line["request_id"] == r.headers["x-request-id"]


def test_a_500_names_the_same_request_id_as_the_access_line(access: Lines, caplog) -> None:
    client = client_for(make_container({"fake": FakeBackend(script=_explode)}))
    r = client.post(VERTEX_CHAT, json=chat_body(), headers=AUTH)
    assert r.status_code == 500
    rid = r.headers["x-request-id"]
    assert f"request id {rid}" in r.json()["error"]["message"]
    assert f"request id {rid}" in caplog.text  # the traceback's record
    [line] = access.lines
    assert line["request_id"] == rid and line["status"] == 500
    assert line["finish_reason"] == "error"


def test_a_streams_error_frame_names_the_request_id(access: Lines) -> None:
    def late(request: Any) -> list[Any]:
        return [TextDelta(0, "Hello"), RuntimeError("boom")]

    client = client_for(make_container({"fake": FakeBackend(script=late)}))
    r = client.post(VERTEX_CHAT, json=chat_body(stream=True), headers=AUTH)
    assert r.status_code == 200
    assert f"request id {r.headers['x-request-id']}" in r.text
    [line] = access.lines
    assert line["finish_reason"] == "error" and line["status"] == 200


def _explode(request: Any) -> list[Any]:
    return [RuntimeError("boom")]


# -- the middleware on its own -------------------------------------------------------------


def _run(app: Any, *, metrics: PrometheusMetrics | None = None) -> list[dict[str, Any]]:
    """One GET through the tracking middleware around `app`; the messages it sent."""
    tracking = RequestTracking(app, access_log=True, metrics=metrics,
                               templates=RouteTemplates())
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/x", "headers": []}

    async def go() -> None:
        try:
            await tracking(scope, receive, send)
        except RuntimeError:
            pass

    asyncio.run(go())
    return sent


def test_a_body_that_never_ended_is_499(access: Lines) -> None:
    """A stream whose client left after the headers (`sse.EventSourceResponse` ends
    quietly): the response said 200, the request is logged as 499."""

    async def cut_off(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})

    metrics = PrometheusMetrics()
    sent = _run(cut_off, metrics=metrics)
    assert (b"x-request-id", access.lines[0]["request_id"].encode()) in sent[0]["headers"]
    assert access.lines[0]["status"] == 499 and access.lines[0]["route"] == "unmatched"
    assert 'status="499"' in metrics.exposition().decode()


def test_an_app_that_raises_before_answering_is_500(access: Lines) -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    assert _run(broken) == []
    assert access.lines[0]["status"] == 500


def test_an_app_that_raises_mid_body_keeps_its_status(access: Lines) -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("boom")

    _run(broken)
    assert access.lines[0]["status"] == 200


def test_without_the_access_log_nothing_is_written(access: Lines) -> None:
    client = client_for(make_container(access_log=False))
    r = client.get("/healthz")
    assert r.status_code == 200 and r.headers["x-request-id"]
    assert access.lines == []
