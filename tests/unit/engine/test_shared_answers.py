"""Shared answers on the real tiny model (SmolLM2-135M): a request identical to one still
running, whose answer is deterministic (greedy, or sampled with a seed), follows it instead
of decoding the same tokens: it gets every event the other emitted so far, then the rest,
and answers exactly as it would alone. A request that may answer differently (unseeded
sampling, other limits, another project) decodes its own."""

import asyncio
from dataclasses import replace

import pytest

from tests.liveness import until
from tests.unit.engine.tiny import recorded_calls, tiny_backend
from vertexcompat.domain.content import Content, GenerateContentRequest, GenerationConfig, TextPart
from vertexcompat.domain.events import TextDelta, Usage
from vertexcompat.engine.sampling import SamplingParams
from vertexcompat.engine.scheduler import Phase

MODEL = "smollm2-135m-instruct"
POEM = "Write a long poem about the sea, the wind and the ships."


def request(text: str = POEM, *, project: str | None = "p", **cfg) -> GenerateContentRequest:
    cfg.setdefault("max_output_tokens", 24)
    return GenerateContentRequest(
        model=MODEL,
        contents=(Content("user", (TextPart(text),)),),
        generation_config=GenerationConfig(**cfg),
        project=project,
    )


GREEDY = request(temperature=0, candidate_count=2, response_logprobs=True, logprobs=2)
SEEDED = request(temperature=0.9, seed=11, presence_penalty=0.4)


async def events(backend, req, *, after: asyncio.Event | None = None,
                 started: asyncio.Event | None = None):
    """Every event of one request (`after`: sent once it is set; `started`: set once the
    request has had three events)."""
    if after is not None:
        await after.wait()
    out = []
    async for ev in backend.stream(req):
        out.append(ev)
        if started is not None and len(out) == 3:
            started.set()
    return out


def answer(evs):
    return [ev for ev in evs if not isinstance(ev, Usage)]


def usage(evs) -> Usage:
    return next(ev for ev in evs if isinstance(ev, Usage))


@pytest.fixture(scope="module")
def backend():
    with tiny_backend(parallel=4, max_queue=8) as backend:
        yield backend


@pytest.fixture(scope="module")
def alone():
    """Each request's events decoded alone, with sharing off."""
    with tiny_backend(parallel=4, max_queue=8, share_answers=False) as backend:
        yield {name: asyncio.run(events(backend, req))
               for name, req in (("greedy", GREEDY), ("seeded", SEEDED))}


def stats(backend):
    return backend._engine._scheduler.stats()


@pytest.mark.parametrize("name,req", [("greedy", GREEDY), ("seeded", SEEDED)])
def test_identical_requests_sent_together_decode_once_and_answer_as_alone(backend, alone, name, req):
    scheduler = backend._engine._scheduler
    before = stats(backend)["shared_answers"]

    async def together():
        return await asyncio.gather(*(events(backend, req) for _ in range(3)))

    with recorded_calls(scheduler) as calls:
        results = asyncio.run(together())
    for evs in results:
        assert answer(evs) == answer(alone[name])
    assert stats(backend)["shared_answers"] == before + 2
    # One job decoded: every call held the rows of its candidates' slots only.
    n = req.generation_config.candidate_count or 1
    assert max(len({row[2] for row in call}) for call in calls) == n
    # The followers decoded none of the prompt; the one that decoded reports as alone.
    prompt = usage(alone[name]).prompt_tokens
    cached = sorted(usage(evs).cached_tokens for evs in results)
    assert cached[1:] == [prompt, prompt]
    assert sorted(usage(evs).completion_tokens for evs in results) == \
        [usage(alone[name]).completion_tokens] * 3


def test_a_request_arriving_mid_answer_gets_all_of_it(backend, alone):
    before = stats(backend)["shared_answers"]

    async def staggered():
        started = asyncio.Event()
        first = asyncio.create_task(events(backend, GREEDY, started=started))
        second = asyncio.create_task(events(backend, GREEDY, after=started))
        return await asyncio.gather(first, second)

    first, second = asyncio.run(staggered())
    assert answer(second) == answer(first) == answer(alone["greedy"])
    assert stats(backend)["shared_answers"] == before + 1


