"""The safety policy over a fake backend and keyword classifiers: prompts blocked before
anything is generated, answers judged in windows and stopped at the window that crosses a
threshold, ratings on every candidate, and requests without settings untouched. The judge
(services/safety.py) and the guard model's yes/no reading are tested at the end."""

from __future__ import annotations

import asyncio
import math

import pytest

from tests.fakes import FAKE_MODEL, FakeBackend
from vertexcompat.domain.content import (
    Content,
    GenerateContentRequest,
    GenerationConfig,
    ImageDescriptionPart,
    TextPart,
)
from vertexcompat.domain.errors import InvalidArgument, Unavailable
from vertexcompat.domain.events import (
    Finished,
    FinishReason,
    FunctionCall,
    ImageOutput,
    PromptFeedback,
    SafetyRatings,
    TextDelta,
    TokenChoice,
    TokenLogprobs,
    Usage,
)
from vertexcompat.domain.safety import HarmBlockThreshold as T
from vertexcompat.domain.safety import HarmCategory as C
from vertexcompat.domain.safety import SafetySetting
from vertexcompat.models.registry import ModelRegistry, default_aliases
from vertexcompat.services.policies import compose
from vertexcompat.services.policies.safety import SafetyFilter, Windows
from vertexcompat.services.safety import ModelGuard, SafetyJudge, guard_request, yes_probability

REGISTRY = ModelRegistry(default_aliases(FAKE_MODEL, []))

# Words the keyword classifier knows, and the probability each gives its category.
WORDS = {"bomb": (C.DANGEROUS_CONTENT, 0.9), "idiot": (C.HARASSMENT, 0.6),
         "meh": (C.HARASSMENT, 0.3), "porn": (C.SEXUALLY_EXPLICIT, 0.8)}


class Keywords:
    name = "keywords"
    categories = frozenset({C.DANGEROUS_CONTENT, C.HARASSMENT, C.SEXUALLY_EXPLICIT,
                            C.HATE_SPEECH})

    def __init__(self) -> None:
        self.seen: list[str] = []

    def score(self, texts):
        out = []
        for text in texts:
            self.seen.append(text)
            scores = dict.fromkeys(self.categories, 0.01)
            for word, (category, p) in WORDS.items():
                if word in text:
                    scores[category] = max(scores[category], p)
            out.append(scores)
        return out

    def warm(self) -> None:
        pass


class Broken(Keywords):
    def score(self, texts):
        raise RuntimeError("model file missing")


class Pixels:
    def score_image(self, data: bytes) -> float:
        return 0.95 if data == b"nsfw" else 0.02


def every(threshold: T) -> tuple[SafetySetting, ...]:
    return tuple(SafetySetting(c, threshold) for c in
                 (C.HARASSMENT, C.HATE_SPEECH, C.SEXUALLY_EXPLICIT, C.DANGEROUS_CONTENT))


def request(text="hello", *, settings=every(T.BLOCK_MEDIUM_AND_ABOVE), n=1, history=()):
    return GenerateContentRequest(
        model=FAKE_MODEL,
        contents=(*history, Content("user", (TextPart(text),))),
        generation_config=GenerationConfig(candidate_count=n),
        safety_settings=settings,
    )


def script_of(*events):
    return FakeBackend([FAKE_MODEL], lambda request: list(events))


def words(candidate: int, text: str, *, usage=True, reason=FinishReason.STOP):
    events = [TextDelta(candidate, w + " ") for w in text.split()]
    return [*events, Finished(candidate, reason)] + ([Usage(5, len(events))] if usage else [])


def run(backend, request, *, classifier=None, defaults=(), windows=Windows(8, 16), judge=True):
    judged = SafetyJudge([classifier or Keywords()], images=Pixels()) if judge else None
    policy = SafetyFilter(judged, defaults, windows=windows)
    wrapped = compose(backend, REGISTRY.lookup(FAKE_MODEL), [policy])

    async def go():
        try:
            return [event async for event in wrapped.stream(request)]
        finally:
            if judged is not None:
                judged.close()

    return asyncio.run(go())


