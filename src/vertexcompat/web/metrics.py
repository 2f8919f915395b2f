"""`PrometheusMetrics`: the operator's metrics, kept in one `CollectorRegistry` per app (no
global registry: several apps may live in one process) and exposed by prometheus-client's
own `generate_latest` at `GET /metrics` (`routes/metrics.py`). docs/operating.md lists
them with their meanings.

vLLM's names where the meaning is the same, labelled `model_name` (the backend model):

- fed per generation by `services/metering.py` (this class is its `RequestMeter`):
  `vllm:time_to_first_token_seconds`, `vllm:inter_token_latency_seconds`,
  `vllm:e2e_request_latency_seconds`, `vllm:request_success_total{finished_reason}`,
  `vllm:prompt_tokens_total`, `vllm:generation_tokens_total`,
  `vllm:prefix_cache_queries_total` / `vllm:prefix_cache_hits_total` (prompt tokens
  looked up / found cached, from each generation's usage);
- `vllm:request_queue_time_seconds`: the engine's own report of each request's wait for
  KV slots (`queue_time`, wired by the container);
- read from the backends' `stats()` at scrape time: `vllm:num_requests_running`,
  `vllm:num_requests_waiting`, `vllm:kv_cache_usage_perc` (backends that can tell).

Ours, `vertexcompat_*`: HTTP requests by route template, status and project, and their
duration; authentication failures by reason; upstream replicas in service and the
latency of attempts on them; perception and image render times. Plus prometheus-client's
process and platform collectors (`process_*`, `python_info`).

Per output token the work is one histogram observation on a child resolved once per model
(`for_model`); label lookups happen once per request at most.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from vertexcompat.services.metering import GenerationReport

# vLLM's buckets (vllm/v1/metrics/loggers.py).
TTFT_BUCKETS = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
    10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
)
ITL_BUCKETS = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    20.0, 40.0, 80.0,
)
REQUEST_LATENCY_BUCKETS = (
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0,
    240.0, 480.0, 960.0, 1920.0, 7680.0,
)
# Ours: HTTP answers range from a health check to minutes of generation.
HTTP_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
)
PERCEPTION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0)
RENDER_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# At most this many distinct `project` label values (the rest count as `_other`): without
# authentication any project in a URL is accepted, and each value is a series.
MAX_PROJECT_LABELS = 1000
OTHER_PROJECT = "_other"


class LoadSource(Protocol):
    """A backend as the scrape-time gauges read it (`backends.base.Backend`)."""

    def model_names(self) -> list[str]: ...
    def stats(self) -> dict[str, int]: ...


# An upstream endpoint's replicas: base URL → in service.
ReplicaStates = Callable[[], Mapping[str, bool]]


class ModelMeters:
    """The children of one backend model's families, resolved once (a
    `services.metering.ModelMeter`)."""

    __slots__ = (
        "_model", "_ttft", "_itl", "_e2e", "_prompt", "_generation", "_queries", "_hits",
        "_success", "_reasons",
    )

    def __init__(self, metrics: PrometheusMetrics, model: str) -> None:
        self._model = model
        self._ttft = metrics.ttft.labels(model)
        self._itl = metrics.itl.labels(model)
        self._e2e = metrics.e2e.labels(model)
        self._prompt = metrics.prompt_tokens.labels(model)
        self._generation = metrics.generation_tokens.labels(model)
        self._queries = metrics.prefix_queries.labels(model)
        self._hits = metrics.prefix_hits.labels(model)
        self._success = metrics.request_success
        self._reasons: dict[str, Counter] = {}

    def first_token(self, seconds: float) -> None:
        self._ttft.observe(seconds)

    def inter_token(self, seconds: float) -> None:
        self._itl.observe(seconds)

    def finished(self, report: GenerationReport) -> None:
        reason = report.finished_reason
        child = self._reasons.get(reason)
        if child is None:
            child = self._reasons[reason] = self._success.labels(self._model, reason)
        child.inc()
        if reason == "error":
            return  # a failed generation's latency would only blur the others'
        self._e2e.observe(report.e2e_s)
        usage = report.usage
        if usage is not None:
            self._prompt.inc(usage.prompt_tokens)
            self._generation.inc(usage.completion_tokens)
            self._queries.inc(usage.prompt_tokens)
            self._hits.inc(usage.cached_tokens)


class PrometheusMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        model = ["model_name"]
        self.ttft = Histogram(
            "vllm:time_to_first_token_seconds",
            "Seconds from a generation's start to its first output (text, thought, call or "
            "image).", model, buckets=TTFT_BUCKETS, registry=registry)
        self.itl = Histogram(
            "vllm:inter_token_latency_seconds",
            "Seconds between consecutive outputs of a generation (about one token each).",
            model, buckets=ITL_BUCKETS, registry=registry)
        self.e2e = Histogram(
            "vllm:e2e_request_latency_seconds",
            "Seconds from a generation's start to its end (not counted: ended in error).",
            model, buckets=REQUEST_LATENCY_BUCKETS, registry=registry)
        self.queue = Histogram(
            "vllm:request_queue_time_seconds",
            "Seconds a request waited in the engine's queue before it got its KV slots.",
            model, buckets=REQUEST_LATENCY_BUCKETS, registry=registry)
        self.prompt_tokens = Counter(
            "vllm:prompt_tokens", "Prompt tokens of finished generations (their usage).",
            model, registry=registry)
        self.generation_tokens = Counter(
            "vllm:generation_tokens",
            "Generated tokens of finished generations, thoughts included (their usage).",
            model, registry=registry)
        self.request_success = Counter(
            "vllm:request_success",
            "Generations by how they ended: stop, length, abort, error, or Gemini's other "
            "finish reasons in lower case.", [*model, "finished_reason"], registry=registry)
        self.prefix_queries = Counter(
            "vllm:prefix_cache_queries",
            "Prompt tokens looked up in the prefix cache (every prompt token).",
            model, registry=registry)
        self.prefix_hits = Counter(
            "vllm:prefix_cache_hits",
            "Prompt tokens found in the prefix cache (usage's cached tokens).",
            model, registry=registry)
        self.http_requests = Counter(
            "vertexcompat_http_requests",
            "HTTP requests by route template, status (499: the client left) and "
            "authenticated project.", ["route", "status", "project"], registry=registry)
        self.http_duration = Histogram(
            "vertexcompat_http_request_duration_seconds",
            "Seconds from a request's arrival to its response's end, by route template.",
            ["route"], buckets=HTTP_BUCKETS, registry=registry)
        self.auth_failures = Counter(
            "vertexcompat_auth_failures",
            "Requests refused by authentication: missing, invalid, expired, revoked, "
            "forbidden_project.", ["reason"], registry=registry)
        self.upstream_latency = Histogram(
            "vertexcompat_upstream_request_seconds",
            "Seconds of each attempt on an upstream replica, to its answer's end or failure.",
            ["endpoint", "replica", "outcome"], buckets=HTTP_BUCKETS, registry=registry)
        self.perception = Histogram(
            "vertexcompat_perception_seconds",
            "Seconds of one media part's perception on its worker (queue wait excluded).",
            ["kind"], buckets=PERCEPTION_BUCKETS, registry=registry)
        self.image_render = Histogram(
            "vertexcompat_image_render_seconds",
            "Seconds to sanitize and render one drawing to a PNG.",
            buckets=RENDER_BUCKETS, registry=registry)
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        self._models: dict[str, ModelMeters] = {}
        self._projects: set[str] = set()

    # -- services.metering.RequestMeter ----------------------------------------------------

    def for_model(self, model_name: str) -> ModelMeters:
        meters = self._models.get(model_name)
        if meters is None:
            meters = self._models[model_name] = ModelMeters(self, model_name)
        return meters

    # -- what the container wires into the engine, backends and media ------------------------

    def queue_time(self, model_name: str) -> Callable[[float], None]:
        """The engine's report of each request's queue time (thread-safe)."""
        return self.queue.labels(model_name).observe

    def perception_time(self, kind: str, seconds: float) -> None:
        self.perception.labels(kind).observe(seconds)

    def image_render_time(self, seconds: float) -> None:
        self.image_render.observe(seconds)

    def upstream_attempts(self, endpoint: str) -> Callable[[str, str, float], None]:
        """What an upstream endpoint reports each replica attempt to."""
        histogram = self.upstream_latency

        def attempt(replica: str, outcome: str, seconds: float) -> None:
            histogram.labels(endpoint, replica_label(replica), outcome).observe(seconds)

        return attempt

    def watch_backends(
        self, backends: Mapping[str, LoadSource], replicas: Mapping[str, ReplicaStates]
    ) -> None:
        """Read the backends' load and the upstream replicas' states at every scrape."""
        self.registry.register(_BackendGauges(backends, replicas))

    # -- the web layer -----------------------------------------------------------------------

    def http_request(self, route: str, status: int, project: str, seconds: float) -> None:
        self.http_requests.labels(route, str(status), self._project_label(project)).inc()
        self.http_duration.labels(route).observe(seconds)

    def auth_failure(self, reason: str) -> None:
        self.auth_failures.labels(reason).inc()

    def exposition(self) -> bytes:
        """Every metric in Prometheus' text format."""
        return generate_latest(self.registry)

    def _project_label(self, project: str) -> str:
        if project in self._projects or not project:
            return project
        if len(self._projects) >= MAX_PROJECT_LABELS:
            return OTHER_PROJECT
        self._projects.add(project)
        return project


