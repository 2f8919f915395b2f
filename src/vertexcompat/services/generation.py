"""`GenerationService`: which backend serves a requested model id, and running it.

Gemini model ids are aliases onto backend model names through a configurable table
(SPEC §2); a backend model name is also accepted directly. Image model ids (Gemini's
`…-image` models, and a configurable list) answer with text and an image unless the client
chose `modalities` itself: that is a fact about the model id, so it lives here rather
than in the (pure, model-agnostic) translation layer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import replace

from vertexcompat.backends.base import Backend
from vertexcompat.domain.content import (
    IMAGE_MODALITY,
    TEXT_MODALITY,
    FileDataPart,
    GenerateContentRequest,
    InlineDataPart,
)
from vertexcompat.domain.errors import InvalidArgument, NotFound, Unavailable
from vertexcompat.domain.events import StreamEvent
from vertexcompat.domain.models import ModelInfo
from vertexcompat.services.media import MediaResolver, has_media
from vertexcompat.services.thoughts import GEMINI_3_MODEL_IDS, ThoughtSignatures

# Gemini's image-generation models (seed 000: `google/gemini-2.5-flash-image-preview`).
IMAGE_MODEL_IDS: tuple[str, ...] = ("gemini-2.5-flash-image", "gemini-2.5-flash-image-preview")

GEMINI_MODEL_IDS: tuple[str, ...] = (
    "gemini-2.0-flash",
    "gemini-2.0-flash-001",
    "gemini-2.0-flash-lite",
    "gemini-2.0-flash-lite-001",
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-2.5-pro",
    "gemini-3-pro-preview",
    "gemini-3-flash-preview",
    "gemini-3.5-flash",
    *IMAGE_MODEL_IDS,
)

# Longest first: `publishers/google/models/x` must not stop at `google/`.
_ID_PREFIXES = ("publishers/google/models/", "google/", "models/")
_RESOURCE_MARKER = "/publishers/google/models/"


def default_aliases(local_model: str, image_models: Iterable[str] = ()) -> dict[str, str]:
    """Every Gemini id this server knows (and the configured image model ids), served by
    `local_model`."""
    return {model_id: local_model for model_id in (*GEMINI_MODEL_IDS, *image_models)}


def normalize_model_id(requested_id: str) -> str:
    """`google/gemini-2.5-flash`, `models/gemini-2.5-flash`,
    `projects/p/locations/l/publishers/google/models/gemini-2.5-flash` → `gemini-2.5-flash`."""
    model_id = requested_id.strip()
    if _RESOURCE_MARKER in model_id:
        model_id = model_id.split(_RESOURCE_MARKER, 1)[1]
    for prefix in _ID_PREFIXES:
        if model_id.startswith(prefix):
            model_id = model_id[len(prefix) :]
    return model_id


class GenerationService:
    def __init__(
        self,
        backends: Mapping[str, Backend],
        aliases: Mapping[str, str],
        *,
        media: MediaResolver | None = None,
        image_models: Iterable[str] = IMAGE_MODEL_IDS,
        thoughts: ThoughtSignatures | None = None,
        signature_enforcing_ids: tuple[str, ...] = GEMINI_3_MODEL_IDS,
    ) -> None:
        self._backends = dict(backends)
        self._aliases = dict(aliases)
        self._media = media
        self._thoughts = thoughts
        self._enforcing = frozenset(signature_enforcing_ids)
        self._image_models = frozenset(normalize_model_id(m) for m in image_models)

    def outputs_images(self, requested_id: str) -> bool:
        """Whether the client's model id names an image model."""
        return normalize_model_id(requested_id) in self._image_models

    def with_model_defaults(
        self, request: GenerateContentRequest, requested_id: str
    ) -> GenerateContentRequest:
        """An image model answers with text and an image unless the client chose the
        modalities (Gemini's image models default to both)."""
        cfg = request.generation_config
        if cfg.response_modalities or not self.outputs_images(requested_id):
            return request
        return replace(
            request,
            generation_config=replace(cfg, response_modalities=(TEXT_MODALITY, IMAGE_MODALITY)),
        )

    def resolve_model(
        self, requested_id: str, *, project: str | None = None, location: str | None = None
    ) -> tuple[Backend, str]:
        """The backend and its model name for a client's model id.
        Raises `NotFound` (unknown id) or `Unavailable` (backend still loading)."""
        model_id = normalize_model_id(requested_id)
        backend_model = self._aliases.get(model_id, model_id)
        backend = self._backend_serving(backend_model)
        if backend is None:
            resource = f"publishers/google/models/{model_id}"
            if project and location:
                resource = f"projects/{project}/locations/{location}/{resource}"
            raise NotFound(
                f"Publisher Model `{resource}` was not found or your project does not have "
                "access to it. Please ensure you are using a valid model version.",
                param="model",
            )
        if not backend.ready:
            raise Unavailable(
                f"Model `{model_id}` is not ready yet (still loading); retry shortly."
            )
        return backend, backend_model

    def stream(
        self, request: GenerateContentRequest, *, requested_model: str | None = None
    ) -> AsyncIterator[StreamEvent]:
        """The backend's event stream for an already resolved request; the caller must
        `aclose()` it, which cancels the generation. `requested_model`: the id the client
        asked for (decides Gemini-3 signature enforcement)."""
        backend = self._backend_serving(request.model)
        if backend is None:
            raise NotFound(f"Model `{request.model}` is not served here.", param="model")
        if not backend.ready:
            raise Unavailable(f"Model `{request.model}` is not ready yet; retry shortly.")
        enforce = (
            requested_model is not None and normalize_model_id(requested_model) in self._enforcing
        )
        if self._thoughts is not None:
            request = self._thoughts.restore(request, enforce=enforce)
        events = (
            backend.stream(request) if not has_media(request)
            else self._stream_with_media(backend, request)
        )
        if self._thoughts is None:
            return events
        return self._thoughts.sign(events, enforce=enforce)

    def recent_prompts(self) -> list[str]:
        """Rendered prompts the backends kept for debugging (empty unless enabled)."""
        return [
            prompt
            for backend in self._backends.values()
            for prompt in getattr(backend, "recent_prompts", list)()
        ]

    async def _stream_with_media(
        self, backend: Backend, request: GenerateContentRequest
    ) -> AsyncIterator[StreamEvent]:
        """Media becomes what the (text-only) backend reads before it generates; a media
        error surfaces at the first event, before any response header."""
        if self._media is None:
            first = next(
                p for c in request.contents for p in c.parts
                if isinstance(p, FileDataPart | InlineDataPart)
            )
            raise InvalidArgument(
                f"`{first.source}`: this server was started without media support; images "
                "and audio cannot be read.",
                param=first.source,
            )
        # A completion that alone fills the context window cannot fit whatever the media
        # turn into: refuse it before seconds of perception, not after (issue 12).
        window = backend.context_length(request.model)
        max_tokens = request.generation_config.max_output_tokens
        if window is not None and max_tokens is not None and max_tokens >= window:
            raise InvalidArgument(
                f"This model's maximum context length is {window} tokens. However, you "
                f"requested {max_tokens} tokens in the completion alone, and the messages "
                "need at least one more.",
                param="generation_config.max_output_tokens",
            )
        resolved = await self._media.resolve(request)
        events = backend.stream(resolved)
        try:
            async for event in events:
                yield event
        finally:
            await events.aclose()

    def list_models(self) -> list[ModelInfo]:
        """Gemini alias ids whose target is served, then every backend model name. Aliases
        are listed in the publisher form the seed passes as `model` (`google/<id>`)."""
        served = {
            name: backend for backend in self._backends.values() for name in backend.model_names()
        }
        infos = [
            ModelInfo(
                id=f"google/{alias}",
                backend_model=target,
                owned_by="google",
                context_length=served[target].context_length(target),
            )
            for alias, target in self._aliases.items()
            if target in served
        ]
        infos += [
            ModelInfo(id=name, backend_model=name, context_length=b.context_length(name))
            for name, b in served.items()
            if name not in self._aliases
        ]
        return infos

    def _backend_serving(self, backend_model: str) -> Backend | None:
        for backend in self._backends.values():
            if backend_model in backend.model_names():
                return backend
        return None