def text_of(events, candidate=0):
    return "".join(e.text for e in events if isinstance(e, TextDelta) and e.candidate == candidate)


def ratings_of(events, candidate=0):
    (found,) = [e for e in events if isinstance(e, SafetyRatings) and e.candidate == candidate]
    return {r.category: r for r in found.ratings}


# --- what passes untouched --------------------------------------------------------------


@pytest.mark.parametrize("settings", [(), every(T.OFF)])
def test_a_request_without_settings_or_all_off_is_not_judged(settings):
    classifier = Keywords()
    backend = script_of(*words(0, "a bomb idiot"))
    events = run(backend, request("bomb", settings=settings), classifier=classifier)
    assert text_of(events) == "a bomb idiot "
    assert classifier.seen == [] and not any(isinstance(e, SafetyRatings) for e in events)


def test_a_server_without_classifiers_refuses_settings_naming_them():
    with pytest.raises(InvalidArgument) as caught:
        run(script_of(*words(0, "hi")), request(), judge=False)
    assert caught.value.location is not None and str(caught.value.location) == "safety_settings"


def test_a_clean_answer_is_sent_whole_in_order_with_its_ratings_before_finish():
    backend = script_of(*words(0, "one two three four five six seven eight nine ten"))
    events = run(backend, request())
    assert text_of(events) == "one two three four five six seven eight nine ten "
    kinds = [type(e).__name__ for e in events]
    assert kinds[-3:] == ["SafetyRatings", "Finished", "Usage"]
    ratings = ratings_of(events)
    assert set(ratings) == {C.HARASSMENT, C.HATE_SPEECH, C.SEXUALLY_EXPLICIT,
                            C.DANGEROUS_CONTENT}
    assert not any(r.blocked for r in ratings.values())
    assert backend.endings == ["completed"]


# --- the prompt -------------------------------------------------------------------------


def test_a_harmful_prompt_is_not_generated():
    backend = script_of(*words(0, "never"))
    events = run(backend, request("how to build a bomb"))
    assert backend.requests == []
    feedback, usage = events
    assert isinstance(feedback, PromptFeedback) and feedback.reason == "SAFETY"
    blocked = {r.category for r in feedback.ratings if r.blocked}
    assert blocked == {C.DANGEROUS_CONTENT}
    assert isinstance(usage, Usage) and usage.prompt_tokens > 0 and usage.completion_tokens == 0


@pytest.mark.parametrize(("threshold", "blocked"), [
    (T.BLOCK_LOW_AND_ABOVE, True),       # 0.3 is LOW
    (T.BLOCK_MEDIUM_AND_ABOVE, False),
    (T.BLOCK_ONLY_HIGH, False),
    (T.BLOCK_NONE, False),
])
def test_thresholds_block_from_their_level_up(threshold, blocked):
    settings = (SafetySetting(C.HARASSMENT, threshold),)
    events = run(script_of(*words(0, "ok")), request("meh", settings=settings))
    assert isinstance(events[0], PromptFeedback) is blocked


def test_block_none_rates_but_never_blocks():
    events = run(script_of(*words(0, "ok")), request("a bomb", settings=every(T.BLOCK_NONE)))
    assert text_of(events) == "ok "
    assert ratings_of(events)[C.DANGEROUS_CONTENT].blocked is False


def test_only_the_new_input_is_judged_not_the_history():
    history = (Content("user", (TextPart("bomb"),)), Content("model", (TextPart("no"),)))
    events = run(script_of(*words(0, "fine")), request("tell me a joke", history=history))
    assert text_of(events) == "fine "


def test_an_image_perception_rated_explicit_blocks_the_prompt():
    image = ImageDescriptionPart("a photo", "image/png", 10, 10, nsfw_score=0.9)
    req = request()
    req = GenerateContentRequest(model=FAKE_MODEL, contents=(Content("user", (image,)),),
                                 safety_settings=req.safety_settings)
    (feedback, _) = run(script_of(*words(0, "x")), req)
    assert [r.category for r in feedback.ratings if r.blocked] == [C.SEXUALLY_EXPLICIT]


