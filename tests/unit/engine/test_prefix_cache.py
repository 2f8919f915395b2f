"""Prefix reuse on the real tiny model (SmolLM2-135M): a request whose prompt begins with
tokens a finished request left in a slot decodes only the rest, reports them as
`cached_tokens`, and answers exactly as without the cache — greedy and seeded, with n > 1,
concurrent neighbours, thinking, JSON schemas and function calls. A prefix is never reused
across projects."""

import asyncio
import json
from dataclasses import replace

import pytest

from tests.unit.engine import tiny
from tests.unit.engine.tiny import said_and_usage
from vertexcompat.domain.content import (
    JSON_MIME_TYPE,
    Content,
    GenerateContentRequest,
    GenerationConfig,
    TextPart,
)
from vertexcompat.domain.events import Finished, FunctionCall, TextDelta, TokenLogprobs, Usage
from vertexcompat.domain.thinking import ThinkingConfig
from vertexcompat.domain.tools import FunctionCallingMode, FunctionDeclaration, ToolConfig
from vertexcompat.engine.scheduler import EXACT_ROWS, common_prefix

MODEL = "smollm2-135m-instruct"
# The prompts' cost is their prefill, so the documents are short (12 lines: a ~200-token
# prompt, ~170 of them the document) and the batch is smaller than a prompt (96 rows): a
# document still takes two batches to decode, and what lies past the first one (~90 tokens)
# is more than the scheduler's MIN_COPY_GAIN (64), so a request arriving beside a job
# decoding it waits for the whole document (the last test).
DOCUMENT = " ".join(f"Line {i}: the quick brown fox jumps over the lazy dog." for i in range(12))
BATCH = 96
# cached_tokens above this: the document was reused (the template's opening alone is < 64).
DOCUMENT_REUSED = 150


def tiny_backend(**kwargs):
    return tiny.tiny_backend(batch_size=BATCH, **kwargs)

WEATHER = FunctionDeclaration(
    "get_weather", "Get the weather in a city.",
    {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20}},
     "required": ["city"], "additionalProperties": False},
)


def request(question: str, *, project: str | None = "p", **cfg) -> GenerateContentRequest:
    extra = {k: cfg.pop(k) for k in ("tools", "tool_config") if k in cfg}
    cfg.setdefault("max_output_tokens", 16)
    return GenerateContentRequest(
        model=MODEL,
        system_instruction=Content("user", (TextPart(f"Answer from this document.\n{DOCUMENT}"),)),
        contents=(Content("user", (TextPart(question),)),),
        generation_config=GenerationConfig(**cfg),
        project=project,
        **extra,
    )


CASES = {
    "greedy": request("What is on line 3?", temperature=0),
    "seeded n=3": request("Summarize the document.", temperature=0.9, seed=5, candidate_count=3),
    "thinking": request("Which line mentions a fox?", temperature=0.7, seed=2,
                        thinking_config=ThinkingConfig(budget=24, include_thoughts=True)),
    "json schema": request(
        "Give the first line as JSON.", temperature=0, response_mime_type=JSON_MIME_TYPE,
        response_schema={"type": "object", "properties": {"line": {"type": "string", "maxLength": 30}},
                         "required": ["line"], "additionalProperties": False},
    ),
    "function call": request(
        "What is the weather in Oslo?", temperature=0.8, seed=9, candidate_count=2,
        tools=(WEATHER,), tool_config=ToolConfig(mode=FunctionCallingMode.ANY),
    ),
}


def run(backend, req):
    """(what each candidate said, in order, as comparable tuples; the usage)."""
    return asyncio.run(said_and_usage(backend, req))


def brief(req: GenerateContentRequest) -> GenerateContentRequest:
    """`req` answered in two tokens: for a request whose prompt is what matters (what it
    leaves in a slot, what it reuses), not its answer. (An answer's KV is decoded a row at a
    time and is never kept as a prefix, so the length of the answer changes nothing here.)"""
    return replace(req, generation_config=replace(req.generation_config, max_output_tokens=2))


WARM_UP = brief(request("A warm-up question about line 7?", temperature=0))


def run_all(backend, reqs):
    async def go():
        return await asyncio.gather(*(collect_one(backend, r) for r in reqs))

    return asyncio.run(go())


