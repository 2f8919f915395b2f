"""Thought signatures around a backend (SPEC §5, issue 5); `policies/thoughts.py` puts them
around the backends whose models issue none of their own.

On the way in (`restore`): every signature a client sends back on a model turn is opened;
the thoughts it carries go back into that turn as thought parts (replacing whatever
thoughts the client sent for it: the sealed ones are the model's own), and a forged or
altered signature is a 400 naming the part. For signature-enforcing models (the Gemini 3
ids, `models/registry.py`), the first function call of each step of the current turn must
carry its signature, as on Gemini; `skip_thought_signature_validator` is accepted in its
place.

On the way out (`sign`): a candidate's thoughts are sealed onto its first function call,
or, when the turn ends in text, into a `ThoughtSignature` event for its last text part.
Turns without thoughts get no signature, except on an enforcing model, whose clients must
be able to send one back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

from vertexcompat.auth.thought_signatures import (
    TEXT_BINDING,
    BadThoughtSignature,
    ThoughtSealer,
    call_binding,
)
from vertexcompat.domain.content import (
    Content,
    FunctionCallPart,
    FunctionResponsePart,
    GenerateContentRequest,
    Part,
    TextPart,
)
from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.domain.events import (
    Finished,
    FunctionCall,
    StreamEvent,
    ThoughtDelta,
    ThoughtSignature,
)

# Gemini's documented bypass value for a call whose signature the client does not have
# (e.g. history from another model).
SKIP_SIGNATURE = "skip_thought_signature_validator"

class ThoughtSignatures:
    def __init__(self, sealer: ThoughtSealer) -> None:
        self._sealer = sealer

    def restore(self, request: GenerateContentRequest, *, enforce: bool) -> GenerateContentRequest:
        if enforce:
            _require_signatures(request)
        contents = tuple(self._restore_content(c) for c in request.contents)
        return dataclasses.replace(request, contents=contents)

    def _restore_content(self, content: Content) -> Content:
        if content.role != "model":
            return content
        restored: list[str] = []
        parts: list[Part] = []
        for part in content.parts:
            match part:
                case TextPart(thought_signature=str(signature)) if signature != SKIP_SIGNATURE:
                    restored.append(self._open(signature, TEXT_BINDING, part.signature_source))
                case FunctionCallPart(thought_signature=str(signature)) if (
                    signature != SKIP_SIGNATURE
                ):
                    binding = call_binding(part.name)
                    restored.append(self._open(signature, binding, part.signature_source))
                case _:
                    pass
            parts.append(part)
        thoughts = "\n\n".join(t for t in restored if t.strip())
        if not thoughts:
            return content
        kept = [p for p in parts if not (isinstance(p, TextPart) and p.thought)]
        return dataclasses.replace(content, parts=(TextPart(thoughts, thought=True), *kept))

    def _open(self, signature: str, binding: str, source: str) -> str:
        try:
            return self._sealer.open(signature, binding=binding)
        except BadThoughtSignature as exc:
            raise InvalidArgument(
                f"Thought signature is not valid: {exc}. Send back the "
                "`thought_signature` exactly as it was returned, on the part it came with.",
                param=source or None,
            ) from None

    async def sign(
        self, events: AsyncIterator[StreamEvent], *, enforce: bool
    ) -> AsyncIterator[StreamEvent]:
        thoughts: dict[int, list[str]] = {}
        signed: set[int] = set()
        try:
            async for event in events:
                match event:
                    case ThoughtDelta(candidate=c, text=text):
                        thoughts.setdefault(c, []).append(text)
                    case FunctionCall(candidate=c) if c not in signed:
                        signed.add(c)
                        text = "".join(thoughts.get(c, ()))
                        if text or enforce:
                            seal = self._sealer.seal(text, binding=call_binding(event.name))
                            event = dataclasses.replace(event, thought_signature=seal)
                    case Finished(candidate=c) if c not in signed:
                        signed.add(c)
                        text = "".join(thoughts.get(c, ()))
                        if text or enforce:
                            seal = self._sealer.seal(text, binding=TEXT_BINDING)
                            yield ThoughtSignature(c, seal)
                    case _:
                        pass
                yield event
        finally:
            await events.aclose()


def _require_signatures(request: GenerateContentRequest) -> None:
    """Gemini 3's rule: in the current turn (everything after the last user message that
    is not only function results), each model step's first call carries a signature."""
    start = 0
    for k, content in enumerate(request.contents):
        if content.role == "user" and not all(
            isinstance(p, FunctionResponsePart) for p in content.parts
        ):
            start = k + 1
    for k in range(start, len(request.contents)):
        content = request.contents[k]
        if content.role != "model":
            continue
        first = next((p for p in content.parts if isinstance(p, FunctionCallPart)), None)
        if first is not None and not first.thought_signature:
            raise InvalidArgument(
                "Function call is missing a thought_signature in functionCall parts. This is "
                "required for tools to work correctly, and missing thought_signature may lead "
                "to degraded model performance. Additional data, function call "
                f"`default_api:{first.name}` , position {k + 1}. Please refer to "
                "https://ai.google.dev/gemini-api/docs/thought-signatures for more details.",
                param=first.signature_source or None,
            )
