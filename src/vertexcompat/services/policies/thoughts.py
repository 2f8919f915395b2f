"""Thought sealing: for a backend whose models issue no thought signatures of their own,
this server seals each turn's thoughts into the signature the client sends back, checks
and opens the signatures it receives, and — for the ids that enforce them (Gemini 3) —
refuses a current turn's call without one (`services/thoughts.py`, SPEC §5). A backend
that issues its own signatures (an upstream Gemini) is not sealed twice."""

from __future__ import annotations

from collections.abc import AsyncIterator

from vertexcompat.backends.base import Backend
from vertexcompat.domain.content import GenerateContentRequest
from vertexcompat.domain.events import StreamEvent
from vertexcompat.domain.tokens import TokensInfo
from vertexcompat.models.registry import ModelFacts
from vertexcompat.services.policies import BackendWrapper
from vertexcompat.services.thoughts import ThoughtSignatures


class ThoughtSealing:
    def __init__(self, signatures: ThoughtSignatures) -> None:
        self._signatures = signatures

    def wrap(self, inner: Backend, model: ModelFacts) -> Backend:
        return _Sealed(inner, self._signatures, enforce=model.enforce_signatures)


class _Sealed(BackendWrapper):
    def __init__(self, inner: Backend, signatures: ThoughtSignatures, *, enforce: bool) -> None:
        super().__init__(inner)
        self._signatures = signatures
        self._enforce = enforce

    def stream(self, request: GenerateContentRequest) -> AsyncIterator[StreamEvent]:
        # A forged signature, or a missing one on an enforcing id, is refused before the
        # backend is asked for anything.
        restored = self._signatures.restore(request, enforce=self._enforce)
        return self._signatures.sign(self.inner.stream(restored), enforce=self._enforce)

    async def count_tokens(self, request: GenerateContentRequest, *, as_prompt: bool = False) -> int:
        """Counted as generated: earlier turns' thoughts restored (and signatures checked)."""
        restored = self._signatures.restore(request, enforce=self._enforce)
        return await self.inner.count_tokens(restored, as_prompt=as_prompt)

    async def compute_tokens(self, request: GenerateContentRequest) -> list[TokensInfo]:
        restored = self._signatures.restore(request, enforce=self._enforce)
        return await self.inner.compute_tokens(restored)
