"""Operating the server end to end (issue 19): `GET /metrics` and the access log of a live
server (tiny model, auth ON, two slots), driven by real HTTP clients.

The server is this module's own: exact deltas need a server no other test sends traffic
to (each xdist worker that runs these tests starts its own). Every delta is measured
inside one test, between two scrapes, so the scrapes' own requests never count.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import google.auth.transport.requests
import httpx
import pytest
from google.oauth2 import service_account
from prometheus_client.parser import text_string_to_metric_families

from .conftest import TINY_MODEL
from .helpers import create_service_account_key
from .server import ServerProcess, free_port

pytestmark = pytest.mark.timeout(180)

PROJECT = "demo"
SECRET = "zebra-quartz-marmalade"  # a prompt word that must never reach the log
CHAT_ROUTE = "/v1/projects/{project}/locations/{location}/endpoints/openapi/chat/completions"
NATIVE_ROUTE = "/v1/projects/{project}/locations/{location}/publishers/{publisher}/models/" \
    "{model_method}"
M = {"model_name": TINY_MODEL}


@dataclass
class Live:
    server: ServerProcess
    token: str
    email: str

    def chat_url(self) -> str:
        return f"{self.server.vertex_base(PROJECT)}/chat/completions"

    def native_url(self, model: str = "gemini-2.5-flash") -> str:
        return (f"{self.server.base_url}/v1/projects/{PROJECT}/locations/us-central1/"
                f"publishers/google/models/{model}:generateContent")

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("metrics")
    port = free_port()
    key = root / "key.json"
    create_service_account_key(root / "data", PROJECT, key, port)
    server = ServerProcess("metrics", model=TINY_MODEL, data_dir=root / "data", log_dir=root,
                           parallel=2, ctx_per_seq=1024, port=port)
    server.start(ready_timeout=120)
    try:
        creds = service_account.Credentials.from_service_account_file(
            str(key), scopes=["https://www.googleapis.com/auth/cloud-platform"])
        creds.refresh(google.auth.transport.requests.Request())
        yield Live(server, creds.token, json.loads(key.read_text())["client_email"])
    finally:
        server.stop()


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(server: ServerProcess) -> Samples:
    r = httpx.get(f"{server.base_url}/metrics", timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text) for s in family.samples
    }


def get(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def access_lines(server: ServerProcess) -> dict[str, list[dict[str, Any]]]:
    """The server's JSON access lines by request id."""
    lines: dict[str, list[dict[str, Any]]] = {}
    for text in server.log_text().splitlines():
        if text.startswith("{"):
            line = json.loads(text)
            lines.setdefault(line["request_id"], []).append(line)
    return lines


def chat_body(**fields: Any) -> dict[str, Any]:
    return {"model": "google/gemini-2.5-flash", "max_tokens": 6, "temperature": 0,
            "messages": [{"role": "user", "content": f"Say hello. {SECRET}"}], **fields}


