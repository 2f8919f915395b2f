"""Access tokens: random, recognizable by their prefix, stored only as SHA-256 digests,
found by digest and compared in constant time, expiring after `lifetime_s`."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from vertexcompat.store.tokens import TokenRecord, TokenRepository

TOKEN_PREFIX = "vxc1."

Clock = Callable[[], float]


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_in: int
    token_type: str = "Bearer"


class AccessTokens:
    def __init__(self, repo: TokenRepository, *, lifetime_s: int, clock: Clock = time.time):
        self._repo = repo
        self._lifetime_s = lifetime_s
        self._clock = clock

    def issue(self, *, email: str, key_id: str) -> IssuedToken:
        token = new_token()
        now = int(self._clock())
        self._repo.add(
            TokenRecord(token_digest(token), email, key_id, now, now + self._lifetime_s, None)
        )
        return IssuedToken(token, self._lifetime_s)

    def resolve(self, token: str) -> TokenRecord | None:
        """The live record of `token`, or None (unknown, expired or revoked)."""
        return self.inspect(token)[0]

    def inspect(self, token: str) -> tuple[TokenRecord | None, str]:
        """(the live record of `token`, "live"), or (None, why not): "invalid" (unknown),
        "revoked" or "expired" — for the operator's metrics; clients are told none of it."""
        digest = token_digest(token)
        record = self._repo.find(digest)
        if record is None or not hmac.compare_digest(record.digest, digest):
            return None, "invalid"
        if record.revoked_at is not None:
            return None, "revoked"
        if record.expires_at <= self._clock():
            return None, "expired"
        return record, "live"

    def revoke(self, token: str) -> bool:
        return self._repo.revoke(token_digest(token), int(self._clock()))