def test_server_defaults_apply_and_a_request_overrides_them_per_category():
    defaults = (SafetySetting(C.DANGEROUS_CONTENT, T.BLOCK_LOW_AND_ABOVE),)
    blocked = run(script_of(*words(0, "x")), request("bomb", settings=()), defaults=defaults)
    assert isinstance(blocked[0], PromptFeedback)
    off = (SafetySetting(C.DANGEROUS_CONTENT, T.OFF),)
    allowed = run(script_of(*words(0, "x")), request("bomb", settings=off), defaults=defaults)
    assert text_of(allowed) == "x "


# --- answers ----------------------------------------------------------------------------


def test_an_answer_is_stopped_at_the_window_that_crosses_and_that_window_is_never_sent():
    text = "first words are fine then comes a bomb and more words after it"
    backend = FakeBackend([FAKE_MODEL], lambda r: words(0, text), hang=True)
    events = run(backend, request(), windows=Windows(8, 16))
    sent = text_of(events)
    assert "bomb" not in sent and text.startswith(sent.rstrip()) and sent
    assert events[-3:-1] == [events[-3], Finished(0, FinishReason.SAFETY)]
    assert ratings_of(events)[C.DANGEROUS_CONTENT].blocked
    # The generation was stopped, not left to run; usage counts what was written.
    assert backend.endings == ["closed"]
    assert isinstance(events[-1], Usage) and events[-1].completion_tokens > 0


def test_nothing_of_a_candidate_follows_its_block_and_other_candidates_go_on():
    events = [TextDelta(0, "a bomb here "), TextDelta(1, "all good "), TextDelta(0, "more "),
              Finished(0, FinishReason.STOP), TextDelta(1, "still fine "),
              Finished(1, FinishReason.STOP), Usage(5, 6)]
    out = run(script_of(*events), request(n=2), windows=Windows(4, 4))
    assert text_of(out, 0) == "" and text_of(out, 1) == "all good still fine "
    finishes = [e for e in out if isinstance(e, Finished)]
    assert finishes == [Finished(0, FinishReason.SAFETY), Finished(1, FinishReason.STOP)]
    assert out[-1] == Usage(5, 6)  # the backend's own usage: it finished by itself


def test_a_function_call_is_judged_by_its_name_and_arguments():
    events = [FunctionCall(0, "lookup", {"q": "bomb recipe"}), Finished(0, FinishReason.STOP),
              Usage(1, 1)]
    out = run(script_of(*events), request())
    assert not any(isinstance(e, FunctionCall) for e in out)
    assert Finished(0, FinishReason.SAFETY) in out


def test_a_generated_image_rated_explicit_is_not_sent():
    events = [TextDelta(0, "here it is "), ImageOutput(0, "image/png", b"nsfw"),
              Finished(0, FinishReason.STOP), Usage(1, 1)]
    out = run(script_of(*events), request(), windows=Windows(400, 400))
    assert not any(isinstance(e, ImageOutput) for e in out)
    assert ratings_of(out)[C.SEXUALLY_EXPLICIT].blocked
    clean = [ImageOutput(0, "image/png", b"cat"), Finished(0, FinishReason.STOP), Usage(1, 1)]
    assert any(isinstance(e, ImageOutput) for e in run(script_of(*clean), request()))


def test_windows_start_small_and_double():
    classifier = Keywords()
    text = " ".join(f"w{i:02d}" for i in range(40))  # 160 characters
    run(script_of(*words(0, text)), request("hi"), classifier=classifier,
        windows=Windows(8, 32))
    judged = classifier.seen[1:]  # the first is the prompt
    assert [len(t) for t in judged][:3] == [8, 8 + 16, 24 + 32]  # each with what came before
    assert len(judged) < 10


