"""Sweeping expired access tokens while the server runs (auth/token_sweep.py)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from tests.fakes import make_container
from vertexcompat.auth.token_sweep import TokenSweeper
from vertexcompat.store.tokens import SqlTokens

from .conftest import LIFETIME_S, Clock, Stack


def _count(stack: Stack) -> int:
    with stack.db.read() as conn:
        return int(conn.execute("SELECT count(*) FROM access_tokens").fetchone()[0])


def _wait_until(predicate: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_sweep_deletes_only_expired_tokens(stack: Stack, key, clock: Clock) -> None:
    stack.tokens.issue(email=key["client_email"], key_id=key["private_key_id"])
    clock.now += LIFETIME_S - 1
    stack.tokens.issue(email=key["client_email"], key_id=key["private_key_id"])
    sweeper = TokenSweeper(SqlTokens(stack.db), interval_s=600, clock=clock)
    assert sweeper.sweep() == 0
    clock.now += 1
    assert sweeper.sweep() == 1
    assert _count(stack) == 1


def test_the_sweeper_runs_periodically_until_closed(stack: Stack, key, clock: Clock) -> None:
    sweeper = TokenSweeper(SqlTokens(stack.db), interval_s=0.01, clock=clock)

    async def scenario() -> None:
        await sweeper.start()
        for _ in range(3):
            stack.tokens.issue(email=key["client_email"], key_id=key["private_key_id"])
            clock.now += LIFETIME_S
            await asyncio.to_thread(_wait_until, lambda: _count(stack) == 0)
        await sweeper.close()

    asyncio.run(scenario())
    assert not any(t.name == "vertexcompat-token-sweep" for t in threading.enumerate())
    # Closed: nothing sweeps any more.
    stack.tokens.issue(email=key["client_email"], key_id=key["private_key_id"])
    clock.now += LIFETIME_S
    time.sleep(0.05)
    assert _count(stack) == 1


class FlakyRepo:
    def __init__(self) -> None:
        self.calls = 0

    def delete_expired(self, now: int) -> int:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("database is locked")
        return 0


def test_a_failed_sweep_does_not_stop_the_sweeping() -> None:
    repo = FlakyRepo()
    sweeper = TokenSweeper(repo, interval_s=0.01)  # type: ignore[arg-type]

    async def scenario() -> None:
        await sweeper.start()
        await asyncio.to_thread(_wait_until, lambda: repo.calls >= 3)
        await sweeper.close()

    asyncio.run(scenario())


class SlowRepo:
    """A sweep that takes a while; records whether one was running when close returned."""

    def __init__(self) -> None:
        self.running = False
        self.sweeps = 0

    def delete_expired(self, now: int) -> int:
        self.running = True
        time.sleep(0.2)
        self.sweeps += 1
        self.running = False
        return 0


def test_close_waits_for_a_sweep_in_progress() -> None:
    repo = SlowRepo()
    sweeper = TokenSweeper(repo, interval_s=0.01)  # type: ignore[arg-type]

    async def scenario() -> None:
        await sweeper.start()
        await asyncio.to_thread(_wait_until, lambda: repo.running)
        await sweeper.close()
        assert not repo.running  # the database may be closed now

    asyncio.run(scenario())


class RecordingSweeper:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def start(self) -> None:
        self.log.append("sweeper started")

    async def close(self) -> None:
        self.log.append("sweeper closed")


class RecordingDatabase:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    def close(self) -> None:
        self.log.append("database closed")


def test_the_container_starts_the_sweeper_and_stops_it_before_the_database() -> None:
    log: list[str] = []
    container = make_container()
    container.token_sweeper = RecordingSweeper(log)  # type: ignore[assignment]
    container.database = RecordingDatabase(log)  # type: ignore[assignment]

    async def lifecycle() -> None:
        await container.start()
        await container.close()

    asyncio.run(lifecycle())
    assert log == ["sweeper started", "sweeper closed", "database closed"]


def test_build_auth_sweeps_at_the_configured_interval(tmp_path) -> None:
    from tests.fakes import make_settings
    from vertexcompat.auth_services import build_auth
    from vertexcompat.store.tokens import TokenRecord

    auth = build_auth(make_settings(data_dir=str(tmp_path), token_sweep_interval_s=0.01))
    repo = SqlTokens(auth.database)
    repo.add(TokenRecord("d" * 64, "sa@demo.iam.gserviceaccount.com", "k", 1, 2, None))

    def count() -> int:
        with auth.database.read() as conn:
            return int(conn.execute("SELECT count(*) FROM access_tokens").fetchone()[0])

    async def serve() -> None:
        await auth.sweeper.start()
        await asyncio.to_thread(_wait_until, lambda: count() == 0)
        await auth.sweeper.close()

    try:
        asyncio.run(serve())
    finally:
        auth.close()
