"""Speculative decoding with prompt-lookup drafts (engine/speculation.py, the scheduler's
`_verify`; the drafter on its own: test_ngram_drafter.py) and with a draft model's, on the
real tiny model (SmolLM2-135M): greedy answers (with a stop sequence, under a JSON schema)
the same as without drafts but where the plain decode had a near tie (llama.cpp's kernels
for several rows differ in the last digits); sampled ones (seeded, n=2 under a JSON schema,
thinking) deterministic and valid; drafts really accepted; seeds deterministic beside
neighbours; no slot left busy when a speculating request is cancelled."""

import asyncio
import json
from dataclasses import replace

import pytest

from tests.unit.engine.tiny import said_and_usage, tiny_backend
from vertexcompat.domain.content import (
    JSON_MIME_TYPE,
    Content,
    GenerateContentRequest,
    GenerationConfig,
    TextPart,
)
from vertexcompat.domain.events import (
    Finished,
    FinishReason,
    TextDelta,
    ThoughtDelta,
    TokenLogprobs,
    Usage,
)
from vertexcompat.domain.thinking import ThinkingConfig

MODEL = "smollm2-135m-instruct"

# -- on the tiny model ------------------------------------------------------------------------

CODE = """def total(items):
    result = 0
    for item in items:
        if item.price > 0:
            result += item.price * item.quantity
    return result
"""


def request(text: str, *, system: str | None = None, **cfg) -> GenerateContentRequest:
    cfg.setdefault("max_output_tokens", 40)
    return GenerateContentRequest(
        model=MODEL,
        system_instruction=Content("user", (TextPart(system),)) if system else None,
        contents=(Content("user", (TextPart(text),)),),
        generation_config=GenerationConfig(**cfg),
        project="p",
    )


SCHEMA = {"type": "object", "properties": {
    "name": {"type": "string", "maxLength": 30},
    "code": {"type": "string", "maxLength": 60}},
    "required": ["name", "code"], "additionalProperties": False}

REPEAT = "Write the word hello 40 times, separated by spaces."
STOP = ", ".join(["hello"] * 20)

# Temperature 0, one candidate: compared token by token with the plain decode.
GREEDY = {
    "code edit": request(f"Rename the function to grand_total:\n{CODE}", temperature=0),
    # The tiny model repeats a word faithfully (it rewrites code it is asked to copy): the
    # prompt-lookup drafts after such a long match are worth verifying, and kept.
    "repeat": request(REPEAT, temperature=0, max_output_tokens=64),
    "prose": request("Write a short story about a lighthouse keeper.", temperature=0,
                     max_output_tokens=24),
    # It stops inside the repetition, after drafts were kept.
    "stop sequence": request(REPEAT, temperature=0, max_output_tokens=60,
                             stop_sequences=(STOP,)),
    "json schema": request("Describe the function below as JSON.\n" + CODE, temperature=0,
                           response_mime_type=JSON_MIME_TYPE, response_schema=SCHEMA,
                           max_output_tokens=96),
}
# Sampled: deterministic with their seeds, valid under their constraints.
SAMPLED = {
    "seeded": request(f"Rewrite this code with comments:\n{CODE}", temperature=0.8, seed=11,
                      max_output_tokens=24),
    "n=2 json schema": request(
        "Describe the function below as JSON.\n" + CODE, temperature=0.7, seed=4,
        candidate_count=2, response_mime_type=JSON_MIME_TYPE, response_schema=SCHEMA,
        max_output_tokens=96),
    "thinking": request(f"Explain this code:\n{CODE}", temperature=0.7, seed=3,
                        thinking_config=ThinkingConfig(budget=16, include_thoughts=True)),
}


def text_of(said, candidate=0):
    return "".join(ev.text for ev in said
                   if isinstance(ev, TextDelta) and ev.candidate == candidate)


@pytest.fixture(scope="module")
def plain():
    with tiny_backend(parallel=4, max_queue=8, prefix_cache=False) as backend:
        yield backend


@pytest.fixture(scope="module", params=["ngram", "draft"])
def speculative(request):
    """Prompt-lookup drafts, and a draft model's (the tiny model drafting for itself)."""
    with tiny_backend(parallel=4, max_queue=8, prefix_cache=False,
                      speculative=request.param) as backend:
        yield backend


