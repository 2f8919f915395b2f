"""Many replicas, one state (issue 21): two live servers on one REAL PostgreSQL
(tests/postgres.py), auth on, the tiny model, one thread each.

A token issued by replica A works on replica B; revoked (through the shared database, as
an operator does), B refuses it on the next request; a cachedContents made on A is used
and deleted from B; and killing A with SIGKILL while it issues tokens leaves B serving,
every token A acknowledged usable on B, and the database passing its integrity check.

The two servers and the database are shared by the module's tests (one start-up, ~8 s of
the module's time); the revocation goes through the `vertexcompat auth` CLI in process,
with the database URL in its environment as an operator sets it.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from vertexcompat.auth.admin import ServiceAccountAdmin
from vertexcompat.cli.main import main as vertexcompat_cli
from vertexcompat.store.database import open_state_database
from vertexcompat.store.roles import SqlRoles
from vertexcompat.store.service_accounts import SqlServiceAccounts

from ..postgres import PostgresServer, postgres_server  # noqa: F401 - a fixture
from .conftest import TINY_MODEL
from .helpers import GEMINI_FLASH, sign_assertions
from .server import ServerProcess, free_port

pytestmark = pytest.mark.timeout(300)

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
FACTS = " ".join(f"Box {i} holds {i * 3} marbles." for i in range(8))


@dataclass
class Replicas:
    a: ServerProcess
    b: ServerProcess
    url: str
    key: dict[str, Any]
    work: Path
    # Signed once (each signing loads the PEM: slow on a busy machine) and reused; the
    # grant does not refuse a repeated assertion.
    signed: list[str]
    _turn: Iterator[int] = dataclasses.field(default_factory=itertools.count)

    def cli(self, monkeypatch: pytest.MonkeyPatch, *args: str, stdin: str = "") -> str:
        """`vertexcompat ARGS` with VERTEXCOMPAT_DATABASE_URL set, in this process (a
        subprocess would add seconds of interpreter start-up)."""
        monkeypatch.setenv("VERTEXCOMPAT_DATABASE_URL", self.url)
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = vertexcompat_cli(list(args))
        assert code == 0, f"{args}: {out.getvalue()}\n{err.getvalue()}"
        return out.getvalue()

    def token(self, server: ServerProcess) -> str:
        """An access token from `server`'s `/token` (JWT-bearer grant)."""
        r = httpx.post(f"{server.base_url}/token", timeout=30,
                       data={"grant_type": JWT_BEARER, "assertion": self.assertion()})
        assert r.status_code == 200, f"{r.status_code} {r.text}\n{server.log_tail()}"
        token: str = r.json()["access_token"]
        return token

    def assertion(self) -> str:
        return self.signed[next(self._turn) % len(self.signed)]


def _env(url: str) -> dict[str, str]:
    import os

    return {**os.environ, "VERTEXCOMPAT_DATABASE_URL": url}


def models_status(server: ServerProcess, token: str) -> int:
    return httpx.get(f"{server.vertex_base('demo')}/models", timeout=30,
                     headers={"Authorization": f"Bearer {token}"}).status_code


@pytest.fixture(scope="module")
def replicas(
    postgres_server: PostgresServer,  # noqa: F811
    data_dir: Path,
    server_logs: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Replicas]:
    url = postgres_server.create_database("replicas")
    work = tmp_path_factory.mktemp("replicas")
    port_a = free_port()
    env = {
        **_env(url),
        "VERTEXCOMPAT_SEARCH_INDEX_DIR": str(work / "empty-index"),
        "VERTEXCOMPAT_CACHED_CONTENT_MIN_TOKENS": "32",
    }
    servers = [
        ServerProcess(name, model=TINY_MODEL, data_dir=data_dir, log_dir=server_logs,
                      threads=1, parallel=1, ctx_per_seq=1024, env=env, port=port)
        for name, port in (("replica-a", port_a), ("replica-b", None))
    ]
    # Both start at once on the fresh database: their migrations race (and must not).
    with ThreadPoolExecutor(2) as pool:
        started = [pool.submit(s.start, ready_timeout=180) for s in servers]
    try:
        for future in started:
            future.result()
        # The account is made straight in the shared database (what `vertexcompat auth
        # create-service-account` does, without its process start-up).
        db = open_state_database(url, work)
        try:
            key = ServiceAccountAdmin(SqlServiceAccounts(db), SqlRoles(db)).create(
                project="demo", name="sa", token_uri=f"http://127.0.0.1:{port_a}/token")
        finally:
            db.close()
        yield Replicas(servers[0], servers[1], url, key, work, sign_assertions(key))
    finally:
        for s in servers:
            s.stop()


