"""`vertexcompat chat` without `--server`: the engine in this process.

The app is built as `serve` builds it (`build_container(settings)` + `create_app`) and
served by uvicorn on a loopback port the system picks, in a background thread, with auth
off: the server is private to this process (and the chat talks to it with the real
`openai` SDK over HTTP, streaming, as it talks to any server).
"""

from __future__ import annotations

import socket
import threading
import time

import httpx

from vertexcompat.config import Settings

SHUTDOWN_S = 15


class EngineNotReady(Exception):
    """The in-process server could not start, or its model did not load (the message
    says why)."""


class EmbeddedServer:
    def __init__(self, settings: Settings, *, log_level: str = "error") -> None:
        self.settings = settings
        self._log_level = log_level
        self._server: object = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    def start(self) -> None:
        import uvicorn

        from vertexcompat.container import build_container
        from vertexcompat.web.app import create_app

        app = create_app(build_container(self.settings))
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(
            app,
            log_config=None,  # the chat owns the terminal: logging is set up by the command
            log_level=self._log_level,
            access_log=False,
            timeout_graceful_shutdown=5,
        )
        server = uvicorn.Server(config)
        self._server = server
        # Daemon: a model load or a shutdown that hangs must not keep the chat alive.
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="vertexcompat-chat-server",
            daemon=True,
        )
        self._thread.start()

    def wait_ready(self, timeout_s: float | None = None) -> None:
        """Until `/readyz` is 200 (the model is loaded); `EngineNotReady` when the server
        died or the model's load failed."""
        assert self._thread is not None
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with httpx.Client(timeout=5) as client:
            while True:
                if not self._thread.is_alive():
                    raise EngineNotReady("the in-process server stopped while starting")
                try:
                    response = client.get(f"{self.base_url}/readyz")
                except httpx.HTTPError:
                    response = None  # not listening yet
                if response is not None:
                    if response.status_code == 200:
                        return
                    problem = _load_problem(response)
                    if problem:
                        raise EngineNotReady(problem)
                if deadline is not None and time.monotonic() > deadline:
                    raise EngineNotReady(f"the model was not ready after {timeout_s:.0f} s")
                time.sleep(0.1)

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.should_exit = True  # type: ignore[attr-defined]
        if self._thread is not None:
            self._thread.join(SHUTDOWN_S)
            self._thread = None

    def __enter__(self) -> EmbeddedServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _load_problem(response: httpx.Response) -> str | None:
    """Why the local model will not load, when `/readyz` says it failed (`"failed: …"`;
    an upstream endpoint that is down does not keep the chat from starting)."""
    try:
        state = response.json().get("backends", {}).get("local")
    except (ValueError, AttributeError):
        return None
    if isinstance(state, str) and state.startswith("failed"):
        return f"the model did not load: {state.removeprefix('failed: ')}"
    return None
