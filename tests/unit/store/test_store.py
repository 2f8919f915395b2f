"""The state store on both databases (SQLite and PostgreSQL, `state` in conftest.py):
persistence across close/reopen, schema, transactions, the token sweep, integrity."""

from __future__ import annotations

import pytest

from vertexcompat.auth.admin import ServiceAccountAdmin
from vertexcompat.auth.authenticator import TokenAuthenticator
from vertexcompat.auth.grant import JWT_BEARER_GRANT_TYPE, JwtBearerGrant
from vertexcompat.auth.jwt_bearer import GOOGLE_TOKEN_URI, sign_assertion
from vertexcompat.auth.tokens import AccessTokens
from vertexcompat.domain.errors import Unauthenticated
from vertexcompat.store import migrations
from vertexcompat.store.database import StateDatabase
from vertexcompat.store.roles import SqlRoles
from vertexcompat.store.service_accounts import SqlServiceAccounts
from vertexcompat.store.sqlite import Database
from vertexcompat.store.thought_keys import SqlThoughtKeys, ThoughtKey
from vertexcompat.store.tokens import SqlTokens, TokenRecord

from ..auth.conftest import LIFETIME_S, TOKEN_URI, Clock, Stack, claims_for
from .conftest import State, schema_version


def stack_on(db: StateDatabase, clock: Clock) -> Stack:
    accounts, roles = SqlServiceAccounts(db), SqlRoles(db)
    tokens = AccessTokens(SqlTokens(db), lifetime_s=LIFETIME_S, clock=clock)
    return Stack(
        db, clock, accounts, roles, tokens,  # type: ignore[arg-type]
        ServiceAccountAdmin(accounts, roles, clock=clock),
        JwtBearerGrant(accounts, tokens, audiences={GOOGLE_TOKEN_URI, TOKEN_URI}, clock=clock),
        TokenAuthenticator(tokens, accounts, roles),
    )


def test_accounts_roles_and_tokens_survive_close_and_reopen(state: State) -> None:
    clock = Clock()
    stack = stack_on(state.open(), clock)
    key = stack.admin.create(project="demo", name="sa", token_uri=TOKEN_URI)
    revoked = stack.admin.create(project="demo", name="gone", token_uri=TOKEN_URI)
    stack.admin.grant_role(project="b", member=key["client_email"], role="roles/aiplatform.user")
    assertion = sign_assertion(claims_for(key, clock.now), private_key_pem=key["private_key"],
                               key_id=key["private_key_id"])
    token = stack.grant.exchange(JWT_BEARER_GRANT_TYPE, assertion).access_token
    stack.admin.revoke_key(revoked["private_key_id"])
    stack.db.close()

    reopened = stack_on(state.open(), clock)
    assert [a.account.email for a in reopened.admin.list("demo")] == [
        "gone@demo.iam.gserviceaccount.com", "sa@demo.iam.gserviceaccount.com"
    ]
    assert reopened.authenticator.authenticate(f"Bearer {token}", "b").project == "b"
    assert reopened.accounts.key(revoked["private_key_id"]).revoked
    assert reopened.db.integrity_check() == "ok"


def test_a_revocation_through_one_replica_is_refused_by_another_at_once(state: State) -> None:
    clock = Clock()
    a, b = stack_on(state.open(), clock), stack_on(state.open(), clock)
    key = a.admin.create(project="demo", name="sa", token_uri=TOKEN_URI)
    token = a.tokens.issue(email=key["client_email"], key_id=key["private_key_id"]).access_token
    assert b.authenticator.authenticate(f"Bearer {token}", "demo").project == "demo"
    assert a.tokens.revoke(token)
    with pytest.raises(Unauthenticated):
        b.authenticator.authenticate(f"Bearer {token}", "demo")
    other = b.tokens.issue(email=key["client_email"], key_id=key["private_key_id"]).access_token
    a.authenticator.authenticate(f"Bearer {other}", "demo")
    a.admin.revoke_key(key["private_key_id"])
    with pytest.raises(Unauthenticated):
        b.authenticator.authenticate(f"Bearer {other}", "demo")


def test_private_keys_are_never_stored(state: State) -> None:
    stack = stack_on(state.open(), Clock())
    key = stack.admin.create(project="demo", name="sa", token_uri=TOKEN_URI)
    stack.db.close()
    raw = state.raw_bytes()
    assert key["client_email"].encode() in raw  # the check can see what was written
    body_lines = key["private_key"].splitlines()[1:-1]
    assert not any(line.encode() in raw for line in body_lines)


