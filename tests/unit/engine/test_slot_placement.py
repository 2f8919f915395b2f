"""Where running sequences sit: on consecutive KV slot ids, which llama.cpp decodes in one
micro-batch (a gap between running ids costs another pass over the weights). A reused
prefix whose slot would open a gap is copied next to the running sequences instead, and
the answer stays the same. Real tiny model (SmolLM2-135M)."""

import asyncio

import pytest

from tests.unit.engine.tiny import recorded_calls, said_and_usage, tiny_backend
from vertexcompat.domain.content import Content, GenerateContentRequest, GenerationConfig, TextPart
from vertexcompat.domain.events import TextDelta, Usage
from vertexcompat.engine.scheduler import _gaps_added

MODEL = "smollm2-135m-instruct"


def request(k: int, question: str, max_tokens: int, entries: int = 20) -> GenerateContentRequest:
    document = " ".join(f"Entry {i}: item {k * 100 + i} is stored in box {i + k}." for i in range(entries))
    return GenerateContentRequest(
        model=MODEL,
        system_instruction=Content("user", (TextPart(f"Answer from this list.\n{document}"),)),
        contents=(Content("user", (TextPart(question),)),),
        generation_config=GenerationConfig(temperature=0, max_output_tokens=max_tokens),
        project="p",
    )


def test_gaps_added_counts_runs_of_consecutive_ids():
    assert _gaps_added(set(), 3) == 1
    assert _gaps_added({0, 1}, 2) == 0
    assert _gaps_added({0, 1}, 5) == 1
    assert _gaps_added({0, 2}, 1) == -1
    assert _gaps_added({4}, 3) == 0


ENTRIES = 6


def test_a_reused_prefix_moves_next_to_the_running_sequence():
    kept_slot = 3
    with tiny_backend(parallel=4, max_queue=8) as backend, \
            recorded_calls(backend._engine._scheduler) as rows:
        question = "Which box holds entry 5?"
        # One request at a time over four lists: they are kept on slots 0, 1, 2, 3. (Six
        # entries: ~125-token prompts, far more than MIN_MOVE, at a third of the prefill of 20.)
        first = [asyncio.run(said_and_usage(backend, request(k, question, 6, ENTRIES)))
                 for k in range(4)]
        calls = [[row[2] for row in call] for call in rows]  # each call's sequence ids
        prefilled_on = list(dict.fromkeys(ids[0] for ids in calls if len(ids) >= 8))
        assert prefilled_on == [0, 1, 2, 3]  # (a prompt longer than a batch takes two)
        # A long answer takes the least recently used slot (0); a repeat of the question over
        # list `kept_slot` then arrives: its prefix is on slot `kept_slot`, which would leave
        # a gap beside slot 0, so the prefix is copied to slot 1.
        story = request(9, "Tell a long story about the boxes and the items inside them.", 24,
                        ENTRIES)

        async def overlap():
            stream = backend.stream(story)
            async for ev in stream:
                if isinstance(ev, TextDelta):
                    break
            again = await said_and_usage(backend, request(kept_slot, question, 6, ENTRIES))
            async for _ in stream:
                pass
            return again

        rows.clear()
        said, usage = asyncio.run(overlap())
        calls = [[row[2] for row in call] for call in rows]
        assert said == first[kept_slot][0]
        assert usage.cached_tokens > 100, usage  # most of the list (the template alone: < 64)
        together = [sorted(set(ids)) for ids in calls if len(set(ids)) > 1]
        assert together, "the two requests never decoded in one call"
        assert all(ids == [0, 1] for ids in together), together


# The draft-model case (its KV moves along; 40 s) runs with the panels (-m panel).
@pytest.mark.parametrize("speculative", ["off", pytest.param("draft", marks=pytest.mark.panel)])
def test_a_gap_left_by_a_finished_request_is_closed_and_answers_do_not_change(speculative):
    """Three requests start one after another on slots 0, 1, 2; the middle one is the
    shortest. Once it ends, the others go on in one micro-batch (one of them moved next to
    the other), and every answer is the one it gives alone. With a draft model, the draft
    model's KV moves along."""
    story = "Tell a long story about the boxes and the items inside them."
    # With drafts a step emits several tokens: the long answers need more to outlast the
    # middle one.
    long = 60 if speculative == "draft" else 40
    # Short lists: what matters here is where the answers decode, not the prompts (whose
    # prefill was most of this test's time with 20 entries).
    reqs = [request(k, story, tokens, entries=4) for k, tokens in enumerate((long, 20, long))]
    with tiny_backend(parallel=4, max_queue=8, prefix_cache=False,
                      speculative=speculative) as backend:
        alone = [asyncio.run(said_and_usage(backend, req)) for req in reqs]
        moves = []
        draft_model = backend._engine._draft
        if draft_model is not None:
            move = draft_model.move
            draft_model.move = lambda src, dst: (moves.append((src, dst)), move(src, dst))

        async def staggered():
            async def started(req):  # runs the request; returns once it has said something
                first = asyncio.Event()

                async def run():
                    said, usage = [], None
                    async for ev in backend.stream(req):
                        first.set()
                        if isinstance(ev, Usage):
                            usage = ev
                        else:
                            said.append(ev)
                    first.set()
                    return said, usage

                task = asyncio.create_task(run())
                await first.wait()
                return task

            tasks = [await started(req) for req in reqs]
            return [await task for task in tasks]

        with recorded_calls(backend._engine._scheduler) as rows:
            results = asyncio.run(staggered())
    calls = [sorted({row[2] for row in call}) for call in rows]  # each call's sequence ids
    assert [said for said, _ in results] == [said for said, _ in alone]
    assert [usage.completion_tokens for _, usage in results] == [long, 20, long]
    if speculative == "draft":
        # Nearly every step verifies a draft, one sequence per call: the move is what shows.
        assert len(moves) == 1, moves
        return
    assert [3] in [[len(ids)] for ids in calls], "the three never decoded together"
    together_calls = [ids for ids in calls if len(ids) > 1]
    # Without the move, the long answers would decode as [0, 2] once the short one ended.
    assert all(ids == list(range(ids[0], ids[0] + len(ids))) for ids in together_calls), \
        together_calls