@pytest.fixture(scope="module")
def reference():
    """What every case says with the cache off: the answers to match."""
    with tiny_backend(parallel=4, prefix_cache=False) as backend:
        answers = {name: run(backend, req) for name, req in CASES.items()}
        for said, usage in answers.values():
            assert usage.cached_tokens == 0
        yield answers


@pytest.fixture
def cached():
    with tiny_backend(parallel=4, max_queue=8) as backend:
        yield backend


def test_common_prefix():
    assert common_prefix([1, 2, 3], [1, 2, 4]) == 2
    assert common_prefix([1, 2, 3], [1, 2, 3, 4]) == 3
    assert common_prefix([], [1]) == 0
    assert common_prefix([5] * 1000 + [1], [5] * 1000 + [2]) == 1000
    assert common_prefix([9], [8]) == 0


def test_a_repeated_request_reuses_its_prompt_and_answers_the_same(reference, cached):
    run(cached, WARM_UP)
    for name, req in CASES.items():
        # Another question over the same document came first: the document is reused.
        first, first_usage = run(cached, req)
        assert first_usage.cached_tokens > DOCUMENT_REUSED, (name, first_usage)
        # The same request again: all of it, with the last logits kept from the first
        # decode; nothing is decoded before its first token (each candidate samples from a
        # copy of the kept row, the same draws as from the context's row).
        again, usage = run(cached, req)
        assert usage.cached_tokens == usage.prompt_tokens, name
        assert usage.prompt_tokens == first_usage.prompt_tokens
        assert first == reference[name][0], name
        assert again == reference[name][0], name


def test_concurrent_neighbours_do_not_change_an_answer(reference, cached):
    names = list(CASES)
    run(cached, WARM_UP)
    results = run_all(cached, [CASES[name] for name in names])
    for name, (said, usage) in zip(names, results):
        assert said == reference[name][0], name
    # The first job takes the warm-up's slot; the others copy the document's KV from a
    # running job's slot (or a slot freed meanwhile) instead of decoding it again.
    assert all(usage.cached_tokens > DOCUMENT_REUSED for _, usage in results), [u for _, u in results]


def test_requests_arriving_while_one_runs_reuse_its_prompt(reference):
    """No slot holds the document yet: the first request decodes it; two more sent once it
    has started answering reuse it (copied from its slot while it runs, or from the slot it
    left), and answer exactly as without the cache."""
    with tiny_backend(parallel=4, max_queue=8) as backend:
        first_req = replace(CASES["seeded n=3"], generation_config=replace(
            CASES["seeded n=3"].generation_config, candidate_count=1))
        names = ["greedy", "json schema"]

        async def go():
            stream = backend.stream(first_req)
            async for ev in stream:
                if isinstance(ev, TextDelta):
                    break
            others = asyncio.gather(*(collect_one(backend, CASES[name]) for name in names))
            async for _ in stream:
                pass
            return await others

        results = asyncio.run(go())
        for name, (said, usage) in zip(names, results):
            assert said == reference[name][0], name
            assert usage.cached_tokens > DOCUMENT_REUSED, (name, usage)


async def collect_one(backend, req):
    said, usage = [], None
    async for ev in backend.stream(req):
        if isinstance(ev, Usage):
            usage = ev
        elif isinstance(ev, FunctionCall):
            said.append((ev.candidate, ev.name, json.dumps(ev.args, sort_keys=True)))
        else:
            said.append(ev)
    return said, usage


def test_a_follow_up_turn_reuses_the_previous_turn(cached):
    first = request("What is on line 3?", temperature=0)
    said, usage = run(cached, first)
    answer = "".join(ev.text for ev in said if isinstance(ev, TextDelta))
    follow_up = replace(first, contents=(
        *first.contents,
        Content("model", (TextPart(answer),)),
        Content("user", (TextPart("And on line 4?"),)),
    ))
    _, again = run(cached, brief(follow_up))
    # The first turn's prompt is kept (its answer's KV was decoded a row at a time, so not).
    assert again.cached_tokens == min(usage.prompt_tokens, again.prompt_tokens - EXACT_ROWS)
    assert again.cached_tokens > DOCUMENT_REUSED


