"""`web/metrics.py` and `GET /metrics`: vLLM's names exactly, a registry per app, the
gauges read from the backends at scrape time, and the HTTP and auth-failure counters the
tracking middleware feeds."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes import FakeBackend, make_container
from tests.unit.web.helpers import AUTH, VERTEX_CHAT, chat_body, client_for
from vertexcompat.domain.errors import PermissionDenied, Unauthenticated
from vertexcompat.domain.events import Usage
from vertexcompat.domain.principal import Principal
from vertexcompat.services.metering import GenerationReport
from vertexcompat.web.metrics import MAX_PROJECT_LABELS, PrometheusMetrics, replica_label

VLLM_NAMES = {
    "vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc",
    "vllm:prompt_tokens_total", "vllm:generation_tokens_total",
    "vllm:time_to_first_token_seconds", "vllm:inter_token_latency_seconds",
    "vllm:e2e_request_latency_seconds", "vllm:request_queue_time_seconds",
    "vllm:request_success_total", "vllm:prefix_cache_queries_total",
    "vllm:prefix_cache_hits_total",
}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition: (name, sorted labels) → value."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


def report(reason: str = "stop", usage: Usage | None = Usage(10, 3, cached_tokens=4)):
    return GenerationReport(model_name="m", requested_model="gemini-x",
                            finished_reason=reason, e2e_s=1.2, ttft_s=0.1, usage=usage)


class LoadedBackend(FakeBackend):
    def __init__(self, names: list[str], stats: dict[str, int]) -> None:
        super().__init__(names)
        self._stats = stats

    def stats(self) -> dict[str, int]:
        return dict(self._stats)


def test_every_vllm_name_is_exposed_exactly() -> None:
    metrics = PrometheusMetrics()
    backend = LoadedBackend(["m"], {"active_requests": 1, "queued_requests": 0,
                                    "kv_cells": 100, "kv_cells_used": 25})
    metrics.watch_backends({"local": backend}, replicas={})
    meters = metrics.for_model("m")
    meters.first_token(0.1)
    meters.inter_token(0.02)
    meters.finished(report())
    metrics.queue_time("m")(0.5)
    families = list(text_string_to_metric_families(metrics.exposition().decode()))
    # A histogram's samples are `<name>_bucket/_count/_sum`; a counter's `<name>_total`.
    names = {f.name for f in families if f.type != "counter"} | {
        s.name for f in families if f.type == "counter" for s in f.samples}
    assert VLLM_NAMES <= names
    for histogram in ("time_to_first_token", "inter_token_latency", "e2e_request_latency",
                      "request_queue_time"):
        assert {s.name for f in families for s in f.samples} >= {
            f"vllm:{histogram}_seconds_{part}" for part in ("bucket", "count", "sum")}


def test_a_finished_generation_counts_its_usage_and_reason() -> None:
    metrics = PrometheusMetrics()
    meters = metrics.for_model("m")
    assert metrics.for_model("m") is meters  # children resolved once per model
    meters.finished(report())
    meters.finished(report("length", Usage(5, 7)))
    meters.finished(report("abort", None))
    meters.finished(report("error", None))
    text = metrics.exposition().decode()
    assert value(text, "vllm:prompt_tokens_total", model_name="m") == 15
    assert value(text, "vllm:generation_tokens_total", model_name="m") == 10
    assert value(text, "vllm:prefix_cache_queries_total", model_name="m") == 15
    assert value(text, "vllm:prefix_cache_hits_total", model_name="m") == 4
    for reason in ("stop", "length", "abort", "error"):
        assert value(text, "vllm:request_success_total", model_name="m",
                     finished_reason=reason) == 1
    # An error's latency is not observed; an abort's is.
    assert value(text, "vllm:e2e_request_latency_seconds_count", model_name="m") == 3


def test_each_app_has_its_own_registry() -> None:
    one, two = PrometheusMetrics(), PrometheusMetrics()
    one.for_model("m").finished(report())
    assert value(one.exposition().decode(), "vllm:prompt_tokens_total", model_name="m") == 10
    assert value(two.exposition().decode(), "vllm:prompt_tokens_total", model_name="m") == 0


def test_load_gauges_and_replicas_are_read_at_scrape_time() -> None:
    metrics = PrometheusMetrics()
    stats = {"active_requests": 2, "queued_requests": 3, "kv_cells": 200, "kv_cells_used": 50,
             "draft_tokens": 40, "accepted_draft_tokens": 25}
    local = LoadedBackend(["local-model"], stats)
    upstream = LoadedBackend(["up-model"], {"outstanding_requests": 4})
    states = {"http://user:secret@gpu-a:8000/v1": True, "http://gpu-b:8000/v1": False}
    metrics.watch_backends({"local": local, "up": upstream}, replicas={"up": lambda: states})
    text = metrics.exposition().decode()
    assert value(text, "vllm:num_requests_running", model_name="local-model") == 2
    assert value(text, "vllm:num_requests_waiting", model_name="local-model") == 3
    assert value(text, "vllm:kv_cache_usage_perc", model_name="local-model") == 0.25
    assert value(text, "vllm:num_requests_running", model_name="up-model") == 4
    # An upstream cannot tell its KV usage: no series rather than a made-up 0.
    assert ("vllm:kv_cache_usage_perc", (("model_name", "up-model"),)) not in samples(text)
    # Speculative decoding's counters (the local engine's drafts), as vLLM names them.
    assert value(text, "vllm:spec_decode_num_draft_tokens_total", model_name="local-model") == 40
    assert value(text, "vllm:spec_decode_num_accepted_tokens_total",
                 model_name="local-model") == 25
    assert ("vllm:spec_decode_num_draft_tokens_total", (("model_name", "up-model"),)) \
        not in samples(text)
    assert value(text, "vertexcompat_upstream_replica_up", endpoint="up",
                 replica="http://gpu-a:8000/v1") == 1
    assert value(text, "vertexcompat_upstream_replica_up", endpoint="up",
                 replica="http://gpu-b:8000/v1") == 0
    assert "secret" not in text
    stats["active_requests"] = 0
    states["http://gpu-b:8000/v1"] = True
    text = metrics.exposition().decode()
    assert value(text, "vllm:num_requests_running", model_name="local-model") == 0
    assert value(text, "vertexcompat_upstream_replica_up", endpoint="up",
                 replica="http://gpu-b:8000/v1") == 1


def test_replica_labels_never_carry_credentials() -> None:
    assert replica_label("https://u:p@h:1/v1") == "https://h:1/v1"
    assert replica_label("http://h/v1") == "http://h/v1"


def test_project_labels_are_bounded() -> None:
    metrics = PrometheusMetrics()
    for i in range(MAX_PROJECT_LABELS + 5):
        metrics.http_request("/r", 200, f"p{i}", 0.01)
    metrics.http_request("/r", 200, "p0", 0.01)
    text = metrics.exposition().decode()
    assert value(text, "vertexcompat_http_requests_total", route="/r", status="200",
                 project="_other") == 5
    assert value(text, "vertexcompat_http_requests_total", route="/r", status="200",
                 project="p0") == 2


def test_hooks_for_the_engine_upstreams_and_media() -> None:
    metrics = PrometheusMetrics()
    metrics.upstream_attempts("up")("http://k:s@a/v1", "ok", 0.3)
    metrics.perception_time("image", 1.5)
    metrics.image_render_time(0.2)
    text = metrics.exposition().decode()
    assert value(text, "vertexcompat_upstream_request_seconds_count", endpoint="up",
                 replica="http://a/v1", outcome="ok") == 1
    assert value(text, "vertexcompat_perception_seconds_count", kind="image") == 1
    assert value(text, "vertexcompat_image_render_seconds_count") == 1


# -- through the app ---------------------------------------------------------------------


def scrape(client) -> str:
    r = client.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return r.text


def test_metrics_count_requests_by_route_template_and_tokens_by_model() -> None:
    client = client_for(make_container(metrics=PrometheusMetrics()))
    before = scrape(client)
    for stream in (False, True):
        r = client.post(VERTEX_CHAT, json=chat_body(stream=stream), headers=AUTH)
        assert r.status_code == 200
    assert client.post(VERTEX_CHAT, json={"model": 3}, headers=AUTH).status_code == 400
    after = scrape(client)
    route = "/v1/projects/{project}/locations/{location}/endpoints/openapi/chat/completions"

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("vertexcompat_http_requests_total", route=route, status="200",
                 project="my-proj") == 2
    assert delta("vertexcompat_http_requests_total", route=route, status="400",
                 project="my-proj") == 1
    assert delta("vertexcompat_http_request_duration_seconds_count", route=route) == 3
    # The fake backend's usage: 7 prompt tokens (1 cached), 2 generated, per request.
    assert delta("vllm:prompt_tokens_total", model_name="fake-model") == 14
    assert delta("vllm:generation_tokens_total", model_name="fake-model") == 4
    assert delta("vllm:prefix_cache_hits_total", model_name="fake-model") == 2
    assert delta("vllm:request_success_total", model_name="fake-model",
                 finished_reason="stop") == 2
    assert delta("vllm:time_to_first_token_seconds_count", model_name="fake-model") == 2
    # Two texts per answer: one gap each.
    assert delta("vllm:inter_token_latency_seconds_count", model_name="fake-model") == 2
    assert value(after, "vllm:num_requests_running", model_name="fake-model") == 0


def test_metrics_need_no_token_and_are_404_when_off() -> None:
    assert client_for(make_container(metrics=PrometheusMetrics())).get("/metrics").status_code \
        == 200
    r = client_for(make_container()).get("/metrics")
    assert r.status_code == 404 and r.json()["error"]["status"] == "NOT_FOUND"


class RefusingAuthenticator:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def authenticate(self, authorization: Any, project: str, location: str = "global"):
        raise self.error

    def identify(self, authorization: Any) -> Principal:
        raise self.error


@pytest.mark.parametrize(
    ("error", "reason"),
    [(Unauthenticated("no", reason="expired"), "expired"),
     (Unauthenticated("no", reason="revoked"), "revoked"),
     (Unauthenticated("no"), "invalid"),
     (PermissionDenied("no"), "forbidden_project")],
)
def test_auth_failures_are_counted_by_reason(error: Exception, reason: str) -> None:
    container = make_container(metrics=PrometheusMetrics())
    container.authenticator = RefusingAuthenticator(error)  # type: ignore[assignment]
    client = client_for(container)
    r = client.post(VERTEX_CHAT, json=chat_body(), headers=AUTH)
    assert r.status_code in (401, 403)
    assert client.get("/v1beta1/publishers/google/models", headers=AUTH).status_code in (
        401, 403)
    text = scrape(client)
    expected = 1 if reason == "forbidden_project" else 2  # `identify` checks no project
    assert value(text, "vertexcompat_auth_failures_total", reason=reason) == expected
    # A refused request is counted under no project: URLs name any project they like.
    assert value(text, "vertexcompat_http_requests_total", status=str(r.status_code),
                 project="", route="/v1/projects/{project}/locations/{location}/endpoints"
                 "/openapi/chat/completions") == 1


def test_a_missing_token_is_counted_as_missing() -> None:
    client = client_for(make_container(metrics=PrometheusMetrics()))
    assert client.post(VERTEX_CHAT, json=chat_body()).status_code == 401
    assert value(scrape(client), "vertexcompat_auth_failures_total", reason="missing") == 1
