"""The web side of auth over a real SQLite store: `get_principal` with the token
authenticator (401 + WWW-Authenticate, 403 on a foreign project) and `POST /token`'s
OAuth-shaped answers."""

from __future__ import annotations

import time

from tests.fakes import make_container
from vertexcompat.auth.jwt_bearer import GOOGLE_TOKEN_URI, sign_assertion
from vertexcompat.auth_services import build_auth

from .helpers import client_for

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def _client_and_key(tmp_path):
    container = make_container(data_dir=str(tmp_path))
    auth = build_auth(container.settings)
    container.authenticator, container.token_grant = auth.authenticator, auth.grant
    key = auth.admin.create(project="demo", name="sa", token_uri="http://t/token")
    return client_for(container), key, auth


def _assertion(key, **claims) -> str:
    now = int(time.time())
    payload = {"iat": now, "exp": now + 3600, "iss": key["client_email"],
               "aud": GOOGLE_TOKEN_URI, "scope": "x", **claims}
    return sign_assertion(payload, private_key_pem=key["private_key"],
                          key_id=key["private_key_id"])


def test_token_endpoint_and_bearer_use(tmp_path) -> None:
    client, key, auth = _client_and_key(tmp_path)
    with client:
        r = client.post("/token", data={"grant_type": JWT_BEARER, "assertion": _assertion(key)})
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "no-store"
        token = r.json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get(
            "/v1/projects/demo/locations/us-central1/endpoints/openapi/models", headers=headers
        ).status_code == 200
        denied = client.get(
            "/v1/projects/nope/locations/eu/endpoints/openapi/models", headers=headers
        )
        assert denied.status_code == 403
        assert "projects/nope/locations/eu/endpoints/openapi" in denied.json()["error"]["message"]
        # The plain /v1 paths act on the default project, where `sa` holds no role.
        assert client.get("/v1/models", headers=headers).status_code == 403
    auth.close()


def test_401_carries_www_authenticate(tmp_path) -> None:
    client, _, auth = _client_and_key(tmp_path)
    with client:
        r = client.get("/v1/models", headers={"Authorization": "Bearer vxc1.nope"})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json()["error"]["status"] == "UNAUTHENTICATED"
    auth.close()


def test_token_endpoint_errors_are_oauth_shaped(tmp_path) -> None:
    client, key, auth = _client_and_key(tmp_path)
    with client:
        bad = client.post("/token", data={"grant_type": JWT_BEARER,
                                          "assertion": _assertion(key, aud="https://x")})
        unsupported = client.post("/token", data={"grant_type": "password"})
        missing = client.post("/token", data={"grant_type": JWT_BEARER})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_grant"
    assert set(bad.json()) == {"error", "error_description"}
    assert unsupported.status_code == 400
    assert unsupported.json()["error"] == "unsupported_grant_type"
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_grant"
    auth.close()


def test_token_endpoint_is_404_without_a_grant() -> None:
    with client_for() as client:
        assert client.post("/token", data={"grant_type": JWT_BEARER}).status_code == 404


# -- Hardening (issue 12) ------------------------------------------------------------------

import asyncio  # noqa: E402
import json  # noqa: E402
from typing import Any  # noqa: E402

from vertexcompat.auth.jwt_bearer import b64url_encode  # noqa: E402
from vertexcompat.web.app import create_app  # noqa: E402

CHUNK = 8192


class Upload:
    """An ASGI body of `total` bytes sent in CHUNK-sized messages, counting what the app
    pulled."""

    def __init__(self, total: int, first: bytes = b"") -> None:
        self.remaining = total
        self.first = first
        self.pulled = 0

    async def receive(self) -> dict[str, Any]:
        if self.remaining <= 0:
            await asyncio.sleep(3600)  # the client is still there; the app must not wait
        body = (self.first + b"a" * CHUNK)[:CHUNK] if self.pulled == 0 else b"a" * CHUNK
        body = body[: self.remaining]
        self.remaining -= len(body)
        self.pulled += len(body)
        return {"type": "http.request", "body": body, "more_body": self.remaining > 0}


