"""The SQLite store: persistence across close/reopen, schema, integrity."""

import pytest

from vertexcompat.auth.grant import JWT_BEARER_GRANT_TYPE
from vertexcompat.auth.jwt_bearer import sign_assertion
from vertexcompat.domain.errors import Unauthenticated
from vertexcompat.store.sqlite import open_database

from ..auth.conftest import TOKEN_URI, Clock, build_stack, claims_for


def test_accounts_roles_and_tokens_survive_close_and_reopen(tmp_path) -> None:
    clock = Clock()
    stack = build_stack(tmp_path, clock)
    key = stack.admin.create(project="demo", name="sa", token_uri=TOKEN_URI)
    revoked = stack.admin.create(project="demo", name="gone", token_uri=TOKEN_URI)
    stack.admin.grant_role(project="b", member=key["client_email"], role="roles/aiplatform.user")
    assertion = sign_assertion(claims_for(key, clock.now), private_key_pem=key["private_key"],
                               key_id=key["private_key_id"])
    token = stack.grant.exchange(JWT_BEARER_GRANT_TYPE, assertion).access_token
    stack.admin.revoke_key(revoked["private_key_id"])
    stack.db.close()

    reopened = build_stack(tmp_path, clock)
    assert [a.account.email for a in reopened.admin.list("demo")] == [
        "gone@demo.iam.gserviceaccount.com", "sa@demo.iam.gserviceaccount.com"
    ]
    assert reopened.authenticator.authenticate(f"Bearer {token}", "b").project == "b"
    assert reopened.accounts.key(revoked["private_key_id"]).revoked
    assert reopened.db.integrity_check() == "ok"
    reopened.db.close()


def test_private_keys_are_never_stored(tmp_path) -> None:
    stack = build_stack(tmp_path, Clock())
    key = stack.admin.create(project="demo", name="sa", token_uri=TOKEN_URI)
    stack.db.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("state.db*"))
    body_lines = key["private_key"].splitlines()[1:-1]
    assert not any(line.encode() in raw for line in body_lines)


def test_database_is_in_wal_mode_and_migrated(tmp_path) -> None:
    db = open_database(tmp_path)
    with db.read() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 4
    db.close()
    open_database(tmp_path).close()  # re-migrating an up-to-date file is a no-op


def test_a_failed_transaction_leaves_nothing_behind(tmp_path) -> None:
    db = open_database(tmp_path)
    with pytest.raises(RuntimeError), db.transaction() as conn:
        conn.execute("INSERT INTO role_bindings VALUES ('p', 'm', 'r')")
        raise RuntimeError("boom")
    with db.read() as conn:
        assert conn.execute("SELECT count(*) FROM role_bindings").fetchone()[0] == 0
    db.close()


def test_expired_tokens_can_be_swept(tmp_path) -> None:
    clock = Clock()
    stack = build_stack(tmp_path, clock)
    key = stack.admin.create(project="demo", name="sa", token_uri=TOKEN_URI)
    token = stack.tokens.issue(email=key["client_email"], key_id=key["private_key_id"])
    from vertexcompat.store.tokens import SqliteTokens

    assert SqliteTokens(stack.db).delete_expired(int(clock.now) + 3600) == 1
    with pytest.raises(Unauthenticated):
        stack.authenticator.authenticate(f"Bearer {token.access_token}", "demo")
    stack.db.close()


def test_expired_tokens_are_swept_in_batches_and_live_ones_kept(tmp_path) -> None:
    from vertexcompat.store.tokens import SqliteTokens, TokenRecord

    db = open_database(tmp_path)
    repo = SqliteTokens(db)
    for i in range(2503):
        expires_at = 100 if i % 1000 else 10_000  # 3 live among 2500 expired
        repo.add(TokenRecord(f"{i:064x}", "sa@x", "k", 1, expires_at, None))
    assert repo.delete_expired(100, batch=1000) == 2500
    assert repo.delete_expired(100, batch=1000) == 0
    with db.read() as conn:
        assert conn.execute("SELECT count(*) FROM access_tokens").fetchone()[0] == 3
    assert repo.find(f"{0:064x}") is not None
    db.close()


def test_the_expiry_sweep_uses_an_index(tmp_path):
    from vertexcompat.store.sqlite import Database

    db = Database(tmp_path / "state.db")
    with db.read() as conn:
        plan = " ".join(
            str(tuple(row)) for row in conn.execute(
                "EXPLAIN QUERY PLAN SELECT rowid FROM access_tokens WHERE expires_at <= ? LIMIT 10",
                (0,),
            )
        )
    assert "access_tokens_expires" in plan