def accepted(backend) -> tuple[int, int]:
    stats = backend.engine.stats()
    return stats["draft_tokens"], stats["accepted_draft_tokens"]


# llama.cpp computes several rows of one sequence with other kernels than a single row:
# the logits differ in the last digits (measured: up to 1.0 on this model, 0.75 on
# Qwen2.5-0.5B; median 0.04). A greedy answer with drafts may therefore leave the plain
# one only where the plain decode's two best tokens were that close.
NEAR_TIE = 1.0


def chosen_ids(said, candidate=0):
    return [ev.chosen.token_id for ev in said
            if isinstance(ev, TokenLogprobs) and ev.candidate == candidate]


async def collect_logprobs(backend, req):
    cfg = replace(req.generation_config, response_logprobs=True, logprobs=2)
    return [ev async for ev in backend.stream(replace(req, generation_config=cfg))]


@pytest.fixture(scope="module")
def plain_greedy(plain):
    """The plain decode's answers to GREEDY, with logprobs: computed once for both modes."""
    return {name: asyncio.run(collect_logprobs(plain, req)) for name, req in GREEDY.items()}


@pytest.fixture(scope="module")
def speculative_greedy(speculative):
    """The answers to GREEDY with drafts, with logprobs, and the drafts each one made and
    kept: computed once per mode, read by the near-tie test and the pay-off test."""
    answers = {}
    for name, req in GREEDY.items():
        before = accepted(speculative)
        got = asyncio.run(collect_logprobs(speculative, req))
        answers[name] = got, tuple(a - b for a, b in zip(accepted(speculative), before))
    return answers


@pytest.fixture(scope="module")
def sampled_first(speculative):
    """The first answer (and usage) to each SAMPLED request with drafts, per mode: the
    seeded tests ask again and compare."""
    return {name: asyncio.run(said_and_usage(speculative, req)) for name, req in SAMPLED.items()}


def test_greedy_answers_leave_the_plain_ones_only_at_a_near_tie(plain_greedy, speculative_greedy):
    identical = []
    drafted = kept = 0
    for name, req in GREEDY.items():
        ref = plain_greedy[name]
        got, (d, k) = speculative_greedy[name]
        drafted, kept = drafted + d, kept + k
        ref_ids, got_ids = chosen_ids(ref), chosen_ids(got)
        assert ref_ids and got_ids, name
        if got_ids == ref_ids:
            identical.append(name)
            # the same text, finish and usage (the numbers differ in the last digits)
            assert [e for e in got if not isinstance(e, TokenLogprobs)] == \
                [e for e in ref if not isinstance(e, TokenLogprobs)], name
            continue
        at = next((i for i, (a, b) in enumerate(zip(ref_ids, got_ids)) if a != b),
                  min(len(ref_ids), len(got_ids)))
        assert at < min(len(ref_ids), len(got_ids)), (name, "one answer is cut short")
        top = [ev for ev in ref if isinstance(ev, TokenLogprobs)][at].top
        margin = top[0].logprob - top[1].logprob
        assert margin < NEAR_TIE, (name, at, margin)
        assert got_ids[at] in {t.token_id for t in top}, (name, at)
    print(f"greedy answers identical with drafts: {len(identical)}/{len(GREEDY)} "
          f"{identical}; drafted {drafted}, kept {kept}")
    # The drafts really ran, and the code-copying prompts kept many of them.
    assert drafted > 0 and kept > 20, (drafted, kept)
    assert "code edit" in identical and "stop sequence" in identical


def test_sampled_answers_are_seeded_and_valid(speculative, sampled_first):
    said = {}
    for name, req in SAMPLED.items():
        first, usage = sampled_first[name]
        again, usage_again = asyncio.run(said_and_usage(speculative, req))
        assert first == again and usage == usage_again, name
        assert usage.completion_tokens > 0, name
        said[name] = first
    for candidate in (0, 1):
        value = json.loads(text_of(said["n=2 json schema"], candidate))
        assert set(value) == {"name", "code"}, value
    assert any(isinstance(ev, ThoughtDelta) for ev in said["thinking"])
    assert text_of(said["thinking"])


