"""Safety settings (Gemini `safetySettings`) for models that do not apply them themselves:
the prompt is judged before anything is generated, and each answer while it is written.

Which settings apply: the server's defaults (`[safety] settings`, default none — Gemini's
API has every category off unless asked) with the request's own over them, per category
(domain/safety.py). A request whose categories are all OFF, or unset, passes straight to
the backend and pays nothing.

- **The prompt**: the new input — the contents after the last model turn (the user's text,
  function results, transcripts, and for images the perception pipeline read, their text
  and their sexually-explicit score). If a rating crosses its threshold, nothing is
  generated: one `PromptFeedback` with the ratings, then a `Usage` of the prompt alone.
- **Each answer** (per candidate): its events are held, in order, while its text grows,
  then judged as a window — the new text after the end of the text already judged — and
  released when it passes. Windows start small (`first_window_chars`, so the first words
  are not long in coming) and double up to `window_chars`; a function call is judged when
  it arrives (its name and arguments), an image when it is made, the rest when the
  candidate finishes. A window that crosses a threshold is never sent: the candidate ends
  there with its `SafetyRatings` (the crossing ones `blocked`) and `Finished(SAFETY)`; its
  later events are dropped. Every candidate that finishes otherwise gets `SafetyRatings` —
  the highest score each category reached over its windows — before its `Finished`.
- When a block ends the last candidate still being written, the generation is cancelled
  instead of running on to its token limit; the `Usage` then counts the prompt and, as
  completion, the deltas the candidates had written (one per token on the embedded model).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field

from vertexcompat.backends.base import Backend
from vertexcompat.domain.content import (
    Content,
    FunctionResponsePart,
    GenerateContentRequest,
    ImageDescriptionPart,
    TextPart,
    TranscriptPart,
)
from vertexcompat.domain.events import (
    Finished,
    FinishReason,
    FunctionCall,
    ImageOutput,
    PromptFeedback,
    SafetyRatings,
    StreamEvent,
    TextDelta,
    ThoughtDelta,
    Usage,
)
from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.domain.safety import (
    HarmCategory,
    SafetySetting,
    effective_settings,
    judge,
    rated,
)
from vertexcompat.models.registry import ModelFacts
from vertexcompat.services.policies import BackendWrapper, aclose
from vertexcompat.services.safety import SafetyJudge, Scores

# Judged text kept before a window, so words that straddle two windows are read together.
CONTEXT_CHARS = 200


@dataclass(frozen=True, slots=True)
class Windows:
    first_chars: int = 64
    max_chars: int = 400


class SafetyFilter:
    """`judge`: None on a server without classifiers: a request that asks for a category
    to be rated is then refused (400) rather than answered unjudged."""

    def __init__(
        self,
        judge: SafetyJudge | None,
        defaults: Sequence[SafetySetting] = (),
        *,
        windows: Windows = Windows(),
    ) -> None:
        self._judge = judge
        self._defaults = tuple(defaults)
        self._windows = windows

    def wrap(self, inner: Backend, model: ModelFacts) -> Backend:
        return _Filtered(inner, self._judge, self._defaults, self._windows)


class _Filtered(BackendWrapper):
    def __init__(
        self,
        inner: Backend,
        judge: SafetyJudge | None,
        defaults: tuple[SafetySetting, ...],
        windows: Windows,
    ) -> None:
        super().__init__(inner)
        self._judge = judge
        self._defaults = defaults
        self._windows = windows

    def stream(self, request: GenerateContentRequest) -> AsyncIterator[StreamEvent]:
        settings = effective_settings(self._defaults, request.safety_settings)
        categories = rated(settings)
        if not categories:
            return self.inner.stream(request)
        if self._judge is None:
            raise InvalidArgument(
                "This server has no safety classifiers, so it cannot apply safety settings; "
                "set every category to OFF or leave `safety_settings` out.",
                location="safety_settings",
            )
        return _Filtering(self.inner, self._judge, settings, categories, self._windows).run(
            request
        )


@dataclass(slots=True)
class _Answer:
    """One candidate's state: events held until their text is judged."""

    window: int
    held: list[StreamEvent] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # text of `held`, not judged yet
    pending_chars: int = 0
    judged_tail: str = ""
    highest: Scores = field(default_factory=dict)
    deltas: int = 0
    ended: bool = False
    blocked: bool = False


