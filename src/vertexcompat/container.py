"""The composition root: everything the server runs on, built from `Settings`.

`build_container(settings)` wires the local llama.cpp backend; tests construct
`Container(...)` directly from fakes. The engine is imported lazily inside the builder so
that nothing else in the package needs llama.cpp to import.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Protocol

from vertexcompat.auth.any_bearer import AnyBearerAuthenticator
from vertexcompat.auth.base import Authenticator
from vertexcompat.auth.grant import JwtBearerGrant
from vertexcompat.auth.token_sweep import TokenSweeper
from vertexcompat.auth_services import build_auth
from vertexcompat.backends.base import Backend
from vertexcompat.auth.thought_signatures import ThoughtSealer
from vertexcompat.config import ConfigFileError, EndpointSettings, Settings
from vertexcompat.domain.content import GenerateContentRequest
from vertexcompat.domain.events import StreamEvent
from vertexcompat.domain.models import ModelCapabilities
from vertexcompat.domain.safety import effective_settings, rated
from vertexcompat.media.limits import MediaLimits
from vertexcompat.models.registry import (
    GEMINI_3_MODEL_IDS,
    ModelRegistry,
    default_aliases,
    normalize_model_id,
)
from vertexcompat.services.context_cache import ContextCaches
from vertexcompat.services.generation import GenerationService, LoadStatus, PolicyChoice
from vertexcompat.services.media import MediaResolver, PerceptionTiming
from vertexcompat.services.metering import RequestMeter
from vertexcompat.services.policies import Policy
from vertexcompat.services.policies.boundary import GeminiNamedErrors
from vertexcompat.services.grounding import Attribution
from vertexcompat.services.policies.grounding import Grounding
from vertexcompat.services.policies.image_defaults import ImageDefaults
from vertexcompat.services.policies.logprobs import NoLogprobs
from vertexcompat.services.policies.media import MediaPerception
from vertexcompat.services.policies.safety import SafetyFilter, Windows
from vertexcompat.services.policies.schema_check import SchemaCheck
from vertexcompat.services.policies.thoughts import ThoughtSealing
from vertexcompat.safety import TextClassifier
from vertexcompat.services.safety import GuardRunner, ModelGuard, SafetyJudge
from vertexcompat.services.thoughts import ThoughtSignatures
from vertexcompat.store.thought_keys import SqlThoughtKeys
from vertexcompat.store.cached_contents import SqlCachedContents
from vertexcompat.translate.cached_contents import WireCodec
from vertexcompat.translate.json_schema import output_violation
from vertexcompat.store.database import StateDatabase
from vertexcompat.web.metrics import PrometheusMetrics

if TYPE_CHECKING:
    from vertexcompat.embeddings.cache import EmbeddingCache
    from vertexcompat.embeddings.minilm import TextEmbedder
    from vertexcompat.backends.gemini_upstream import GeminiUpstream
    from vertexcompat.backends.openai_upstream import OpenAIUpstream
    from vertexcompat.engine.llama_engine import EngineConfig, LlamaEngine
    from vertexcompat.media.illustrations import Illustrator
    from vertexcompat.media.perception.pipeline import Perception

logger = logging.getLogger(__name__)

# Rendered prompts kept for `GET /v1/debug/prompts` when `debug_prompts` is on.
DEBUG_PROMPTS_KEPT = 32

# The local llama.cpp model: text in (media arrives perceived), text, calls, schema-bound
# JSON and SVG drawings out, thoughts sealed by this server.
LOCAL_CAPABILITIES = ModelCapabilities(
    vision=False, audio=False, tools=True, json_schema=True, thinking=True, logprobs=True,
    issues_thought_signatures=False, native_images=False,
)


class Lifecycle(Protocol):
    """Something the container starts with the app and closes at shutdown."""

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    def problem(self) -> str | None:
        """Why its backend is not ready (None: no known problem, maybe still starting)."""
        ...


class Closeable(Protocol):
    def close(self) -> None: ...


@dataclass
class Container:
    settings: Settings
    authenticator: Authenticator
    backends: dict[str, Backend]
    generation: GenerationService
    # Backend name → what loads it (backends absent here need no start-up).
    lifecycles: dict[str, Lifecycle] = field(default_factory=dict)
    # The `/token` endpoint's grant (None: the server issues no tokens).
    token_grant: JwtBearerGrant | None = None
    # Deletes expired access tokens while the server runs.
    token_sweeper: TokenSweeper | None = None
    # Vertex `cachedContents` (None: not offered).
    context_caches: ContextCaches | None = None
    database: StateDatabase | None = None
    media: MediaResolver | None = None
    # Whatever else holds a process or thread (the SVG renderer's worker), closed last.
    closeables: list[Closeable] = field(default_factory=list)
    # Backends whose readiness does not gate `/readyz` (upstream endpoints: while one
    # endpoint's replicas are all down, the server still serves everything else).
    ungated: frozenset[str] = frozenset()
    # What grounds requests in the search index (None: no index).
    grounding: Grounding | None = None
    # The operator's metrics, `GET /metrics` (None: off).
    metrics: PrometheusMetrics | None = None
    created_at: int = field(default_factory=lambda: int(time.time()))

    async def start(self) -> None:
        if self.token_sweeper is not None:
            await self.token_sweeper.start()
        for lifecycle in self.lifecycles.values():
            await lifecycle.start()

    async def close(self) -> None:
        # First: the sweeper writes to the database closed below.
        if self.token_sweeper is not None:
            await self.token_sweeper.close()
        for lifecycle in self.lifecycles.values():
            await lifecycle.close()
        if self.database is not None:
            self.database.close()
        if self.media is not None:
            self.media.close()
        for closeable in self.closeables:
            closeable.close()

    def load(self) -> dict[str, dict[str, int]]:
        return {name: backend.stats() for name, backend in self.backends.items()}

    def grounding_available(self) -> bool:
        return self.grounding is not None and self.grounding.available()

    def readiness(self) -> dict[str, str]:
        states: dict[str, str] = {}
        for name, backend in self.backends.items():
            lifecycle = self.lifecycles.get(name)
            problem = lifecycle.problem() if lifecycle else None
            if backend.ready:
                states[name] = "ready"
            else:
                states[name] = f"failed: {problem}" if problem else "loading"
        return states


class LocalModelLoader:
    """Resolves the model file (assemble + sha256 check) and loads it into the engine on
    a background thread, so `/healthz` answers at once and `/readyz` is 503 until ready.
    A failure is logged and kept as the reason `/readyz` reports."""

    def __init__(
        self, *, engine: LlamaEngine, catalog: Any, model: str, backend_model: str,
        draft_model: str | None = None, needs_draft: bool = False,
    ) -> None:
        """`draft_model`: the draft model of speculative decoding (a catalog name or a
        .gguf path), loaded beside the served one; `needs_draft` with none is a failure."""
        self._engine = engine
        self._catalog = catalog
        self._model = model
        self._draft_model = draft_model
        self._needs_draft = needs_draft
        self._backend_model = backend_model
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._problem: str | None = None

    async def start(self) -> None:
        if self._thread is None:
            # Daemon: a shutdown during a long load must not wait for it.
            self._thread = threading.Thread(
                target=self._load, name="vertexcompat-model-load", daemon=True
            )
            self._thread.start()

    def _load(self) -> None:
        try:
            resolved = self._catalog.resolve(self._model)
            draft_path = None
            if self._draft_model is not None:
                draft_path = Path(self._catalog.resolve(self._draft_model).path)
            elif self._needs_draft:
                raise ValueError(
                    f"speculative decoding with a draft model needs one for {self._model}: "
                    "name it with --draft-model NAME|PATH (VERTEXCOMPAT_DRAFT_MODEL)")
            logger.info("loading model %s from %s", self._backend_model, resolved.path)
            self._engine.load(Path(resolved.path), self._backend_model, draft_path=draft_path)
            logger.info("model %s loaded; ready", self._backend_model)
        except Exception as exc:
            self._problem = f"{type(exc).__name__}: {exc}"
            logger.exception("loading model %r failed; /readyz stays 503", self._model)
        with self._lock:
            if self._closed:  # close() ran while loading: free what was just loaded
                self._engine.close()

    async def close(self) -> None:
        with self._lock:
            self._closed = True
            loading = self._thread is not None and self._thread.is_alive()
        if not loading:
            self._engine.close()

    def problem(self) -> str | None:
        return self._problem


def build_container(settings: Settings) -> Container:
    """The production container: one local llama.cpp backend serving `settings.model`."""
    from vertexcompat.backends.local import LocalBackend
    from vertexcompat.backends.local_drawing import SvgDrawing
    from vertexcompat.media.svg.render import SvgRenderer
    from vertexcompat.engine.llama_engine import LlamaEngine
    from vertexcompat.engine.model_files import DEFAULT_DRAFT_MODELS, ModelCatalog
    from vertexcompat.embeddings.minilm import TextEmbedder

    backend_model = settings.model_name
    # One registry per container (web/metrics.py), fed by the engine, the backends, media
    # and every generation (services/metering.py).
    metrics = PrometheusMetrics() if settings.metrics_enabled else None
    engine = LlamaEngine(
        engine_config(settings),
        on_admit=metrics.queue_time(backend_model) if metrics is not None else None,
    )
    # One MiniLM (loaded on first use) for the safety classifier, search, attribution and
    # the illustration matcher; the fixed lists it embeds are kept under the data dir.
    embedder = TextEmbedder(threads=1)
    # The renderer's worker process starts on the first image, not here; the illustration
    # library's index on the first scene.
    drawing = SvgDrawing(
        SvgRenderer(timeout_s=settings.image_render_timeout_s),
        on_render=metrics.image_render_time if metrics is not None else None,
        illustrator=build_illustrator(settings, embedder),
    )
    backends: dict[str, Backend] = {"local": LocalBackend(
        engine,
        backend_model,
        answer_from_results=settings.tool_result_turn == "answer",
        drawing=drawing,
        default_thinking_budget=settings.default_thinking_budget,
        dynamic_thinking_budget=settings.dynamic_thinking_budget,
        keep_prompts=DEBUG_PROMPTS_KEPT if settings.debug_prompts else 0,
    )}
    loader = LocalModelLoader(
        engine=engine,
        catalog=ModelCatalog(settings.data_dir),
        model=settings.model,
        backend_model=backend_model,
        draft_model=(settings.draft_model or DEFAULT_DRAFT_MODELS.get(settings.model))
        if settings.speculative == "draft" else None,
        needs_draft=settings.speculative == "draft",
    )
    auth = build_auth(settings)
    authenticator: Authenticator = auth.authenticator
    if not settings.auth_enabled:
        logger.warning(
            "AUTHENTICATION IS DISABLED (--no-auth): any bearer token is accepted for any "
            "project. Use this for local development only."
        )
        authenticator = AnyBearerAuthenticator()
    perception = build_perception(settings)
    media = build_media(
        settings, perception, timing=metrics.perception_time if metrics is not None else None
    )
    judge = build_safety_judge(settings, perception, embedder)
    grounding = build_grounding(settings, embedder)
    lifecycles: dict[str, Lifecycle] = {"local": loader}
    endpoints = build_endpoints(settings, metrics)
    backends.update(endpoints)
    lifecycles.update(endpoints)
    capabilities = {backend_model: LOCAL_CAPABILITIES}
    capabilities.update({
        model: endpoint_capabilities(e) for e in settings.endpoints for model in served_models(e)
    })
    generation = build_generation(
        backends,
        model_registry(settings, capabilities),
        media=media,
        thoughts=ThoughtSignatures(ThoughtSealer(SqlThoughtKeys(auth.database))),
        safety=SafetyFilter(judge, settings.safety.settings, windows=Windows(
            first_chars=settings.safety.first_window_chars,
            max_chars=settings.safety.window_chars,
        )),
        grounding=grounding,
        load_status=lifecycles,
        meter=metrics,
    )
    if metrics is not None:
        metrics.watch_backends(backends, replicas={
            name: states for name, backend in endpoints.items()
            if (states := getattr(backend, "replica_states", None)) is not None
        })
    if settings.safety.guard_model is not None:
        judge.use_guard(ModelGuard(settings.safety.guard_model, guard_runner(generation)))
    caches = ContextCaches(
        SqlCachedContents(auth.database), generation, WireCodec(),
        min_tokens=settings.cached_content_min_tokens,
    )
    caches.sweep()
    return Container(
        settings=settings,
        authenticator=authenticator,
        backends=backends,
        generation=generation,
        lifecycles=lifecycles,
        token_grant=auth.grant,
        token_sweeper=auth.sweeper.sweeping_also(caches.sweep),
        context_caches=caches,
        database=auth.database,
        media=media,
        closeables=[drawing, judge],
        ungated=frozenset(endpoints),
        grounding=grounding,
        metrics=metrics,
    )


def engine_config(settings: Settings) -> EngineConfig:
    """The local engine's configuration from the settings (bench/serving.py drives an
    engine the server's way with it)."""
    from vertexcompat.engine.llama_engine import EngineConfig

    return EngineConfig(
        threads=settings.threads,
        parallel=settings.parallel,
        ctx_per_seq=settings.ctx_per_seq,
        batch_size=settings.batch_size,
        max_queue=settings.max_queue,
        prefix_cache=settings.prefix_cache,
        share_answers=settings.share_answers,
        cache_ram_mib=settings.cache_ram_mib,
        flash_attn=settings.flash_attn,
        speculative=settings.speculative,
        draft_max=settings.draft_max,
    )


