"""Function calls on the real tiny model (SmolLM2-135M, whose template knows no tools, so the
generic format): required and named calls are always declared calls with valid arguments,
lazy grammars take over when their trigger appears (or end the candidate as malformed),
a candidate can be ended alone, and banned tokens are never drawn."""

import asyncio
import json

import jsonschema
import pytest

from tests.unit.engine.tiny import tiny_backend
from vertexcompat.domain.content import Content, GenerateContentRequest, GenerationConfig, TextPart
from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.domain.events import Finished, FinishReason, FunctionCall, TextDelta
from vertexcompat.domain.tools import FunctionCallingMode, FunctionDeclaration, ToolConfig
from vertexcompat.engine.sampling import LazyGrammar, SamplingParams

WEATHER = FunctionDeclaration(
    "get_weather",
    "Get the weather in a city.",
    {
        "type": "object",
        "properties": {
            "city": {"type": "string", "maxLength": 20},
            "unit": {"enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city", "unit"],
        "additionalProperties": False,
    },
)
TIME = FunctionDeclaration("get_time", "The current time.")
ALARM = FunctionDeclaration(
    "set_alarm", "Set an alarm.",
    {"type": "object", "properties": {"hour": {"type": "integer"}, "label": {"type": "string", "maxLength": 8}},
     "required": ["hour"]},
)
TOOLS = (WEATHER, TIME, ALARM)


@pytest.fixture(scope="module")
def backend():
    with tiny_backend(parallel=4) as backend:
        yield backend


def request(config: ToolConfig, *, tools=TOOLS, n=2, temperature=1.0, seed=11, max_tokens=300):
    return GenerateContentRequest(
        model=backend_model(),
        contents=(Content("user", (TextPart("What is the weather in Paris?"),)),),
        generation_config=GenerationConfig(
            candidate_count=n, temperature=temperature, seed=seed, max_output_tokens=max_tokens
        ),
        tools=tools,
        tool_config=config,
        # A project, so a request may reuse the ~290-token prompt (the declarations) that an
        # earlier one left in a slot instead of decoding it again: the same answers, since a
        # reused prefix answers exactly as a fresh one (test_prefix_cache.py).
        project="p",
    )


def backend_model():
    return "smollm2-135m-instruct"


def run(backend, req):
    async def go():
        texts, calls, finishes = {}, {}, {}
        async for ev in backend.stream(req):
            match ev:
                case TextDelta(candidate=c, text=t):
                    texts[c] = texts.get(c, "") + t
                case FunctionCall(candidate=c):
                    calls.setdefault(c, []).append(ev)
                case Finished(candidate=c, reason=r):
                    finishes[c] = r
        return texts, calls, finishes

    return asyncio.run(go())


def schema_of(name):
    decl = next(d for d in TOOLS if d.name == name)
    return decl.parameters or {"type": "object", "maxProperties": 0}


@pytest.mark.parametrize("seed", [1, 2, pytest.param(3, marks=pytest.mark.panel)])
def test_required_calls_are_declared_calls_with_valid_arguments(backend, seed):
    texts, calls, finishes = run(backend, request(ToolConfig(mode=FunctionCallingMode.ANY), seed=seed))
    assert finishes == {0: FinishReason.STOP, 1: FinishReason.STOP}
    assert texts == {}
    for c in (0, 1):
        assert calls[c]
        for call in calls[c]:
            jsonschema.validate(dict(call.args), schema_of(call.name))


def test_a_named_choice_calls_only_that_function(backend):
    _, calls, _ = run(backend, request(
        ToolConfig(mode=FunctionCallingMode.ANY, allowed_function_names=("set_alarm",)), seed=5
    ))
    assert {call.name for c in (0, 1) for call in calls[c]} == {"set_alarm"}


def test_without_parallel_calls_there_is_exactly_one(backend):
    _, calls, finishes = run(backend, request(
        ToolConfig(mode=FunctionCallingMode.ANY, parallel_calls=False), n=4, seed=8
    ))
    assert [len(calls[c]) for c in range(4)] == [1, 1, 1, 1]
    assert set(finishes.values()) == {FinishReason.STOP}


def test_a_function_without_parameters_is_called_with_empty_arguments(backend):
    _, calls, _ = run(backend, request(
        ToolConfig(mode=FunctionCallingMode.ANY, allowed_function_names=("get_time",)), seed=2
    ))
    assert all(dict(call.args) == {} for c in (0, 1) for call in calls[c])


@pytest.mark.parametrize("seeds", [2, pytest.param(4, marks=pytest.mark.panel)])
def test_auto_answers_are_text_or_valid_calls(backend, seeds):
    for seed in range(seeds):
        texts, calls, finishes = run(backend, request(ToolConfig(), seed=seed, max_tokens=120))
        for c in (0, 1):
            for call in calls.get(c, ()):
                jsonschema.validate(dict(call.args), schema_of(call.name))
            assert c in texts or c in calls or finishes[c] is not FinishReason.STOP


def test_unenforceable_parameters_are_invalid_argument_naming_the_function(backend):
    broken = FunctionDeclaration("broken", None, {"type": "object", "properties": {"x": {"$ref": "#/$defs/none"}}})
    with pytest.raises(InvalidArgument) as info:
        run(backend, request(ToolConfig(mode=FunctionCallingMode.ANY), tools=(WEATHER, broken)))
    assert str(info.value.location) == "tools.function_declarations[1].parameters"


# -- the engine mechanisms underneath ---------------------------------------------------


def generate(engine, params, *, n=1, max_tokens=12, prompt="Say hello.", on_event=None):
    async def go():
        tokens = engine.prompt_tokens([{"role": "user", "content": prompt}])
        handle = engine.submit(tokens, n=n, params=params, max_tokens=max_tokens, stop=())
        texts, finishes = {}, {}
        async for ev in handle.events():
            if on_event is not None:
                on_event(handle, ev)
            match ev:
                case TextDelta(candidate=c, text=t):
                    texts[c] = texts.get(c, "") + t
                case Finished(candidate=c, reason=r):
                    finishes[c] = r
        return texts, finishes

    return asyncio.run(go())


def test_a_lazy_grammar_constrains_everything_after_its_trigger(backend):
    # The trigger matches the whole output so far, i.e. it fires on the first token; from
    # then on the grammar decides every character.
    lazy = LazyGrammar(trigger=r"[\s\S]+", grammar='root ::= " zebra crossing"')
    texts, finishes = generate(backend.engine, SamplingParams(temperature=0, lazy_grammars=(lazy,)), max_tokens=40)
    free, _ = generate(backend.engine, SamplingParams(temperature=0), max_tokens=1)
    assert texts[0] == free[0] + " zebra crossing"
    assert finishes[0] is FinishReason.STOP


def test_text_after_the_trigger_that_the_grammar_rejects_ends_the_candidate_as_malformed(backend):
    # The trigger is the first character: the rest of the first token cannot be " zebra".
    lazy = LazyGrammar(trigger=r"\A\s*\S", grammar='root ::= "!!!"')
    _, finishes = generate(backend.engine, SamplingParams(temperature=0, lazy_grammars=(lazy,)))
    assert finishes[0] is FinishReason.MALFORMED_FUNCTION_CALL


def test_a_lazy_grammar_whose_trigger_never_appears_leaves_the_text_free(backend):
    lazy = LazyGrammar(trigger="NEVER-WRITTEN-42", grammar='root ::= "x"')
    constrained, _ = generate(backend.engine, SamplingParams(temperature=0, lazy_grammars=(lazy,)))
    free, _ = generate(backend.engine, SamplingParams(temperature=0))
    assert constrained == free


def test_banned_tokens_are_never_drawn(backend):
    engine = backend.engine
    free, _ = generate(engine, SamplingParams(temperature=0), max_tokens=1)
    first = engine.tokenize(free[0], add_bos=False)[0]
    banned, _ = generate(engine, SamplingParams(temperature=0, banned_tokens=(first,)), max_tokens=1)
    assert engine.tokenize(banned[0], add_bos=False)[0] != first


def test_ending_one_candidate_leaves_the_others_running(backend):
    ended = []

    def end_first(handle, ev):
        if isinstance(ev, TextDelta) and ev.candidate == 0 and not ended:
            ended.append(True)
            handle.end_candidate(0)

    params = SamplingParams(temperature=0, frequency_penalty=-2.0, presence_penalty=-2.0)
    texts, finishes = generate(
        backend.engine, params, n=2, max_tokens=60, prompt="Write a story.", on_event=end_first
    )
    assert finishes == {0: FinishReason.STOP, 1: FinishReason.MAX_TOKENS}
    assert len(texts[0]) < len(texts[1])
    assert backend.engine.stats()["busy_slots"] == 0