def test_a_token_from_one_replica_works_on_the_other_until_revoked(
    replicas: Replicas, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = replicas.a, replicas.b
    token = replicas.token(a)
    assert models_status(b, token) == 200
    r = httpx.post(f"{b.vertex_base('demo')}/chat/completions", timeout=120,
                   headers={"Authorization": f"Bearer {token}"},
                   json={"model": GEMINI_FLASH, "max_tokens": 1,
                         "messages": [{"role": "user", "content": "Hi"}]})
    assert r.status_code == 200, r.text
    replicas.cli(monkeypatch, "auth", "revoke-token", stdin=token + "\n")
    assert models_status(b, token) == 401  # the very next request
    assert models_status(a, token) == 401
    assert models_status(a, replicas.token(b)) == 200


def test_a_cache_made_on_one_replica_is_used_and_deleted_from_the_other(
    replicas: Replicas,
) -> None:
    a, b = replicas.a, replicas.b
    auth = {"Authorization": f"Bearer {replicas.token(a)}"}
    model = GEMINI_FLASH.split("/", 1)[1]
    caches = "/v1/projects/demo/locations/us-central1/cachedContents"
    made = httpx.post(f"{a.base_url}{caches}", headers=auth, timeout=120, json={
        "model": f"projects/demo/locations/us-central1/publishers/google/models/{model}",
        "contents": [{"role": "user", "parts": [{"text": FACTS}]}],
    })
    assert made.status_code == 200, made.text
    cache = made.json()
    seen = httpx.get(f"{b.base_url}/v1/{cache['name']}", headers=auth, timeout=30)
    assert seen.status_code == 200 and seen.json()["name"] == cache["name"]
    r = httpx.post(f"{b.vertex_base('demo')}/chat/completions", headers=auth, timeout=120, json={
        "model": GEMINI_FLASH, "max_tokens": 1, "temperature": 0,
        "messages": [{"role": "user", "content": "How many marbles are in box 2?"}],
        "extra_body": {"google": {"cached_content": cache["name"]}},
    })
    assert r.status_code == 200, f"{r.text}\n{b.log_tail()}"
    # B put the cached facts in front of the question: they count as prompt.
    assert r.json()["usage"]["prompt_tokens"] > cache["usageMetadata"]["totalTokenCount"]
    assert httpx.delete(f"{b.base_url}/v1/{cache['name']}", headers=auth).status_code == 200
    assert httpx.get(f"{a.base_url}/v1/{cache['name']}", headers=auth).status_code == 404


def test_killing_a_replica_while_it_issues_tokens_loses_nothing_acknowledged(
    replicas: Replicas,
) -> None:
    """Runs last: it kills replica A."""
    a, b = replicas.a, replicas.b
    acknowledged: list[str] = []
    stop = threading.Event()

    def issue() -> None:
        while not stop.is_set():
            try:
                r = httpx.post(f"{a.base_url}/token", timeout=10, data={
                    "grant_type": JWT_BEARER, "assertion": replicas.assertion()})
            except httpx.HTTPError:
                return  # A is gone
            if r.status_code == 200:
                acknowledged.append(r.json()["access_token"])

    threads = [threading.Thread(target=issue) for _ in range(3)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(acknowledged) < 15 and time.monotonic() < deadline:
        time.sleep(0.01)
    a.kill()  # SIGKILL, mid-issuance
    stop.set()
    for t in threads:
        t.join(30)
    assert len(acknowledged) >= 15, a.log_tail()

    assert b.alive and models_status(b, replicas.token(b)) == 200
    refused = [t for t in acknowledged if models_status(b, t) != 200]
    assert not refused, f"{len(refused)} of {len(acknowledged)} acknowledged tokens lost"
    db = open_state_database(replicas.url, replicas.work)
    try:
        assert db.integrity_check() == "ok"
    finally:
        db.close()
