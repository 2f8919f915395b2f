"""Token buckets for `POST /token`: one per service-account key (the JWT's `kid`) and one
per client address, so nobody mints tokens (durable writes) or spends RSA verifications
as fast as the server can go.

The buckets live in this process's memory: each server process limits on its own, and a
restart refills every bucket. Memory is bounded: at most `max_tracked` buckets per
limiter, idle (refilled) buckets are dropped first, then the least recently used.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from vertexcompat.domain.errors import TokenRateLimited

Clock = Callable[[], float]

# 10,000 buckets of ~200 bytes each: a few MB at worst, whatever the attacker sends.
DEFAULT_MAX_TRACKED = 10_000


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class TokenBucketLimiter:
    """`rate` requests per second per key, in bursts of up to `burst`. `rate == 0` turns
    the limiter off. Thread-safe: the per-key check runs on the threadpool, the
    per-address one on the event loop."""

    def __init__(
        self,
        *,
        rate: float,
        burst: int,
        max_tracked: int = DEFAULT_MAX_TRACKED,
        clock: Clock = time.monotonic,
    ) -> None:
        if rate < 0 or burst < 1 or max_tracked < 1:
            raise ValueError("rate must be >= 0, burst and max_tracked >= 1")
        self._rate = rate
        self._burst = float(burst)
        self._max_tracked = max_tracked
        self._clock = clock
        # Least recently used first.
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self._rate > 0

    def __len__(self) -> int:
        return len(self._buckets)

    def acquire(self, key: str) -> float:
        """Take one request from `key`'s bucket: 0.0 if allowed, else the seconds until
        the bucket holds a request again (nothing is taken then)."""
        if not self.enabled:
            return 0.0
        with self._lock:
            now = self._clock()
            bucket = self._buckets.pop(key, None)
            if bucket is None:
                bucket = _Bucket(self._burst, now)
            else:
                # max(): a clock that steps back must not drain the bucket.
                elapsed = max(0.0, now - bucket.updated)
                bucket.tokens = min(self._burst, bucket.tokens + elapsed * self._rate)
                bucket.updated = now
            self._buckets[key] = bucket  # most recently used now
            wait = 0.0
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
            else:
                wait = (1.0 - bucket.tokens) / self._rate
            # After the take: this bucket is now below its burst, so never evicted as idle.
            self._evict(now)
            return wait

    def _evict(self, now: float) -> None:
        # Buckets that have refilled carry no information: dropping one is the same as
        # keeping it. The least recently used come first, so this stops at the first
        # bucket still in use (amortized O(1) per call).
        while self._buckets:
            key, oldest = next(iter(self._buckets.items()))
            refilled = oldest.tokens + (now - oldest.updated) * self._rate >= self._burst
            if not refilled and len(self._buckets) <= self._max_tracked:
                break
            # Over the cap with every bucket busy: dropping the least recently used
            # gives that key a fresh burst, which beats unbounded memory.
            del self._buckets[key]


def address_key(host: str | None) -> str:
    """The bucket for a client address. An IPv6 host usually owns a whole /64, so the
    /64 is one client; an IPv4-mapped address is its IPv4 address."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]  # a unix socket path or a test client's name
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _retry_after(seconds: float) -> int:
    # Retry-After is whole seconds (RFC 9110 §10.2.3); rounding down would invite a retry
    # that fails again.
    return max(1, math.ceil(seconds))


class TokenRateLimits:
    """The two limits of the token endpoint. `admit_address` runs before the body is
    read (so before any RSA work); `admit_key` right after the assertion's `kid` is
    parsed, before the key is looked up or the signature verified."""

    def __init__(self, *, per_address: TokenBucketLimiter, per_key: TokenBucketLimiter):
        self._per_address = per_address
        self._per_key = per_key

    def admit_address(self, host: str | None) -> None:
        wait = self._per_address.acquire(address_key(host))
        if wait:
            raise TokenRateLimited(
                "Too many token requests from this address; retry later.",
                retry_after_s=_retry_after(wait),
            )

    def admit_key(self, key_id: str) -> None:
        wait = self._per_key.acquire(key_id)
        if wait:
            raise TokenRateLimited(
                "Too many token requests for this service account key; retry later.",
                retry_after_s=_retry_after(wait),
            )


def unlimited() -> TokenRateLimits:
    """No limits (the CLI's offline token exchange, tests)."""
    return TokenRateLimits(
        per_address=TokenBucketLimiter(rate=0, burst=1),
        per_key=TokenBucketLimiter(rate=0, burst=1),
    )
