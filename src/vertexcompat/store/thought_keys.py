"""The server's thought-signature keys (32-byte AES-256-GCM secrets). They never leave the
state database; a retired key no longer opens signatures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from vertexcompat.store.database import StateDatabase
from vertexcompat.store.migrations import INSERTION_ORDER


@dataclass(frozen=True, slots=True)
class ThoughtKey:
    key_id: str
    secret: bytes
    created_at: int
    retired_at: int | None = None


class ThoughtKeyRepository(Protocol):
    def add(self, key: ThoughtKey) -> None: ...
    def usable(self) -> list[ThoughtKey]: ...
    def retire(self, key_id: str, now: int) -> bool: ...


class SqlThoughtKeys:
    """Over either state database (SQLite or PostgreSQL)."""

    def __init__(self, db: StateDatabase) -> None:
        self._db = db
        self._order = INSERTION_ORDER[db.dialect]

    def add(self, key: ThoughtKey) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO thought_keys (key_id, secret, created_at, retired_at) "
                "VALUES (?, ?, ?, ?)",
                (key.key_id, key.secret, key.created_at, key.retired_at),
            )

    def usable(self) -> list[ThoughtKey]:
        """Unretired keys, newest first (the first one seals)."""
        with self._db.read() as conn:
            # Keys made in the same second: the one made last seals.
            rows = conn.execute(
                "SELECT * FROM thought_keys WHERE retired_at IS NULL "
                f"ORDER BY created_at DESC, {self._order} DESC"
            ).fetchall()
        return [ThoughtKey(r["key_id"], bytes(r["secret"]), r["created_at"], r["retired_at"])
                for r in rows]

    def retire(self, key_id: str, now: int) -> bool:
        with self._db.transaction() as conn:
            cur = conn.execute(
                "UPDATE thought_keys SET retired_at = ? WHERE key_id = ? AND retired_at IS NULL",
                (now, key_id),
            )
            return cur.rowcount == 1
