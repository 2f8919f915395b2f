"""Run the same call from several threads at once."""

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def concurrently(call: Callable[[], T], threads: int = 4) -> list[T]:
    barrier = threading.Barrier(threads)
    results: list[T | None] = [None] * threads
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = call()
        except BaseException as exc:  # surfaced below, in the test's thread
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if errors:
        raise errors[0]
    return results  # type: ignore[return-value]
