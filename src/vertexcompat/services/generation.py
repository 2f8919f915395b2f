"""`GenerationService`: a client's model id → one `Route`, and running a request on it.

`resolve` is called once per request: the model registry says what the id means (the
backend model it names, its capabilities, whether it enforces thought signatures or
answers with images), the service finds the backend serving that model, checks it can
take requests, and wraps it in the policies its capabilities call for (chosen in
`container.py`). `stream(route, request)` then runs the request on that route; nothing
downstream looks the model up again. Every generation's events pass `metering.metered`
on their way out: timed for the operator's `RequestMeter`, reported to the request's
observer (its access-log record).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Protocol

from vertexcompat.backends.base import Backend
from vertexcompat.domain.content import GenerateContentRequest
from vertexcompat.domain.errors import InvalidArgument, NotFound, Unavailable
from vertexcompat.domain.events import StreamEvent
from vertexcompat.domain.models import ModelCapabilities, ModelInfo
from vertexcompat.domain.tokens import TokensInfo
from vertexcompat.models.registry import ModelFacts, ModelRegistry
from vertexcompat.services.metering import NO_METER, GenerationObserver, RequestMeter, metered
from vertexcompat.services.policies import Policy, compose
from vertexcompat.services.route import Route

# The name of the embedded model's backend; every other backend is a configured endpoint,
# named by its id.
LOCAL_BACKEND = "local"

# The policies a backend model gets, from what it can do (`container.backend_policies`).
PolicyChoice = Callable[[ModelCapabilities], Sequence[Policy]]


class LoadStatus(Protocol):
    """What loads a backend (`container.LocalModelLoader`)."""

    def problem(self) -> str | None:
        """Why loading failed (None: no known problem, maybe still loading)."""
        ...


def no_policies(capabilities: ModelCapabilities) -> Sequence[Policy]:
    return ()


class GenerationService:
    """`backends`: name → backend. `load_status`: backend name → what loads it, so that a
    request to a backend whose load failed says why instead of "still loading".
    `meter`: where generations are measured (none: not measured)."""

    def __init__(
        self,
        backends: Mapping[str, Backend],
        registry: ModelRegistry,
        *,
        policies: PolicyChoice = no_policies,
        load_status: Mapping[str, LoadStatus] | None = None,
        meter: RequestMeter | None = None,
    ) -> None:
        self._backends = dict(backends)
        self._meter = meter
        self._registry = registry
        self._policies = policies
        self._load_status = dict(load_status or {})

    @property
    def registry(self) -> ModelRegistry:
        return self._registry

    def resolve(
        self, requested_id: str, *, project: str | None = None, location: str | None = None,
        endpoint: str | None = None,
    ) -> Route:
        """The route for a client's model id — on a configured `endpoint` when the request
        named one (`…/endpoints/{id}/…`), else on whichever backend serves the model.
        Raises `NotFound` (no such endpoint, or no backend serves the model),
        `InvalidArgument` (the endpoint serves another model) or `Unavailable` (its backend
        is still loading, or failed to load)."""
        model = self._registry.lookup(requested_id)
        if endpoint is not None:
            name, backend = endpoint, self._endpoint(endpoint, model, project, location)
        else:
            name, backend = self._serving(model, project=project, location=location)
        if not backend.ready:
            problem = self._load_problem(name)
            if problem is not None:
                raise Unavailable(
                    f"Model `{model.model_id}` could not be loaded ({problem}); this server "
                    "cannot serve it until its operator fixes that."
                )
            raise Unavailable(
                f"Model `{model.model_id}` is not ready yet (still loading); retry shortly."
            )
        return Route(
            backend=compose(backend, model, self._policies(model.capabilities)), model=model
        )

    def stream(
        self, route: Route, request: GenerateContentRequest, *,
        observer: GenerationObserver | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """The route's event stream for a request built for it; the caller must `aclose()`
        it, which cancels the generation. Errors surface at the first event at the latest.
        When it ends, the meter and `observer` (the HTTP request's record) are told how."""
        assert request.model == route.backend_model, "request built for another route"
        started = time.perf_counter()
        events = route.backend.stream(request)
        if self._meter is None and observer is None:
            return events
        meter = (self._meter or NO_METER).for_model(route.backend_model)
        return metered(
            events, meter, observer, model_name=route.backend_model,
            requested_model=route.requested_id, started=started,
        )

    async def count_tokens(
        self, route: Route, request: GenerateContentRequest, *, as_prompt: bool = False
    ) -> int:
        """The tokens of a request built for the route, as its model reads it (`as_prompt`:
        as a generation's usage counts them; `Backend.count_tokens`)."""
        assert request.model == route.backend_model, "request built for another route"
        return await route.backend.count_tokens(request, as_prompt=as_prompt)

    async def compute_tokens(
        self, route: Route, request: GenerateContentRequest
    ) -> list[TokensInfo]:
        """The tokens of each content of a request built for the route, as its model reads
        it (`:computeTokens`; one `TokensInfo` per content, in order)."""
        assert request.model == route.backend_model, "request built for another route"
        return await route.backend.compute_tokens(request)

    def release_cache(self, model_id: str, name: str) -> None:
        """Tell the backends serving `model_id` that the cached content `name` is gone."""
        model = self._registry.lookup(model_id)
        for backend in self._backends.values():
            if model.backend_model in backend.model_names():
                backend.release_cache(name)

    def describe_model(
        self, requested_id: str, *, project: str | None = None, location: str | None = None
    ) -> ModelInfo:
        """The listing of one model id (`GET …/models/{id}`), in the form `list_models`
        gives it. Raises `NotFound` when no backend serves it."""
        model = self._registry.lookup(requested_id)
        _, backend = self._serving(model, project=project, location=location)
        return self._info(model.model_id, model.backend_model, backend)

    def list_models(self) -> list[ModelInfo]:
        """Gemini alias ids whose target is served, then every backend model name. Aliases
        are listed in the publisher form the seed passes as `model` (`google/<id>`)."""
        served = {
            name: backend for backend in self._backends.values() for name in backend.model_names()
        }
        aliases = self._registry.aliases
        infos = [
            self._info(alias, target, served[target])
            for alias, target in aliases.items()
            if target in served
        ]
        infos += [self._info(name, name, b) for name, b in served.items() if name not in aliases]
        return infos

    def recent_prompts(self) -> list[str]:
        """Rendered prompts the backends kept for debugging (empty unless enabled)."""
        return [
            prompt
            for backend in self._backends.values()
            for prompt in getattr(backend, "recent_prompts", list)()
        ]

    def _info(self, model_id: str, backend_model: str, backend: Backend) -> ModelInfo:
        if model_id in self._registry.aliases:
            return ModelInfo(
                id=f"google/{model_id}",
                backend_model=backend_model,
                owned_by="google",
                context_length=backend.context_length(backend_model),
            )
        return ModelInfo(
            id=model_id,
            backend_model=backend_model,
            context_length=backend.context_length(backend_model),
        )

    def _serving(
        self, model: ModelFacts, *, project: str | None, location: str | None
    ) -> tuple[str, Backend]:
        for name, backend in self._backends.items():
            if model.backend_model in backend.model_names():
                return name, backend
        resource = f"publishers/google/models/{model.model_id}"
        if project and location:
            resource = f"projects/{project}/locations/{location}/{resource}"
        raise NotFound(
            f"Publisher Model `{resource}` was not found or your project does not have "
            "access to it. Please ensure you are using a valid model version.",
            location="model",
        )

    def endpoint_model(self, endpoint: str, *, project: str | None, location: str | None) -> str:
        """The model an endpoint serves (what a request that names no model asks for)."""
        return self._endpoint_backend(endpoint, project, location).model_names()[0]

    def _endpoint(
        self, endpoint: str, model: ModelFacts, project: str | None, location: str | None
    ) -> Backend:
        backend = self._endpoint_backend(endpoint, project, location)
        if model.backend_model not in backend.model_names():
            raise InvalidArgument(
                f"Model `{model.requested_id}` is not served by endpoint `{endpoint}`, which "
                f"serves `{backend.model_names()[0]}`; omit `model` or name that one.",
                location="model",
            )
        return backend

    def _endpoint_backend(
        self, endpoint: str, project: str | None, location: str | None
    ) -> Backend:
        backend = self._backends.get(endpoint)
        if backend is None or endpoint == LOCAL_BACKEND:
            raise NotFound(
                f"Endpoint `projects/{project or '-'}/locations/{location or '-'}/endpoints/"
                f"{endpoint}` not found."
            )
        return backend

    def _load_problem(self, backend_name: str) -> str | None:
        status = self._load_status.get(backend_name)
        return status.problem() if status is not None else None
