"""Giving freed heap memory back to the operating system after a burst of heavy work.

glibc's malloc keeps what the process frees. A freed chunk goes back to the system only if
it was mmap()ed — and glibc raises its mmap threshold to the size of the first such chunk
freed (dynamically, up to 32 MiB), so later allocations of that size come from the heap —
or if it sits at the very top of the main heap. Everything else stays resident: after a
burst of perception (decoded frames, resized copies, onnxruntime's tensors), RSS stays near
its peak although Python and the models hold none of it. `malloc_trim(0)` walks every
arena and returns their free pages (since glibc 2.8 also those in the middle of a heap, by
`madvise(MADV_DONTNEED)`), and costs milliseconds.

`MemoryTrimmer` is called by the perception pool when its last part finishes. Measured
with bench/hardening.py `--memory` (two image requests of 62 and 37 MP and a spoken clip at
once through `MediaResolver` and the real pipeline, one worker; RSS of the process):

| run | warm | peak | 1 s after the burst | then trimmed by hand |
|---|---|---|---|---|
| no trim | 281 MB | 1452 MB | 938 MB | 463 MB (the trim took 127 ms) |
| trim when the pool goes idle | 281 MB | 1320 MB | 502 MB | 502 MB |
| no trim, `MALLOC_ARENA_MAX=2` | 280 MB | 1292 MB | 662 MB | 427 MB (49 ms) |

`MALLOC_ARENA_MAX` (how many malloc arenas threads spread over; glibc's default is 8 per
core) is left alone: two arenas keep less after a burst (662 MB instead of 938 MB) but still
far more than a trim does, and they serialise the allocations of every thread — llama.cpp's,
onnxruntime's, the event loop's — on two locks. A deployment may set it in the environment;
nothing here does.

glibc only: elsewhere (musl, macOS) the trimmer does nothing.
"""

from __future__ import annotations

import ctypes
import logging
import sys
from collections.abc import Callable

logger = logging.getLogger(__name__)


class MemoryTrimmer:
    """`trimmer()` returns the free heap pages of every malloc arena to the OS. It runs
    on the perception worker that found the pool idle (at its low priority), never on the
    event loop, each time the pool runs dry: tens of milliseconds (127 ms measured with
    ~500 MB to give back), next to the seconds a part of perception takes."""

    def __init__(self) -> None:
        self._trim = _glibc_malloc_trim()
        self.trims = 0  # for tests and logs

    @property
    def available(self) -> bool:
        return self._trim is not None

    def __call__(self) -> bool:
        """Whether a trim ran (False: not glibc)."""
        if self._trim is None:
            return False
        self._trim(0)
        self.trims += 1
        return True


def _glibc_malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)  # the C library this interpreter already runs on
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        logger.debug("malloc_trim is not available; freed memory stays with the process")
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]