def build_perception(settings: Settings) -> Perception:
    """The perception pipeline (its models load on first use)."""
    from vertexcompat.media.perception.pipeline import Perception

    return Perception(cache_dir=settings.data_dir / "models", threads=settings.perception_threads)


def build_media(
    settings: Settings, perception: Perception | None = None, *,
    timing: PerceptionTiming | None = None,
) -> MediaResolver:
    """The media intake limits and the perception pipeline (models load on first use);
    `timing`: told each part's perception time (metrics)."""
    from vertexcompat.media.perception.pool import PerceptionPool, PoolBudget
    from vertexcompat.services.memory import MemoryTrimmer

    limits = MediaLimits(
        allow_http=settings.media_allow_http,
        allowlist=tuple(settings.media_allowlist),
        gcs_root=settings.media_gcs_root,
        fetch_timeout_s=settings.media_fetch_timeout_s,
        max_audio_seconds=settings.media_max_audio_s,
        max_request_pixels=settings.media_max_request_pixels,
        max_request_audio_seconds=settings.media_max_request_audio_s,
    )
    perception = perception or build_perception(settings)
    pool = PerceptionPool(
        workers=settings.perception_workers,
        budget=PoolBudget(
            max_parts=settings.perception_max_parts_in_flight,
            max_pixels=settings.perception_max_pixels_in_flight,
            max_audio_seconds=settings.perception_max_audio_s_in_flight,
        ),
        nice=settings.perception_nice,
        # Perception's buffers are large and glibc keeps freed memory: give it back
        # whenever the pool runs dry.
        on_idle=MemoryTrimmer(),
    )
    return MediaResolver(
        perception, limits, pool=pool, deadline_s=settings.perception_deadline_s, timing=timing
    )


