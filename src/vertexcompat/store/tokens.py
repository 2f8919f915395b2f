"""Access tokens, stored only as SHA-256 digests of the token string."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from vertexcompat.store.database import StateDatabase

# Rows deleted per transaction when sweeping expired tokens.
DELETE_BATCH = 1000


@dataclass(frozen=True, slots=True)
class TokenRecord:
    digest: str
    email: str
    key_id: str
    issued_at: int
    expires_at: int
    revoked_at: int | None


class TokenRepository(Protocol):
    def add(self, record: TokenRecord) -> None: ...
    def find(self, digest: str) -> TokenRecord | None: ...
    def revoke(self, digest: str, now: int) -> bool: ...
    def delete_expired(self, now: int) -> int:
        """Delete the tokens expired by `now` (revoked or not); how many."""
        ...


class SqlTokens:
    """Over either state database (SQLite or PostgreSQL)."""

    def __init__(self, db: StateDatabase) -> None:
        self._db = db

    def add(self, record: TokenRecord) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO access_tokens VALUES (?, ?, ?, ?, ?, ?)",
                (record.digest, record.email, record.key_id, record.issued_at,
                 record.expires_at, record.revoked_at),
            )

    def find(self, digest: str) -> TokenRecord | None:
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT * FROM access_tokens WHERE digest = ?", (digest,)
            ).fetchone()
        return TokenRecord(**dict(row)) if row else None

    def revoke(self, digest: str, now: int) -> bool:
        with self._db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE access_tokens SET revoked_at = ? WHERE digest = ? AND revoked_at IS NULL",
                (now, digest),
            )
            return cursor.rowcount == 1

    def delete_expired(self, now: int, *, batch: int = DELETE_BATCH) -> int:
        # In batches, each its own transaction: the connection's lock is released between
        # them, so token checks and grants are not held up while a large backlog goes.
        deleted = 0
        while True:
            with self._db.transaction() as conn:
                count = conn.execute(
                    "DELETE FROM access_tokens WHERE digest IN (SELECT digest FROM "
                    "access_tokens WHERE expires_at <= ? LIMIT ?)",
                    (now, batch),
                ).rowcount
            deleted += count
            if count < batch:
                return deleted