def _post_token_asgi(container, upload: Upload, headers: list[tuple[bytes, bytes]]):
    app = create_app(container)
    messages: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/token", "raw_path": b"/token", "query_string": b"",
        "root_path": "", "client": ("192.0.2.9", 50000), "server": ("testserver", 80),
        "headers": [(b"host", b"testserver"),
                    (b"content-type", b"application/x-www-form-urlencoded"), *headers],
    }

    async def run() -> None:
        await asyncio.wait_for(app(scope, upload.receive, send), timeout=30)

    asyncio.run(run())
    start = next(m for m in messages if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), json.loads(body)


def test_a_streamed_body_over_the_limit_is_413_before_it_is_all_read(tmp_path) -> None:
    client, _, auth = _client_and_key(tmp_path)
    upload = Upload(10 * 1024 * 1024, first=b"grant_type=x&assertion=")
    status, headers, body = _post_token_asgi(
        client.app.state.container, upload, [(b"transfer-encoding", b"chunked")]
    )
    assert status == 413
    assert body["error"] == "invalid_request" and "65536" in body["error_description"]
    assert headers[b"cache-control"] == b"no-store"
    assert upload.pulled <= 64 * 1024 + CHUNK
    auth.close()


def test_a_declared_content_length_over_the_limit_is_413_unread(tmp_path) -> None:
    client, _, auth = _client_and_key(tmp_path)
    upload = Upload(300 * 1024 * 1024)
    status, _, body = _post_token_asgi(
        client.app.state.container, upload, [(b"content-length", str(300 * 1024 * 1024).encode())]
    )
    assert status == 413 and body["error"] == "invalid_request"
    assert upload.pulled == 0
    auth.close()


def test_an_unreadable_content_length_is_an_oauth_invalid_request(tmp_path) -> None:
    client, _, auth = _client_and_key(tmp_path)
    status, _, body = _post_token_asgi(
        client.app.state.container, Upload(10), [(b"content-length", b"ten")]
    )
    assert status == 400 and body["error"] == "invalid_request"
    auth.close()


