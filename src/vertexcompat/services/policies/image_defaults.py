"""Image defaults: an image model id answers with text and an image unless the client chose
the modalities itself (Gemini's image models default to both; seed 000). For a backend
whose models do not apply Gemini's image defaults themselves (`native_images`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

from vertexcompat.backends.base import Backend
from vertexcompat.domain.content import IMAGE_MODALITY, TEXT_MODALITY, GenerateContentRequest
from vertexcompat.domain.events import StreamEvent
from vertexcompat.models.registry import ModelFacts
from vertexcompat.services.policies import BackendWrapper


class ImageDefaults:
    def wrap(self, inner: Backend, model: ModelFacts) -> Backend:
        return _WithImageDefaults(inner) if model.outputs_images else inner


def with_image_defaults(request: GenerateContentRequest) -> GenerateContentRequest:
    cfg = request.generation_config
    if cfg.response_modalities:
        return request
    return replace(
        request,
        generation_config=replace(cfg, response_modalities=(TEXT_MODALITY, IMAGE_MODALITY)),
    )


class _WithImageDefaults(BackendWrapper):
    def stream(self, request: GenerateContentRequest) -> AsyncIterator[StreamEvent]:
        return self.inner.stream(with_image_defaults(request))

    async def count_tokens(self, request: GenerateContentRequest, *, as_prompt: bool = False) -> int:
        """Counted as generated: an image model's prompt asks for a drawing."""
        return await self.inner.count_tokens(with_image_defaults(request), as_prompt=as_prompt)
