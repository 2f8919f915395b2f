"""PerceptionPool on its own: admission all-or-nothing, Retry-After from the work held, an
empty pool admits anything, closing drops what is queued."""

import asyncio
import threading

import pytest

from vertexcompat.domain.errors import ResourceExhausted, Unavailable
from vertexcompat.media.perception.pool import PerceptionPool, PoolBudget, Work


def test_results_come_back_in_part_order():
    pool = PerceptionPool(workers=2)
    works = [Work(lambda i=i: i * i, label=f"part {i}") for i in range(5)]
    assert asyncio.run(pool.run(works, deadline_s=10)) == [0, 1, 4, 9, 16]
    assert pool.stats()["parts"] == 0
    pool.close()


def test_an_empty_pool_admits_a_request_larger_than_its_budget():
    pool = PerceptionPool(budget=PoolBudget(max_parts=1, max_pixels=10))
    works = [Work(lambda: "ok", label="a", pixels=100), Work(lambda: "ok", label="b")]
    assert asyncio.run(pool.run(works, deadline_s=10)) == ["ok", "ok"]
    pool.close()


def test_a_refused_request_is_refused_whole_and_retry_after_follows_the_work_held():
    gate, started = threading.Event(), threading.Event()

    def held():
        started.set()
        gate.wait(10)

    pool = PerceptionPool(budget=PoolBudget(max_parts=3))

    async def scenario():
        first = asyncio.create_task(pool.run([Work(held, label=f"h{i}") for i in range(3)],
                                             deadline_s=30))
        while not started.is_set():
            await asyncio.sleep(0.01)
        with pytest.raises(ResourceExhausted) as info:
            await pool.run([Work(lambda: None, label="x")], deadline_s=30)
        stats = pool.stats()
        gate.set()
        await first
        return info.value, stats

    refused, stats = asyncio.run(scenario())
    pool.close()
    assert stats["parts"] == 3  # the refused request added nothing, not even in part
    # Three parts at the first guess of 3 s each, one worker.
    assert refused.retry_after_s == 9


def test_closing_the_pool_fails_its_waiting_requests_with_503():
    gate, started = threading.Event(), threading.Event()

    def held():
        started.set()
        gate.wait(10)

    pool = PerceptionPool()

    async def scenario():
        task = asyncio.create_task(pool.run([Work(held, label="a"), Work(held, label="b")],
                                            deadline_s=30))
        while not started.is_set():
            await asyncio.sleep(0.01)
        pool.close()
        gate.set()
        with pytest.raises(Unavailable, match="shutting down"):
            await task

    asyncio.run(scenario())


def test_a_pool_without_workers_or_with_an_empty_budget_is_a_startup_error():
    with pytest.raises(ValueError):
        PerceptionPool(workers=0)
    with pytest.raises(ValueError):
        PoolBudget(max_audio_seconds=0)
