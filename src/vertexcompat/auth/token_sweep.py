"""Deleting expired access tokens while the server runs: a thread that sweeps the token
store every `interval_s`, started and stopped with the container.

A thread rather than an event-loop task: the store is SQLite behind a lock, and a sweep
is blocking I/O that must never stall requests on the loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

from vertexcompat.auth.tokens import Clock
from vertexcompat.store.tokens import TokenRepository

logger = logging.getLogger(__name__)


class TokenSweeper:
    def __init__(
        self, repo: TokenRepository, *, interval_s: float, clock: Clock = time.time
    ) -> None:
        # Other expiring state swept on the same schedule (`sweeping_also`: context caches).
        self._also: tuple[Callable[[], int], ...] = ()
        self._repo = repo
        self._interval_s = interval_s
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sweep(self) -> int:
        """Delete the tokens expired by now; how many."""
        deleted = self._repo.delete_expired(int(self._clock()))
        if deleted:
            logger.info("deleted %d expired access tokens", deleted)
        for sweep in self._also:
            if count := sweep():
                logger.info("deleted %d expired rows (%s)", count, getattr(sweep, "__qualname__", "sweep"))
        return deleted

    def sweeping_also(self, sweep: Callable[[], int]) -> TokenSweeper:
        """This sweeper, also running `sweep` (before it is started)."""
        self._also = (*self._also, sweep)
        return self

    async def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            # Daemon: an interpreter exiting without close() must not wait for it.
            self._thread = threading.Thread(
                target=self._run, name="vertexcompat-token-sweep", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.sweep()
            except Exception:  # a failed sweep (disk full, locked) must not end the sweeping
                logger.exception("sweeping expired access tokens failed; retrying later")

    async def close(self) -> None:
        """Stop sweeping; returns once a sweep in progress has finished, so the database
        can be closed after this."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            await asyncio.to_thread(thread.join)
