"""Waiting in async tests for something another thread does."""

import asyncio


async def until(predicate, what: str = "the condition", *, timeout_s: float = 10.0) -> None:
    """Return once `predicate()` holds. A liveness bound only (something broken would hang
    the test), not a timing assertion."""
    for _ in range(int(timeout_s / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{what} never happened")
