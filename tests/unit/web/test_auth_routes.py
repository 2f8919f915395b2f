"""The web side of auth over a real SQLite store: `get_principal` with the token
authenticator (401 + WWW-Authenticate, 403 on a foreign project) and `POST /token`'s
OAuth-shaped answers."""

from __future__ import annotations

import time

from tests.fakes import make_container
from vertexcompat.auth.jwt_bearer import GOOGLE_TOKEN_URI, sign_assertion
from vertexcompat.container import build_auth

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
