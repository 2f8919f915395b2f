"""Live servers for the end-to-end suite, and real clients pointed at them.

Three session-scoped servers, each started on first use and stopped at the end:

- `tiny_server`: smollm2-135m, 4 parallel sequences, 2048-token context — most tests;
- `default_server`: qwen2.5-coder-0.5b (the default model) — only where answer quality
  matters (the seed samples);
- `busy_server`: smollm2 with ONE slot, a queue of one and a 64 KiB body limit — queueing,
  429, disconnect and 413 tests.

All share one data dir (`VERTEXCOMPAT_TEST_DATA_DIR`, else `~/.cache/vertexcompat-tests`)
so the default model, assembled on first use (~491 MB), is reused across runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from .server import ServerProcess

TINY_MODEL = "smollm2-135m-instruct"
DEFAULT_MODEL = "qwen2.5-coder-0.5b-instruct"
BUSY_MAX_BODY_BYTES = 65536
BUSY_CTX_PER_SEQ = 8192

_SERVER_FIXTURES = ("tiny_server", "default_server", "busy_server")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Attach the tail of every involved server's log to a failing test's report."""
    report = yield
    if report.failed:
        funcargs = getattr(item, "funcargs", {})
        for name in _SERVER_FIXTURES:
            server = funcargs.get(name)
            if isinstance(server, ServerProcess):
                report.sections.append((f"{name} log", server.log_tail()))
    return report


@pytest.fixture(scope="session")
def data_dir() -> Path:
    configured = os.environ.get("VERTEXCOMPAT_TEST_DATA_DIR")
    path = Path(configured) if configured else Path.home() / ".cache" / "vertexcompat-tests"
    path = path.expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def grounding_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default server's search index (tests/e2e/test_grounding.py fills it with the
    CLI); empty until then. The other servers each get an empty one of their own, so an
    index a developer filled under the shared data dir never leaks into a test."""
    return tmp_path_factory.mktemp("grounding-index")


def _empty_index(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return {"VERTEXCOMPAT_SEARCH_INDEX_DIR": str(tmp_path_factory.mktemp("empty-index"))}


@pytest.fixture(scope="session")
def server_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("server-logs")


# The shared servers predate auth: they accept any bearer token (`--no-auth`), so their
# tests can use `api_key="anything"`. tests/e2e/test_auth.py starts auth-enabled servers.
NO_AUTH = ("--no-auth",)


def _serve(server: ServerProcess, ready_timeout: float) -> Iterator[ServerProcess]:
    server.start(ready_timeout=ready_timeout)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def tiny_server(
    data_dir: Path, server_logs: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    yield from _serve(
        ServerProcess(
            "tiny",
            model=TINY_MODEL,
            data_dir=data_dir,
            log_dir=server_logs,
            threads=1,
            parallel=4,
            ctx_per_seq=2048,
            env=_empty_index(tmp_path_factory),
            # The debug view of rendered prompts proves restored thoughts reach the model.
            extra_args=(*NO_AUTH, "--debug-prompts"),
        ),
        ready_timeout=120,
    )


@pytest.fixture(scope="session")
def default_server(
    data_dir: Path, server_logs: Path, grounding_index: Path
) -> Iterator[ServerProcess]:
    yield from _serve(
        ServerProcess(
            "default",
            model=DEFAULT_MODEL,
            data_dir=data_dir,
            log_dir=server_logs,
            threads=1,
            parallel=2,
            ctx_per_seq=2048,
            env={"VERTEXCOMPAT_SEARCH_INDEX_DIR": str(grounding_index)},
            extra_args=NO_AUTH,
        ),
        ready_timeout=300,  # the first run assembles and checksums the 491 MB model
    )


@pytest.fixture(scope="session")
def busy_server(
    data_dir: Path, server_logs: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    yield from _serve(
        ServerProcess(
            "busy",
            model=TINY_MODEL,
            data_dir=data_dir,
            log_dir=server_logs,
            threads=1,
            parallel=1,
            # Large, so a forced-long generation cannot end on the context limit soon.
            ctx_per_seq=BUSY_CTX_PER_SEQ,
            env={
                **_empty_index(tmp_path_factory),
                "VERTEXCOMPAT_MAX_QUEUE": "1",
                "VERTEXCOMPAT_MAX_BODY_BYTES": str(BUSY_MAX_BODY_BYTES),
            },
            extra_args=NO_AUTH,
        ),
        ready_timeout=120,
    )


ClientFactory = Callable[..., openai.OpenAI]


@pytest.fixture(scope="session")
def make_client() -> ClientFactory:
    """An OpenAI client on a server's Vertex path (or any `base_url`). `max_retries=0`:
    the SDK would otherwise retry 429s and 5xx and hide them."""

    def make(
        server: ServerProcess | None = None,
        *,
        base_url: str | None = None,
        api_key: str = "anything",
        timeout: float = 120,
    ) -> openai.OpenAI:
        if base_url is None:
            assert server is not None
            base_url = server.vertex_base()
        return openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=timeout)

    return make


@pytest.fixture(scope="session")
def client(tiny_server: ServerProcess, make_client: ClientFactory) -> Iterator[openai.OpenAI]:
    c = make_client(tiny_server)
    yield c
    c.close()


@pytest.fixture(scope="session")
def default_client(
    default_server: ServerProcess, make_client: ClientFactory
) -> Iterator[openai.OpenAI]:
    c = make_client(default_server, timeout=300)
    yield c
    c.close()


@pytest.fixture(scope="session")
def busy_client(busy_server: ServerProcess, make_client: ClientFactory) -> Iterator[openai.OpenAI]:
    c = make_client(busy_server)
    yield c
    c.close()