def test_the_database_is_migrated_once_to_the_latest_schema(state: State) -> None:
    db = state.open()
    assert schema_version(db) == migrations.LATEST == 4
    db.close()
    again = state.open()  # re-migrating an up-to-date database is a no-op
    assert schema_version(again) == migrations.LATEST
    assert again.integrity_check() == "ok"


def test_sqlite_is_in_wal_mode(tmp_path) -> None:
    db = Database(tmp_path / "state.db")
    with db.read() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_a_failed_transaction_leaves_nothing_behind(state: State) -> None:
    db = state.open()
    with pytest.raises(RuntimeError), db.transaction() as conn:
        conn.execute("INSERT INTO role_bindings VALUES ('p', 'm', 'r')")
        raise RuntimeError("boom")
    with db.read() as conn:
        assert conn.execute("SELECT count(*) FROM role_bindings").fetchone()[0] == 0


def test_role_grants_are_idempotent_and_revocable(state: State) -> None:
    roles = SqlRoles(state.open())
    assert roles.grant("p", "m@x", "roles/aiplatform.user")
    assert not roles.grant("p", "m@x", "roles/aiplatform.user")
    roles.grant("q", "m@x", "roles/owner")
    assert roles.roles_of("m@x", "p") == {"roles/aiplatform.user"}
    assert roles.bindings() == [("p", "m@x", "roles/aiplatform.user"), ("q", "m@x", "roles/owner")]
    assert roles.revoke("p", "m@x", "roles/aiplatform.user")
    assert not roles.revoke("p", "m@x", "roles/aiplatform.user")
    assert roles.bindings("p") == []


def test_the_thought_key_made_last_seals_even_within_one_second(state: State) -> None:
    keys = SqlThoughtKeys(state.open())
    for key_id in ("k-b", "k-a", "k-c"):  # not in name order
        keys.add(ThoughtKey(key_id, bytes(range(32)), created_at=100))
    keys.add(ThoughtKey("k-old", b"\x00" * 32, created_at=50))
    usable = keys.usable()
    assert [k.key_id for k in usable] == ["k-c", "k-a", "k-b", "k-old"]
    assert usable[0].secret == bytes(range(32)) and isinstance(usable[0].secret, bytes)
    assert keys.retire("k-c", now=200) and not keys.retire("k-c", now=201)
    assert keys.usable()[0].key_id == "k-a"


def test_expired_tokens_can_be_swept(state: State) -> None:
    clock = Clock()
    stack = stack_on(state.open(), clock)
    key = stack.admin.create(project="demo", name="sa", token_uri=TOKEN_URI)
    token = stack.tokens.issue(email=key["client_email"], key_id=key["private_key_id"])
    assert SqlTokens(stack.db).delete_expired(int(clock.now) + 3600) == 1
    with pytest.raises(Unauthenticated):
        stack.authenticator.authenticate(f"Bearer {token.access_token}", "demo")


def test_expired_tokens_are_swept_in_batches_and_live_ones_kept(state: State) -> None:
    db = state.open()
    repo = SqlTokens(db)
    # One transaction for the setup: the sweep's batches are what is under test.
    with db.transaction() as conn:
        for i in range(2503):
            expires_at = 100 if i % 1000 else 10_000  # 3 live among 2500 expired
            conn.execute("INSERT INTO access_tokens VALUES (?, ?, ?, ?, ?, ?)",
                         (f"{i:064x}", "sa@x", "k", 1, expires_at, None))
    assert repo.delete_expired(100, batch=1000) == 2500
    assert repo.delete_expired(100, batch=1000) == 0
    with db.read() as conn:
        assert conn.execute("SELECT count(*) FROM access_tokens").fetchone()[0] == 3
    assert repo.find(f"{0:064x}") == TokenRecord(f"{0:064x}", "sa@x", "k", 1, 10_000, None)


def test_the_expiry_sweep_uses_an_index(state: State) -> None:
    db = state.open()
    query = "SELECT digest FROM access_tokens WHERE expires_at <= ? LIMIT 10"
    with db.transaction() as conn:
        if state.backend == "sqlite":
            rows = conn.execute(f"EXPLAIN QUERY PLAN {query}", (0,)).fetchall()
        else:
            # On an empty table the planner rightly prefers a scan; is there an index at all?
            conn.execute("SET LOCAL enable_seqscan = off")
            rows = conn.execute(f"EXPLAIN {query}", (0,)).fetchall()
    assert "access_tokens_expires" in " ".join(str(tuple(row)) for row in rows)
