"""`ModelRegistry`: every fact about model ids, in one place.

- Which backend model a client's id names. Gemini ids are aliases onto backend models
  through a configurable table (SPEC §2); a backend model name is accepted as itself.
  `google/gemini-2.5-flash`, `models/gemini-2.5-flash` and the full resource name
  `projects/p/locations/l/publishers/google/models/gemini-2.5-flash` are the same id.
- Which ids are image models: Gemini's `…-image` models (and a configurable list) answer
  with text and an image unless the client chose `modalities` itself.
- Which ids enforce thought signatures: the Gemini 3 family refuses a current turn's
  function call without its signature (SPEC §5).
- What each backend model can do (`ModelCapabilities`).

Which backend serves a backend model, and whether it is ready, is the generation
service's business; this module imports only the domain.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from vertexcompat.domain.models import ModelCapabilities

# Gemini's image-generation models (seed 000: `google/gemini-2.5-flash-image-preview`).
IMAGE_MODEL_IDS: tuple[str, ...] = ("gemini-2.5-flash-image", "gemini-2.5-flash-image-preview")

# The ids that enforce thought signatures on function calls (Gemini 3 behaviour).
GEMINI_3_MODEL_IDS: tuple[str, ...] = (
    "gemini-3-pro-preview",
    "gemini-3-flash-preview",
    "gemini-3.5-flash",
)

GEMINI_MODEL_IDS: tuple[str, ...] = (
    "gemini-2.0-flash",
    "gemini-2.0-flash-001",
    "gemini-2.0-flash-lite",
    "gemini-2.0-flash-lite-001",
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-2.5-pro",
    *GEMINI_3_MODEL_IDS,
    *IMAGE_MODEL_IDS,
)

# Longest first: `publishers/google/models/x` must not stop at `google/`.
_ID_PREFIXES = ("publishers/google/models/", "google/", "models/")
_RESOURCE_MARKER = "/publishers/google/models/"


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


def default_aliases(backend_model: str, image_models: Iterable[str] = ()) -> dict[str, str]:
    """Every Gemini id this server knows (and the configured image model ids), served by
    `backend_model`."""
    return {model_id: backend_model for model_id in (*GEMINI_MODEL_IDS, *image_models)}


@dataclass(frozen=True, slots=True)
class ModelFacts:
    """What a client's model id means, before any backend is involved."""

    requested_id: str  # as the client wrote it (responses echo it, SPEC §2)
    model_id: str  # normalized (`gemini-2.5-flash`)
    backend_model: str  # the backend model it names
    capabilities: ModelCapabilities
    enforce_signatures: bool  # a current turn's calls must carry their signatures
    outputs_images: bool  # answers with text and an image unless the client chose

    @property
    def is_alias(self) -> bool:
        return self.model_id != self.backend_model


class ModelRegistry:
    """`aliases`: Gemini id → backend model name. `capabilities`: backend model name → what
    it can do (`default_capabilities` for a model not listed: the local text model's)."""

    def __init__(
        self,
        aliases: Mapping[str, str],
        *,
        image_models: Iterable[str] = IMAGE_MODEL_IDS,
        signature_enforcing: Iterable[str] = GEMINI_3_MODEL_IDS,
        capabilities: Mapping[str, ModelCapabilities] | None = None,
        default_capabilities: ModelCapabilities = ModelCapabilities(),
    ) -> None:
        self._aliases = {normalize_model_id(k): v for k, v in aliases.items()}
        self._image_models = frozenset(normalize_model_id(m) for m in image_models)
        self._enforcing = frozenset(normalize_model_id(m) for m in signature_enforcing)
        self._capabilities = dict(capabilities or {})
        self._default_capabilities = default_capabilities

    @property
    def aliases(self) -> Mapping[str, str]:
        """Gemini id → backend model name, in the table's order."""
        return self._aliases

    def lookup(self, requested_id: str) -> ModelFacts:
        """The facts of a client's model id. An id that is no alias names a backend model
        directly; whether anything serves it is for the caller to find out."""
        model_id = normalize_model_id(requested_id)
        backend_model = self._aliases.get(model_id, model_id)
        return ModelFacts(
            requested_id=requested_id,
            model_id=model_id,
            backend_model=backend_model,
            capabilities=self.capabilities(backend_model),
            enforce_signatures=model_id in self._enforcing,
            outputs_images=model_id in self._image_models,
        )

    def capabilities(self, backend_model: str) -> ModelCapabilities:
        return self._capabilities.get(backend_model, self._default_capabilities)
