"""Schema check: for a backend model that cannot constrain its output to a JSON schema
(an upstream without the `json_schema` capability, which gets the schema only as a hint),
each answer that ends normally is checked against what was asked for once it is complete.

An answer that fails — not JSON, not an object for `json_object`, or a schema violation —
is the upstream's failure, not the caller's: the request fails with a 502 naming the
violation (before anything was sent for a whole answer; as the stream's final error for a
streamed one, whose text has gone out as it was written). An answer cut off by
`max_tokens` or a filter keeps its finish reason and is not checked: it is known to be
incomplete. A candidate that called functions instead is not checked either.

How an answer is judged (`Violation`: the text and the schema → why it fails, or None) is
given by the container (translate/json_schema.py's `output_violation`, the check the local
backend's answers get too): services speak Gemini only and import no translation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from vertexcompat.backends.base import Backend
from vertexcompat.domain.content import GenerateContentRequest
from vertexcompat.domain.errors import BadGateway
from vertexcompat.domain.events import Finished, FinishReason, FunctionCall, StreamEvent, TextDelta
from vertexcompat.models.registry import ModelFacts
from vertexcompat.services.policies import BackendWrapper, aclose

Violation = Callable[[str, Mapping[str, Any] | None], str | None]


class SchemaCheck:
    def __init__(self, violation: Violation) -> None:
        self._violation = violation

    def wrap(self, inner: Backend, model: ModelFacts) -> Backend:
        return _Checked(inner, model.requested_id, self._violation)


class _Checked(BackendWrapper):
    def __init__(self, inner: Backend, model_id: str, violation: Violation) -> None:
        super().__init__(inner)
        self._model_id = model_id
        self._violation = violation

    def stream(self, request: GenerateContentRequest) -> AsyncIterator[StreamEvent]:
        if not request.generation_config.wants_json:
            return self.inner.stream(request)
        return self._checked(request)

    async def _checked(self, request: GenerateContentRequest) -> AsyncIterator[StreamEvent]:
        schema = request.generation_config.response_schema
        texts: dict[int, list[str]] = {}
        called: set[int] = set()
        events = self.inner.stream(request)
        try:
            async for event in events:
                match event:
                    case TextDelta(candidate=c, text=t):
                        texts.setdefault(c, []).append(t)
                    case FunctionCall(candidate=c):
                        called.add(c)
                    case Finished(candidate=c, reason=FinishReason.STOP) if c not in called:
                        violation = self._violation("".join(texts.pop(c, ())), schema)
                        if violation is not None:
                            raise BadGateway(
                                f"The answer of `{self._model_id}` (candidate {c}) does not "
                                f"match the requested JSON output: {violation}. Its server "
                                "cannot constrain answers to a schema, so they are checked "
                                "after the fact; asking again may give a valid one."
                            )
                    case _:
                        pass
                yield event
        finally:
            await aclose(events)
