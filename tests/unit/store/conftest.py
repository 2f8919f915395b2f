"""The store suite runs on both state databases: every `state` test once on a SQLite file
and once on a fresh database of a real PostgreSQL server (tests/postgres.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from vertexcompat.store.database import StateDatabase, open_state_database
from vertexcompat.store.postgres import PostgresDatabase

from ...postgres import PostgresServer, postgres_server  # noqa: F401 - a fixture

BACKENDS = ("sqlite", "postgresql")


@dataclass
class State:
    """One test's state database, by URL: open it as often as a test likes (each open is
    a new "process" on the same data); everything opened is closed at the end."""

    backend: str
    url: str
    data_dir: Path
    server: PostgresServer | None = None
    opened: list[StateDatabase] = field(default_factory=list)

    def open(self, **kwargs: int) -> StateDatabase:
        db = open_state_database(self.url, self.data_dir, **kwargs)
        self.opened.append(db)
        return db

    def raw_bytes(self) -> bytes:
        """Everything the database has written to disk."""
        if self.server is None:
            return b"".join(p.read_bytes() for p in self.data_dir.glob("state.db*"))
        with psycopg.connect(self.server.admin_url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
        return b"".join(
            p.read_bytes() for p in (self.server.root / "data").rglob("*") if p.is_file()
        )


@pytest.fixture(params=BACKENDS)
def state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[State]:
    if request.param == "sqlite":
        s = State("sqlite", f"sqlite:///{tmp_path / 'state.db'}", tmp_path)
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        s = State("postgresql", server.create_schema(), tmp_path, server)
    yield s
    for db in s.opened:
        db.close()


def schema_version(db: StateDatabase) -> int:
    if isinstance(db, PostgresDatabase):
        return db.schema_version()
    with db.read() as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