def test_speculation_pays_off_where_the_answer_repeats_itself(speculative_greedy):
    # The requests as the near-tie test sent them (logprobs asked for: they change nothing
    # drafted or drawn), with the drafts each made and kept.
    said, (drafted, kept) = speculative_greedy["repeat"]
    usage = next(ev for ev in said if isinstance(ev, Usage))
    # Most emitted tokens came as accepted drafts: fewer decode steps than tokens.
    assert kept >= usage.completion_tokens // 2, (kept, drafted, usage)
    assert text_of(said).lower().count("hello") >= 20
    # A stop sequence inside the repetition ends the answer where it starts, drafts or not.
    said, (drafted, kept) = speculative_greedy["stop sequence"]
    assert kept > 0, (drafted, kept)
    assert STOP not in text_of(said) and "hello" in text_of(said).lower()
    assert next(ev for ev in said if isinstance(ev, Finished)).reason is FinishReason.STOP


def test_a_seeded_request_answers_the_same_alone_and_beside_neighbours(speculative, sampled_first):
    req = SAMPLED["seeded"]
    alone = sampled_first["seeded"]  # sent alone, on an idle engine

    # Neighbours as long as the seeded answer (24 tokens): they decode beside all of it.
    code_edit = GREEDY["code edit"]
    code_edit = replace(code_edit, generation_config=replace(code_edit.generation_config,
                                                             max_output_tokens=24))

    async def crowd():
        return await asyncio.gather(
            said_and_usage(speculative, req),
            said_and_usage(speculative, GREEDY["prose"]),
            said_and_usage(speculative, code_edit),
        )

    beside = asyncio.run(crowd())[0]
    assert beside == alone


def test_a_cancelled_speculating_request_leaves_no_slot_busy(speculative):
    # Cancelled while drafts are being made and kept (the repetition drafts after ~20
    # tokens; text comes out a few tokens per step then).
    req = request(REPEAT, temperature=0, max_output_tokens=200)

    async def go():
        stream = speculative.stream(req)
        seen = 0
        async for ev in stream:
            if isinstance(ev, TextDelta):
                seen += 1
                if seen == 24:
                    break
        await stream.aclose()

    for _ in range(3):
        asyncio.run(go())
    for _ in range(100):  # the scheduler frees the slots at its next step
        stats = speculative.engine.stats()
        if stats["busy_slots"] == 0 and stats["active_requests"] == 0:
            break
        asyncio.run(asyncio.sleep(0.05))
    assert stats["busy_slots"] == 0 and stats["active_requests"] == 0, stats
    # The engine still answers (a few tokens are enough to show it).
    short = GREEDY["repeat"]
    short = replace(short, generation_config=replace(short.generation_config,
                                                     max_output_tokens=4))
    said, _ = asyncio.run(said_and_usage(speculative, short))
    assert text_of(said)


def test_a_draft_model_of_another_tokenizer_is_refused():
    """Qwen2.5-Coder-0.5B cannot draft for SmolLM2: the engine does not start, and says why."""
    import os
    from pathlib import Path

    import platformdirs

    from vertexcompat.engine.draft_model import DraftModelError
    from vertexcompat.engine.llama_engine import EngineConfig, LlamaEngine
    from vertexcompat.engine.model_files import ModelCatalog

    data_dir = os.environ.get("VERTEXCOMPAT_TEST_DATA_DIR") or platformdirs.user_cache_dir(
        "vertexcompat-tests")
    catalog = ModelCatalog(Path(data_dir), progress=False)
    tiny, qwen = catalog.resolve(MODEL), catalog.resolve("qwen2.5-coder-0.5b-instruct")
    engine = LlamaEngine(EngineConfig(threads=1, parallel=2, ctx_per_seq=256, batch_size=64,
                                      speculative="draft"))
    with pytest.raises(DraftModelError, match="does not share the served model's tokenizer"):
        engine.load(tiny.path, tiny.name, draft_path=qwen.path)
    assert not engine.ready
    with pytest.raises(ValueError, match="needs a draft model"):
        engine.load(tiny.path, tiny.name)