def build_grounding(settings: Settings, embedder: TextEmbedder) -> Grounding:
    """Grounding in the search index under `settings.index_dir` (filled by `vertexcompat
    index add`; empty or absent: grounded requests are answered ungrounded)."""
    from vertexcompat.search.index import LocalIndex

    index = LocalIndex(settings.index_dir, embedder=embedder)
    return Grounding(index, Attribution(embedder), passages=settings.grounding_passages)


def embedding_cache(settings: Settings) -> EmbeddingCache:
    """Where the embeddings of fixed text lists (the safety exemplars, the illustration
    names) are kept across restarts: `<data_dir>/embeddings`."""
    from vertexcompat.embeddings.cache import EmbeddingCache

    return EmbeddingCache(settings.data_dir / "embeddings")


def build_illustrator(settings: Settings, embedder: TextEmbedder) -> Illustrator | None:
    """Scenes from the illustration library (`image_illustrations`), its matcher falling
    back on `embedder`; the library's names' vectors are kept in the data dir's cache."""
    from vertexcompat.media.illustrations import Illustrator

    if not settings.image_illustrations:
        return None
    names = functools.partial(embedding_cache(settings).embed, embedder)
    return Illustrator(embed=embedder.embed, embed_names=names)


def build_safety_judge(
    settings: Settings, perception: Perception | None, embedder: TextEmbedder | None = None
) -> SafetyJudge:
    """The classifiers `[safety]` names (their models load on the first request that asks
    for a rating; the exemplars' embeddings come from the data dir's cache once kept); the
    guard model, if any, is added once the generation service exists."""
    from vertexcompat.embeddings.minilm import TextEmbedder
    from vertexcompat.safety.lexical import LexicalClassifier
    from vertexcompat.safety.prototypes import EmbeddingClassifier

    names = set(settings.safety.classifiers)
    classifiers: list[TextClassifier] = []
    if "embedding" in names:
        classifiers.append(EmbeddingClassifier(
            embedder or TextEmbedder(threads=1), cache=embedding_cache(settings)))
    lexical = [LexicalClassifier()] if "lexical" in names else []
    images = perception if settings.safety.images else None
    # The lexical score says "offensive", not which category: it corroborates the embedding
    # classifier's ratings (services/safety.py), and counts alone only without it.
    judge = SafetyJudge(classifiers, corroborating=lexical, images=images)
    if rated(effective_settings(settings.safety.settings, ())):
        judge.warm_soon()  # every request is judged: load the classifiers now
    return judge


