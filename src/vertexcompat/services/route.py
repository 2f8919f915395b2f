"""`Route`: where one request goes, resolved once (`GenerationService.resolve`)."""

from __future__ import annotations

from dataclasses import dataclass

from vertexcompat.backends.base import Backend
from vertexcompat.domain.models import ModelCapabilities
from vertexcompat.models.registry import ModelFacts


@dataclass(frozen=True, slots=True)
class Route:
    """The backend that serves the request — already wrapped in the policies its model
    needs — and the facts of the model id the client asked for."""

    backend: Backend
    model: ModelFacts

    @property
    def backend_model(self) -> str:
        return self.model.backend_model

    @property
    def requested_id(self) -> str:
        return self.model.requested_id

    @property
    def capabilities(self) -> ModelCapabilities:
        return self.model.capabilities

    @property
    def enforce_signatures(self) -> bool:
        return self.model.enforce_signatures

    @property
    def outputs_images(self) -> bool:
        return self.model.outputs_images
