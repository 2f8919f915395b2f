"""Moving a deployment's state between databases (`vertexcompat store copy`): every row
of every table, in one transaction on the target, into a target that holds no state yet.
Both ends are first brought to the latest schema."""

from __future__ import annotations

from vertexcompat.store.database import StateDatabase, StoreError
from vertexcompat.store.migrations import INSERTION_ORDER

# Table → columns, parents before children (service_account_keys names an account).
TABLES: dict[str, tuple[str, ...]] = {
    "service_accounts": ("email", "project", "name", "client_id", "created_at"),
    "service_account_keys": ("key_id", "email", "public_key_pem", "created_at", "revoked_at"),
    "access_tokens": ("digest", "email", "key_id", "issued_at", "expires_at", "revoked_at"),
    "role_bindings": ("project", "member", "role"),
    # In the source's insertion order: among keys made in one second, the last one made
    # seals (store/thought_keys.py), on the target too.
    "thought_keys": ("key_id", "secret", "created_at", "retired_at"),
    "cached_contents": ("name", "project", "location", "model", "display_name", "body",
                        "total_tokens", "created_at", "updated_at", "expires_at"),
}
BATCH = 500


def row_counts(db: StateDatabase) -> dict[str, int]:
    with db.read() as conn:
        return {table: int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
                for table in TABLES}


def copy_state(source: StateDatabase, target: StateDatabase) -> dict[str, int]:
    """Copy every row from `source` to the empty `target`; rows copied per table. A
    `StoreError` (and nothing written) if the target already holds state."""
    held = {table: n for table, n in row_counts(target).items() if n}
    if held:
        listed = ", ".join(f"{table} ({n})" for table, n in held.items())
        raise StoreError(f"the target database already holds state: {listed}")
    with target.transaction() as out:
        for table, columns in TABLES.items():
            names = ", ".join(columns)
            insert = (f"INSERT INTO {table} ({names}) VALUES "
                      f"({', '.join('?' for _ in columns)})")
            order = INSERTION_ORDER[source.dialect] if table == "thought_keys" else "1"
            with source.read() as conn:
                rows = conn.execute(f"SELECT {names} FROM {table} ORDER BY {order}").fetchall()
            for row in rows:
                out.execute(insert, tuple(_plain(value) for value in row))
    copied = row_counts(target)
    if copied != row_counts(source):
        raise StoreError(f"copy incomplete: source {row_counts(source)}, target {copied}")
    return copied


def _plain(value: object) -> object:
    # psycopg hands BYTEA back as bytes or memoryview; sqlite3 as bytes.
    return bytes(value) if isinstance(value, memoryview) else value
