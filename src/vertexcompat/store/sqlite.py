"""The state database: one SQLite file (`<data_dir>/state.db`) in WAL mode, its schema
migrations, and the one transaction helper every write goes through.

`synchronous=FULL` plus WAL: a write acknowledged to a client survives the process being
killed (SPEC §7 "never loses an acknowledged write"). One connection is shared by the
repositories and serialized with a lock, so the web layer may call it from any thread.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Each entry migrates version i → i+1; append only.
_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE service_accounts (
        email      TEXT PRIMARY KEY,
        project    TEXT NOT NULL,
        name       TEXT NOT NULL,
        client_id  TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL
    );
    CREATE INDEX service_accounts_project ON service_accounts(project);
    CREATE TABLE service_account_keys (
        key_id         TEXT PRIMARY KEY,
        email          TEXT NOT NULL REFERENCES service_accounts(email),
        public_key_pem TEXT NOT NULL,
        created_at     INTEGER NOT NULL,
        revoked_at     INTEGER
    );
    CREATE TABLE access_tokens (
        digest     TEXT PRIMARY KEY,
        email      TEXT NOT NULL,
        key_id     TEXT NOT NULL,
        issued_at  INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        revoked_at INTEGER
    );
    CREATE INDEX access_tokens_key ON access_tokens(key_id);
    CREATE TABLE role_bindings (
        project TEXT NOT NULL,
        member  TEXT NOT NULL,
        role    TEXT NOT NULL,
        PRIMARY KEY (project, member, role)
    );
    """,
    # Keys that seal thought signatures (auth/thought_signatures.py). The newest unretired
    # key seals; every unretired key opens, so rotation never breaks signatures in flight.
    """
    CREATE TABLE thought_keys (
        key_id     TEXT PRIMARY KEY,
        secret     BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        retired_at INTEGER
    );
    """,
    # The periodic sweep (auth/token_sweep.py) finds expired tokens by expiry: without an
    # index each batch scans the whole table.
    """
    CREATE INDEX access_tokens_expires ON access_tokens(expires_at);
    """,
    # Explicit context caches (Vertex `cachedContents`, services/context_cache.py): the
    # metadata, and the cached request parts as Gemini wire JSON (`body`).
    """
    CREATE TABLE cached_contents (
        name         TEXT PRIMARY KEY,
        project      TEXT NOT NULL,
        location     TEXT NOT NULL,
        model        TEXT NOT NULL,
        display_name TEXT NOT NULL,
        body         TEXT NOT NULL,
        total_tokens INTEGER NOT NULL,
        created_at   REAL NOT NULL,
        updated_at   REAL NOT NULL,
        expires_at   REAL NOT NULL
    );
    CREATE INDEX cached_contents_scope ON cached_contents(project, location, name);
    CREATE INDEX cached_contents_expires ON cached_contents(expires_at);
    """,
)


class Database:
    """A serialized SQLite connection with `transaction()` for writes and `read()` for
    queries."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE ... COMMIT).
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.execute("PRAGMA busy_timeout=5000")
        self._migrate()

    def _migrate(self) -> None:
        with self.transaction() as conn:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            for number, script in enumerate(_MIGRATIONS[version:], start=version + 1):
                for statement in script.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version={number}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT, or ROLLBACK if the block raises."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._conn

    def integrity_check(self) -> str:
        with self.read() as conn:
            return str(conn.execute("PRAGMA integrity_check").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def open_database(data_dir: Path) -> Database:
    return Database(Path(data_dir) / "state.db")