def guard_runner(generation: GenerationService) -> GuardRunner:
    """Runs a guard model's request on whatever serves that model id."""

    def run(model_id: str, request: GenerateContentRequest) -> AsyncIterator[StreamEvent]:
        route = generation.resolve(model_id, project=request.project)
        return generation.stream(route, dataclasses.replace(request, model=route.backend_model))

    return run


def model_catalog_entries(settings: Settings) -> list[Any]:
    """The local model catalog (for `vertexcompat models list`)."""
    from vertexcompat.engine.model_files import ModelCatalog

    return list(ModelCatalog(settings.data_dir).entries())


def model_aliases(settings: Settings) -> dict[str, str]:
    defaults = default_aliases(settings.model_name, settings.image_model_ids)
    configured = {**defaults, **settings.model_aliases}
    return {
        **configured,
        # An endpoint's own model name is its, even one that is also an alias of another
        # model (a gemini endpoint's `model = "gemini-2.0-flash"`, a default alias of the
        # embedded model). Other names stay no alias: they are listed as they are.
        **{m: m for e in settings.endpoints for m in served_models(e)
           if normalize_model_id(m) in {normalize_model_id(k) for k in configured}},
        **{alias: _alias_target(e, alias) for e in settings.endpoints for alias in e.aliases},
    }