def test_a_form_at_the_limit_is_still_read(tmp_path) -> None:
    client, key, auth = _client_and_key(tmp_path)
    form = f"grant_type={JWT_BEARER}&assertion={_assertion(key)}&pad="
    with client:
        r = client.post("/token", content=form + "x" * (64 * 1024 - len(form)),
                        headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200, r.text
    auth.close()


def _forged(key, header: dict[str, Any] | None = None, payload_json: str | None = None) -> str:
    """A JWT with any header/payload, signed by the key (see test_jwt_bearer._sign_raw)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    now = int(time.time())
    payload_json = payload_json or json.dumps(
        {"iat": now, "exp": now + 3600, "iss": key["client_email"], "aud": GOOGLE_TOKEN_URI}
    )
    header = header or {"alg": "RS256", "typ": "JWT", "kid": key["private_key_id"]}
    signing_input = (
        f"{b64url_encode(json.dumps(header).encode())}.{b64url_encode(payload_json.encode())}"
    )
    private = serialization.load_pem_private_key(key["private_key"].encode(), password=None)
    signature = private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr, call-arg]
    return f"{signing_input}.{b64url_encode(signature)}"


def test_malformed_assertions_are_400_invalid_grant_never_500(tmp_path) -> None:
    client, key, auth = _client_and_key(tmp_path)
    now = int(time.time())
    good = _assertion(key)
    header, payload, signature = good.split(".")
    base = {"iss": key["client_email"], "aud": GOOGLE_TOKEN_URI}
    cases = {
        "non-ASCII payload segment": f"{header}.{payload}ü.{signature}",
        "non-ASCII assertion": "ü" + good,
        "iat Infinity": _forged(key, payload_json=json.dumps({**base, "exp": now + 60})[:-1]
                                + ', "iat": Infinity}'),
        "exp NaN": _forged(key, payload_json=json.dumps({**base, "iat": now})[:-1]
                           + ', "exp": NaN}'),
        "iat 1e400": _forged(key, payload_json=json.dumps({**base, "exp": now + 60})[:-1]
                             + ', "iat": 1e400}'),
        "huge exp": _forged(key, payload_json=json.dumps({**base, "iat": now})[:-1]
                            + ', "exp": ' + "9" * 1000 + "}"),
        "alg a list": _forged(key, header={"alg": ["RS256"], "kid": key["private_key_id"]}),
        "kid a dict": _forged(key, header={"alg": "RS256", "kid": {"a": 1}}),
        "kid a lone surrogate": _forged(key, header={"alg": "RS256", "kid": "\ud800"}),
        "kid of 10 KB": _forged(key, header={"alg": "RS256", "kid": "k" * 10_000}),
        "nested header": b64url_encode(b"[" * 5000) + "." + payload + "." + signature,
        "NaN in the header": b64url_encode(b'{"alg": "RS256", "kid": NaN}') + "." + payload
                             + "." + signature,
    }
    with client:
        for name, assertion in cases.items():
            r = client.post("/token", data={"grant_type": JWT_BEARER, "assertion": assertion})
            assert r.status_code == 400, (name, r.status_code, r.text)
            assert r.json()["error"] == "invalid_grant", name
            assert set(r.json()) == {"error", "error_description"}, name
    auth.close()


def _limited_client(tmp_path, **limits: Any):
    container = make_container(data_dir=str(tmp_path), **limits)
    auth = build_auth(container.settings)
    container.authenticator, container.token_grant = auth.authenticator, auth.grant
    key = auth.admin.create(project="demo", name="sa", token_uri="http://t/token")
    return client_for(container), key, auth


def test_an_address_over_its_limit_gets_429_slow_down_with_retry_after(tmp_path) -> None:
    client, key, auth = _limited_client(
        tmp_path, token_rate_per_address=0.1, token_burst_per_address=3
    )
    with client:
        answers = [client.post("/token", data={"grant_type": JWT_BEARER,
                                               "assertion": _assertion(key)})
                   for _ in range(5)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429, 429]
    limited = answers[-1]
    assert limited.json()["error"] == "slow_down"
    assert set(limited.json()) == {"error", "error_description"}
    assert 1 <= int(limited.headers["retry-after"]) <= 10
    assert limited.headers["cache-control"] == "no-store"
    auth.close()


def test_the_address_limit_applies_before_the_body_is_read(tmp_path) -> None:
    client, _, auth = _limited_client(
        tmp_path, token_rate_per_address=0.01, token_burst_per_address=1
    )
    container = client.app.state.container
    _post_token_asgi(container, Upload(10), [(b"content-length", b"10")])
    upload = Upload(1024 * 1024)
    status, headers, body = _post_token_asgi(
        container, upload, [(b"transfer-encoding", b"chunked")]
    )
    assert status == 429 and body["error"] == "slow_down"
    assert headers[b"retry-after"] == b"100"
    assert upload.pulled == 0
    auth.close()


def test_a_key_over_its_limit_gets_429_and_other_keys_do_not(tmp_path) -> None:
    client, key, auth = _limited_client(tmp_path, token_rate_per_key=0.5, token_burst_per_key=2)
    other = auth.admin.create(project="demo", name="other", token_uri="http://t/token")
    with client:
        statuses = [client.post("/token", data={"grant_type": JWT_BEARER,
                                                "assertion": _assertion(key)}).status_code
                    for _ in range(3)]
        limited = client.post("/token", data={"grant_type": JWT_BEARER,
                                              "assertion": _assertion(key)})
        fine = client.post("/token", data={"grant_type": JWT_BEARER,
                                           "assertion": _assertion(other)})
    assert statuses == [200, 200, 429]
    assert limited.status_code == 429 and limited.headers["retry-after"] == "2"
    assert "key" in limited.json()["error_description"]
    assert fine.status_code == 200
    auth.close()