def replica_label(base_url: str) -> str:
    """A replica's base URL without any credentials in it (`user:pass@`)."""
    parts = urlsplit(base_url)
    if "@" not in parts.netloc:
        return base_url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def kv_usage(stats: Mapping[str, int]) -> float | None:
    """The share of the KV cache in use, 0-1, from a backend's stats: the local engine's KV
    positions held by running requests over all its slots' context (engine/scheduler.py);
    None for a backend that cannot tell (an upstream)."""
    total = stats.get("kv_cells")
    if not total:
        return None
    return stats.get("kv_cells_used", 0) / total


class _BackendGauges(Collector):
    """vLLM's load gauges and the replicas' states, read from the backends per scrape."""

    def __init__(
        self, backends: Mapping[str, LoadSource], replicas: Mapping[str, ReplicaStates]
    ) -> None:
        self._backends = backends
        self._replicas = replicas

    def describe(self) -> Iterable[Metric]:
        return (*self._families(), *self._speculation())

    def collect(self) -> Iterator[Metric]:
        running, waiting, kv, up = self._families()
        drafted, accepted = self._speculation()
        for backend in self._backends.values():
            # A backend serving several models (a Gemini endpoint) reports its load once.
            model = ",".join(backend.model_names())
            stats = backend.stats()
            running.add_metric(
                [model], stats.get("active_requests", stats.get("outstanding_requests", 0))
            )
            waiting.add_metric([model], stats.get("queued_requests", 0))
            usage = kv_usage(stats)
            if usage is not None:
                kv.add_metric([model], usage)
            if "draft_tokens" in stats:  # the local engine (speculative decoding)
                drafted.add_metric([model], stats["draft_tokens"])
                accepted.add_metric([model], stats.get("accepted_draft_tokens", 0))
        for endpoint, states in self._replicas.items():
            for replica, in_service in states().items():
                up.add_metric([endpoint, replica_label(replica)], 1.0 if in_service else 0.0)
        yield from (running, waiting, kv, up, drafted, accepted)

    @staticmethod
    def _speculation() -> tuple[CounterMetricFamily, CounterMetricFamily]:
        model = ["model_name"]
        return (
            CounterMetricFamily(
                "vllm:spec_decode_num_draft_tokens",
                "Drafted tokens fed for verification (speculative decoding).", labels=model),
            CounterMetricFamily(
                "vllm:spec_decode_num_accepted_tokens",
                "Drafted tokens the sampler drew too, kept (speculative decoding).",
                labels=model),
        )

    @staticmethod
    def _families() -> tuple[
        GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily
    ]:
        model = ["model_name"]
        return (
            GaugeMetricFamily(
                "vllm:num_requests_running",
                "Requests generating now (local: holding KV slots; upstream: in flight).",
                labels=model),
            GaugeMetricFamily(
                "vllm:num_requests_waiting", "Requests waiting for KV slots.", labels=model),
            GaugeMetricFamily(
                "vllm:kv_cache_usage_perc",
                "Share of the KV cache held by running requests (1: all of it); prefixes "
                "free slots keep for reuse count as free.", labels=model),
            GaugeMetricFamily(
                "vertexcompat_upstream_replica_up",
                "1 while an upstream replica is in service, 0 while it is ejected.",
                labels=["endpoint", "replica"]),
        )
