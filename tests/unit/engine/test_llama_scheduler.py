"""The scheduler on the real tiny model (SmolLM2-135M): batching, candidates, seeds, cancel."""

import asyncio

import pytest

from vertexcompat.backends.local import LocalBackend
from vertexcompat.domain.content import Content, GenerateContentRequest, GenerationConfig, TextPart
from vertexcompat.domain.errors import InvalidArgument, ResourceExhausted
from vertexcompat.domain.events import Finished, FinishReason, TextDelta, Usage
from tests.unit.engine.tiny import tiny_backend
from vertexcompat.engine.llama_engine import EngineConfig, LlamaEngine

MODEL = "smollm2-135m-instruct"


@pytest.fixture(scope="module")
def backend():
    with tiny_backend(parallel=3) as backend:
        yield backend


def request(text="Write a short poem about the sea.", **cfg) -> GenerateContentRequest:
    return GenerateContentRequest(
        model=MODEL,
        contents=(Content("user", (TextPart(text),)),),
        generation_config=GenerationConfig(**cfg),
    )


async def collect(backend, req):
    texts, finishes, usage = {}, {}, None
    async for ev in backend.stream(req):
        match ev:
            case TextDelta(candidate=c, text=t):
                assert c not in finishes, "text after the candidate finished"
                texts[c] = texts.get(c, "") + t
            case Finished(candidate=c, reason=r):
                assert c not in finishes, "two finishes for one candidate"
                finishes[c] = r
            case Usage():
                usage = ev
    return texts, finishes, usage


def run(coro):
    return asyncio.run(coro)


def test_max_tokens_ends_with_max_tokens_and_exact_count(backend):
    texts, finishes, usage = run(collect(backend, request(max_output_tokens=7, temperature=0)))
    assert finishes == {0: FinishReason.MAX_TOKENS}
    assert usage.completion_tokens == 7
    assert usage.prompt_tokens > 5
    assert texts[0]


def test_candidates_share_the_prompt_and_differ(backend):
    texts, finishes, usage = run(
        collect(backend, request(candidate_count=3, max_output_tokens=24, temperature=1.0, seed=5))
    )
    assert sorted(finishes) == [0, 1, 2]
    assert len(set(texts.values())) > 1
    # one prompt evaluation, counted once; completion tokens summed over candidates
    single = run(collect(backend, request(max_output_tokens=1, temperature=0)))[2]
    assert usage.prompt_tokens == single.prompt_tokens


def test_seed_makes_output_reproducible_alone_and_under_concurrency(backend):
    req = request(max_output_tokens=24, temperature=0.9, seed=1234)
    alone = run(collect(backend, req))[0]

    async def together():
        return await asyncio.gather(
            collect(backend, req),
            collect(backend, request("Name three colours.", max_output_tokens=24, seed=9)),
            collect(backend, req),
        )

    results = run(together())
    assert results[0][0] == alone
    assert results[2][0] == alone


def test_greedy_candidates_are_identical(backend):
    texts, _, _ = run(collect(backend, request(candidate_count=2, max_output_tokens=16, temperature=0)))
    assert texts[0] == texts[1]


def test_n_above_parallel_slots_is_rejected(backend):
    with pytest.raises(InvalidArgument) as err:
        run(collect(backend, request(candidate_count=4)))
    assert str(err.value.location) == "generation_config.candidate_count"


def test_max_tokens_beyond_context_is_rejected(backend):
    with pytest.raises(InvalidArgument) as err:
        run(collect(backend, request(max_output_tokens=5000)))
    assert str(err.value.location) == "generation_config.max_output_tokens"


def test_closing_the_stream_cancels_and_frees_slots(backend):
    async def go():
        stream = backend.stream(request(max_output_tokens=900, temperature=1.0))
        async for ev in stream:
            if isinstance(ev, TextDelta):
                break
        await stream.aclose()
        for _ in range(200):
            if backend.stats()["busy_slots"] == 0:
                return True
            await asyncio.sleep(0.05)
        return False

    assert run(go())
    # and the engine still serves afterwards
    assert run(collect(backend, request(max_output_tokens=3)))[1] == {0: FinishReason.MAX_TOKENS}


