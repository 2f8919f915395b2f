"""The JWT-bearer grant within its rate limits: the per-key bucket is charged right after
the `kid` is parsed, before the key lookup and the RSA verification."""

from __future__ import annotations

from typing import Any

import pytest

from vertexcompat.auth.grant import JWT_BEARER_GRANT_TYPE, JwtBearerGrant
from vertexcompat.auth.jwt_bearer import GOOGLE_TOKEN_URI, sign_assertion
from vertexcompat.auth.rate_limit import TokenBucketLimiter, TokenRateLimits
from vertexcompat.domain.errors import InvalidGrant, TokenRateLimited

from .conftest import TOKEN_URI, Clock, Stack, claims_for


class CountingAccounts:
    """The real account store, counting key lookups (each precedes an RSA verification)."""

    def __init__(self, accounts: Any) -> None:
        self._accounts = accounts
        self.lookups = 0

    def key(self, key_id: str) -> Any:
        self.lookups += 1
        return self._accounts.key(key_id)


def _grant(stack: Stack, clock: Clock, *, key_burst: int = 2, address_burst: int = 100):
    accounts = CountingAccounts(stack.accounts)
    limits = TokenRateLimits(
        per_address=TokenBucketLimiter(rate=1.0, burst=address_burst, clock=clock),
        per_key=TokenBucketLimiter(rate=0.1, burst=key_burst, clock=clock),
    )
    grant = JwtBearerGrant(
        accounts, stack.tokens, audiences={GOOGLE_TOKEN_URI, TOKEN_URI},  # type: ignore[arg-type]
        clock=clock, limits=limits,
    )
    return grant, accounts


def _assertion(key: dict[str, Any], clock: Clock) -> str:
    return sign_assertion(claims_for(key, clock.now), private_key_pem=key["private_key"],
                          key_id=key["private_key_id"])


def test_a_key_over_its_limit_is_refused_before_lookup_and_rsa(stack: Stack, key, clock) -> None:
    grant, accounts = _grant(stack, clock)
    assertion = _assertion(key, clock)
    for _ in range(2):
        grant.exchange(JWT_BEARER_GRANT_TYPE, assertion)
    lookups = accounts.lookups
    with pytest.raises(TokenRateLimited) as info:
        grant.exchange(JWT_BEARER_GRANT_TYPE, assertion)
    assert info.value.retry_after_s == 10  # one request per 10 s refills
    assert accounts.lookups == lookups
    clock.now += 10
    assert grant.exchange(JWT_BEARER_GRANT_TYPE, assertion).access_token


def test_the_limit_is_per_key(stack: Stack, key, clock) -> None:
    grant, _ = _grant(stack, clock, key_burst=1)
    other = stack.admin.create(project="demo", name="other", token_uri=TOKEN_URI)
    grant.exchange(JWT_BEARER_GRANT_TYPE, _assertion(key, clock))
    with pytest.raises(TokenRateLimited):
        grant.exchange(JWT_BEARER_GRANT_TYPE, _assertion(key, clock))
    assert grant.exchange(JWT_BEARER_GRANT_TYPE, _assertion(other, clock)).access_token


def test_failed_attempts_under_a_kid_count_too(stack: Stack, key, clock) -> None:
    grant, _ = _grant(stack, clock, key_burst=2)
    forged = claims_for(key, clock.now, aud="https://evil.example/token")
    bad = sign_assertion(forged, private_key_pem=key["private_key"],
                         key_id=key["private_key_id"])
    for _ in range(2):
        with pytest.raises(InvalidGrant):
            grant.exchange(JWT_BEARER_GRANT_TYPE, bad)
    with pytest.raises(TokenRateLimited):
        grant.exchange(JWT_BEARER_GRANT_TYPE, _assertion(key, clock))


def test_garbage_without_a_kid_is_not_charged_to_any_key(stack: Stack, key, clock) -> None:
    grant, _ = _grant(stack, clock, key_burst=1)
    for _ in range(5):
        with pytest.raises(InvalidGrant):
            grant.exchange(JWT_BEARER_GRANT_TYPE, "not.a.jwt")
    assert grant.exchange(JWT_BEARER_GRANT_TYPE, _assertion(key, clock)).access_token


def test_admit_charges_the_address_bucket(stack: Stack, clock) -> None:
    grant, accounts = _grant(stack, clock, address_burst=2)
    grant.admit("192.0.2.1")
    grant.admit("192.0.2.1")
    with pytest.raises(TokenRateLimited) as info:
        grant.admit("192.0.2.1")
    assert info.value.retry_after_s == 1
    grant.admit("192.0.2.2")
    assert accounts.lookups == 0


def test_a_grant_without_limits_is_unlimited(stack: Stack, key, clock) -> None:
    for _ in range(30):
        stack.grant.admit("192.0.2.1")
    assertion = _assertion(key, clock)
    for _ in range(5):
        stack.grant.exchange(JWT_BEARER_GRANT_TYPE, assertion)
