"""Token log probabilities on the real tiny model (SmolLM2-135M): the numbers are
llama-cpp-python's own (greedy), with penalties and temperature applied as the chain
applies them, renormalised over what a grammar allows; greedy's choice is always the first
alternative; alternatives are sorted; the chosen bytes spell the answer; each candidate
gets its own events, thoughts none, and a request that does not ask gets none. Asking
never changes which tokens are drawn."""

import asyncio
import ctypes
import math
import os
from pathlib import Path

import llama_cpp
import llama_cpp.llama_cpp as llama_lowlevel
import numpy as np
import platformdirs
import pytest

from tests.unit.engine.tiny import TINY_MODEL, tiny_backend
from vertexcompat.domain.content import (
    JSON_MIME_TYPE,
    Content,
    GenerateContentRequest,
    GenerationConfig,
    TextPart,
)
from vertexcompat.domain.events import (
    Finished,
    TextDelta,
    ThoughtDelta,
    TokenLogprobs,
    Usage,
)
from vertexcompat.domain.thinking import ThinkingConfig
from vertexcompat.engine.model_files import ModelCatalog
from vertexcompat.engine.svg_grammar import SvgGrammarSpec
from vertexcompat.engine.sampling import (
    _TOKEN_DATA,
    LazyGrammar,
    SamplingParams,
    _token_array,
    grammar_sampler,
)

SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "maxLength": 12},
        "sunny": {"type": "boolean"},
        "temperature": {"type": "integer"},
    },
    "required": ["city", "sunny", "temperature"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def backend():
    with tiny_backend(parallel=2) as backend:
        yield backend


@pytest.fixture(scope="module")
def reference(backend):
    """llama-cpp-python's own model object on the same GGUF, all logits kept. Loaded
    without the extra buffers (AMX) like the engine loads it: that path segfaults here."""
    data_dir = os.environ.get("VERTEXCOMPAT_TEST_DATA_DIR") or platformdirs.user_cache_dir(
        "vertexcompat-tests"
    )
    path = ModelCatalog(Path(data_dir), progress=False).resolve(TINY_MODEL).path
    original = llama_lowlevel.llama_model_default_params

    def without_extra_bufts():
        params = original()
        params.use_extra_bufts = False
        return params

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(llama_lowlevel, "llama_model_default_params", without_extra_bufts)
        # One thread for batches too (llama-cpp-python's default is every core): a second
        # thread spin-waits through each decode and costs ~6x the CPU on a busy machine.
        llm = llama_cpp.Llama(
            model_path=str(path), logits_all=True, n_threads=1, n_threads_batch=1, n_ctx=512,
            verbose=False,
        )
    yield llm
    llm.close()


def request(text="Write a short poem about the sea.", **cfg) -> GenerateContentRequest:
    return GenerateContentRequest(
        model=TINY_MODEL,
        contents=(Content("user", (TextPart(text),)),),
        generation_config=GenerationConfig(**cfg),
    )


def stream(backend, req):
    async def go():
        return [event async for event in backend.stream(req)]

    return asyncio.run(go())


def generate(engine, params, *, prompt="Write a short poem about the sea.", max_tokens=24, n=1):
    """The engine's events for a plain prompt; (prompt tokens, events)."""
    tokens = engine.prompt_tokens([{"role": "user", "content": prompt}])

    async def go():
        handle = engine.submit(tokens, n=n, params=params, max_tokens=max_tokens, stop=())
        return [event async for event in handle.events()]

    return tokens, asyncio.run(go())


def logprobs_of(events, candidate=0) -> list[TokenLogprobs]:
    return [e for e in events if isinstance(e, TokenLogprobs) and e.candidate == candidate]


def text_of(events, candidate=0, kind=TextDelta) -> str:
    return "".join(e.text for e in events if isinstance(e, kind) and e.candidate == candidate)


def assert_rejoins(events, candidate=0):
    """The chosen tokens' bytes spell the candidate's text (an answer cut by max_tokens in
    the middle of a character ends that character's bytes early: the text drops them)."""
    joined = b"".join(e.chosen.token for e in logprobs_of(events, candidate))
    decoded = joined.decode("utf-8", errors="replace")
    text = text_of(events, candidate)
    assert decoded in (text, text + "\ufffd"), (joined, text)


def reference_logits(llm, prompt, chosen) -> np.ndarray:
    """llama-cpp-python's logits at each generated position (rows: positions), decoded as
    its own generation (and the engine) decodes: the prompt in one batch, then one token
    at a time. (Decoding the generated tokens in one batch instead moves the numbers of
    this Q4 model by up to 0.1: llama.cpp's kernels for many rows differ from one row's.)"""
    llm.reset()
    llm.eval(prompt)
    for token in chosen[:-1]:
        llm.eval([token])
    start = len(prompt) - 1
    return np.array(llm.scores[start : start + len(chosen)], dtype=np.float32)


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = z.astype(np.float64)
    finite = z[np.isfinite(z)]
    peak = finite.max()
    return z - (peak + np.log(np.exp(finite - peak).sum()))


def allowed_mask(sampler, n_vocab) -> np.ndarray:
    """Which tokens the grammar sampler (in its current state) accepts next."""
    cells = np.zeros(n_vocab, dtype=_TOKEN_DATA)
    cells["id"] = np.arange(n_vocab, dtype=np.int32)
    llama_cpp.llama_sampler_apply(sampler, ctypes.byref(_token_array(cells)))
    return np.isfinite(cells["logit"])


# -- the numbers ----------------------------------------------------------------------


def test_greedy_logprobs_are_llama_cpp_pythons(backend, reference):
    prompt, events = generate(backend.engine, SamplingParams(temperature=0, logprobs=5))
    lps = logprobs_of(events)
    chosen = [e.chosen.token_id for e in lps]
    assert len(chosen) == 24
    ours = np.array([e.chosen.logprob for e in lps])
    theirs = llama_cpp.Llama.logits_to_logprobs(reference_logits(reference, prompt, chosen))
    np.testing.assert_allclose(ours, theirs[np.arange(len(chosen)), chosen], atol=1e-3)
    for e, row in zip(lps, theirs):
        assert [t.token_id for t in e.top][:3] == list(np.argsort(-row, kind="stable")[:3])
        np.testing.assert_allclose([t.logprob for t in e.top], np.sort(row)[::-1][:5], atol=1e-3)


def test_create_completion_reports_the_same_first_tokens(backend, reference):
    """llama-cpp-python's own completion API, greedy, from the same prompt tokens."""
    prompt, events = generate(backend.engine, SamplingParams(temperature=0, logprobs=5),
                              max_tokens=8)
    reference.reset()
    out = reference.create_completion(prompt, max_tokens=8, temperature=0, logprobs=5)
    theirs = out["choices"][0]["logprobs"]["token_logprobs"]
    ours = [e.chosen.logprob for e in logprobs_of(events)]
    np.testing.assert_allclose(ours, theirs, atol=1e-3)


def test_penalties_and_temperature_are_applied_as_the_chain_applies_them(backend, reference):
    """The reported numbers: (logits - count * frequency - presence) / temperature, counts
    over the candidate's own output so far."""
    params = SamplingParams(temperature=0.7, seed=3, frequency_penalty=0.8, presence_penalty=0.4,
                            logprobs=5, top_p=0.9)
    prompt, events = generate(backend.engine, params, max_tokens=32)
    lps = logprobs_of(events)
    chosen = [e.chosen.token_id for e in lps]
    logits = reference_logits(reference, prompt, chosen)
    counts: dict[int, int] = {}
    for position, (e, row) in enumerate(zip(lps, logits)):
        z = row.copy()
        for token, count in counts.items():
            z[token] -= count * 0.8 + 0.4
        expected = log_softmax(z / 0.7)
        assert e.chosen.logprob == pytest.approx(expected[chosen[position]], abs=1e-3)
        np.testing.assert_allclose([t.logprob for t in e.top], np.sort(expected)[::-1][:5], atol=1e-3)
        counts[chosen[position]] = counts.get(chosen[position], 0) + 1
    assert len(counts) < len(chosen)  # some tokens repeated: the counts were exercised


def test_a_grammar_renormalises_over_the_tokens_it_allows(backend, reference):
    engine = backend.engine
    grammar = engine.json_grammar(SCHEMA)
    params = SamplingParams(temperature=0, grammar=grammar, logprobs=20)
    prompt, events = generate(engine, params, prompt="The weather in Oslo, as JSON.",
                              max_tokens=40)
    lps = logprobs_of(events)
    chosen = [e.chosen.token_id for e in lps]
    logits = reference_logits(reference, prompt, chosen)
    n_vocab = logits.shape[1]
    checker = grammar_sampler(engine._vocab, grammar)
    narrow = 0
    try:
        for e, row in zip(lps, logits):
            allowed = allowed_mask(checker, n_vocab)
            top = [t.token_id for t in e.top]
            assert all(allowed[t] for t in top), "an alternative the grammar rejects"
            expected = log_softmax(np.where(allowed, row, -np.inf))
            assert e.chosen.logprob == pytest.approx(expected[e.chosen.token_id], abs=1e-3)
            if allowed.sum() <= 20:  # every allowed token is listed: they sum to one
                narrow += 1
                assert set(top) == set(np.flatnonzero(allowed))
                assert math.fsum(math.exp(t.logprob) for t in e.top) == pytest.approx(1, abs=1e-4)
            llama_cpp.llama_sampler_accept(checker, e.chosen.token_id)
    finally:
        llama_cpp.llama_sampler_free(checker)
    assert narrow > 0


def test_a_lazy_grammar_masks_the_numbers_from_its_trigger_on(backend):
    # The trigger fires on the first token; from then on the grammar spells the rest.
    lazy = LazyGrammar(trigger=r"[\s\S]+", grammar='root ::= " zebra crossing"')
    _, events = generate(backend.engine, SamplingParams(temperature=0, lazy_grammars=(lazy,),
                                                        logprobs=20), max_tokens=40)
    first, *rest = logprobs_of(events)
    assert len(first.top) == 20  # free
    assert rest and b"".join(e.chosen.token for e in rest) == b" zebra crossing"
    for e in rest:  # a few spellings of the same text at most, renormalised
        assert e.top[0] == e.chosen and len(e.top) < 20
        assert math.fsum(math.exp(t.logprob) for t in e.top) == pytest.approx(1, abs=1e-4)


def test_a_drawing_grammar_works_with_logprobs(backend):
    engine = backend.engine
    grammar = engine.svg_grammar(SvgGrammarSpec(width=100, height=100))
    _, events = generate(engine, SamplingParams(temperature=0.5, seed=1, grammar=grammar,
                                                logprobs=3), prompt="Draw a red circle.")
    lps = logprobs_of(events)
    assert len(lps) == 24 and all(e.top and e.chosen.logprob <= 0 for e in lps)
    assert_rejoins(events)


# -- the events -----------------------------------------------------------------------


@pytest.mark.parametrize("penalties", [{}, {"frequency_penalty": 1.5, "presence_penalty": 0.5}])
def test_greedy_picks_the_first_alternative(backend, penalties):
    events = stream(backend, request(temperature=0, max_output_tokens=48, response_logprobs=True,
                                     logprobs=20, **penalties))
    lps = logprobs_of(events)
    assert len(lps) > 10
    for e in lps:
        assert len(e.top) == 20
        assert e.top[0] == e.chosen


def test_alternatives_are_sorted_and_their_probabilities_sum_to_at_most_one(backend):
    events = stream(backend, request(temperature=1.0, seed=7, max_output_tokens=48,
                                     response_logprobs=True, logprobs=20))
    lps = logprobs_of(events)
    assert len(lps) > 10
    for e in lps:
        values = [t.logprob for t in e.top]
        assert values == sorted(values, reverse=True)
        assert math.fsum(math.exp(v) for v in values) <= 1 + 1e-6
        assert e.chosen.logprob <= 0
        for t in e.top:
            if t.token_id == e.chosen.token_id:
                assert t == e.chosen
        assert len({t.token_id for t in e.top}) == 20


def test_the_chosen_bytes_spell_the_answer_even_across_split_characters(backend):
    events = stream(backend, request(
        "Write the French word for coffee with its accent: café. Then an emoji.",
        temperature=0, max_output_tokens=40, response_logprobs=True,
    ))
    lps = logprobs_of(events)
    assert all(e.top == () for e in lps)  # logprobs: 0 asks for the chosen token only
    text = text_of(events)
    assert any(ord(ch) > 127 for ch in text), text  # the model writes é and emojis here
    assert any(len(e.chosen.token.decode("utf-8", errors="ignore")) < len(e.chosen.token)
               for e in lps), "no token split a character"
    assert_rejoins(events)
    usage = events[-1]
    assert isinstance(usage, Usage) and len(lps) == usage.completion_tokens


def test_each_event_comes_no_later_than_its_text_and_a_stop_sequence_has_none(backend):
    events = stream(backend, request(temperature=1.0, seed=2, max_output_tokens=40,
                                     response_logprobs=True, logprobs=2, stop_sequences=(" the",)))
    seen, text = b"", ""
    for e in events:
        if isinstance(e, TokenLogprobs):
            seen += e.chosen.token
        elif isinstance(e, TextDelta):
            text += e.text
            assert seen.decode("utf-8", errors="ignore").startswith(text)
    # Seed 2 writes "...glinted,\nIn the": the stop sequence's token has no event.
    assert text.endswith("In") and " the" not in text
    assert seen == text.encode()


def test_each_candidate_gets_its_own_events(backend):
    events = stream(backend, request(candidate_count=2, temperature=1.0, seed=11,
                                     max_output_tokens=32, response_logprobs=True, logprobs=3))
    assert {e.candidate for e in events if isinstance(e, TokenLogprobs)} == {0, 1}
    for c in (0, 1):
        assert_rejoins(events, c)
        finish = next(i for i, e in enumerate(events) if isinstance(e, Finished) and e.candidate == c)
        assert all(i < finish for i, e in enumerate(events)
                   if isinstance(e, TokenLogprobs) and e.candidate == c)
    usage = events[-1]
    assert len(logprobs_of(events, 0)) + len(logprobs_of(events, 1)) <= usage.completion_tokens
    assert text_of(events, 0) != text_of(events, 1)


def test_thoughts_get_no_events(backend):
    events = stream(backend, request(
        "Why is the sky blue?", temperature=1.0, seed=1, max_output_tokens=40,
        thinking_config=ThinkingConfig(budget=16), response_logprobs=True, logprobs=1,
    ))
    thoughts = [i for i, e in enumerate(events) if isinstance(e, ThoughtDelta)]
    lps = [i for i, e in enumerate(events) if isinstance(e, TokenLogprobs)]
    assert thoughts and lps
    assert max(thoughts) < min(lps)
    usage = events[-1]
    assert isinstance(usage, Usage) and usage.reasoning_tokens == 16
    # Neither the thought tokens nor the forced close of the thoughts have events.
    assert len(lps) < usage.completion_tokens - usage.reasoning_tokens
    joined = b"".join(events[i].chosen.token for i in lps).decode("utf-8", errors="replace")
    assert text_of(events).strip() in joined


@pytest.mark.parametrize("temperature", [1.0, 0.0])  # 0: plain greedy's own argmax path
def test_a_request_that_does_not_ask_gets_none_and_the_same_answer(backend, temperature):
    for extra in ({}, {"response_mime_type": JSON_MIME_TYPE, "response_schema": SCHEMA}):
        cfg = dict(temperature=temperature, seed=5, max_output_tokens=16, candidate_count=2,
                   **extra)
        plain = stream(backend, request("The weather in Oslo.", **cfg))
        assert not [e for e in plain if isinstance(e, TokenLogprobs)]
        asked = stream(backend, request("The weather in Oslo.", response_logprobs=True,
                                        logprobs=20, **cfg))
        # The same events (the usage's cached count aside: the second request reuses the
        # first one's prompt).
        same = [e for e in asked if not isinstance(e, TokenLogprobs | Usage)]
        assert same == [e for e in plain if not isinstance(e, Usage)]
        assert asked[-1].completion_tokens == plain[-1].completion_tokens
        assert {e.candidate for e in asked if isinstance(e, TokenLogprobs)} == {0, 1}


def test_a_json_answer_lists_no_alternative_the_grammar_rejects(backend):
    events = stream(backend, request(
        "The weather in Oslo.", temperature=0.8, seed=4, max_output_tokens=60,
        response_mime_type=JSON_MIME_TYPE, response_schema=SCHEMA,
        response_logprobs=True, logprobs=20,
    ))
    engine = backend.engine
    checker = grammar_sampler(engine._vocab, engine.json_grammar(SCHEMA))
    n_vocab = llama_cpp.llama_vocab_n_tokens(engine._vocab)
    try:
        lps = logprobs_of(events)
        for e in lps:
            allowed = allowed_mask(checker, n_vocab)
            assert allowed[e.chosen.token_id]
            assert all(allowed[t.token_id] for t in e.top)
            assert math.fsum(math.exp(t.logprob) for t in e.top) <= 1 + 1e-6
            llama_cpp.llama_sampler_accept(checker, e.chosen.token_id)
    finally:
        llama_cpp.llama_sampler_free(checker)
    assert_rejoins(events)