def served_models(endpoint: EndpointSettings) -> list[str]:
    """The backend model names an endpoint serves: its `model`, or (a gemini endpoint
    without one) the Gemini model each alias names."""
    if endpoint.model:
        return [endpoint.model]
    return list(dict.fromkeys(normalize_model_id(alias) for alias in endpoint.aliases))


def _alias_target(endpoint: EndpointSettings, alias: str) -> str:
    return endpoint.model or normalize_model_id(alias)


def endpoint_capabilities(endpoint: EndpointSettings) -> ModelCapabilities:
    said = set(endpoint.said_capabilities)
    return ModelCapabilities(
        vision="vision" in said, audio="audio" in said, tools="tools" in said,
        json_schema="json_schema" in said, thinking="thinking" in said,
        logprobs="logprobs" in said,
        # Gemini seals its own thoughts into signatures and checks them, and applies its
        # own safety settings.
        issues_thought_signatures=endpoint.kind == "gemini",
        safety_settings=endpoint.kind == "gemini",
        grounding=endpoint.kind == "gemini",
    )


def build_endpoints(
    settings: Settings, metrics: PrometheusMetrics | None = None
) -> dict[str, OpenAIUpstream | GeminiUpstream]:
    """One upstream backend per configured endpoint, by endpoint id. Raises
    `ConfigFileError` for a key file or key variable that cannot be used."""
    return {e.id: _endpoint_backend(e, metrics) for e in settings.endpoints}