def test_a_prefix_is_never_reused_across_projects(cached):
    req = brief(CASES["greedy"])
    run(cached, req)
    _, usage = run(cached, replace(req, project="other"))
    assert usage.cached_tokens == 0
    _, unknown = run(cached, replace(req, project=None))
    assert unknown.cached_tokens == 0
    _, same = run(cached, req)
    assert same.cached_tokens == same.prompt_tokens  # the same prompt, in its project


def test_cancelled_prefill_keeps_only_what_was_decoded(reference, cached):
    """A request dropped mid-stream leaves a slot that a later request may still reuse, with
    the same answer as a fresh decode."""
    req = CASES["greedy"]

    async def abandon():
        stream = cached.stream(replace(req, generation_config=replace(
            req.generation_config, max_output_tokens=200)))
        async for ev in stream:
            if isinstance(ev, TextDelta):
                break
        await stream.aclose()

    asyncio.run(abandon())
    said, usage = run(cached, req)
    assert usage.cached_tokens == usage.prompt_tokens  # its prompt was complete
    assert said == reference["greedy"][0]  # what a fresh decode (no cache) says


def test_slots_holding_prefixes_are_still_free(cached):
    for i in range(6):  # more distinct prompts than slots: the oldest prefixes go
        run(cached, request(f"Question {i}?", temperature=0, max_output_tokens=4))
    stats = cached.stats()
    assert stats["busy_slots"] == 0 and stats["active_requests"] == 0
    assert stats["kept_prefix_tokens"] > 0
    n4 = replace(CASES["greedy"], generation_config=replace(
        CASES["greedy"].generation_config, candidate_count=4, max_output_tokens=4))
    said, usage = run(cached, n4)
    assert {ev.candidate for ev in said if isinstance(ev, Finished)} == {0, 1, 2, 3}


# Seven entries: a ~113-token prompt, ~85 of them past the template's opening (more than the
# MIN_COPY_GAIN, 64, that a state must hold to be saved), a ~2.6 MB state.
OTHER_DOCUMENTS = [
    " ".join(f"Entry {i}: {word} number {i * k} is listed here." for i in range(7))
    for k, word in enumerate(["apple", "river", "stone", "cloud"], start=2)
]


def other(k: int) -> GenerateContentRequest:
    """A request over another document: it shares only the template's opening with CASES.
    Its prompt is what matters; it answers in two tokens."""
    greedy = CASES["greedy"]
    return replace(greedy, system_instruction=Content(
        "user", (TextPart(f"Answer from this document.\n{OTHER_DOCUMENTS[k]}"),)),
        generation_config=replace(greedy.generation_config, max_output_tokens=2))


def test_a_prefix_whose_slot_was_taken_is_restored_from_host_memory(reference):
    """One slot: another document takes it, and the first one's KV comes back from the
    saved state (not decoded again), with the same answer. Without host memory it is gone.
    A whole prompt is saved with its last logits: the same prompt again decodes nothing; a
    longer one over the same document decodes only past the saved state."""
    req = CASES["greedy"]
    with tiny_backend(parallel=1, cache_ram_mib=256) as backend:
        run(backend, brief(req))
        run(backend, other(0))
        assert backend.stats()["saved_states"] == 1
        said, usage = run(backend, req)
        assert usage.cached_tokens == usage.prompt_tokens
        assert said == reference["greedy"][0]
        # Both documents are saved now; each comes back from host memory.
        _, back = run(backend, other(0))
        assert back.cached_tokens == back.prompt_tokens
        follow_up = replace(req, contents=(
            *req.contents, Content("model", (TextPart("Line 3 is about a fox."),)),
            Content("user", (TextPart("And what is on line 4?"),))))
        _, longer = run(backend, brief(follow_up))
        assert longer.cached_tokens == usage.prompt_tokens
    with tiny_backend(parallel=1, cache_ram_mib=0) as backend:
        run(backend, brief(req))
        run(backend, other(0))
        _, usage = run(backend, brief(req))
        assert usage.cached_tokens < 64  # the template's opening only
        assert "saved_states" not in backend.stats()


