"""The token endpoint's logic: the JWT-bearer grant (RFC 7523) → an access token, within
the endpoint's rate limits (auth/rate_limit.py)."""

from __future__ import annotations

import logging
import time
from collections.abc import Collection

from vertexcompat.auth.jwt_bearer import parse_assertion, verify_assertion
from vertexcompat.auth.rate_limit import TokenRateLimits, unlimited
from vertexcompat.auth.tokens import AccessTokens, Clock, IssuedToken
from vertexcompat.domain.errors import InvalidGrant, UnsupportedGrantType
from vertexcompat.store.service_accounts import ServiceAccountRepository

JWT_BEARER_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"

logger = logging.getLogger(__name__)


class JwtBearerGrant:
    def __init__(
        self,
        accounts: ServiceAccountRepository,
        tokens: AccessTokens,
        *,
        audiences: Collection[str],
        clock: Clock = time.time,
        limits: TokenRateLimits | None = None,
    ) -> None:
        self._accounts = accounts
        self._tokens = tokens
        self._audiences = frozenset(audiences)
        self._clock = clock
        self._limits = limits or unlimited()

    def admit(self, client_address: str | None) -> None:
        """Raises `TokenRateLimited` when `client_address` asks too often. Called before
        the request body is read, so a flood costs neither reads nor RSA."""
        self._limits.admit_address(client_address)

    def exchange(self, grant_type: str | None, assertion: str | None) -> IssuedToken:
        if grant_type != JWT_BEARER_GRANT_TYPE:
            raise UnsupportedGrantType(
                f"Unsupported grant_type; only {JWT_BEARER_GRANT_TYPE} is supported."
            )
        if not assertion:
            raise InvalidGrant("Missing required parameter: assertion.")

        def live_key_pem(kid: str) -> str | None:
            key = self._accounts.key(kid)
            return None if key is None or key.revoked else key.public_key_pem

        def issuer(kid: str) -> str | None:
            key = self._accounts.key(kid)
            return key.email if key else None

        parsed = parse_assertion(assertion)
        # Before the key lookup and the RSA verification: a key asking too often is
        # turned away cheaply. Failed attempts count too: a `kid` is not public (it is in
        # the key file and this server's logs), so strangers cannot drain a key's bucket.
        self._limits.admit_key(parsed.key_id)
        claims = verify_assertion(
            parsed,
            public_key_for=live_key_pem,
            issuer_for=issuer,
            audiences=self._audiences,
            now=int(self._clock()),
        )
        issued = self._tokens.issue(email=claims.issuer, key_id=claims.key_id)
        logger.info("issued an access token to %s (key %s)", claims.issuer, claims.key_id)
        return issued
