"""Budget forcing on the real tiny model (SmolLM2-135M, no native thinking, so the generic
format): thoughts come first and never exceed the budget, the answer follows them, a
`max_tokens` cut while thinking ends the candidate, and constraints bind the answer only."""

import asyncio
import json

import pytest

from tests.unit.engine.tiny import TINY_MODEL, tiny_backend
from vertexcompat.domain.content import Content, GenerateContentRequest, GenerationConfig, TextPart
from vertexcompat.domain.events import (
    Finished,
    FinishReason,
    FunctionCall,
    TextDelta,
    ThoughtDelta,
    Usage,
)
from vertexcompat.domain.thinking import ThinkingConfig
from vertexcompat.domain.tools import FunctionCallingMode, FunctionDeclaration, ToolConfig


@pytest.fixture(scope="module")
def backend():
    with tiny_backend(parallel=4) as backend:
        yield backend


# The answers' length is not what these tests are about: 48 tokens leave room for the
# largest budget below (24), the forced close and the start of an answer.
def request(budget, *, n=1, seed=1, max_tokens=48, temperature=1.0, **config):
    return GenerateContentRequest(
        model=TINY_MODEL,
        contents=(Content("user", (TextPart("Why is the sky blue?"),)),),
        generation_config=GenerationConfig(
            candidate_count=n, temperature=temperature, seed=seed, max_output_tokens=max_tokens,
            thinking_config=None if budget is None else ThinkingConfig(budget=budget), **config,
        ),
    )


def run(backend, req):
    async def go():
        return [event async for event in backend.stream(req)]

    return asyncio.run(go())


def by_candidate(events, kind):
    out = {}
    for event in events:
        if isinstance(event, kind):
            out[event.candidate] = out.get(event.candidate, "") + event.text
    return out


# Three seeds in every run, three more in the `panel` run (`pytest -m panel`).
@pytest.mark.parametrize(
    "seed", [0, 1, 2, *(pytest.param(seed, marks=pytest.mark.panel) for seed in (3, 4, 5))]
)
def test_sampled_thoughts_never_exceed_the_budget(backend, seed):
    events = run(backend, request(12, seed=seed))
    usage = events[-1]
    assert isinstance(usage, Usage)
    assert 0 < usage.reasoning_tokens <= 12
    assert usage.completion_tokens > usage.reasoning_tokens  # the forced close and the answer


def test_every_thought_comes_before_the_answer(backend):
    events = run(backend, request(16, n=3, seed=4))
    for candidate in range(3):
        kinds = [type(e) for e in events if getattr(e, "candidate", None) == candidate]
        assert ThoughtDelta in kinds
        last_thought = max(i for i, k in enumerate(kinds) if k is ThoughtDelta)
        first_answer = min((i for i, k in enumerate(kinds) if k is not ThoughtDelta), default=None)
        assert first_answer is not None and last_thought < first_answer
        assert kinds[-1] is Finished


def test_thoughts_hold_no_markers_and_the_answer_does_not_repeat_them(backend):
    events = run(backend, request(24, n=2, seed=9))
    for text in [*by_candidate(events, ThoughtDelta).values(), *by_candidate(events, TextDelta).values()]:
        assert "<think>" not in text and "</think>" not in text
        assert text == text.lstrip()


def test_budget_zero_means_no_thoughts(backend):
    events = run(backend, request(0, seed=3))
    assert not [e for e in events if isinstance(e, ThoughtDelta)]
    assert events[-1].reasoning_tokens == 0


def test_no_thinking_config_is_off_for_a_model_without_native_thinking(backend):
    assert backend.thinking_budget(None) == 0
    events = run(backend, request(None, seed=3))
    assert events[-1].reasoning_tokens == 0


def test_dynamic_budget_is_bounded(backend):
    assert backend.thinking_budget(ThinkingConfig(budget=-1)) == 2048


def test_max_tokens_inside_the_thoughts_ends_the_candidate_with_length(backend):
    events = run(backend, request(100, max_tokens=10, seed=2))
    finished = [e for e in events if isinstance(e, Finished)]
    assert finished == [Finished(0, FinishReason.MAX_TOKENS)]
    assert not [e for e in events if isinstance(e, TextDelta)]
    assert events[-1].reasoning_tokens == events[-1].completion_tokens == 10


def test_a_json_answer_follows_free_thoughts(backend):
    schema = {"type": "object", "properties": {"colour": {"type": "string", "maxLength": 12}},
              "required": ["colour"], "additionalProperties": False}
    for seed in range(3):
        events = run(backend, request(
            16, seed=seed, max_tokens=120,
            response_mime_type="application/json", response_schema=schema,
        ))
        answer = by_candidate(events, TextDelta)[0]
        assert set(json.loads(answer)) == {"colour"}
        assert events[-1].reasoning_tokens > 0


def test_a_required_call_follows_free_thoughts(backend):
    weather = FunctionDeclaration(
        "get_weather", "Weather in a city.",
        {"type": "object", "properties": {"city": {"type": "string", "maxLength": 16}},
         "required": ["city"]},
    )
    req = request(16, seed=5, max_tokens=150)
    req = GenerateContentRequest(
        model=req.model, contents=req.contents, generation_config=req.generation_config,
        tools=(weather,), tool_config=ToolConfig(mode=FunctionCallingMode.ANY),
    )
    events = run(backend, req)
    calls = [e for e in events if isinstance(e, FunctionCall)]
    assert calls and calls[0].name == "get_weather" and "city" in calls[0].args
    assert [e for e in events if isinstance(e, ThoughtDelta)]


def test_the_prompt_opens_the_reasoning_segment_after_the_instruction(backend):
    rendered = backend.engine.render_prompt(
        [{"role": "user", "content": "hi"}], thinking=True
    )
    assert rendered.text.endswith("<think>\n")
    assert rendered.thinking is not None and not rendered.thinking.native
    # SmolLM2's template is ChatML: the notes end as a turn and a new assistant turn starts.
    assert rendered.thinking.close == "\n</think><|im_end|>\n<|im_start|>assistant\n"
    plan = backend.engine.thinking_plan(rendered.thinking, 8)
    assert len(plan.close_tokens) < len(rendered.thinking.close)  # special tokens parsed


def test_an_answer_that_would_end_at_once_after_the_thoughts_writes_text(backend):
    """Deterministic: the forced close already holds a whole reply, so greedy decoding's
    next token is the end of the turn; the answer may not open with it (or with `</`)."""
    from vertexcompat.engine.sampling import SamplingParams
    from vertexcompat.engine.thinking import ThinkingPlan

    engine = backend.engine
    rendered = engine.render_prompt([{"role": "user", "content": "Say hello."}], thinking=True)
    closing = "\n</think><|im_end|>\n<|im_start|>assistant\nHello! How can I help you today?"
    plan = ThinkingPlan(
        budget=1,
        close_tokens=tuple(engine.tokenize(closing, add_bos=False)),
        after_marker_tokens=tuple(engine.tokenize("\n", add_bos=False)),
    )

    async def go():
        handle = engine.submit(
            rendered.tokens, n=1, params=SamplingParams(temperature=0.0), max_tokens=40,
            stop=(), thinking=plan,
        )
        return [event async for event in handle.events()]

    events = asyncio.run(go())
    answer = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert answer.strip(), events
    assert not answer.lstrip().startswith("</")
