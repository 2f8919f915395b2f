"""`vertexcompat store migrate | check | copy`: moving a SQLite deployment onto PostgreSQL
keeps every account, key, token, role, thought key and cache usable there."""

from __future__ import annotations

from vertexcompat.cli.main import main
from vertexcompat.store.cached_contents import SqlCachedContents
from vertexcompat.store.database import open_state_database
from vertexcompat.store.thought_keys import SqlThoughtKeys, ThoughtKey

from ...postgres import PostgresServer
from ..auth.conftest import TOKEN_URI, Clock
from .test_cached_contents import record
from .test_store import stack_on


def test_copy_moves_a_sqlite_deployment_to_postgresql(
    postgres_server: PostgresServer, tmp_path, capsys
) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'old' / 'state.db'}"
    pg_url = postgres_server.create_schema()
    clock = Clock()
    old = stack_on(open_state_database(sqlite_url, tmp_path), clock)
    key = old.admin.create(project="demo", name="sa", token_uri=TOKEN_URI)
    gone = old.admin.create(project="demo", name="gone", token_uri=TOKEN_URI)
    old.admin.revoke_key(gone["private_key_id"])
    token = old.tokens.issue(email=key["client_email"], key_id=key["private_key_id"])
    for key_id in ("t-b", "t-a"):
        SqlThoughtKeys(old.db).add(ThoughtKey(key_id, key_id.encode() * 8, created_at=7))
    SqlCachedContents(old.db).add(record("1", expires_at=clock.now + 60))
    old.db.close()

    assert main(["store", "migrate", "--url", pg_url]) == 0
    assert main(["store", "copy", "--from", sqlite_url, "--to", pg_url]) == 0
    out = capsys.readouterr().out
    assert "service_accounts: 2" in out and "access_tokens: 1" in out
    assert main(["store", "check", "--url", pg_url]) == 0

    new = stack_on(open_state_database(pg_url, tmp_path), clock)
    assert new.authenticator.authenticate(f"Bearer {token.access_token}", "demo")
    assert new.accounts.key(gone["private_key_id"]).revoked
    assert [k.key_id for k in SqlThoughtKeys(new.db).usable()] == ["t-a", "t-b"]
    assert SqlCachedContents(new.db).get(record("1").name, now=clock.now) is not None
    new.db.close()

    # A second copy would duplicate nothing: the target is refused, untouched.
    assert main(["store", "copy", "--from", sqlite_url, "--to", pg_url]) == 2
    assert "already holds state: service_accounts (2)" in capsys.readouterr().err


def test_bad_urls_are_one_line_errors(tmp_path, capsys) -> None:
    assert main(["store", "copy", "--from", "mysql://x/y", "--to", "sqlite:///a.db"]) == 2
    assert main(["store", "migrate", "--url", "postgresql://u:pw@127.0.0.1:1/db"]) == 2
    err = capsys.readouterr().err
    assert "unknown database URL scheme 'mysql'" in err
    assert "cannot use PostgreSQL at postgresql://u@127.0.0.1:1/db" in err
    assert "Traceback" not in err and ":pw@" not in err
