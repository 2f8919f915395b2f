"""Service-account tokens by the JWT-bearer grant, against a token endpoint that verifies
the assertion with the key's public half (the real grant is in
tests/e2e/test_gemini_endpoint.py, against our own `/token`)."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from vertexcompat.auth.jwt_bearer import verify_assertion
from vertexcompat.backends.google_credentials import (
    JWT_BEARER_GRANT,
    REFRESH_BEFORE_S,
    KeyFileError,
    ServiceAccountKey,
    ServiceAccountTokens,
)
from vertexcompat.domain.errors import BadGateway

TOKEN_URI = "https://tokens.example/token"
EMAIL = "sa@p.iam.gserviceaccount.com"


def key_pair() -> tuple[str, str]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return pem, public


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def tokens_for(handler, clock: Clock, pem: str) -> ServiceAccountTokens:
    key = ServiceAccountKey.from_info({
        "type": "service_account", "client_email": EMAIL, "private_key": pem,
        "private_key_id": "a" * 40, "token_uri": TOKEN_URI, "project_id": "p"})
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return ServiceAccountTokens(key, client, clock=clock)


def test_the_assertion_verifies_and_the_token_is_reused_until_it_nears_expiry() -> None:
    pem, public = key_pair()
    clock = Clock()
    issued: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        assert form["grant_type"] == JWT_BEARER_GRANT
        claims = verify_assertion(form["assertion"], public_key_for=lambda kid: public,
                                  issuer_for=lambda kid: EMAIL, audiences=[TOKEN_URI],
                                  now=int(clock()))
        assert claims.scope == "https://www.googleapis.com/auth/cloud-platform"
        issued.append(f"token-{len(issued)}")
        return httpx.Response(200, json={"access_token": issued[-1], "expires_in": 3600,
                                         "token_type": "Bearer"})

    tokens = tokens_for(handler, clock, pem)

    async def run() -> list[str]:
        got = list(await asyncio.gather(*(tokens.token() for _ in range(5))))
        clock.now += 3600 - REFRESH_BEFORE_S - 1
        got.append(await tokens.token())
        clock.now += 2  # now within the refresh margin
        got.append(await tokens.token())
        return got

    assert asyncio.run(run()) == ["token-0"] * 6 + ["token-1"]
    assert tokens.refreshes == 2


def test_a_refusal_or_an_unreachable_endpoint_is_a_bad_gateway() -> None:
    pem, _ = key_pair()

    def refuses(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": "invalid_grant",
                                         "error_description": "Invalid JWT Signature."})

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    with pytest.raises(BadGateway, match="Invalid JWT Signature"):
        asyncio.run(tokens_for(refuses, Clock(), pem).token())
    with pytest.raises(BadGateway, match="Could not reach"):
        asyncio.run(tokens_for(unreachable, Clock(), pem).token())


def test_key_files_that_cannot_be_used_are_said(tmp_path) -> None:
    with pytest.raises(KeyFileError, match="cannot read"):
        ServiceAccountKey.from_file(tmp_path / "missing.json")
    (tmp_path / "k.json").write_text("{")
    with pytest.raises(KeyFileError, match="not JSON"):
        ServiceAccountKey.from_file(tmp_path / "k.json")
    with pytest.raises(KeyFileError, match="not a service-account key"):
        ServiceAccountKey.from_info({"type": "authorized_user"})
    with pytest.raises(KeyFileError, match="lacks private_key, token_uri"):
        ServiceAccountKey.from_info({"type": "service_account", "client_email": "e",
                                     "private_key_id": "k"})
    key = ServiceAccountKey.from_info({"type": "service_account", "client_email": "e",
                                       "private_key": "SECRET", "private_key_id": "k",
                                       "token_uri": "u"})
    assert "SECRET" not in repr(key) and key.project_id is None


def test_requests_waiting_on_a_failing_fetch_share_its_failure() -> None:
    pem, _ = key_pair()
    clock = Clock()
    calls = []

    async def refuses(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        await asyncio.sleep(0.05)  # the others queue meanwhile
        return httpx.Response(500, text="down")

    tokens = tokens_for(refuses, clock, pem)

    async def run() -> list[object]:
        got = await asyncio.gather(*(tokens.token() for _ in range(10)), return_exceptions=True)
        got += await asyncio.gather(tokens.token(), return_exceptions=True)
        return got

    results = asyncio.run(run())
    assert all(isinstance(r, BadGateway) for r in results)
    assert len(calls) == 2  # one fetch for the ten that waited together, one for the next
