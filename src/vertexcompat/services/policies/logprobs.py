"""Log probabilities only where the model can give them: a backend model without the
`logprobs` capability (an upstream endpoint that does not declare it) refuses a request
that asks, naming the field, instead of silently answering without them."""

from __future__ import annotations

from collections.abc import AsyncIterator

from vertexcompat.backends.base import Backend
from vertexcompat.domain.content import GenerateContentRequest
from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.domain.events import StreamEvent
from vertexcompat.models.registry import ModelFacts
from vertexcompat.services.policies import BackendWrapper


class NoLogprobs:
    def wrap(self, inner: Backend, model: ModelFacts) -> Backend:
        return _NoLogprobs(inner, model.requested_id)


class _NoLogprobs(BackendWrapper):
    def __init__(self, inner: Backend, model_id: str) -> None:
        super().__init__(inner)
        self._model_id = model_id

    def stream(self, request: GenerateContentRequest) -> AsyncIterator[StreamEvent]:
        if request.generation_config.response_logprobs:
            raise InvalidArgument(
                f"Model `{self._model_id}` cannot report log probabilities (its server does "
                "not declare the `logprobs` capability).",
                location="generation_config.response_logprobs",
            )
        return self.inner.stream(request)
