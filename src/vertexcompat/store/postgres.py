"""The shared state database: PostgreSQL through psycopg 3 and a connection pool, for many
replicas behind one load balancer (docs/replicas.md).

Every replica reads the database on every request (no per-process cache), so a token or
key revoked through one replica is refused by all of them on their next request.

Repositories write `?` placeholders (store/database.py); connections here turn them into
psycopg's `%s`. Schema migrations (store/migrations.py) run at start inside one
transaction that holds an advisory lock, so replicas starting together migrate once.
psycopg's errors become `StoreError` at start and `Unavailable` (503) while serving.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from vertexcompat.domain.errors import Unavailable
from vertexcompat.store import migrations
from vertexcompat.store.database import StoreError, StoreUrl, upgrade_schema

logger = logging.getLogger(__name__)

# pg_advisory_xact_lock key held while migrating ("vertexcompat" in ASCII, truncated).
MIGRATION_LOCK = 0x7665727465786370
SCHEMA_TABLE = "vertexcompat_schema"
CONNECT_TIMEOUT_S = 10
# How long a request waits for a pooled connection before answering 503.
POOL_WAIT_S = 10.0


class Row:
    """One result row, read like `sqlite3.Row`: `row[0]`, `row["name"]`, `dict(row)`."""

    __slots__ = ("_values", "_index")

    def __init__(self, values: Sequence[Any], index: dict[str, int]) -> None:
        self._values = tuple(values)
        self._index = index

    def __getitem__(self, key: int | str) -> Any:
        return self._values[key if isinstance(key, int) else self._index[key]]

    def keys(self) -> list[str]:
        return list(self._index)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Row({dict(zip(self._index, self._values))!r})"


def _rows(cursor: psycopg.Cursor[Any]) -> Callable[[Sequence[Any]], Row]:
    index = {column.name: i for i, column in enumerate(cursor.description or ())}
    return lambda values: Row(values, index)


@functools.lru_cache(maxsize=256)
def _placeholders(sql: str) -> str:
    """`?` → `%s` (our SQL has no `?` or `%` of its own in literals)."""
    return sql.replace("%", "%%").replace("?", "%s")


class PgConnection:
    """A pooled connection that speaks the repositories' `?` placeholders."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> psycopg.Cursor[Any]:
        return self._conn.execute(_placeholders(sql), parameters)


class PostgresDatabase:
    """The state database on a PostgreSQL server, migrated to the latest schema."""

    dialect: Literal["postgresql"] = "postgresql"

    def __init__(self, url: StoreUrl, *, pool_size: int = 4) -> None:
        self.url = url
        try:
            with psycopg.connect(url.target, connect_timeout=CONNECT_TIMEOUT_S,
                                 autocommit=True) as conn:
                migrate(conn, url.redacted)
        except psycopg.Error as exc:
            raise StoreError(f"cannot use PostgreSQL at {url.redacted}: {_reason(exc)}") from None
        self._pool = ConnectionPool(
            url.target,
            min_size=1,
            max_size=max(1, pool_size),
            timeout=POOL_WAIT_S,
            kwargs={"autocommit": True, "row_factory": _rows,
                    "connect_timeout": CONNECT_TIMEOUT_S},
            name="vertexcompat-state",
            open=False,
        )
        self._pool.open(wait=False)

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with self._pool.connection() as conn:
                yield conn
        except (psycopg.OperationalError, PoolTimeout) as exc:
            # The server went away or every connection is busy: a retryable 503, not a 500.
            logger.warning("state database %s: %s", self.url.redacted, _reason(exc))
            raise Unavailable("The state database is unavailable; retry shortly.") from exc

    @contextmanager
    def transaction(self) -> Iterator[PgConnection]:
        """BEGIN … COMMIT, or ROLLBACK if the block raises."""
        with self._connection() as conn, conn.transaction():
            yield PgConnection(conn)

    @contextmanager
    def read(self) -> Iterator[PgConnection]:
        with self._connection() as conn:
            yield PgConnection(conn)

    def schema_version(self) -> int:
        with self.read() as conn:
            row = conn.execute(f"SELECT version FROM {SCHEMA_TABLE}").fetchone()
        return int(row[0])

    def integrity_check(self) -> str:
        """PostgreSQL keeps its own pages consistent (WAL, crash recovery); what is checked
        here is ours: the schema is current, every index is valid, every table reads in
        full, and no key names a missing account. "ok", or the problems found."""
        problems: list[str] = []
        with self.read() as conn:
            version = int(conn.execute(f"SELECT version FROM {SCHEMA_TABLE}").fetchone()[0])
            if version != migrations.LATEST:
                problems.append(f"schema version {version}, expected {migrations.LATEST}")
            invalid = conn.execute(
                "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND NOT (i.indisvalid AND i.indisready)"
            ).fetchall()
            problems.extend(f"index {row[0]} is not valid" for row in invalid)
            for table in ("service_accounts", "service_account_keys", "access_tokens",
                          "role_bindings", "thought_keys", "cached_contents"):
                conn.execute(f"SELECT * FROM {table}").fetchall()
            orphans = conn.execute(
                "SELECT count(*) FROM service_account_keys k LEFT JOIN service_accounts a "
                "ON a.email = k.email WHERE a.email IS NULL"
            ).fetchone()[0]
            if orphans:
                problems.append(f"{orphans} keys of missing service accounts")
        return "; ".join(problems) or "ok"

    def close(self) -> None:
        self._pool.close()


def migrate(conn: psycopg.Connection[Any], where: str) -> None:
    """Bring the schema to `migrations.LATEST`, under an advisory lock held until commit:
    a replica that starts while another migrates waits, then finds nothing to do."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute(f"CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} (version INTEGER NOT NULL)")
        row = conn.execute(f"SELECT version FROM {SCHEMA_TABLE}").fetchone()
        if row is None:
            conn.execute(f"INSERT INTO {SCHEMA_TABLE} VALUES (0)")

        def reached(version: int) -> None:
            conn.execute(f"UPDATE {SCHEMA_TABLE} SET version = %s", (version,))
            logger.info("state database %s migrated to version %d", where, version)

        upgrade_schema(conn.execute, int(row[0]) if row else 0, "postgresql", where, reached)


def _reason(exc: BaseException) -> str:
    """The first line of a driver error (its later lines repeat the connection string)."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