def test_requests_that_may_answer_differently_decode_their_own(backend):
    """Unseeded sampling, another limit, seed or project: never followed."""
    unseeded = request(temperature=0.9)
    variants = [
        [unseeded, unseeded],
        [GREEDY, replace(GREEDY, generation_config=replace(GREEDY.generation_config,
                                                           max_output_tokens=20))],
        [SEEDED, replace(SEEDED, generation_config=replace(SEEDED.generation_config, seed=12))],
        [SEEDED, replace(SEEDED, project="q")],
    ]
    before = stats(backend)["shared_answers"]

    async def together(reqs):
        return await asyncio.gather(*(events(backend, r) for r in reqs))

    for reqs in variants:
        asyncio.run(together(reqs))
    assert stats(backend)["shared_answers"] == before


def test_sharing_off_decodes_every_request():
    with tiny_backend(parallel=4, max_queue=8, share_answers=False) as backend:
        async def together():
            return await asyncio.gather(*(events(backend, SEEDED) for _ in range(2)))

        first, second = asyncio.run(together())
        assert answer(first) == answer(second)
        assert stats(backend)["shared_answers"] == 0
        assert sorted(usage(evs).cached_tokens for evs in (first, second))[0] == 0


# -- lifecycle, on the engine's own handles -------------------------------------------------


def submit(engine, max_tokens: int):
    prompt = engine.prompt_tokens([{"role": "user", "content": POEM}])
    return engine.submit(prompt, n=1, params=SamplingParams(temperature=0),
                         max_tokens=max_tokens, stop=())


async def take(handle, count: int) -> list:
    """The first `count` events; then the client leaves (its stream is closed)."""
    out = []
    stream = handle.events()
    async for ev in stream:
        out.append(ev)
        if len(out) == count:
            break
    await stream.aclose()
    return out


async def rest(handle) -> list:
    return [ev async for ev in handle.events()]


def test_a_followed_request_whose_client_left_goes_on_for_its_follower(backend):
    engine = backend._engine

    async def go():
        alone = await rest(submit(engine, 160))
        leader = submit(engine, 160)
        follower = submit(engine, 160)
        assert follower.job.leader is leader.job
        # Two requests are being answered, on one slot.
        await until(lambda: stats(backend)["active_requests"] == 2, "both requests running",
                    timeout_s=60)
        assert stats(backend)["busy_slots"] == 1
        # The leader's client reads a few events and leaves (closing its stream cancels
        # the job); the follower's answer is still whole.
        head = await take(leader, 3)
        assert leader.job.cancelled
        load = stats(backend)
        assert (load["active_requests"], load["busy_slots"]) == (1, 1)
        got = await rest(follower)
        await until(lambda: stats(backend)["busy_slots"] == 0, "the slot freed", timeout_s=60)
        return alone, head, got

    alone, head, got = asyncio.run(go())
    assert answer(got) == answer(alone)
    assert head == got[:3]
    assert sum(isinstance(ev, TextDelta) for ev in got) == 160


def test_a_followed_request_everyone_left_stops(backend):
    engine = backend._engine

    async def go():
        leader = submit(engine, 600)
        follower = submit(engine, 600)
        assert follower.job.leader is leader.job
        await take(leader, 2)
        await take(follower, 4)
        await until(lambda: leader.job.phase is Phase.DONE, "the job released", timeout_s=60)
        await until(lambda: stats(backend)["busy_slots"] == 0, "the slot freed", timeout_s=60)
        return leader.job

    job = asyncio.run(go())
    # Released as cancelled, not finished: it never reported usage, and decoded far fewer
    # than its 600 tokens.
    assert not any(isinstance(ev, Usage) for ev in job.emitted)
    assert sum(isinstance(ev, TextDelta) for ev in job.emitted) < 300