def test_full_queue_is_resource_exhausted(backend):
    async def go():
        hog = backend.stream(request(candidate_count=3, max_output_tokens=600, temperature=1.0))
        await hog.__anext__()  # the hog holds all three slots
        waiting = [backend.stream(request(max_output_tokens=2)) for _ in range(2)]
        waiters = [asyncio.ensure_future(w.__anext__()) for w in waiting]
        for _ in range(100):
            if backend.stats()["queued_requests"] == 2:
                break
            await asyncio.sleep(0.02)
        with pytest.raises(ResourceExhausted):
            await backend.stream(request(max_output_tokens=2)).__anext__()
        await hog.aclose()
        for waiter, w in zip(waiters, waiting):
            await waiter
            await w.aclose()

    run(go())


def test_presence_and_frequency_penalties_are_applied(backend):
    plain = run(collect(backend, request("Say hello hello hello.", max_output_tokens=24, temperature=0)))
    penalised = run(
        collect(
            backend,
            request(
                "Say hello hello hello.",
                max_output_tokens=24,
                temperature=0,
                presence_penalty=2.0,
                frequency_penalty=2.0,
            ),
        )
    )
    assert penalised[1] and plain[1]
    assert penalised[0] != plain[0]


def test_models_load_without_llama_cpp_extra_buffers_by_default(backend):
    # The AMX / repack path segfaults on this machine's CPU (bench/extra_bufts.py shows it);
    # every test in this module generating text is the proof that the default path runs.
    assert EngineConfig(threads=1).use_extra_bufts is False
    assert backend.engine.config.use_extra_bufts is False


def test_the_backend_trusts_the_model_the_service_resolved(backend):
    # The route picked this backend for the request; its model name is not checked again.
    req = GenerateContentRequest(
        model="publishers/google/models/some-alias",
        contents=(Content("user", (TextPart("Hi."),)),),
        generation_config=GenerationConfig(max_output_tokens=2, temperature=0),
    )
    assert run(collect(backend, req))[1] == {0: FinishReason.MAX_TOKENS}


def test_precheck_refuses_before_the_media_are_read_what_stream_would_refuse(backend):
    """`precheck` sees the raw media parts (not perceived yet): it refuses an unsupported
    schema and a prompt too long even without its media, and lets a valid request by."""
    from vertexcompat.domain.content import FileDataPart

    image = FileDataPart(file_uri="data:image/png;base64,AAAA", source="messages[0].content[1]")

    def with_image(text, **cfg):
        return GenerateContentRequest(
            model=MODEL, contents=(Content("user", (TextPart(text), image)),),
            generation_config=GenerationConfig(**cfg),
        )

    run(backend.precheck(with_image("Describe it.", max_output_tokens=8)))  # no refusal
    with pytest.raises(InvalidArgument) as caught:
        run(backend.precheck(with_image(
            "Describe it.", response_mime_type="application/json",
            response_schema={"type": "object", "properties": {"a": {"$ref": "#/nowhere"}}},
        )))
    assert str(caught.value.location) == "generation_config.response_schema"
    with pytest.raises(InvalidArgument) as caught:
        run(backend.precheck(with_image("word " * 3000)))  # the window is 1024 tokens
    assert str(caught.value.location) == "contents"
    with pytest.raises(InvalidArgument) as caught:  # a completion that alone fills the window
        run(backend.precheck(with_image("Describe it.", max_output_tokens=1024)))
    assert str(caught.value.location) == "generation_config.max_output_tokens"
    assert "maximum context length is 1024 tokens" in caught.value.message
    assert "without the request's images and audio" in caught.value.message
