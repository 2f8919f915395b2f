"""`AnyBearerAuthenticator`: accepts any non-empty bearer token.

A stand-in until the auth issue (service accounts, JWT-bearer grant, access tokens)
replaces it; it still rejects requests without credentials so clients are written
against the real contract from day one.
"""

from __future__ import annotations

import hashlib

from vertexcompat.domain.errors import Unauthenticated
from vertexcompat.domain.principal import Principal

# Google's wording for a missing or unusable credential.
_UNAUTHENTICATED = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, "
    "login cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)


class AnyBearerAuthenticator:
    def authenticate(
        self, authorization: str | None, project: str, location: str = "global"
    ) -> Principal:
        return Principal(subject=self.identify(authorization).subject, project=project)

    def identify(self, authorization: str | None) -> Principal:
        scheme, _, token = (authorization or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated(_UNAUTHENTICATED, reason="missing")
        # Only a digest identifies the caller: tokens are never kept or logged.
        digest = hashlib.sha256(token.encode()).hexdigest()[:16]
        return Principal(subject=f"bearer:{digest}", project="default")
