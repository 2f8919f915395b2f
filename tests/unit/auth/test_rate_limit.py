"""The token endpoint's buckets (auth/rate_limit.py), on an injected clock."""

from __future__ import annotations

import threading

import pytest

from vertexcompat.auth.rate_limit import (
    TokenBucketLimiter,
    TokenRateLimits,
    address_key,
)
from vertexcompat.domain.errors import OAuthError, TokenRateLimited

from .conftest import Clock


def _limiter(clock: Clock, *, rate: float = 1.0, burst: int = 3, max_tracked: int = 100):
    return TokenBucketLimiter(rate=rate, burst=burst, max_tracked=max_tracked, clock=clock)


def test_a_burst_is_allowed_then_the_next_request_waits(clock: Clock) -> None:
    limiter = _limiter(clock, rate=2.0, burst=3)
    assert [limiter.acquire("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("k") == pytest.approx(0.5)  # one request refills in 1/rate s


def test_the_bucket_refills_at_the_rate_up_to_the_burst(clock: Clock) -> None:
    limiter = _limiter(clock, rate=1.0, burst=3)
    for _ in range(3):
        limiter.acquire("k")
    clock.now += 1.0
    assert limiter.acquire("k") == 0.0
    assert limiter.acquire("k") > 0
    clock.now += 1000  # idle for long: back to the burst, not beyond
    assert [limiter.acquire("k") for _ in range(4)][-1] > 0


def test_a_refused_request_takes_nothing(clock: Clock) -> None:
    limiter = _limiter(clock, rate=1.0, burst=1)
    limiter.acquire("k")
    for _ in range(5):
        assert limiter.acquire("k") == pytest.approx(1.0)
    clock.now += 1.0
    assert limiter.acquire("k") == 0.0


def test_keys_have_separate_buckets(clock: Clock) -> None:
    limiter = _limiter(clock, burst=1)
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") > 0
    assert limiter.acquire("b") == 0.0


def test_rate_zero_turns_the_limit_off(clock: Clock) -> None:
    limiter = _limiter(clock, rate=0, burst=1)
    assert not limiter.enabled
    assert all(limiter.acquire("k") == 0.0 for _ in range(1000))
    assert len(limiter) == 0


def test_a_clock_stepping_back_neither_crashes_nor_refills(clock: Clock) -> None:
    limiter = _limiter(clock, rate=1.0, burst=1)
    limiter.acquire("k")
    clock.now -= 3600
    assert limiter.acquire("k") > 0


def test_memory_is_bounded_however_many_keys_come(clock: Clock) -> None:
    limiter = _limiter(clock, max_tracked=50)
    for i in range(10_000):
        limiter.acquire(f"kid-{i}")
    assert len(limiter) <= 50


def test_idle_buckets_are_dropped(clock: Clock) -> None:
    limiter = _limiter(clock, rate=1.0, burst=3)
    for i in range(20):
        limiter.acquire(f"kid-{i}")
    clock.now += 3.0  # every bucket has refilled: they say nothing any more
    limiter.acquire("new")
    assert len(limiter) == 1


def test_eviction_keeps_the_bucket_just_used(clock: Clock) -> None:
    # With room for one bucket only, the one being charged must survive its own eviction.
    limiter = _limiter(clock, rate=0.001, burst=2, max_tracked=1)
    assert limiter.acquire("k") == 0.0
    assert limiter.acquire("k") == 0.0
    assert limiter.acquire("k") > 0


def test_a_busy_key_survives_a_flood_of_new_keys_below_the_cap(clock: Clock) -> None:
    limiter = _limiter(clock, rate=0.001, burst=1, max_tracked=100)
    limiter.acquire("victim")
    for i in range(50):
        limiter.acquire(f"kid-{i}")
    assert limiter.acquire("victim") > 0


def test_concurrent_requests_never_exceed_the_burst(clock: Clock) -> None:
    limiter = _limiter(clock, rate=0.001, burst=100)
    allowed: list[int] = []

    def hammer() -> None:
        allowed.append(sum(limiter.acquire("k") == 0.0 for _ in range(200)))

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(allowed) == 100


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        (None, "unknown"),
        ("", "unknown"),
        ("testclient", "testclient"),
        ("x" * 1000, "x" * 64),
    ],
)
def test_address_keys(host: str | None, key: str) -> None:
    assert address_key(host) == key


def _limits(clock: Clock, **kw: float) -> TokenRateLimits:
    return TokenRateLimits(
        per_address=TokenBucketLimiter(rate=kw.get("address_rate", 1.0), burst=2, clock=clock),
        per_key=TokenBucketLimiter(rate=kw.get("key_rate", 0.25), burst=1, clock=clock),
    )


def test_over_the_limit_is_a_429_slow_down_with_whole_seconds_to_wait(clock: Clock) -> None:
    limits = _limits(clock)
    limits.admit_key("kid")
    with pytest.raises(TokenRateLimited) as info:
        limits.admit_key("kid")
    error = info.value
    assert isinstance(error, OAuthError)
    assert (error.http_status, error.error, error.retry_after_s) == (429, "slow_down", 4)
    assert "service account key" in error.description


def test_retry_after_is_at_least_one_second(clock: Clock) -> None:
    limits = _limits(clock, address_rate=1000.0)
    limits.admit_address("192.0.2.1")
    limits.admit_address("192.0.2.1")
    with pytest.raises(TokenRateLimited) as info:
        limits.admit_address("192.0.2.1")
    assert info.value.retry_after_s == 1
    assert "address" in info.value.description


def test_one_ipv6_slash_64_shares_a_bucket(clock: Clock) -> None:
    limits = _limits(clock)
    limits.admit_address("2001:db8::1")
    limits.admit_address("2001:db8::2")
    with pytest.raises(TokenRateLimited):
        limits.admit_address("2001:db8::3")
    limits.admit_address("2001:db8:0:1::1")  # the next /64 is someone else


def test_the_defaults_fit_a_fleet_sharing_one_key_file() -> None:
    """google-auth asks once an hour per process; 100 processes starting at once with one
    key file, from one host, all get their token at the first try."""
    from vertexcompat.config import Settings

    settings = Settings()
    clock = Clock()
    limits = TokenRateLimits(
        per_address=TokenBucketLimiter(rate=settings.token_rate_per_address,
                                       burst=settings.token_burst_per_address, clock=clock),
        per_key=TokenBucketLimiter(rate=settings.token_rate_per_key,
                                   burst=settings.token_burst_per_key, clock=clock),
    )
    for _ in range(100):
        limits.admit_address("10.0.0.1")
        limits.admit_key("kid")
