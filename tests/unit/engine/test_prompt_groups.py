"""Prompts that end in the same step share one decode call (one pass over the weights):
their chunks are padded to one length with rows past each prompt's end, whose KV is dropped.
Each answer stays bit-identical (tokens and log probabilities) to the same request decoded
alone. Real tiny model (SmolLM2-135M)."""

import asyncio

from tests.unit.engine.tiny import recorded_calls, tiny_backend
from vertexcompat.domain.content import Content, GenerateContentRequest, GenerationConfig, TextPart
from vertexcompat.domain.events import Finished, TextDelta, TokenLogprobs
from vertexcompat.engine import scheduler as scheduler_module
from vertexcompat.engine.scheduler import PAD_ROWS

MODEL = "smollm2-135m-instruct"
QUESTIONS = [
    "Name one colour.",
    "Name two colours of the sea.",
    "Name three colours you see in a forest.",
    "Which colour is the sky on a clear day?",
]


def request(text: str) -> GenerateContentRequest:
    return GenerateContentRequest(
        model=MODEL,
        contents=(Content("user", (TextPart(text),)),),
        generation_config=GenerationConfig(temperature=0, max_output_tokens=12,
                                           response_logprobs=True, logprobs=2),
    )


async def said(backend, req):
    """Every token's id and log probabilities (bit for bit), the text and the finish."""
    out = []
    async for ev in backend.stream(req):
        match ev:
            case TokenLogprobs(chosen=c, top=top):
                out.append((c.token_id, c.logprob, tuple((t.token_id, t.logprob) for t in top)))
            case TextDelta(text=t) | Finished(reason=t):
                out.append(t)
    return out


def test_prompts_ending_together_share_a_call_and_answer_as_alone():
    with tiny_backend(parallel=4, max_queue=8, prefix_cache=False) as backend:
        engine = backend._engine
        scheduler = engine._scheduler
        lengths = [len(engine.prompt_tokens([{"role": "user", "content": q}])) for q in QUESTIONS]
        # Unequal lengths (so rows are padded) within the padding a call of four may carry.
        longest = max(lengths)
        assert len(set(lengths)) > 1
        assert sum(longest - n for n in lengths) <= PAD_ROWS * (len(lengths) - 1)

        alone = [asyncio.run(said(backend, request(q))) for q in QUESTIONS]

        async def together():
            # Hold the scheduler until all four are queued: they are admitted, and their
            # prompts decoded, in the same step.
            scheduler._cv.acquire()
            try:
                tasks = [asyncio.create_task(said(backend, request(q))) for q in QUESTIONS]
                for _ in range(200):
                    await asyncio.sleep(0.01)
                    if len(scheduler._pending) == len(QUESTIONS):
                        break
                assert len(scheduler._pending) == len(QUESTIONS)
            finally:
                scheduler._cv.release()
            return await asyncio.gather(*tasks)

        with recorded_calls(scheduler) as calls:
            together_said = asyncio.run(together())

    assert together_said == alone
    # The first call held all four prompts, the same number of rows of each (the longest
    # prompt's length), in ascending slots; only each prompt's last real row wants logits.
    first = calls[0]
    slots = [row[2] for row in first]
    assert sorted(set(slots)) == list(range(4))
    assert slots == sorted(slots)
    assert all(slots.count(s) == longest for s in range(4))
    assert sum(row[3] for row in first) == 4
    assert sorted(lengths) == sorted(
        sum(1 for row in first if row[2] == s and row[1] <= max(
            r[1] for r in first if r[2] == s and r[3])) for s in range(4))
    # The padding's KV was dropped: the next call's rows continue right after each prompt.
    assert sorted(row[1] for row in calls[1]) == sorted(lengths)


def test_requests_sent_together_are_admitted_together(monkeypatch):
    """An idle scheduler that gets a request waits until no other has come for BURST_GAP
    (here widened to half a second, so the test does not depend on the machine's speed):
    the three requests sent 0.1 s after the first join it, and all four prompts are decoded
    in the first call, instead of the first alone and the others a whole prompt later."""
    monkeypatch.setattr(scheduler_module, "BURST_GAP", 0.5)
    monkeypatch.setattr(scheduler_module, "BURST_WAIT", 5.0)
    with tiny_backend(parallel=4, max_queue=8, prefix_cache=False) as backend:
        scheduler = backend._engine._scheduler

        async def staggered():
            first = asyncio.create_task(said(backend, request(QUESTIONS[0])))
            await asyncio.sleep(0.1)
            rest = [asyncio.create_task(said(backend, request(q))) for q in QUESTIONS[1:]]
            return await asyncio.gather(first, *rest)

        with recorded_calls(scheduler) as calls:
            answers = asyncio.run(staggered())
    assert all(answer and answer[-1] for answer in answers)
    assert sorted({row[2] for row in calls[0]}) == list(range(4))
