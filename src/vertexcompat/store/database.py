"""The state database port: what every repository needs of a database (a transaction for
writes, a connection for reads), the URL that picks one, and `open_state_database`.

URLs: `sqlite:///path/to/state.db` (or none: `<data_dir>/state.db`, the embedded
default) and `postgresql://user:password@host:port/dbname` (also `postgres://`), the
state many replicas share (store/postgres.py). Repositories write `?` placeholders and
SQL both databases speak.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from vertexcompat.store import migrations
from vertexcompat.store.migrations import Dialect


class StoreError(Exception):
    """The state database cannot be used as configured (a bad URL, an unreachable or too
    new database). Its message is for the operator, and names no password."""


def upgrade_schema(execute: Callable[[str], object], version: int, dialect: Dialect,
                   where: str, reached: Callable[[int], None]) -> None:
    """Run the migrations from schema `version` to `migrations.LATEST` through `execute`,
    telling `reached` each version done (the caller records it, in its transaction); a
    schema newer than this code's is refused."""
    if version > migrations.LATEST:
        raise StoreError(
            f"{where} has schema version {version}, newer than this vertexcompat's "
            f"{migrations.LATEST}: upgrade vertexcompat"
        )
    for number in range(version, migrations.LATEST):
        for statement in migrations.statements(number, dialect):
            execute(statement)
        reached(number + 1)


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor: ...


class StateDatabase(Protocol):
    """Rows read through it support `row[0]`, `row["column"]` and `dict(row)`."""

    dialect: Dialect

    def transaction(self) -> AbstractContextManager[Any]:
        """A connection inside one transaction: committed at the end of the block, rolled
        back if it raises."""
        ...

    def read(self) -> AbstractContextManager[Any]: ...

    def integrity_check(self) -> str:
        """"ok", or what is wrong."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class StoreUrl:
    dialect: Dialect
    # SQLite: the file; PostgreSQL: the libpq URL, as given.
    target: str

    @property
    def redacted(self) -> str:
        """The URL without its password, for messages and logs."""
        if self.dialect == "sqlite":
            return f"sqlite:///{self.target}"
        parts = urlsplit(self.target)
        host = parts.hostname or "localhost"
        port = f":{parts.port}" if parts.port else ""
        user = f"{parts.username}@" if parts.username else ""
        return f"{parts.scheme}://{user}{host}{port}{parts.path}"


def parse_store_url(url: str) -> StoreUrl:
    """`url` checked and classified; a `StoreError` that says what is wrong otherwise."""
    url = url.strip()
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise StoreError(
            "database URL must look like postgresql://user@host:5432/dbname or "
            "sqlite:///path/to/state.db"
        )
    match scheme.lower():
        case "sqlite":
            # sqlite:///relative.db and sqlite:////absolute/state.db, as SQLAlchemy spells them.
            if not rest.startswith("/") or not rest[1:]:
                raise StoreError("a SQLite URL names its file: sqlite:///path/to/state.db")
            return StoreUrl("sqlite", rest[1:])
        case "postgresql" | "postgres":
            try:
                parts = urlsplit(url)
                parts.port  # noqa: B018 - raises on a port that is not a number
            except ValueError as exc:
                raise StoreError(f"malformed PostgreSQL URL: {exc}") from None
            if not parts.hostname and "host=" not in parts.query:
                raise StoreError("a PostgreSQL URL names its host: postgresql://user@host/db")
            return StoreUrl("postgresql", url)
        case _:
            raise StoreError(
                f"unknown database URL scheme {scheme!r}: use postgresql:// or sqlite:///"
            )


def open_state_database(
    url: str | None, data_dir: Path, *, pool_size: int = 4
) -> StateDatabase:
    """The database `url` names (migrated to the latest schema), else `<data_dir>/state.db`."""
    from vertexcompat.store.sqlite import Database

    if url is None:
        return Database(Path(data_dir) / "state.db")
    parsed = parse_store_url(url)
    if parsed.dialect == "sqlite":
        return Database(Path(parsed.target).expanduser())
    # Imported here: an embedded (SQLite) deployment never loads psycopg.
    from vertexcompat.store.postgres import PostgresDatabase

    return PostgresDatabase(parsed, pool_size=pool_size)