def test_saved_states_stay_within_the_budget_and_a_pinned_one_outlives_traffic(reference):
    """A budget for one saved document: the state pinned by a cached content stays through
    other traffic (the other documents' states are evicted instead) until it is released,
    and then goes like any other."""
    req = replace(CASES["greedy"], cached_content="projects/p/locations/l/cachedContents/1")
    # The greedy case's state: ~4.5 MB, another document's: ~2.6 MB; both do not fit.
    with tiny_backend(parallel=1, cache_ram_mib=6) as backend:
        said, _ = run(backend, req)
        assert said == reference["greedy"][0]
        pinned = backend.stats()
        assert pinned["saved_states"] == 1  # saved when the job ended, slot still holds it
        for k in range(2):
            run(backend, other(k))  # the second saves the first's state, which cannot stay
        stats = backend.stats()
        assert stats["saved_state_bytes"] <= 6 * 2**20
        assert stats["saved_states"] == 1 and stats["pinned_states"] == 1
        said, usage = run(backend, req)
        assert usage.cached_tokens == usage.prompt_tokens  # pinned with its last logits
        assert said == reference["greedy"][0]
        backend.release_cache("projects/p/locations/l/cachedContents/1")
        assert backend.stats()["pinned_states"] == 0
        for k in range(2):
            run(backend, other(k))
        _, usage = run(backend, req)
        assert usage.cached_tokens < 64  # released, then evicted like any other state


def test_requests_arriving_together_decode_their_shared_document_once(reference):
    """Nothing holds the document yet and three requests over it arrive at once: one
    decodes it, the others wait for it and copy it, instead of decoding it beside it."""
    names = ["greedy", "json schema", "function call"]
    with tiny_backend(parallel=4, max_queue=8) as backend:
        results = run_all(backend, [CASES[name] for name in names])
    for name, (said, _) in zip(names, results):
        assert said == reference[name][0], name
    # Copied whole: more than the first 96-token chunk (the batch size) that a request
    # admitted a step later could copy from a job still decoding the document.
    cached = sorted(usage.cached_tokens for _, usage in results)
    assert cached[0] == 0 and cached[1] > BATCH + 40, cached


def test_the_same_request_arriving_together_is_decoded_once(reference):
    """Three copies of one request arrive at once and nothing holds its prompt: one decodes
    it, the other two wait and copy all of it, last logits included (nothing decoded for
    them), and every copy answers as without the cache. (With shared answers on, the two
    would follow the first instead: tests/unit/engine/test_shared_answers.py.)"""
    req = CASES["seeded n=3"]
    with tiny_backend(parallel=8, max_queue=8, share_answers=False) as backend:
        results = run_all(backend, [req] * 3)
    for said, _ in results:
        assert said == reference["seeded n=3"][0]
    cached = sorted(usage.cached_tokens for _, usage in results)
    prompt = results[0][1].prompt_tokens
    assert cached == [0, prompt, prompt], cached


def test_requests_arriving_together_each_find_their_kept_prompt(reference):
    """Four prompts were answered one after the other, so each of the four slots keeps
    one. Asked again all at once (in another order), every request finds its own prompt
    whole: a new job's slot is never one whose prefix another waiting job would reuse."""
    reqs = [CASES["greedy"], CASES["json schema"], CASES["thinking"], other(0)]
    with tiny_backend(parallel=4, max_queue=8) as backend:
        first = [run(backend, req) for req in reqs]
        again = run_all(backend, reqs[::-1])[::-1]
    for (said, _), (said_again, usage) in zip(first, again):
        assert said_again == said
        assert usage.cached_tokens == usage.prompt_tokens, usage
    assert first[0][0] == reference["greedy"][0]


def test_a_repeat_reports_the_same_log_probabilities(cached):
    """The first token of a prompt reused whole is drawn from the kept logits row: with log
    probabilities asked (seeded sampling, penalties), every number and every draw is the
    one the first decode gave."""
    req = request("Summarize the document.", temperature=0.8, seed=3, candidate_count=2,
                  presence_penalty=0.5, response_logprobs=True, logprobs=3)

    async def events():
        return [ev async for ev in cached.stream(req)]

    first, again = asyncio.run(events()), asyncio.run(events())
    usage = next(ev for ev in again if isinstance(ev, Usage))
    assert usage.cached_tokens == usage.prompt_tokens
    assert [ev for ev in again if not isinstance(ev, Usage)] == \
        [ev for ev in first if not isinstance(ev, Usage)]
    assert any(isinstance(ev, TokenLogprobs) for ev in first)
