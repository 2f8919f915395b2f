"""IAM-style role bindings: (project, member, role)."""

from __future__ import annotations

from typing import Protocol

from vertexcompat.store.database import StateDatabase


class RoleRepository(Protocol):
    def grant(self, project: str, member: str, role: str) -> bool: ...
    def revoke(self, project: str, member: str, role: str) -> bool: ...
    def roles_of(self, member: str, project: str) -> set[str]: ...
    def bindings(self, project: str | None = None) -> list[tuple[str, str, str]]: ...


class SqlRoles:
    """Over either state database (SQLite or PostgreSQL)."""

    def __init__(self, db: StateDatabase) -> None:
        self._db = db

    def grant(self, project: str, member: str, role: str) -> bool:
        """True if the binding is new."""
        with self._db.transaction() as conn:
            return conn.execute(
                "INSERT INTO role_bindings VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (project, member, role),
            ).rowcount == 1

    def revoke(self, project: str, member: str, role: str) -> bool:
        with self._db.transaction() as conn:
            return conn.execute(
                "DELETE FROM role_bindings WHERE project = ? AND member = ? AND role = ?",
                (project, member, role),
            ).rowcount == 1

    def roles_of(self, member: str, project: str) -> set[str]:
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT role FROM role_bindings WHERE project = ? AND member = ?",
                (project, member),
            ).fetchall()
        return {str(r[0]) for r in rows}

    def bindings(self, project: str | None = None) -> list[tuple[str, str, str]]:
        with self._db.read() as conn:
            if project is None:
                rows = conn.execute("SELECT * FROM role_bindings ORDER BY 1, 2, 3").fetchall()
            else:
                rows = conn.execute(
                    "SELECT * FROM role_bindings WHERE project = ? ORDER BY 1, 2, 3", (project,)
                ).fetchall()
        return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]
