"""Service accounts and their PUBLIC keys (private keys are never stored)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from vertexcompat.store.database import StateDatabase


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    email: str
    project: str
    name: str
    client_id: str
    created_at: int


@dataclass(frozen=True, slots=True)
class ServiceAccountKey:
    key_id: str
    email: str
    public_key_pem: str
    created_at: int
    revoked_at: int | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


class ServiceAccountRepository(Protocol):
    def add(self, account: ServiceAccount, key: ServiceAccountKey) -> None: ...
    def get(self, email: str) -> ServiceAccount | None: ...
    def key(self, key_id: str) -> ServiceAccountKey | None: ...
    def list(self, project: str | None = None) -> list[ServiceAccount]: ...
    def keys_of(self, email: str) -> list[ServiceAccountKey]: ...
    def revoke_key(self, key_id: str, now: int) -> bool: ...


class SqlServiceAccounts:
    """Over either state database (SQLite or PostgreSQL)."""

    def __init__(self, db: StateDatabase) -> None:
        self._db = db

    def add(self, account: ServiceAccount, key: ServiceAccountKey) -> None:
        """The account (if new) and its key, in one transaction."""
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO service_accounts VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (account.email, account.project, account.name, account.client_id,
                 account.created_at),
            )
            conn.execute(
                "INSERT INTO service_account_keys VALUES (?, ?, ?, ?, ?)",
                (key.key_id, key.email, key.public_key_pem, key.created_at, key.revoked_at),
            )

    def get(self, email: str) -> ServiceAccount | None:
        with self._db.read() as conn:
            row = conn.execute("SELECT * FROM service_accounts WHERE email = ?", (email,)).fetchone()
        return ServiceAccount(**dict(row)) if row else None

    def key(self, key_id: str) -> ServiceAccountKey | None:
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT * FROM service_account_keys WHERE key_id = ?", (key_id,)
            ).fetchone()
        return ServiceAccountKey(**dict(row)) if row else None

    def list(self, project: str | None = None) -> list[ServiceAccount]:
        with self._db.read() as conn:
            if project is None:
                rows = conn.execute("SELECT * FROM service_accounts ORDER BY email").fetchall()
            else:
                rows = conn.execute(
                    "SELECT * FROM service_accounts WHERE project = ? ORDER BY email", (project,)
                ).fetchall()
        return [ServiceAccount(**dict(r)) for r in rows]

    def keys_of(self, email: str) -> list[ServiceAccountKey]:
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT * FROM service_account_keys WHERE email = ? ORDER BY created_at", (email,)
            ).fetchall()
        return [ServiceAccountKey(**dict(r)) for r in rows]

    def revoke_key(self, key_id: str, now: int) -> bool:
        """True if the key existed and was not already revoked."""
        with self._db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE service_account_keys SET revoked_at = ? "
                "WHERE key_id = ? AND revoked_at IS NULL",
                (now, key_id),
            )
            return cursor.rowcount == 1
