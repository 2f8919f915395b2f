"""`build_auth(settings)`: the auth side of a deployment (service accounts, access tokens,
the JWT-bearer grant, the authenticator, the expired-token sweeper) over the configured
state database.

`serve` (through `container.build_container`) and every `vertexcompat auth` command build it
here. It lives apart from the composition root so that those commands import the settings,
`auth` and `store` only, not the server's whole stack as `container.py` does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from vertexcompat.auth.admin import ServiceAccountAdmin
from vertexcompat.auth.authenticator import TokenAuthenticator
from vertexcompat.auth.grant import JwtBearerGrant
from vertexcompat.auth.jwt_bearer import GOOGLE_TOKEN_URI
from vertexcompat.auth.rate_limit import TokenBucketLimiter, TokenRateLimits
from vertexcompat.auth.token_sweep import TokenSweeper
from vertexcompat.auth.tokens import AccessTokens
from vertexcompat.config import Settings
from vertexcompat.store.database import StateDatabase, open_state_database
from vertexcompat.store.roles import SqlRoles
from vertexcompat.store.service_accounts import SqlServiceAccounts
from vertexcompat.store.tokens import SqlTokens


@dataclass
class AuthServices:
    """The auth side of the server, over the state database; `serve` and the
    `vertexcompat auth` commands build it the same way from the same settings."""

    database: StateDatabase
    admin: ServiceAccountAdmin
    tokens: AccessTokens
    grant: JwtBearerGrant
    authenticator: TokenAuthenticator
    sweeper: TokenSweeper

    def close(self) -> None:
        self.database.close()


def build_auth(settings: Settings) -> AuthServices:
    # SQLite under data_dir, or the PostgreSQL that replicas share (`[store] url`).
    database = open_state_database(
        settings.store_url, settings.data_dir, pool_size=settings.store.pool_size
    )
    accounts, roles = SqlServiceAccounts(database), SqlRoles(database)
    token_repo = SqlTokens(database)
    # Expired tokens are useless; dropping them here keeps the table small (`sweeper`
    # keeps doing so while the server runs).
    token_repo.delete_expired(int(time.time()))
    tokens = AccessTokens(token_repo, lifetime_s=settings.token_lifetime_s)
    # google-auth always names Google's token URL as `aud`; other clients name ours.
    audiences = {GOOGLE_TOKEN_URI, settings.effective_token_uri}
    return AuthServices(
        database=database,
        admin=ServiceAccountAdmin(accounts, roles),
        tokens=tokens,
        grant=JwtBearerGrant(accounts, tokens, audiences=audiences, limits=TokenRateLimits(
            per_address=TokenBucketLimiter(
                rate=settings.token_rate_per_address, burst=settings.token_burst_per_address
            ),
            per_key=TokenBucketLimiter(
                rate=settings.token_rate_per_key, burst=settings.token_burst_per_key
            ),
        )),
        authenticator=TokenAuthenticator(tokens, accounts, roles),
        sweeper=TokenSweeper(token_repo, interval_s=settings.token_sweep_interval_s),
    )