class _Filtering:
    """One request's run through the filter."""

    def __init__(
        self,
        inner: Backend,
        judge: SafetyJudge,
        settings: Mapping[HarmCategory, SafetySetting],
        categories: tuple[HarmCategory, ...],
        windows: Windows,
    ) -> None:
        self._inner = inner
        self._judge = judge
        self._settings = settings
        self._categories = categories
        self._windows = windows
        self._answers: dict[int, _Answer] = {}

    async def run(self, request: GenerateContentRequest) -> AsyncIterator[StreamEvent]:
        ratings = judge(await self._rate_prompt(request), self._settings)
        if any(r.blocked for r in ratings):
            prompt_tokens = await self._inner.count_tokens(request, as_prompt=True)
            yield PromptFeedback(ratings=ratings)
            yield Usage(prompt_tokens=prompt_tokens, completion_tokens=0)
            return
        expected = request.generation_config.candidate_count
        events = self._inner.stream(request)
        try:
            async for event in events:
                if isinstance(event, Usage | PromptFeedback):
                    yield event
                    continue
                answer = self._answer(event.candidate)
                if answer.ended:
                    continue
                for out in await self._feed(answer, event):
                    yield out
                if answer.blocked and self._all_ended(expected):
                    # The backend is still writing the candidate just blocked and nothing
                    # more will be sent: stop it, and count what was written.
                    await aclose(events)
                    prompt_tokens = await self._inner.count_tokens(request, as_prompt=True)
                    written = sum(a.deltas for a in self._answers.values())
                    yield Usage(prompt_tokens=prompt_tokens, completion_tokens=written)
                    return
        finally:
            await aclose(events)

    def _answer(self, candidate: int) -> _Answer:
        answer = self._answers.get(candidate)
        if answer is None:
            answer = self._answers[candidate] = _Answer(window=self._windows.first_chars)
        return answer

    def _all_ended(self, expected: int) -> bool:
        return len(self._answers) >= expected and all(a.ended for a in self._answers.values())

    async def _feed(self, answer: _Answer, event: StreamEvent) -> list[StreamEvent]:
        match event:
            case TextDelta(text=text) | ThoughtDelta(text=text):
                answer.deltas += 1
                answer.held.append(event)
                self._add_text(answer, text)
                if answer.pending_chars >= answer.window:
                    return await self._judge_window(answer, event.candidate)
                return []
            case FunctionCall(name=name, args=args):
                answer.held.append(event)
                self._add_text(answer, f"{name}({json.dumps(args, ensure_ascii=False, default=str)})")
                return await self._judge_window(answer, event.candidate)
            case ImageOutput(data=data):
                scores = await self._judge.rate_image(data, self._categories)
                answer.held.append(event)
                if self._crosses(answer, scores):
                    return self._block(answer, event.candidate)
                return await self._judge_window(answer, event.candidate)
            case Finished(candidate=candidate):
                out = await self._judge_window(answer, candidate, final=True)
                if answer.ended:  # the last window was blocked
                    return out
                answer.ended = True
                ratings = SafetyRatings(candidate, judge(answer.highest, self._settings))
                return [*out, ratings, event]
            case _:
                answer.held.append(event)
                return []

    def _add_text(self, answer: _Answer, text: str) -> None:
        answer.pending.append(text)
        answer.pending_chars += len(text)

    async def _judge_window(
        self, answer: _Answer, candidate: int, *, final: bool = False
    ) -> list[StreamEvent]:
        """Judge the pending text; release what is held if it passes, else block."""
        if answer.pending_chars:
            window = "".join(answer.pending)
            scores = await self._judge.rate_text(answer.judged_tail + window, self._categories)
            if self._crosses(answer, scores):
                return self._block(answer, candidate)
            answer.judged_tail = (answer.judged_tail + window)[-CONTEXT_CHARS:]
            answer.pending.clear()
            answer.pending_chars = 0
            answer.window = min(answer.window * 2, self._windows.max_chars)
        elif not final and not answer.held:
            return []
        released, answer.held = answer.held, []
        return released

    def _crosses(self, answer: _Answer, scores: Scores) -> bool:
        for category, score in scores.items():
            answer.highest[category] = max(answer.highest.get(category, 0.0), score)
        return any(r.blocked for r in judge(scores, self._settings))

    def _block(self, answer: _Answer, candidate: int) -> list[StreamEvent]:
        answer.ended = answer.blocked = True
        answer.held.clear()
        answer.pending.clear()
        return [
            SafetyRatings(candidate, judge(answer.highest, self._settings)),
            Finished(candidate, FinishReason.SAFETY),
        ]

    async def _rate_prompt(self, request: GenerateContentRequest) -> Scores:
        texts, image_scores = _new_input(request.contents)
        scores = await self._judge.rate_text("\n".join(texts), self._categories)
        if HarmCategory.SEXUALLY_EXPLICIT in self._categories and image_scores:
            explicit = HarmCategory.SEXUALLY_EXPLICIT
            scores[explicit] = max(scores.get(explicit, 0.0), *image_scores)
        return scores


def _new_input(contents: Sequence[Content]) -> tuple[list[str], list[float]]:
    """The text and the images' sexually-explicit scores of the contents after the last
    model turn (what the client adds to the conversation with this request)."""
    start = 0
    for i, content in enumerate(contents):
        if content.role == "model":
            start = i + 1
    texts: list[str] = []
    images: list[float] = []
    for content in contents[start:]:
        for part in content.parts:
            match part:
                case TextPart(text=text, thought=False):
                    texts.append(text)
                case FunctionResponsePart(response=response):
                    texts.append(json.dumps(response, ensure_ascii=False, default=str))
                case TranscriptPart(transcript=transcript):
                    texts.append(transcript)
                case ImageDescriptionPart(text_lines=lines, nsfw_score=score):
                    texts.extend(lines)
                    images.append(score)
                case _:
                    pass
    return texts, images
