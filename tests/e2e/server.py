"""`ServerProcess`: one live `python -m vertexcompat serve` on a free loopback port.

The process writes its stdout and stderr to a log file; every failure message this module
produces carries the tail of that log, so a red e2e run says what the server said.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

LOG_TAIL_CHARS = 6000


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    def __init__(
        self,
        name: str,
        *,
        model: str,
        data_dir: Path,
        log_dir: Path,
        threads: int = 1,
        parallel: int = 1,
        ctx_per_seq: int = 2048,
        env: Mapping[str, str] | None = None,
        extra_args: Sequence[str] = (),
        port: int | None = None,
    ) -> None:
        self.name = name
        self.model = model
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"{name}.log"
        self._args = [
            sys.executable,
            "-m",
            "vertexcompat",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--model",
            model,
            "--threads",
            str(threads),
            "--parallel",
            str(parallel),
            "--ctx-per-seq",
            str(ctx_per_seq),
            "--data-dir",
            str(data_dir),
            *extra_args,
        ]
        self._env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, *, ready_timeout: float) -> None:
        self._log_file = self.log_path.open("wb")
        self._proc = subprocess.Popen(
            self._args,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=self._env,
            start_new_session=True,
        )
        try:
            self.wait_ready(ready_timeout)
        except BaseException:
            self.stop()
            raise

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name}: server exited with code {self._proc.returncode} before "
                    f"it was ready\n{self.log_tail()}"
                )
            try:
                r = httpx.get(f"{self.base_url}/readyz", timeout=5)
                if r.status_code == 200:
                    return
                last = f"{r.status_code} {r.text[:500]}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.1)
        raise RuntimeError(
            f"{self.name}: /readyz not 200 after {timeout:.0f}s (last: {last})\n{self.log_tail()}"
        )

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def kill(self) -> None:
        """SIGKILL the server (a crash: no shutdown code runs)."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- diagnostics -------------------------------------------------------------------

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, chars: int = LOG_TAIL_CHARS) -> str:
        text = self.log_text()
        return f"--- {self.name} log tail ({self.log_path}) ---\n{text[-chars:]}"

    # -- URLs and load -----------------------------------------------------------------

    def vertex_base(self, project: str = "demo", location: str = "us-central1",
                    version: str = "v1") -> str:
        return (
            f"{self.base_url}/{version}/projects/{project}/locations/{location}"
            "/endpoints/openapi"
        )

    def readyz(self) -> dict[str, Any]:
        r = httpx.get(f"{self.base_url}/readyz", timeout=10)
        assert r.status_code == 200, f"/readyz {r.status_code}: {r.text}\n{self.log_tail()}"
        body: dict[str, Any] = r.json()
        return body

    def load(self) -> dict[str, int]:
        """`busy_slots`, `active_requests`, `queued_requests` summed over the backends
        listed under `/readyz`'s `load`."""
        per_backend = self.readyz().get("load")
        assert isinstance(per_backend, dict) and per_backend, (
            f"/readyz has no per-backend `load` stats: {self.readyz()}"
        )
        totals = {"busy_slots": 0, "active_requests": 0, "queued_requests": 0}
        for stats in per_backend.values():
            for key in totals:
                totals[key] += int(stats[key])
        return totals

    def wait_for_load(
        self, predicate: Callable[[dict[str, int]], bool], *, what: str, deadline_s: float
    ) -> dict[str, int]:
        """Poll `/readyz` until `predicate(load)` holds. The deadline is a liveness bound
        (the test would otherwise hang), not a performance assertion."""
        end = time.monotonic() + deadline_s
        load = self.load()
        while not predicate(load):
            if time.monotonic() > end:
                raise AssertionError(
                    f"{self.name}: {what} did not happen within {deadline_s:.0f}s; "
                    f"last load {load}\n{self.log_tail()}"
                )
            time.sleep(0.2)
            load = self.load()
        return load

    def wait_until_idle(self, *, what: str, deadline_s: float) -> dict[str, int]:
        """No busy slot, no running request, nobody queued."""
        return self.wait_for_load(lambda load: not any(load.values()), what=what, deadline_s=deadline_s)
