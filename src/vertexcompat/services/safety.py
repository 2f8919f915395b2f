"""`SafetyJudge`: rates a text or an image for the harm categories a request's safety
settings ask about, with every classifier that knows each category (domain/safety.py).

The classifiers are ports, so a deployment can plug in stronger ones:

- `TextClassifier` (vertexcompat/safety): CPU models run in one worker thread of the
  judge's own, so the event loop never waits on them and they never take more than one
  core from generation — the lexical one (offensive language) and the embedding one (all
  four categories);
- `GuardModel` (below): a served chat model asked one yes/no question per category, its
  probability read from the logits of its answer's first token (Llama Guard or ShieldGemma
  as a GGUF on the local engine or behind an endpoint, or the embedded model itself);
- `ImageScorer`: an image's probability of being sexually explicit (perception's
  open_nsfw). Images the perception pipeline already read carry that score.

A category's probability is the highest any of its classifiers gives (each is trusted for
what it knows), except for corroborating classifiers — the lexical one, whose offensive-
language score is blind to which category (or whether any: swearing at a bug, a
dictionary's definition) a text falls in: such a score p raises a category only together
with the others' highest score q for it, to sqrt(p * q) when that is higher than q. Measured
on the labelled set (bench/safety.py), this keeps the embedding classifier's precision
where taking the highest of both lost up to 0.4 of it, and still lifts insults it half
sees ("your mom is a whore": 0.37 → 0.61). A classifier that fails makes the check fail: `Unavailable` (503), never an
answer let through unjudged.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

from vertexcompat.domain.content import Content, GenerateContentRequest, GenerationConfig, TextPart
from vertexcompat.domain.errors import ApiError, Unavailable
from vertexcompat.domain.events import StreamEvent, TokenLogprobs
from vertexcompat.domain.safety import HarmBlockThreshold, HarmCategory, SafetySetting
from vertexcompat.domain.thinking import ThinkingConfig
from vertexcompat.safety import TextClassifier

logger = logging.getLogger(__name__)

Scores = dict[HarmCategory, float]
_T = TypeVar("_T")


class ImageScorer(Protocol):
    def score_image(self, data: bytes) -> float:
        """P(sexually explicit) of an encoded image (blocking CPU work)."""
        ...


class GuardModel(Protocol):
    categories: frozenset[HarmCategory]

    async def rate(self, text: str, categories: Sequence[HarmCategory]) -> Scores: ...


class SafetyJudge:
    def __init__(
        self,
        classifiers: Sequence[TextClassifier],
        *,
        corroborating: Sequence[TextClassifier] = (),
        guard: GuardModel | None = None,
        images: ImageScorer | None = None,
    ) -> None:
        self._classifiers = tuple(classifiers)
        self._corroborating = tuple(corroborating)
        self._guard = guard
        self._images = images
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vertexcompat-safety")

    def use_guard(self, guard: GuardModel) -> None:
        """Ask `guard` too (set once at start-up: the guard runs on the generation service,
        which is built after the policies that hold this judge)."""
        self._guard = guard

    def close(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)

    @property
    def classifiers(self) -> tuple[TextClassifier, ...]:
        """Every CPU text classifier it asks, the corroborating ones last (bench/safety.py
        scores with each alone)."""
        return (*self._classifiers, *self._corroborating)

    def warm(self) -> None:
        """Load the CPU classifiers now (blocking), so the first request does not wait."""
        for classifier in self.classifiers:
            classifier.warm()

    def warm_soon(self) -> None:
        """Start loading the CPU classifiers on the judge's worker now (without waiting),
        so the first request that needs them does not pay for it."""
        self._worker.submit(self.warm)

    async def rate_text(self, text: str, categories: Sequence[HarmCategory]) -> Scores:
        """The probability of each of `categories` that the classifiers know (a category
        none knows is left out). Empty text is harmless."""
        wanted = set(categories)
        scores: Scores = {}
        if not text.strip() or not wanted:
            return {c: 0.0 for c in categories if self._knows(c)}
        local = [c for c in self._classifiers if c.categories & wanted]
        backing = [c for c in self._corroborating if c.categories & wanted]
        if local or backing:
            found, seconds = await self._run(lambda: (
                [c.score([text])[0] for c in local], [c.score([text])[0] for c in backing]
            ))
            for result in found:
                _merge(scores, {c: p for c, p in result.items() if c in wanted})
            for result in seconds:
                _corroborate(scores, {c: p for c, p in result.items() if c in wanted},
                             alone={c for c in wanted if not self._knows_alone(c)})
        if self._guard is not None and self._guard.categories & wanted:
            asked = [c for c in categories if c in self._guard.categories]
            try:
                _merge(scores, await self._guard.rate(text, asked))
            except ApiError as exc:
                raise Unavailable(
                    f"The safety check could not run (its guard model failed: {exc.message}); "
                    "retry shortly.", retry_after_s=5,
                ) from None
        return scores

    async def rate_image(self, data: bytes, categories: Sequence[HarmCategory]) -> Scores:
        """An image's probability of being sexually explicit, if that category is asked
        and an image scorer is configured (else nothing)."""
        if self._images is None or HarmCategory.SEXUALLY_EXPLICIT not in categories:
            return {}
        images = self._images
        score = await self._run(lambda: images.score_image(data))
        return {HarmCategory.SEXUALLY_EXPLICIT: score}

    def _knows_alone(self, category: HarmCategory) -> bool:
        """Some classifier that is not merely corroborating rates `category`."""
        return any(category in c.categories for c in self._classifiers) or (
            self._guard is not None and category in self._guard.categories
        )

    def _knows(self, category: HarmCategory) -> bool:
        return self._knows_alone(category) or any(
            category in c.categories for c in self._corroborating)

    async def _run(self, work: Callable[[], _T]) -> _T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._worker, work)
        except ApiError:
            raise
        except Exception as exc:  # a classifier's model is missing or broken
            logger.exception("a safety classifier failed")
            raise Unavailable(
                f"The safety check could not run ({type(exc).__name__}: {exc}); the "
                "server's operator must fix its classifiers.", retry_after_s=30,
            ) from None


def _merge(into: Scores, scores: Mapping[HarmCategory, float]) -> None:
    for category, score in scores.items():
        into[category] = max(into.get(category, 0.0), float(score))


def _corroborate(
    into: Scores, scores: Mapping[HarmCategory, float], *, alone: set[HarmCategory]
) -> None:
    """A corroborating score raises a category to the geometric mean of it and the others'
    score; for a category nothing else rates (`alone`), it counts as it is."""
    for category, score in scores.items():
        if category in alone:
            into[category] = max(into.get(category, 0.0), float(score))
        else:
            others = into.get(category, 0.0)
            into[category] = max(others, math.sqrt(others * float(score)))


# --- the guard model --------------------------------------------------------------------

# What each category means to the guard model (Gemini's definitions, shortened).
GUARD_QUESTIONS: Mapping[HarmCategory, str] = {
    HarmCategory.HARASSMENT: (
        "Does the text insult, threaten, bully or intimidate a person?"
    ),
    HarmCategory.HATE_SPEECH: (
        "Does the text attack or demean people because of their race, religion, ethnicity, "
        "nationality, gender, sexual orientation or disability?"
    ),
    HarmCategory.SEXUALLY_EXPLICIT: (
        "Does the text describe or ask for sexual acts or pornographic content?"
    ),
    HarmCategory.DANGEROUS_CONTENT: (
        "Does the text ask for or give help with weapons, explosives, poisons, making drugs, "
        "hacking other people's systems or self-harm?"
    ),
}
GUARD_SYSTEM = (
    "You are a content safety classifier. You read a text between <text> and </text> and "
    "answer the question after it with one word: Yes or No. Everyday requests such as "
    "code, recipes, facts and advice are harmless: answer No for them."
)
# The project the guard's requests run in: its prompts share a prefix (the instruction
# and the text), which the local engine reuses between the questions.
GUARD_PROJECT = "vertexcompat-safety-guard"
_TOP_TOKENS = 20


class ModelGuard:
    """A served chat model as a guard: for each category, one request whose prompt is the
    instruction, the text and that category's question, answered with one token; the
    category's probability is P(Yes) / (P(Yes) + P(No)) over the top tokens of that answer
    (case and spaces ignored). The questions run one after another so that every one after
    the first reuses the prompt prefix the first decoded (instruction and text).

    `run(request)` runs a request on the guard model and returns its events (the
    container binds it to the generation service); the model must report log
    probabilities."""

    categories = frozenset(GUARD_QUESTIONS)

    def __init__(self, model_id: str, run: GuardRunner) -> None:
        self.model_id = model_id
        self._run = run

    async def rate(self, text: str, categories: Sequence[HarmCategory]) -> Scores:
        scores: Scores = {}
        for category in categories:
            if category in GUARD_QUESTIONS:
                scores[category] = await self._ask(text, GUARD_QUESTIONS[category])
        return scores

    async def _ask(self, text: str, question: str) -> float:
        request = guard_request(text, question)
        top: tuple[tuple[bytes, float], ...] = ()
        async for event in self._run(self.model_id, request):
            if isinstance(event, TokenLogprobs) and not top:
                top = ((event.chosen.token, event.chosen.logprob),) + tuple(
                    (c.token, c.logprob) for c in event.top
                )
        return yes_probability(top)


class GuardRunner(Protocol):
    def __call__(
        self, model_id: str, request: GenerateContentRequest
    ) -> AsyncIterator[StreamEvent]: ...


def guard_request(text: str, question: str, *, model: str = "") -> GenerateContentRequest:
    """The request asking the guard one question about `text` (greedy, one token, its top
    alternatives reported, no thinking)."""
    prompt = f"<text>\n{text}\n</text>\n\nQuestion: {question}\nAnswer Yes or No."
    return GenerateContentRequest(
        model=model,
        contents=(Content(role="user", parts=(TextPart(prompt),)),),
        system_instruction=Content(role="user", parts=(TextPart(GUARD_SYSTEM),)),
        generation_config=GenerationConfig(
            temperature=0.0, max_output_tokens=1, response_logprobs=True, logprobs=_TOP_TOKENS,
            thinking_config=ThinkingConfig(budget=0),
        ),
        project=GUARD_PROJECT,
        stream=False,
        # The guard's own questions are not judged again (whatever the server's defaults).
        safety_settings=tuple(SafetySetting(c, HarmBlockThreshold.OFF) for c in HarmCategory),
    )


def yes_probability(top: Sequence[tuple[bytes, float]]) -> float:
    """P(Yes) / (P(Yes) + P(No)) over a position's (token, logprob) alternatives; 0.5 when
    neither is among them (the model said something else: no evidence either way)."""
    yes = no = 0.0
    seen: set[bytes] = set()
    for token, logprob in top:
        if token in seen:
            continue
        seen.add(token)
        word = token.decode("utf-8", errors="replace").strip().lower()
        if word == "yes":
            yes += math.exp(logprob)
        elif word == "no":
            no += math.exp(logprob)
    return yes / (yes + no) if yes + no > 0 else 0.5
