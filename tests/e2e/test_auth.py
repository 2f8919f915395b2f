"""Google Cloud authentication end to end (issue #3): the REAL google-auth library gets
tokens from the live server's `/token` with a key file the CLI made, and the REAL openai
SDK uses them. The server here runs with auth ON and a short token lifetime."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import google.auth
import google.auth.transport.requests
import httpx
import openai
import pytest
from google.oauth2 import service_account

from vertexcompat.auth.jwt_bearer import GOOGLE_TOKEN_URI, b64url_decode, b64url_encode
from vertexcompat.auth.jwt_bearer import sign_assertion
from vertexcompat.auth.keys import generate_key_pair

from .conftest import TINY_MODEL
from .helpers import GEMINI_FLASH_001
from .server import ServerProcess, free_port

# Short enough that the expiry test waits a few seconds; long enough that a token fetched
# just before a request is still live when the request arrives.
TOKEN_LIFETIME_S = 10
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
HI = [{"role": "user", "content": "Hi"}]

pytestmark = pytest.mark.timeout(300)


def _run_cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "vertexcompat", "auth", *args, "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, f"auth {args}: {result.stdout}\n{result.stderr}"
    return result


@dataclass
class AuthEnv:
    """An auth-enabled server on a fixed port (restartable), its data dir, a key file for
    project `demo`, and every secret the tests handled (to look for in the logs)."""

    data_dir: Path
    log_dir: Path
    work: Path
    port: int
    key_path: Path
    server: ServerProcess | None = None
    secrets: set[str] = field(default_factory=set)
    generation: int = 0
    lifetime_s: int = TOKEN_LIFETIME_S
    # The expiry test's credentials, refreshed (and their token used) when the module's
    # server started: their lifetime runs out while the tests before that one run, rather
    # than in its sleep.
    early_credentials: Any = None
    early_refreshed_at: float = 0.0

    @property
    def key(self) -> dict[str, Any]:
        key: dict[str, Any] = json.loads(self.key_path.read_text())
        return key

    def start(self) -> ServerProcess:
        self.generation += 1
        self.server = ServerProcess(
            f"auth-{self.generation}", model=TINY_MODEL, data_dir=self.data_dir,
            # A small context: the seed sample (verbatim, so no max_tokens) answers until
            # the context is full, ~220 tokens here instead of ~1000.
            log_dir=self.log_dir, threads=1, parallel=2, ctx_per_seq=256, port=self.port,
            env={"VERTEXCOMPAT_TOKEN_LIFETIME_S": str(self.lifetime_s)},
        )
        self.server.start(ready_timeout=120)
        return self.server

    @property
    def live(self) -> ServerProcess:
        assert self.server is not None and self.server.alive
        return self.server

    def create_key(self, name: str, project: str = "demo") -> Path:
        path = self.work / f"{name}-{project}-key.json"
        _run_cli(self.data_dir, "create-service-account", "--project", project, "--name", name,
                 "--out", str(path), "--port", str(self.port))
        self.remember_key(path)
        return path

    def remember_key(self, path: Path) -> None:
        pem = json.loads(path.read_text())["private_key"]
        self.secrets.update(line for line in pem.splitlines()[1:-1] if len(line) > 20)

    def credentials(self, key_path: Path | None = None) -> Any:
        return service_account.Credentials.from_service_account_file(
            str(key_path or self.key_path), scopes=SCOPES
        )

    def token(self, key_path: Path | None = None) -> str:
        creds = self.credentials(key_path)
        creds.refresh(google.auth.transport.requests.Request())
        self.secrets.add(creds.token)
        token: str = creds.token
        return token

    def client(self, token: str, project: str = "demo") -> openai.OpenAI:
        return openai.OpenAI(
            base_url=self.live.vertex_base(project), api_key=token, max_retries=0, timeout=120
        )

    def assertion(self, claims: dict[str, Any] | None = None, **kw: Any) -> str:
        key = self.key
        now = int(time.time())
        payload = {"iat": now, "exp": now + 3600, "iss": key["client_email"],
                   "aud": GOOGLE_TOKEN_URI, "scope": " ".join(SCOPES), **(claims or {})}
        assertion = sign_assertion(
            payload, private_key_pem=kw.get("private_key_pem", key["private_key"]),
            key_id=kw.get("key_id", key["private_key_id"]),
        )
        self.secrets.add(assertion)
        return assertion

    def post_token(self, assertion: str, grant_type: str = JWT_BEARER) -> httpx.Response:
        return httpx.post(f"http://127.0.0.1:{self.port}/token",
                          data={"grant_type": grant_type, "assertion": assertion}, timeout=30)


@pytest.fixture(scope="module")
def auth(tmp_path_factory: pytest.TempPathFactory, monkeypatch_module: Any) -> Iterator[AuthEnv]:
    root = tmp_path_factory.mktemp("auth")
    env = AuthEnv(data_dir=root / "data", log_dir=root / "logs", work=root, port=free_port(),
                  key_path=root / "demo-key.json")
    env.log_dir.mkdir()
    # The user flow: create the key file, then serve.
    _run_cli(env.data_dir, "create-service-account", "--project", "demo", "--out",
             str(env.key_path), "--port", str(env.port))
    env.remember_key(env.key_path)
    env.start()
    try:
        creds = env.credentials()
        creds.refresh(google.auth.transport.requests.Request())
        # The server stamped the token no later than now: it is dead after this + lifetime.
        env.early_refreshed_at = time.time()
        env.secrets.add(creds.token)
        env.client(creds.token).models.list()  # live before it expires
        env.early_credentials = creds
        yield env
    finally:
        if env.server is not None:
            env.server.stop()


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        # requests honours proxy variables; the server is on loopback.
        mp.setenv("NO_PROXY", "127.0.0.1,localhost")
        mp.setenv("no_proxy", "127.0.0.1,localhost")
        yield mp


# The seed's basic sample, verbatim but for the TODO's project id and `base_url`.
SEED_BASIC_SAMPLE = '''\
import openai

from google.auth import default
import google.auth.transport.requests

# TODO(developer): Update and un-comment below lines
project_id = "demo"
location = "us-central1"

# # Programmatically get an access token
credentials, _ = default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
credentials.refresh(google.auth.transport.requests.Request())

# OpenAI Client
client = openai.OpenAI(
  base_url=f"http://127.0.0.1:{PORT}/v1/projects/{project_id}/locations/{location}/endpoints/openapi",
  api_key=credentials.token
)

response = client.chat.completions.create(
  model="google/gemini-2.0-flash-001",
  messages=[
      {"role": "system", "content": "You are a helpful assistant."},
      {"role": "user", "content": "Explain to me how AI works"}
  ]
)

print(response.choices[0].message)
'''


def test_seed_basic_sample_runs_unchanged_with_a_key_file(auth: AuthEnv) -> None:
    script = auth.work / "seed_sample.py"
    script.write_text(SEED_BASIC_SAMPLE.replace("{PORT}", str(auth.port)))
    env = {**os.environ, "GOOGLE_APPLICATION_CREDENTIALS": str(auth.key_path),
           "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            env=env, timeout=240)
    assert result.returncode == 0, f"{result.stderr}\n{auth.live.log_tail()}"
    answer = re.match(r"ChatCompletionMessage\(content=(['\"])(.+?)\1, ", result.stdout, re.S)
    assert answer and answer.group(2).strip(), result.stdout
    assert "role='assistant'" in result.stdout


def test_google_auth_default_reads_the_key_file(auth: AuthEnv, monkeypatch) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(auth.key_path))
    credentials, project = google.auth.default(scopes=SCOPES)
    credentials.refresh(google.auth.transport.requests.Request())
    auth.secrets.add(credentials.token)
    assert project == "demo"
    # (`credentials.valid` is False already: google-auth treats tokens within 3m45s of
    # expiry as stale, and this server's lifetime is 10 s.)
    assert credentials.token.startswith("vxc1.") and credentials.expiry is not None
    models = auth.client(credentials.token).models.list()
    assert any(m.id == GEMINI_FLASH_001 for m in models.data)


@pytest.mark.parametrize("header", [None, "Bearer vxc1.unknown", "Basic dXNlcjpwYXNz"])
def test_missing_or_unknown_token_is_401_with_www_authenticate(auth: AuthEnv, header) -> None:
    headers = {"Authorization": header} if header else {}
    for url in (f"{auth.live.vertex_base()}/models", f"{auth.live.base_url}/v1/models"):
        r = httpx.get(url, headers=headers, timeout=30)
        assert r.status_code == 401, r.text
        assert r.headers["www-authenticate"] == "Bearer"
        error = r.json()["error"]
        assert error["status"] == "UNAUTHENTICATED"
        assert error["message"].startswith(
            "Request had invalid authentication credentials. Expected OAuth 2 access token"
        )


def test_health_endpoints_need_no_token(auth: AuthEnv) -> None:
    assert httpx.get(f"{auth.live.base_url}/healthz", timeout=30).status_code == 200
    assert httpx.get(f"{auth.live.base_url}/readyz", timeout=30).status_code == 200


def _flip_payload(assertion: str) -> str:
    header, payload, signature = assertion.split(".")
    claims = json.loads(b64url_decode(payload))
    claims["iss"] = "attacker@demo.iam.gserviceaccount.com"
    return f"{header}.{b64url_encode(json.dumps(claims).encode())}.{signature}"


@pytest.mark.parametrize("case", ["other_key", "wrong_kid", "expired", "tampered"])
def test_bad_assertions_are_invalid_grant(auth: AuthEnv, case: str) -> None:
    now = int(time.time())
    if case == "other_key":
        assertion = auth.assertion(private_key_pem=generate_key_pair()[0])
    elif case == "wrong_kid":
        assertion = auth.assertion(key_id="f" * 40)
    elif case == "expired":
        assertion = auth.assertion({"iat": now - 7200, "exp": now - 3600})
    else:
        assertion = _flip_payload(auth.assertion())
    r = auth.post_token(assertion)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["error"] == "invalid_grant" and body["error_description"]
    assert "access_token" not in body


def test_a_good_assertion_posted_by_hand_gets_a_bearer_token(auth: AuthEnv) -> None:
    r = auth.post_token(auth.assertion())
    assert r.status_code == 200, r.text
    body = r.json()
    auth.secrets.add(body["access_token"])
    assert body["token_type"] == "Bearer" and body["expires_in"] == TOKEN_LIFETIME_S


def test_unsupported_grant_type(auth: AuthEnv) -> None:
    r = auth.post_token(auth.assertion(), grant_type="client_credentials")
    assert r.status_code == 400
    assert r.json()["error"] == "unsupported_grant_type"


def test_token_for_project_a_on_project_b_is_permission_denied(auth: AuthEnv) -> None:
    client = auth.client(auth.token(), project="other-project")
    with pytest.raises(openai.PermissionDeniedError) as info:
        client.chat.completions.create(model=GEMINI_FLASH_001, messages=HI, max_tokens=5)
    error = info.value.body
    assert isinstance(error, dict) and error["status"] == "PERMISSION_DENIED"
    assert error["message"] == (
        "Permission 'aiplatform.endpoints.predict' denied on resource "
        "'//aiplatform.googleapis.com/projects/other-project/locations/us-central1/"
        "endpoints/openapi' (or it may not exist)."
    )


def test_roles_grant_opens_another_project_and_revoke_closes_it(auth: AuthEnv) -> None:
    token = auth.token()
    member = auth.key["client_email"]
    _run_cli(auth.data_dir, "roles", "grant", "--project", "shared", "--member", member,
             "--role", "roles/aiplatform.user")
    auth.client(token, project="shared").models.list()
    _run_cli(auth.data_dir, "roles", "revoke", "--project", "shared", "--member", member,
             "--role", "roles/aiplatform.user")
    with pytest.raises(openai.PermissionDeniedError):
        auth.client(token, project="shared").models.list()


def test_a_revoked_keys_tokens_stop_on_the_next_request(auth: AuthEnv) -> None:
    key_path = auth.create_key("revokee")
    token = auth.token(key_path)
    client = auth.client(token)
    client.models.list()
    _run_cli(auth.data_dir, "revoke-key", "--key-id",
             json.loads(key_path.read_text())["private_key_id"])
    with pytest.raises(openai.AuthenticationError):
        client.models.list()
    # ... and the key gets no new tokens.
    with pytest.raises(google.auth.exceptions.RefreshError, match="invalid_grant"):
        auth.token(key_path)


def test_cli_print_access_token_works_offline_and_over_http(auth: AuthEnv) -> None:
    for extra in ((), ("--server", auth.live.base_url)):
        token = _run_cli(auth.data_dir, "print-access-token", "--key", str(auth.key_path),
                         *extra).stdout.strip()
        auth.secrets.add(token)
        auth.client(token).models.list()


def test_expired_token_is_401_and_the_documented_refresh_pattern_recovers(
    auth: AuthEnv,
) -> None:
    # Refreshed, and the token used, when the server started (see `auth`); this test comes
    # late in the module, so most of the token's life has passed by now.
    creds, refreshed_at = auth.early_credentials, auth.early_refreshed_at
    client = auth.client(creds.token)

    time.sleep(max(0.0, refreshed_at + TOKEN_LIFETIME_S + 0.5 - time.time()))
    with pytest.raises(openai.AuthenticationError) as info:
        client.models.list()
    assert info.value.status_code == 401

    # Google's docs: refresh when no longer valid, then hand the new token to the client.
    assert not creds.valid
    creds.refresh(google.auth.transport.requests.Request())
    auth.secrets.add(creds.token)
    client.api_key = creds.token
    response = client.chat.completions.create(model=GEMINI_FLASH_001, messages=HI, max_tokens=5)
    assert response.choices[0].message.role == "assistant"


def _restart_with_hour_long_tokens(auth: AuthEnv) -> None:
    """The restart tests must not race the 10 s lifetime of a slow restart."""
    if auth.lifetime_s != 3600:
        auth.lifetime_s = 3600
        auth.live.stop()
        auth.start()


def test_restart_keeps_accounts_roles_and_unexpired_tokens(auth: AuthEnv) -> None:
    _restart_with_hour_long_tokens(auth)
    member = auth.key["client_email"]
    _run_cli(auth.data_dir, "roles", "grant", "--project", "kept", "--member", member,
             "--role", "roles/aiplatform.user")
    token = auth.token()
    auth.live.stop()
    auth.start()
    auth.client(token, project="kept").models.list()  # token and role survived
    auth.client(auth.token()).models.list()  # the account and its key too


def test_sigkill_during_token_requests_leaves_the_store_consistent(auth: AuthEnv) -> None:
    _restart_with_hour_long_tokens(auth)
    acknowledged: list[str] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            try:
                r = auth.post_token(auth.assertion())
            except httpx.HTTPError:
                continue
            if r.status_code == 200:
                acknowledged.append(r.json()["access_token"])

    workers = [threading.Thread(target=hammer) for _ in range(4)]
    for w in workers:
        w.start()
    deadline = time.monotonic() + 60  # liveness bound, not a performance assertion
    while len(acknowledged) < 8 and time.monotonic() < deadline:
        time.sleep(0.05)
    auth.live.kill()
    stop.set()
    for w in workers:
        w.join(timeout=60)
    assert len(acknowledged) >= 8
    auth.secrets.update(acknowledged)

    db = sqlite3.connect(auth.data_dir / "state.db")
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        db.close()
    auth.start()
    # Every token the server acknowledged before dying still works.
    for token in acknowledged:
        auth.client(token).models.list()
    auth.client(auth.token()).models.list()  # new grants work
    db = sqlite3.connect(auth.data_dir / "state.db")
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        db.close()


def test_no_secret_ever_appears_in_the_server_logs(auth: AuthEnv) -> None:
    logs = "".join(p.read_text(errors="replace") for p in auth.log_dir.glob("*.log"))
    assert "issued an access token" in logs  # the logs are the real ones
    assert len(auth.secrets) > 10
    leaked = [s[:12] + "…" for s in auth.secrets if s in logs]
    assert not leaked, f"secrets in the server log: {leaked}"
    assert "PRIVATE KEY" not in logs


def test_no_auth_mode_accepts_any_token_and_warns_loudly(tiny_server: ServerProcess) -> None:
    """The shared servers run `--no-auth` (see conftest.py)."""
    r = httpx.get(f"{tiny_server.base_url}/v1/models",
                  headers={"Authorization": "Bearer anything"}, timeout=30)
    assert r.status_code == 200, r.text
    assert "WARNING vertexcompat.container: AUTHENTICATION IS DISABLED" in tiny_server.log_text()
