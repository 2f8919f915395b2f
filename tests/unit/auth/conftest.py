"""An auth stack over a real SQLite file in tmp_path, with a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from vertexcompat.auth.admin import ServiceAccountAdmin
from vertexcompat.auth.authenticator import TokenAuthenticator
from vertexcompat.auth.grant import JwtBearerGrant
from vertexcompat.auth.jwt_bearer import GOOGLE_TOKEN_URI
from vertexcompat.auth.tokens import AccessTokens
from vertexcompat.store.roles import SqlRoles
from vertexcompat.store.service_accounts import SqlServiceAccounts
from vertexcompat.store.sqlite import Database, open_database
from vertexcompat.store.tokens import SqlTokens

TOKEN_URI = "http://127.0.0.1:9/token"
LIFETIME_S = 3600


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Stack:
    db: Database
    clock: Clock
    accounts: SqlServiceAccounts
    roles: SqlRoles
    tokens: AccessTokens
    admin: ServiceAccountAdmin
    grant: JwtBearerGrant
    authenticator: TokenAuthenticator


def build_stack(data_dir: Path, clock: Clock) -> Stack:
    db = open_database(data_dir)
    accounts, roles = SqlServiceAccounts(db), SqlRoles(db)
    tokens = AccessTokens(SqlTokens(db), lifetime_s=LIFETIME_S, clock=clock)
    return Stack(
        db, clock, accounts, roles, tokens,
        ServiceAccountAdmin(accounts, roles, clock=clock),
        JwtBearerGrant(accounts, tokens, audiences={GOOGLE_TOKEN_URI, TOKEN_URI}, clock=clock),
        TokenAuthenticator(tokens, accounts, roles),
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def stack(tmp_path: Path, clock: Clock) -> Iterator[Stack]:
    s = build_stack(tmp_path, clock)
    yield s
    s.db.close()


@pytest.fixture
def key(stack: Stack) -> dict[str, Any]:
    """A key file for `sa@demo.iam.gserviceaccount.com` (aiplatform.user on `demo`)."""
    return stack.admin.create(project="demo", name="sa", token_uri=TOKEN_URI)


def claims_for(key: dict[str, Any], now: float, **overrides: Any) -> dict[str, Any]:
    """What google-auth 2.62.2 puts in the assertion."""
    claims = {
        "iat": int(now),
        "exp": int(now) + 3600,
        "iss": key["client_email"],
        "aud": GOOGLE_TOKEN_URI,
        "scope": "https://www.googleapis.com/auth/cloud-platform",
    }
    claims.update(overrides)
    return claims
