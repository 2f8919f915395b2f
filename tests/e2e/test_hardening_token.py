"""Hardening of `POST /token` (issue 12) against a live auth-enabled server: oversized
bodies are refused before they are read, malformed assertions are 400s, a key asking too
often gets 429 + Retry-After (and google-auth a retryable `RefreshError`), expired tokens
are swept while serving, and the server lives through all of it.

The server here runs with a per-key limit low enough to reach in a few requests (one
token per 20 s, bursts of 3), 5-second tokens and a 1-second sweep; the per-address limit
keeps its defaults. Every test uses its own key, so their buckets do not interfere.
"""

from __future__ import annotations

import json
import select
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import google.auth.exceptions
import google.auth.transport.requests
import httpx
import openai
import pytest
from google.oauth2 import service_account

from vertexcompat.auth.jwt_bearer import GOOGLE_TOKEN_URI, b64url_encode, sign_assertion
from vertexcompat.auth.tokens import token_digest

from .conftest import TINY_MODEL
from .helpers import create_service_account_key
from .server import ServerProcess, free_port
from .test_auth import JWT_BEARER, SCOPES

KEY_RATE = 0.05  # one token per 20 s: google-auth's three tries (~3 s) cannot get through
KEY_BURST = 3
TOKEN_LIFETIME_S = 5
SWEEP_INTERVAL_S = 1
FORM_LIMIT = 64 * 1024

pytestmark = pytest.mark.timeout(300)


class Env:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.data_dir = root / "data"
        self.port = free_port()
        self.server: ServerProcess | None = None
        self.keys = 0
        # The sweep test's token (digest, when issued), issued as the server starts: it
        # expires while the other tests run, not while that test waits.
        self.early_token: tuple[str, float] | None = None

    @property
    def live(self) -> ServerProcess:
        assert self.server is not None and self.server.alive, "the server died"
        return self.server

    @property
    def token_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def new_key(self) -> dict[str, Any]:
        self.keys += 1
        path = create_service_account_key(self.data_dir, "demo",
                                          self.root / f"key-{self.keys}.json", self.port,
                                          "--name", f"sa-{self.keys}")
        key: dict[str, Any] = json.loads(path.read_text())
        return key

    def credentials(self, key: dict[str, Any]) -> Any:
        return service_account.Credentials.from_service_account_info(key, scopes=SCOPES)

    def post_token(self, assertion: str) -> httpx.Response:
        return httpx.post(self.token_url, data={"grant_type": JWT_BEARER, "assertion": assertion},
                          timeout=30)


