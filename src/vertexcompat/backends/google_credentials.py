"""Access tokens for a Google service account, from its JSON key file: the credentials of a
`gemini` endpoint on Vertex AI (`credentials_file`).

The OAuth 2.0 JWT-bearer grant (RFC 7523), as Google's own libraries make it: an RS256
assertion signed with the key's `private_key` (header `kid` = `private_key_id`; claims
`iss` = `client_email`, `aud` = `token_uri`, `scope`, `iat`, `exp` = an hour later) is
posted to the key's `token_uri`, which answers `{"access_token", "expires_in"}`. Any
token endpoint that speaks the grant works: Google's, or another vertexcompat's `/token`.

A token is reused until `REFRESH_BEFORE_S` before it expires; then the next request gets
a new one. Concurrent requests share one refresh, and its failure: the requests that
waited for a fetch that failed get its error at once, instead of each trying again in
turn (each up to the timeout); the next request tries again. A refusal from the token endpoint is the
upstream's problem, not the caller's: `BadGateway`, with what the endpoint said.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from vertexcompat.auth.jwt_bearer import sign_assertion
from vertexcompat.domain.errors import BadGateway

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME_S = 3600
# Google's libraries refresh 3 min 45 s before expiry; a little more margin costs nothing.
REFRESH_BEFORE_S = 300
_KEY_FIELDS = ("client_email", "private_key", "private_key_id", "token_uri")


class KeyFileError(ValueError):
    """The key file cannot be used (the operator's config; said at start)."""


@dataclass(frozen=True, slots=True)
class ServiceAccountKey:
    client_email: str
    private_key: str = ""
    private_key_id: str = ""
    token_uri: str = ""
    project_id: str | None = None

    def __repr__(self) -> str:  # never the private key
        return f"ServiceAccountKey({self.client_email!r}, token_uri={self.token_uri!r})"

    @classmethod
    def from_file(cls, path: Path) -> ServiceAccountKey:
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise KeyFileError(f"cannot read the key file {path}: {exc.strerror}") from None
        except ValueError:
            raise KeyFileError(f"the key file {path} is not JSON") from None
        return cls.from_info(info, where=str(path))

    @classmethod
    def from_info(cls, info: object, *, where: str = "the key") -> ServiceAccountKey:
        if not isinstance(info, Mapping) or info.get("type") != "service_account":
            raise KeyFileError(f"{where} is not a service-account key (`type` must be "
                               "`service_account`)")
        missing = [f for f in _KEY_FIELDS if not isinstance(info.get(f), str) or not info[f]]
        if missing:
            raise KeyFileError(f"{where} lacks {', '.join(missing)}")
        project = info.get("project_id")
        return cls(
            client_email=info["client_email"], private_key=info["private_key"],
            private_key_id=info["private_key_id"], token_uri=info["token_uri"],
            project_id=project if isinstance(project, str) and project else None,
        )


class ServiceAccountTokens:
    """Bearer tokens for one service account (module docstring)."""

    def __init__(
        self,
        key: ServiceAccountKey,
        client: httpx.AsyncClient,
        *,
        scope: str = CLOUD_PLATFORM_SCOPE,
        clock: Callable[[], float] = time.time,
        timeout_s: float = 30.0,
    ) -> None:
        self._key = key
        self._client = client
        self._scope = scope
        self._clock = clock
        self._timeout_s = timeout_s
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self._fetches = 0  # attempts, failed or not
        self._failure: BadGateway | None = None  # the last attempt's, if it failed
        self.refreshes = 0  # tokens fetched, for tests and stats

    async def token(self) -> str:
        if self._fresh():
            return self._token  # type: ignore[return-value]
        fetched = self._fetches  # fetches done before this request began to wait
        async with self._lock:
            if self._fresh():  # another request refreshed it meanwhile
                return self._token  # type: ignore[return-value]
            if self._failure is not None and self._fetches > fetched:
                raise self._failure  # the fetch this request waited for failed
            try:
                self._token, self._expires_at = await self._fetch()
            except BadGateway as exc:
                self._failure = exc
                raise
            finally:
                self._fetches += 1
            self._failure = None
            self.refreshes += 1
            return self._token

    def _fresh(self) -> bool:
        return self._token is not None and self._clock() < self._expires_at - REFRESH_BEFORE_S

    async def _fetch(self) -> tuple[str, float]:
        now = int(self._clock())
        try:
            assertion = sign_assertion(
                {"iss": self._key.client_email, "aud": self._key.token_uri,
                 "scope": self._scope, "iat": now, "exp": now + ASSERTION_LIFETIME_S},
                private_key_pem=self._key.private_key, key_id=self._key.private_key_id,
            )
        except ValueError as exc:
            raise BadGateway(f"The upstream's key for {self._key.client_email} cannot sign "
                             f"({exc}).") from None
        try:
            response = await self._client.post(
                self._key.token_uri,
                data={"grant_type": JWT_BEARER_GRANT, "assertion": assertion},
                timeout=self._timeout_s,
            )
        except httpx.HTTPError as exc:
            raise BadGateway(
                f"Could not reach the token endpoint {self._key.token_uri} for the upstream "
                f"({type(exc).__name__})."
            ) from None
        body = _json(response)
        token = body.get("access_token")
        if response.status_code != 200 or not isinstance(token, str) or not token:
            said = body.get("error_description") or body.get("error") or response.text[:300]
            raise BadGateway(
                f"The token endpoint {self._key.token_uri} refused the upstream's service "
                f"account {self._key.client_email} (HTTP {response.status_code}): {said}"
            )
        expires_in = body.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 3600.0
        return token, now + lifetime


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