def test_counters_and_histograms_move_by_exactly_what_the_requests_did(live: Live) -> None:
    server = live.server
    before = scrape(server)
    with httpx.Client(timeout=60) as client:
        whole = client.post(live.chat_url(), json=chat_body(), headers={
            **live.auth(), "x-request-id": "e2e-whole-1"})
        assert whole.status_code == 200, whole.text
        usage = [whole.json()["usage"]]
        reasons = [whole.json()["choices"][0]["finish_reason"]]

        with client.stream("POST", live.chat_url(), headers=live.auth(), json=chat_body(
                stream=True, max_tokens=9, stream_options={"include_usage": True})) as stream:
            assert stream.status_code == 200
            frames = [json.loads(line[6:]) for line in stream.iter_lines()
                      if line.startswith("data: {")]
        streamed_id = stream.headers["x-request-id"]
        usage.append(frames[-1]["usage"])
        reasons.append(next(f["choices"][0]["finish_reason"] for f in frames
                            if f["choices"] and f["choices"][0].get("finish_reason")))

        native = client.post(live.native_url(), headers=live.auth(), json={
            "contents": [{"role": "user", "parts": [{"text": f"Say hi. {SECRET}"}]}],
            "generationConfig": {"maxOutputTokens": 5, "temperature": 0}})
        assert native.status_code == 200, native.text
        meta = native.json()["usageMetadata"]
        usage.append({"prompt_tokens": meta["promptTokenCount"],
                      "completion_tokens": meta.get("candidatesTokenCount", 0)
                      + meta.get("thoughtsTokenCount", 0),
                      "prompt_tokens_details": {
                          "cached_tokens": meta.get("cachedContentTokenCount", 0)}})
        reasons.append({"MAX_TOKENS": "length", "STOP": "stop"}[
            native.json()["candidates"][0]["finishReason"]])

        bad = client.post(live.chat_url(), headers=live.auth(),
                          json={"model": "google/gemini-2.5-flash", "messages": "nope"})
        assert bad.status_code == 400
        unauthenticated = client.post(live.chat_url(), json=chat_body(),
                                      headers={"Authorization": "Bearer vxc1.not-a-token"})
        assert unauthenticated.status_code == 401
    after = scrape(server)

    def delta(name: str, **labels: str) -> float:
        return get(after, name, **labels) - get(before, name, **labels)

    prompt = sum(u["prompt_tokens"] for u in usage)
    completion = sum(u["completion_tokens"] for u in usage)
    cached = sum(u.get("prompt_tokens_details", {}).get("cached_tokens", 0) for u in usage)
    assert prompt > 0 and completion > 0
    assert delta("vllm:prompt_tokens_total", **M) == prompt
    assert delta("vllm:generation_tokens_total", **M) == completion
    assert delta("vllm:prefix_cache_queries_total", **M) == prompt
    assert delta("vllm:prefix_cache_hits_total", **M) == cached
    for reason in set(reasons) | {"abort", "error"}:
        assert delta("vllm:request_success_total", finished_reason=reason, **M) == \
            reasons.count(reason), reason
    for histogram in ("time_to_first_token", "e2e_request_latency", "request_queue_time"):
        assert delta(f"vllm:{histogram}_seconds_count", **M) == 3, histogram
    # About one observation per token after the first (text pieces may merge).
    assert 0 < delta("vllm:inter_token_latency_seconds_count", **M) <= completion
    assert delta("vllm:e2e_request_latency_seconds_sum", **M) > \
        delta("vllm:time_to_first_token_seconds_sum", **M) > 0
    # Idle now: nothing running or waiting, no KV held by a running request.
    assert get(after, "vllm:num_requests_running", **M) == 0
    assert get(after, "vllm:num_requests_waiting", **M) == 0
    assert get(after, "vllm:kv_cache_usage_perc", **M) == 0

    def requests(route: str, status: int, project: str) -> float:
        return delta("vertexcompat_http_requests_total", route=route, status=str(status),
                     project=project)

    assert requests(CHAT_ROUTE, 200, PROJECT) == 2
    assert requests(NATIVE_ROUTE, 200, PROJECT) == 1
    assert requests(CHAT_ROUTE, 400, PROJECT) == 1
    assert requests(CHAT_ROUTE, 401, "") == 1  # a refused request has no project
    assert delta("vertexcompat_http_request_duration_seconds_count", route=CHAT_ROUTE) == 4
    assert delta("vertexcompat_auth_failures_total", reason="invalid") == 1

    # The access log: one line per request, under the id the response carried.
    lines = access_lines(server)
    responses = [whole, native, bad, unauthenticated]
    ids = ["e2e-whole-1", streamed_id] + [r.headers["x-request-id"] for r in responses[1:]]
    assert whole.headers["x-request-id"] == "e2e-whole-1"  # the client's own id, reused
    assert all(len(lines.get(rid, [])) == 1 for rid in ids), (ids, list(lines))
    generated = [lines[rid][0] for rid in ids[:3]]
    for line, u, reason in zip(generated, usage, reasons):
        assert line["status"] == 200 and line["principal"] == live.email
        assert line["project"] == PROJECT and line["model_name"] == TINY_MODEL
        assert (line["prompt_tokens"], line["completion_tokens"]) == (
            u["prompt_tokens"], u["completion_tokens"])
        assert line["finish_reason"] == reason
        assert 0 < line["ttft_ms"] <= line["duration_ms"]
    assert [line["route"] for line in generated] == [CHAT_ROUTE, CHAT_ROUTE, NATIVE_ROUTE]
    assert lines[ids[3]][0]["status"] == 400 and "prompt_tokens" not in lines[ids[3]][0]
    refused = lines[ids[4]][0]
    assert refused["status"] == 401 and refused["auth_failure"] == "invalid"
    assert "principal" not in refused
    log = server.log_text()
    assert SECRET not in log and live.token not in log and "not-a-token" not in log
    # Ours replaces uvicorn's access line.
    assert 'HTTP/1.1" 200' not in log


def test_a_client_that_leaves_mid_stream_is_an_abort_and_a_499(live: Live) -> None:
    server = live.server
    before = scrape(server)
    with httpx.Client(timeout=60) as client:
        with client.stream("POST", live.chat_url(), headers=live.auth(), json=chat_body(
                stream=True, max_tokens=400,
                messages=[{"role": "user", "content": "Write a long story."}])) as stream:
            assert stream.status_code == 200
            rid = stream.headers["x-request-id"]
            for line in stream.iter_lines():
                if line.startswith("data: {") and '"content"' in line:
                    break  # leave after the first text
    deadline = time.monotonic() + 20
    while not access_lines(server).get(rid) and time.monotonic() < deadline:
        time.sleep(0.1)
    [line] = access_lines(server)[rid]
    assert line["status"] == 499 and line["finish_reason"] == "abort"
    assert "prompt_tokens" not in line  # no usage ever came
    after = scrape(server)
    assert get(after, "vllm:request_success_total", finished_reason="abort", **M) - get(
        before, "vllm:request_success_total", finished_reason="abort", **M) == 1
    assert get(after, "vertexcompat_http_requests_total", route=CHAT_ROUTE, status="499",
               project=PROJECT) - get(before, "vertexcompat_http_requests_total",
                                      route=CHAT_ROUTE, status="499", project=PROJECT) == 1
    server.wait_until_idle(what="the abandoned stream's slot to be freed", deadline_s=20)


def test_metrics_off_is_404(tmp_path: Path, data_dir: Path) -> None:
    server = ServerProcess("metrics-off", model=TINY_MODEL, data_dir=data_dir,
                           log_dir=tmp_path, parallel=1, ctx_per_seq=512,
                           env={"VERTEXCOMPAT_METRICS_ENABLED": "false",
                                "VERTEXCOMPAT_SEARCH_INDEX_DIR": str(tmp_path / "index")},
                           extra_args=["--no-auth"])
    server.start(ready_timeout=120)
    try:
        r = httpx.get(f"{server.base_url}/metrics", timeout=10)
        assert r.status_code == 404 and r.json()["error"]["status"] == "NOT_FOUND"
        assert r.headers["x-request-id"]
    finally:
        server.stop()