def _assertion(key: dict[str, Any], **claims: Any) -> str:
    now = int(time.time())
    payload = {"iat": now, "exp": now + 3600, "iss": key["client_email"],
               "aud": GOOGLE_TOKEN_URI, "scope": " ".join(SCOPES), **claims}
    return sign_assertion(payload, private_key_pem=key["private_key"],
                          key_id=key["private_key_id"])


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("hardening-token")
    (root / "logs").mkdir()
    env = Env(root)
    env.new_key()  # the user flow: a key file first, then serve (creates the data dir)
    env.server = ServerProcess(
        "hardening-token", model=TINY_MODEL, data_dir=env.data_dir, log_dir=root / "logs",
        threads=1, parallel=1, ctx_per_seq=1024, port=env.port,
        env={
            "VERTEXCOMPAT_TOKEN_LIFETIME_S": str(TOKEN_LIFETIME_S),
            "VERTEXCOMPAT_TOKEN_RATE_PER_KEY": str(KEY_RATE),
            "VERTEXCOMPAT_TOKEN_BURST_PER_KEY": str(KEY_BURST),
            "VERTEXCOMPAT_TOKEN_SWEEP_INTERVAL_S": str(SWEEP_INTERVAL_S),
            "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
        },
    )
    env.server.start(ready_timeout=120)
    try:
        r = env.post_token(_assertion(env.new_key()))
        assert r.status_code == 200, r.text
        env.early_token = (token_digest(r.json()["access_token"]), time.monotonic())
        assert _stored(env, env.early_token[0])
        yield env
    finally:
        env.server.stop()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # requests (google-auth's transport) honours proxy variables; the server is on loopback.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def _response_of(sock: socket.socket) -> tuple[int, dict[str, str], dict[str, Any]]:
    """Read one HTTP/1.1 response (Content-Length framed) from `sock`."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
    while len(body) < int(headers["content-length"]):
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, json.loads(body)


def _answered(sock: socket.socket, wait_s: float) -> bool:
    return bool(select.select([sock], [], [], wait_s)[0])


def test_a_chunked_body_over_the_limit_is_413_before_it_is_all_sent(env: Env) -> None:
    """2 MB streamed without Content-Length, 64 KB at a time; the server must answer 413
    as soon as the limit is crossed, not after reading everything."""
    total, piece = 2 * 1024 * 1024, 64 * 1024
    sent = 0
    with socket.create_connection(("127.0.0.1", env.port), timeout=30) as sock:
        sock.sendall(
            b"POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        try:
            # Each piece gets 0.2 s for the answer to show up before the next is sent.
            while sent < total and not _answered(sock, 0.2 if sent else 0):
                sock.sendall(b"%x\r\n" % piece + b"a" * piece + b"\r\n")
                sent += piece
            if sent >= total:
                sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed while we were still sending
        status, headers, body = _response_of(sock)
    assert status == 413, body
    assert body["error"] == "invalid_request" and str(FORM_LIMIT) in body["error_description"]
    assert headers["cache-control"] == "no-store"
    assert sent <= 512 * 1024, f"the server answered only after {sent} bytes"
    assert httpx.get(f"{env.live.base_url}/healthz", timeout=30).status_code == 200


def test_a_declared_300_mb_body_is_413_at_once(env: Env) -> None:
    with socket.create_connection(("127.0.0.1", env.port), timeout=30) as sock:
        sock.sendall(
            b"POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: %d\r\n\r\n" % (300 * 1024 * 1024) + b"grant_type=x"
        )
        assert _answered(sock, 30), "no answer to a declared 300 MB body"
        status, _, body = _response_of(sock)
    assert status == 413 and body["error"] == "invalid_request"


def test_google_auth_gets_tokens_normally(env: Env) -> None:
    creds = env.credentials(env.new_key())
    creds.refresh(google.auth.transport.requests.Request())
    assert creds.token.startswith("vxc1.")
    client = openai.OpenAI(base_url=env.live.vertex_base("demo"), api_key=creds.token,
                           max_retries=0, timeout=60)
    assert client.models.list().data


def test_malformed_assertions_are_invalid_grant_on_the_wire(env: Env) -> None:
    key = env.new_key()
    header, payload, signature = _assertion(key).split(".")
    infinite_iat = _assertion(key, iat=float("inf"))  # json.dumps writes `Infinity`
    nan_exp = _assertion(key, exp=float("nan"))
    odd_header = b64url_encode(json.dumps({"alg": ["RS256"], "kid": {"a": 1}}).encode())
    for assertion in (
        f"{header}.{payload}ü.{signature}",
        "ü" * 100,
        infinite_iat,
        nan_exp,
        f"{odd_header}.{payload}.{signature}",
        f"{b64url_encode(b'[' * 5000)}.{payload}.{signature}",
    ):
        r = env.post_token(assertion)
        assert r.status_code == 400, r.text
        assert r.json()["error"] == "invalid_grant" and r.json()["error_description"]
    assert "Traceback" not in env.live.log_text()


def _burst(env: Env, key: dict[str, Any], n: int) -> list[httpx.Response]:
    assertion = _assertion(key)  # google-auth signs a fresh one each time; one will do
    with httpx.Client(timeout=30) as client:
        return [client.post(env.token_url, data={"grant_type": JWT_BEARER,
                                                 "assertion": assertion}) for _ in range(n)]


def test_a_burst_from_one_key_gets_429_with_retry_after(env: Env) -> None:
    answers = _burst(env, env.new_key(), 10)
    statuses = [r.status_code for r in answers]
    # A burst of 3, then at most one more that refilled meanwhile (one per 20 s).
    assert statuses[:KEY_BURST] == [200] * KEY_BURST, statuses
    assert statuses.count(429) >= 10 - KEY_BURST - 1, statuses
    for r in answers:
        if r.status_code == 429:
            body = r.json()
            assert body["error"] == "slow_down" and "key" in body["error_description"]
            assert set(body) == {"error", "error_description"}
            assert 1 <= int(r.headers["retry-after"]) <= 1 / KEY_RATE
            assert r.headers["cache-control"] == "no-store"


def test_google_auth_over_the_limit_raises_a_retryable_refresh_error(env: Env) -> None:
    key = env.new_key()
    _burst(env, key, KEY_BURST)
    creds = env.credentials(key)
    started = time.monotonic()
    with pytest.raises(google.auth.exceptions.RefreshError) as info:
        creds.refresh(google.auth.transport.requests.Request())
    # google-auth retried the 429 (three attempts, ~1 s and ~2 s apart), then gave up.
    assert time.monotonic() - started >= 2.5
    assert info.value.retryable
    message = info.value.args[0]
    assert message.startswith("slow_down: Too many token requests"), message


def test_the_server_is_alive_afterwards_and_other_keys_still_get_tokens(env: Env) -> None:
    assert httpx.get(f"{env.live.base_url}/healthz", timeout=30).status_code == 200
    creds = env.credentials(env.new_key())
    creds.refresh(google.auth.transport.requests.Request())
    client = openai.OpenAI(base_url=env.live.vertex_base("demo"), api_key=creds.token,
                           max_retries=0, timeout=120)
    answer = client.chat.completions.create(
        model="google/gemini-2.0-flash-001", max_tokens=3,
        messages=[{"role": "user", "content": "Hi"}],
    )
    assert answer.choices[0].message.role == "assistant"


def _stored(env: Env, digest: str) -> bool:
    db = sqlite3.connect(f"file:{env.data_dir / 'state.db'}?mode=ro", uri=True)
    try:
        return db.execute(
            "SELECT 1 FROM access_tokens WHERE digest = ?", (digest,)
        ).fetchone() is not None
    finally:
        db.close()


def test_expired_tokens_are_swept_while_serving(env: Env) -> None:
    # Issued, and seen stored, when the server started (`env`).
    assert env.early_token is not None
    digest, issued_at = env.early_token
    # Liveness bound: expiry plus a few sweeps, not a performance assertion.
    deadline = issued_at + TOKEN_LIFETIME_S + 10 * SWEEP_INTERVAL_S
    while _stored(env, digest):
        assert time.monotonic() < deadline, "the expired token was never swept"
        time.sleep(0.2)
    # The sweep logs after its delete commits, and the log reaches us through a pipe: the
    # line may trail the row's disappearance by a moment.
    while "expired access tokens" not in env.live.log_text():
        assert time.monotonic() < deadline + 5, "the sweep was not logged"
        time.sleep(0.1)