def test_a_failing_classifier_fails_the_request_rather_than_letting_it_through():
    with pytest.raises(Unavailable):
        run(script_of(*words(0, "x")), request(), classifier=Broken())


# --- the guard model --------------------------------------------------------------------


def test_yes_probability_reads_yes_against_no_whatever_the_case_and_spaces():
    top = [(b" Yes", math.log(0.6)), (b"no", math.log(0.2)), (b"YES", math.log(0.1)),
           (b"Maybe", math.log(0.1))]
    assert yes_probability(top) == pytest.approx(0.7 / 0.9)
    assert yes_probability([(b"Maybe", 0.0)]) == 0.5


def test_the_guard_asks_one_question_per_category_and_reads_its_first_token():
    asked: list[GenerateContentRequest] = []

    async def runner(model_id, request):
        asked.append(request)
        yes = 0.9 if "weapons" in request.contents[0].parts[0].text else 0.1
        yield TokenLogprobs(0, TokenChoice(b"Yes", math.log(yes)),
                            (TokenChoice(b"Yes", math.log(yes)),
                             TokenChoice(b"No", math.log(1 - yes))))
        yield TextDelta(0, "Yes")
        yield Finished(0, FinishReason.MAX_TOKENS)

    guard = ModelGuard("guard", runner)
    scores = asyncio.run(guard.rate("some text", [C.DANGEROUS_CONTENT, C.HARASSMENT]))
    assert scores == {C.DANGEROUS_CONTENT: pytest.approx(0.9), C.HARASSMENT: pytest.approx(0.1)}
    assert [r.generation_config.max_output_tokens for r in asked] == [1, 1]
    # Its own questions are never judged again, whatever the server's defaults.
    assert all(s.threshold is T.OFF for s in asked[0].safety_settings)
    assert asked[0].contents[0].parts[0].text.startswith("<text>\nsome text\n</text>")


def test_the_guard_request_shares_its_prefix_between_questions():
    a = guard_request("t", "Q1?").contents[0].parts[0].text
    b = guard_request("t", "Q2?").contents[0].parts[0].text
    assert a.split("Question:")[0] == b.split("Question:")[0]


# --- the judge ----------------------------------------------------------------------------


class Offensive(Keywords):
    """Like the lexical classifier: one offensiveness score for two categories."""

    categories = frozenset({C.HARASSMENT, C.HATE_SPEECH})

    def score(self, texts):
        return [dict.fromkeys(self.categories, 1.0 if "damn" in t else 0.0) for t in texts]


def rate(judge: SafetyJudge, text: str):
    try:
        return asyncio.run(judge.rate_text(text, [C.HARASSMENT, C.HATE_SPEECH,
                                                  C.DANGEROUS_CONTENT]))
    finally:
        judge.close()


def test_a_corroborating_score_only_raises_what_another_classifier_sees():
    judge = SafetyJudge([Keywords()], corroborating=[Offensive()])
    # "damn" alone: Keywords sees nothing (0.01), so swearing barely counts.
    assert rate(judge, "damn")[C.HARASSMENT] == pytest.approx(0.1)
    judge = SafetyJudge([Keywords()], corroborating=[Offensive()])
    # "meh" is 0.3 harassment; with "damn" it rises to sqrt(0.3 * 1).
    assert rate(judge, "meh damn")[C.HARASSMENT] == pytest.approx(math.sqrt(0.3))


def test_a_corroborating_classifier_alone_counts_as_it_is():
    scores = rate(SafetyJudge([], corroborating=[Offensive()]), "damn")
    assert scores == {C.HARASSMENT: 1.0, C.HATE_SPEECH: 1.0}


def test_the_highest_score_of_independent_classifiers_wins():
    class Other(Keywords):
        def score(self, texts):
            return [dict.fromkeys(self.categories, 0.4) for _ in texts]

    scores = rate(SafetyJudge([Keywords(), Other()]), "a bomb")
    assert scores[C.DANGEROUS_CONTENT] == 0.9 and scores[C.HARASSMENT] == 0.4
