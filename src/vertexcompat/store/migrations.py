"""The state schema: one append-only list of versioned migrations, written once for both
databases (SQLite and PostgreSQL).

The few spellings that differ between the two are placeholders: `{int}` (epoch seconds,
64-bit on PostgreSQL), `{real}`, `{blob}`, and `{seq}` (PostgreSQL's stand-in for SQLite's
`rowid`, the insertion order some queries break ties with, `INSERTION_ORDER`).
"""

from __future__ import annotations

from typing import Literal

Dialect = Literal["sqlite", "postgresql"]

# Each entry migrates version i → i+1; append only.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE service_accounts (
        email      TEXT PRIMARY KEY,
        project    TEXT NOT NULL,
        name       TEXT NOT NULL,
        client_id  TEXT NOT NULL UNIQUE,
        created_at {int} NOT NULL
    );
    CREATE INDEX service_accounts_project ON service_accounts(project);
    CREATE TABLE service_account_keys (
        key_id         TEXT PRIMARY KEY,
        email          TEXT NOT NULL REFERENCES service_accounts(email),
        public_key_pem TEXT NOT NULL,
        created_at     {int} NOT NULL,
        revoked_at     {int}
    );
    CREATE TABLE access_tokens (
        digest     TEXT PRIMARY KEY,
        email      TEXT NOT NULL,
        key_id     TEXT NOT NULL,
        issued_at  {int} NOT NULL,
        expires_at {int} NOT NULL,
        revoked_at {int}
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
        secret     {blob} NOT NULL,
        created_at {int} NOT NULL,
        retired_at {int}{seq}
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
        total_tokens {int} NOT NULL,
        created_at   {real} NOT NULL,
        updated_at   {real} NOT NULL,
        expires_at   {real} NOT NULL
    );
    CREATE INDEX cached_contents_scope ON cached_contents(project, location, name);
    CREATE INDEX cached_contents_expires ON cached_contents(expires_at);
    """,
)

LATEST = len(MIGRATIONS)

_SPELLINGS: dict[Dialect, dict[str, str]] = {
    "sqlite": {"int": "INTEGER", "real": "REAL", "blob": "BLOB", "seq": ""},
    "postgresql": {
        "int": "BIGINT", "real": "DOUBLE PRECISION", "blob": "BYTEA",
        "seq": ",\n        seq        BIGINT GENERATED ALWAYS AS IDENTITY",
    },
}

# The column that orders rows by insertion, per dialect.
INSERTION_ORDER: dict[Dialect, str] = {"sqlite": "rowid", "postgresql": "seq"}


def statements(version: int, dialect: Dialect) -> list[str]:
    """The statements that migrate the schema from `version` to `version + 1`."""
    script = MIGRATIONS[version].format(**_SPELLINGS[dialect])
    return [s.strip() for s in script.split(";") if s.strip()]
