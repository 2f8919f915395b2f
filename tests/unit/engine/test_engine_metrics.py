"""What the engine tells the operator's metrics, on the real tiny model: each request's
queue time (from submission until it got its KV slot), and the KV cells running requests
hold (`kv_cells_used` of `kv_cells`)."""

import asyncio

from tests.unit.engine.tiny import TINY_MODEL, tiny_backend
from vertexcompat.domain.content import Content, GenerateContentRequest, GenerationConfig, TextPart
from vertexcompat.domain.events import TextDelta, Usage


def request(max_tokens: int) -> GenerateContentRequest:
    return GenerateContentRequest(
        model=TINY_MODEL,
        contents=(Content("user", (TextPart("Write a long story about a lighthouse."),)),),
        generation_config=GenerationConfig(max_output_tokens=max_tokens, temperature=0),
    )


def test_queue_time_and_kv_cells_in_use() -> None:
    waits: list[float] = []
    with tiny_backend(parallel=1, on_admit=waits.append) as backend:
        idle = backend.stats()
        assert idle["kv_cells"] == 1024 and idle["kv_cells_used"] == 0

        async def go() -> tuple[Usage, dict[str, int], Usage]:
            first = backend.stream(request(48))
            async for event in first:
                if isinstance(event, TextDelta):
                    break
            during = backend.stats()
            # The second waits for the only slot until the first is done.
            second = asyncio.ensure_future(_usage(backend.stream(request(2))))
            usage = await _usage(first)
            return usage, during, await second

        usage, during, _ = asyncio.run(go())
        # The prompt and a token or few generated, of one slot's context.
        assert usage.prompt_tokens <= during["kv_cells_used"] <= usage.prompt_tokens + 48
        assert backend.stats()["kv_cells_used"] == 0
    assert len(waits) == 2
    # The second request waited for most of the first one's 48 tokens.
    assert waits[1] > waits[0] and waits[1] > 0.05


async def _usage(stream) -> Usage:
    usage = None
    async for event in stream:
        if isinstance(event, Usage):
            usage = event
    assert usage is not None
    return usage
