"""What only the PostgreSQL store does: replicas starting together migrate once, bad URLs
and unreachable servers are clear errors, a lost connection is a 503 (not a 500) and the
pool recovers, and the integrity check finds what it checks for."""

from __future__ import annotations

import threading

import psycopg
import pytest

from vertexcompat.domain.errors import Unavailable
from vertexcompat.store import migrations
from vertexcompat.store.database import StoreError, open_state_database, parse_store_url
from vertexcompat.store.postgres import SCHEMA_TABLE, PostgresDatabase
from vertexcompat.store.roles import SqlRoles

from ...postgres import PostgresServer


def test_replicas_starting_together_migrate_once(
    postgres_server: PostgresServer, tmp_path
) -> None:
    url = postgres_server.create_schema()
    opened: list[PostgresDatabase] = []
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def replica() -> None:
        try:
            start.wait()
            db = open_state_database(url, tmp_path, pool_size=1)
            assert isinstance(db, PostgresDatabase)
            opened.append(db)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=replica) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(opened) == 6 and all(db.schema_version() == migrations.LATEST for db in opened)
    with opened[0].read() as conn:
        assert conn.execute(f"SELECT count(*) FROM {SCHEMA_TABLE}").fetchone()[0] == 1
    for db in opened:
        db.close()


@pytest.mark.parametrize("url, says", [
    ("mysql://h/db", "unknown database URL scheme"),
    ("postgresql://u@h:port/db", "malformed PostgreSQL URL"),
    ("postgresql:///db", "names its host"),
    ("sqlite://", "names its file"),
    ("state.db", "must look like"),
])
def test_a_malformed_url_is_a_clear_error(url: str, says: str) -> None:
    with pytest.raises(StoreError, match=says):
        parse_store_url(url)


def test_an_unreachable_server_is_a_clear_error_without_the_password(
    postgres_server: PostgresServer, tmp_path
) -> None:
    with pytest.raises(StoreError) as caught:
        open_state_database("postgresql://u:hunter2@127.0.0.1:1/db", tmp_path)
    assert "cannot use PostgreSQL at postgresql://u@127.0.0.1:1/db" in str(caught.value)
    assert "hunter2" not in str(caught.value)
    with pytest.raises(StoreError, match="does not exist"):
        open_state_database(postgres_server.url("no_such_db"), tmp_path)


def test_a_database_from_a_newer_version_is_refused(
    postgres_server: PostgresServer, tmp_path
) -> None:
    url = postgres_server.create_schema()
    open_state_database(url, tmp_path).close()
    db = open_state_database(url, tmp_path)
    with db.transaction() as conn:
        conn.execute(f"UPDATE {SCHEMA_TABLE} SET version = ?", (migrations.LATEST + 1,))
    db.close()
    with pytest.raises(StoreError, match="newer than this vertexcompat"):
        open_state_database(url, tmp_path)


def test_a_lost_connection_is_unavailable_once_then_the_pool_reconnects(
    postgres_server: PostgresServer, tmp_path
) -> None:
    db = open_state_database(postgres_server.create_schema(), tmp_path, pool_size=1)
    roles = SqlRoles(db)
    roles.grant("p", "m", "r")
    with db.read() as conn:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    with psycopg.connect(postgres_server.admin_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(Unavailable):
        roles.roles_of("m", "p")
    assert roles.roles_of("m", "p") == {"r"}
    db.close()


def test_the_integrity_check_reports_orphaned_keys(
    postgres_server: PostgresServer, tmp_path
) -> None:
    db = open_state_database(postgres_server.create_schema(), tmp_path)
    assert db.integrity_check() == "ok"
    with db.transaction() as conn:
        conn.execute("SET LOCAL session_replication_role = replica")  # skips FK triggers
        conn.execute("INSERT INTO service_account_keys VALUES ('k', 'nobody@x', 'pem', 1, NULL)")
    assert db.integrity_check() == "1 keys of missing service accounts"
    db.close()
