"""Explicit context caches (Vertex `cachedContents`): metadata and the cached request parts,
kept as Gemini wire JSON that this layer does not read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from vertexcompat.store.database import StateDatabase


@dataclass(frozen=True, slots=True)
class CachedContentRecord:
    name: str  # projects/{p}/locations/{l}/cachedContents/{id}
    project: str
    location: str
    model: str
    display_name: str
    body: str  # JSON: contents, systemInstruction, tools, toolConfig
    total_tokens: int
    created_at: float
    updated_at: float
    expires_at: float


class CachedContentRepository(Protocol):
    def add(self, record: CachedContentRecord) -> None: ...
    def get(self, name: str, now: float) -> CachedContentRecord | None:
        """The record unless it is missing or expired by `now`."""
        ...
    def list(self, project: str, location: str, now: float, *, after: str, limit: int
             ) -> list[CachedContentRecord]:
        """Unexpired records of one project and location, by name, names after `after`."""
        ...
    def set_expiry(self, name: str, expires_at: float, now: float) -> CachedContentRecord | None: ...
    def delete(self, name: str, now: float) -> bool: ...
    def delete_expired(self, now: float) -> list[tuple[str, str]]:
        """Delete the caches expired at `now`; their (name, model)."""
        ...


class SqlCachedContents:
    """Over either state database (SQLite or PostgreSQL)."""

    def __init__(self, db: StateDatabase) -> None:
        self._db = db

    def add(self, record: CachedContentRecord) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO cached_contents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (record.name, record.project, record.location, record.model,
                 record.display_name, record.body, record.total_tokens, record.created_at,
                 record.updated_at, record.expires_at),
            )

    def get(self, name: str, now: float) -> CachedContentRecord | None:
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT * FROM cached_contents WHERE name = ? AND expires_at > ?", (name, now)
            ).fetchone()
        return _record(row) if row else None

    def list(self, project: str, location: str, now: float, *, after: str, limit: int
             ) -> list[CachedContentRecord]:
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT * FROM cached_contents WHERE project = ? AND location = ? AND name > ? "
                "AND expires_at > ? ORDER BY name LIMIT ?",
                (project, location, after, now, limit),
            ).fetchall()
        return [_record(row) for row in rows]

    def set_expiry(self, name: str, expires_at: float, now: float) -> CachedContentRecord | None:
        with self._db.transaction() as conn:
            updated = conn.execute(
                "UPDATE cached_contents SET expires_at = ?, updated_at = ? "
                "WHERE name = ? AND expires_at > ?",
                (expires_at, now, name, now),
            ).rowcount
            row = conn.execute(
                "SELECT * FROM cached_contents WHERE name = ?", (name,)
            ).fetchone() if updated else None
        return _record(row) if row else None

    def delete(self, name: str, now: float) -> bool:
        with self._db.transaction() as conn:
            return conn.execute(
                "DELETE FROM cached_contents WHERE name = ? AND expires_at > ?", (name, now)
            ).rowcount == 1

    def delete_expired(self, now: float) -> list[tuple[str, str]]:
        with self._db.transaction() as conn:
            rows = conn.execute(
                "DELETE FROM cached_contents WHERE expires_at <= ? RETURNING name, model", (now,)
            ).fetchall()
        return [(row[0], row[1]) for row in rows]


def _record(row: object) -> CachedContentRecord:
    return CachedContentRecord(**dict(row))  # type: ignore[call-overload]