def _endpoint_backend(
    e: EndpointSettings, metrics: PrometheusMetrics | None = None
) -> OpenAIUpstream | GeminiUpstream:
    from vertexcompat.backends.upstream_http import UpstreamTimeouts

    timeouts = UpstreamTimeouts(
        connect_s=e.connect_timeout_s, first_byte_s=e.first_byte_timeout_s,
        idle_s=e.idle_timeout_s,
    )
    if e.kind == "gemini":
        from vertexcompat.backends.gemini_upstream import GeminiUpstream
        from vertexcompat.backends.google_credentials import KeyFileError, ServiceAccountKey

        key = None
        if e.credentials_file is not None:
            try:
                key = ServiceAccountKey.from_file(e.credentials_file)
            except KeyFileError as exc:
                raise ConfigFileError(f"endpoint {e.id!r}: {exc}") from None
        return GeminiUpstream(
            e.id, served_models(e), base_url=e.gemini_base_url,
            api_version=e.gemini_api_version, vertex=e.uses_vertex, project=e.project,
            location=e.location, api_key=e.api_key(), key=key, timeouts=timeouts,
        )
    from vertexcompat.backends.openai_upstream import OpenAIUpstream
    from vertexcompat.backends.replicas import ReplicaSet

    assert e.model is not None  # the settings check it
    return OpenAIUpstream(
        e.id, e.model,
        ReplicaSet(e.replicas, eject_after=e.eject_after, probe_interval_s=e.probe_interval_s),
        api_key=e.api_key(),
        timeouts=timeouts,
        json_schema="json_schema" in e.said_capabilities,
        on_attempt=metrics.upstream_attempts(e.id) if metrics is not None else None,
    )


def model_registry(
    settings: Settings, capabilities: dict[str, ModelCapabilities] | None = None
) -> ModelRegistry:
    """Every model id fact from the settings: aliases, image ids, signature enforcement."""
    enforcing = settings.signature_enforcing_models
    return ModelRegistry(
        model_aliases(settings),
        image_models=settings.image_model_ids,
        signature_enforcing=GEMINI_3_MODEL_IDS if enforcing is None else enforcing,
        capabilities=capabilities,
    )


def backend_policies(
    capabilities: ModelCapabilities,
    *,
    media: MediaResolver | None,
    thoughts: ThoughtSignatures | None,
    safety: SafetyFilter | None = None,
    grounding: Grounding | None = None,
) -> tuple[Policy, ...]:
    """What a backend model cannot do itself, a policy does for it; outermost first. Every
    backend sits behind the boundary that reads its Gemini-named errors."""
    policies: list[Policy] = []
    if not capabilities.native_images:
        policies.append(ImageDefaults())
    if thoughts is not None and not capabilities.issues_thought_signatures:
        policies.append(ThoughtSealing(thoughts))
    if not (capabilities.vision and capabilities.audio):
        policies.append(
            MediaPerception(media, images=not capabilities.vision, audio=not capabilities.audio)
        )
    if not capabilities.safety_settings:
        # Inside perception: it judges images by what perception found in them.
        policies.append(safety or SafetyFilter(None))
    if not capabilities.grounding:
        # Inside the safety filter: the user's own words are judged, not the sources.
        policies.append(grounding or Grounding(None, Attribution(None)))
    if not capabilities.json_schema:
        policies.append(SchemaCheck(output_violation))
    if not capabilities.logprobs:
        policies.append(NoLogprobs())
    policies.append(GeminiNamedErrors())
    return tuple(policies)


def build_generation(
    backends: dict[str, Backend],
    registry: ModelRegistry,
    *,
    media: MediaResolver | None = None,
    thoughts: ThoughtSignatures | None = None,
    safety: SafetyFilter | None = None,
    grounding: Grounding | None = None,
    load_status: dict[str, Lifecycle] | None = None,
    meter: RequestMeter | None = None,
) -> GenerationService:
    """The generation service, each backend model behind the policies its capabilities
    call for (chosen once per set of capabilities)."""
    choose: PolicyChoice = functools.cache(
        functools.partial(
            backend_policies, media=media, thoughts=thoughts, safety=safety, grounding=grounding
        )
    )
    status: dict[str, LoadStatus] = dict(load_status or {})
    return GenerationService(
        backends, registry, policies=choose, load_status=status, meter=meter
    )
