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
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class _Worker:
    """A running worker and our ends of its pipes (non-blocking, not inherited by children)."""

    process: subprocess.Popen[bytes]
    requests: int  # write end of the worker's stdin
    replies: int  # read end of the worker's stdout


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
        self._worker: _Worker | None = None
        self._closed = False

    @property
    def worker_pid(self) -> int | None:
        """The running worker's process id, if one is running (for logs and tests)."""
        running = self._worker
        if running is None or running.process.poll() is not None:
            return None
        return running.process.pid

    def render_png(self, svg: str, *, width: int, height: int) -> bytes:
        """PNG bytes of exactly width×height. Raises RenderTimeout or RenderFailed."""
        for name, side in (("width", width), ("height", height)):
            if isinstance(side, bool) or not isinstance(side, int):
                raise TypeError(f"{name} must be an int")
            if not 1 <= side <= MAX_CANVAS_SIDE:
                raise ValueError(f"{name} must be within 1..{MAX_CANVAS_SIDE}")
        data = svg.encode("utf-8")
        request = worker.REQUEST.pack(width, height, len(data)) + data
        # An RGB PNG is never much larger than its raw pixels; a bigger reply is a corrupt stream.
        max_reply = 3 * width * height + 1024 * 1024
        with self._lock:
            if self._closed:
                raise RuntimeError("SvgRenderer is closed")
            running = self._running_worker()
            deadline = time.monotonic() + self._timeout_s
            try:
                _write(running, request, deadline)
                status, length = worker.REPLY.unpack(_read(running, worker.REPLY.size, deadline))
                if length > max_reply:
                    raise _WorkerGone(f"reply of {length} bytes")
                body = _read(running, length, deadline)
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

    def _running_worker(self) -> _Worker:
        if self._worker is not None and self._worker.process.poll() is None:
            return self._worker
        # Killed or crashed since the last render: reap it, and start afresh.
        self._stop_worker(kill=True)
        self._worker = running = _start_worker()
        try:
            ready = _read(running, len(worker.READY), time.monotonic() + _START_TIMEOUT_S)
        except (_Overran, _WorkerGone, OSError) as exc:
            self._stop_worker(kill=True)
            raise RenderFailed(f"render worker did not start: {str(exc) or 'timed out'}") \
                from None
        if ready != worker.READY:
            self._stop_worker(kill=True)
            raise RenderFailed("render worker did not start: unexpected greeting")
        return running

    def _stop_worker(self, *, kill: bool) -> None:
        running, self._worker = self._worker, None
        if running is None:
            return
        # End of input asks the worker to exit; it also stops a blocked write of ours.
        os.close(running.requests)
        process = running.process
        if not kill:
            try:
                process.wait(timeout=_CLOSE_GRACE_S)
            except subprocess.TimeoutExpired:
                kill = True
        if kill and process.poll() is None:
            process.kill()
        process.wait()
        os.close(running.replies)


def _start_worker() -> _Worker:
    # Our ends of the pipes are created non-inheritable (PEP 446), so no other child process
    # holds them open and the worker's exit is seen as end of file at once.
    stdin_read, stdin_write = os.pipe()
    stdout_read, stdout_write = os.pipe()
    try:
        # -P: the worker's own directory is not put on sys.path, so no module next to it can
        # shadow the standard library.
        process = subprocess.Popen(
            [sys.executable, "-P", str(Path(worker.__file__).resolve())],
            stdin=stdin_read, stdout=stdout_write,
        )
    except OSError as exc:
        for fd in (stdin_read, stdin_write, stdout_read, stdout_write):
            os.close(fd)
        raise RenderFailed(f"render worker did not start: {exc}") from None
    os.close(stdin_read)
    os.close(stdout_write)
    # Non-blocking, so that neither a write nor a read can outlast its deadline.
    os.set_blocking(stdin_write, False)
    os.set_blocking(stdout_read, False)
    return _Worker(process, stdin_write, stdout_read)


def _write(running: _Worker, data: bytes, deadline: float) -> None:
    """All of `data` to the worker's stdin by `deadline` (time.monotonic())."""
    view = memoryview(data)
    with selectors.DefaultSelector() as selector:
        selector.register(running.requests, selectors.EVENT_WRITE)
        while view:
            _wait(selector, deadline)
            try:
                view = view[os.write(running.requests, view):]
            except BlockingIOError:
                continue
            except BrokenPipeError:
                raise _WorkerGone(
                    f"worker stopped reading (exit code {running.process.poll()})") from None


def _read(running: _Worker, size: int, deadline: float) -> bytes:
    """Exactly `size` bytes from the worker's stdout by `deadline` (time.monotonic())."""
    data = bytearray()
    with selectors.DefaultSelector() as selector:
        selector.register(running.replies, selectors.EVENT_READ)
        while len(data) < size:
            _wait(selector, deadline)
            try:
                chunk = os.read(running.replies, size - len(data))
            except BlockingIOError:
                continue
            if not chunk:
                raise _WorkerGone(
                    f"worker closed its output (exit code {running.process.poll()})")
            data += chunk
    return bytes(data)


def _wait(selector: selectors.BaseSelector, deadline: float) -> None:
    """Until the registered descriptor is ready; _Overran once `deadline` has passed."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _Overran
        if selector.select(remaining):
            return
