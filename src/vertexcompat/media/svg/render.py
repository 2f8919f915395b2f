"""`SvgRenderer`: sanitized SVG → PNG bytes, rendered by resvg in a worker process.

resvg is Rust code called through pyo3: once a render starts it cannot be interrupted from
Python, and a drawing within every sanitizer limit can still be slow to rasterize (hundreds
of long, wide strokes). So the render runs in a child process (`worker.py`) that is killed
when it overruns `timeout_s`. The worker is started on first use, reused across renders
(starting one costs an interpreter and the imports), and replaced after a timeout or crash.

The PNG is exactly width×height, RGB, opaque: the drawing is scaled to fit (aspect ratio
kept, centred, as SVG's default `xMidYMid meet` does) and composited on white, so a
transparent background never surprises a consumer that ignores alpha (JPEG conversion,
vision models).
"""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType

from vertexcompat.media.svg import worker
from vertexcompat.media.svg.sanitize import MAX_CANVAS_SIDE

# Starting the worker is an interpreter start plus importing resvg-py and Pillow: well under
# a second on a warm machine, but a cold disk can take several; it is not the drawing's fault,
# so it does not count against `timeout_s`.
_START_TIMEOUT_S = 30.0
# When closing, how long a worker gets to exit on end of input before it is killed.
_CLOSE_GRACE_S = 1.0


class RenderTimeout(Exception):
    """The drawing took longer than the renderer's `timeout_s`; its worker was killed."""


class RenderFailed(Exception):
    """The renderer could not draw the SVG, or its worker died or could not start."""


class _WorkerGone(Exception):
    pass


class _Overran(Exception):
    pass


class SvgRenderer:
    """Rasterizes sanitized SVG to PNG in a separate worker process, so a pathological drawing
    can be killed after `timeout_s` (in-process Rust code can't be interrupted). The worker is
    started lazily, reused across renders, replaced after a timeout or crash. Thread-safe
    (callers run it from a thread pool): renders take turns on the one worker, and
    `timeout_s` counts from a render's turn, not from the call."""

    def __init__(self, *, timeout_s: float = 5.0) -> None:
        if not timeout_s > 0:
            raise ValueError("timeout_s must be positive")
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._closed = False

    @property
    def worker_pid(self) -> int | None:
        """The running worker's process id, if one is running (for logs and tests)."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def render_png(self, svg: str, *, width: int, height: int) -> bytes:
        """PNG bytes of exactly width×height. Raises RenderTimeout or RenderFailed."""
        for name, side in (("width", width), ("height", height)):
            if isinstance(side, bool) or not isinstance(side, int):
                raise TypeError(f"{name} must be an int")
            if not 1 <= side <= MAX_CANVAS_SIDE:
                raise ValueError(f"{name} must be within 1..{MAX_CANVAS_SIDE}")
        data = svg.encode("utf-8")
        request = worker.REQUEST.pack(width, height, len(data)) + data
        # RGB PNG is never much larger than raw pixels; a bigger reply is a corrupt stream.
        max_reply = 3 * width * height + 1024 * 1024
        with self._lock:
            if self._closed:
                raise RuntimeError("SvgRenderer is closed")
            process = self._running_worker()
            deadline = time.monotonic() + self._timeout_s
            try:
                assert process.stdin is not None
                process.stdin.write(request)
                process.stdin.flush()
                status, length = worker.REPLY.unpack(
                    _read(process, worker.REPLY.size, deadline))
                if length > max_reply:
                    raise _WorkerGone(f"reply of {length} bytes")
                body = _read(process, length, deadline)
            except _Overran:
                self._stop_worker(kill=True)
                raise RenderTimeout(
                    f"rendering took longer than {self._timeout_s:g} s") from None
            except (_WorkerGone, OSError) as exc:
                self._stop_worker(kill=True)
                raise RenderFailed(f"render worker failed: {exc}") from None
        if status != worker.OK:
            raise RenderFailed(body.decode("utf-8", "replace"))
        return body

    def close(self) -> None:
        """Stop the worker. Idempotent; rendering afterwards is an error."""
        with self._lock:
            self._closed = True
            self._stop_worker(kill=False)

    def __enter__(self) -> SvgRenderer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def _running_worker(self) -> subprocess.Popen[bytes]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        # Killed or crashed since the last render: reap it, and start afresh.
        self._stop_worker(kill=True)
        # -P: the worker's own directory is not put on sys.path, so no module next to it
        # can shadow the standard library.
        process = subprocess.Popen(
            [sys.executable, "-P", str(Path(worker.__file__).resolve())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )
        self._process = process
        try:
            ready = _read(process, len(worker.READY), time.monotonic() + _START_TIMEOUT_S)
        except (_Overran, _WorkerGone, OSError) as exc:
            self._stop_worker(kill=True)
            raise RenderFailed(f"render worker did not start: {str(exc) or 'timed out'}") from None
        if ready != worker.READY:
            self._stop_worker(kill=True)
            raise RenderFailed("render worker did not start: unexpected greeting")
        return process

    def _stop_worker(self, *, kill: bool) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            try:
                process.stdin.close()
            except OSError:
                pass  # it is gone already: the pipe is broken
        if not kill:
            try:
                process.wait(timeout=_CLOSE_GRACE_S)
            except subprocess.TimeoutExpired:
                kill = True
        if kill and process.poll() is None:
            process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _read(process: subprocess.Popen[bytes], size: int, deadline: float) -> bytes:
    """Exactly `size` bytes from the worker's stdout by `deadline` (time.monotonic()).

    Reads the pipe's descriptor directly, never through the buffered file object, so no byte
    sits in a Python buffer that `select` cannot see."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    data = bytearray()
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while len(data) < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Overran
            if not selector.select(remaining):
                continue
            chunk = os.read(fd, size - len(data))
            if not chunk:
                raise _WorkerGone(f"worker closed its output (exit code {process.poll()})")
            data += chunk
    return bytes(data)
