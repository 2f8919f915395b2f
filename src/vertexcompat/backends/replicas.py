"""The replicas of one upstream endpoint: which one takes the next request, and which are out.

Balancing is least outstanding requests (ties: the replica used longest ago), over the
replicas in service. A replica leaves service after `eject_after` consecutive failures
(a refused or broken connection, a timeout, a 502/503/504) and comes back when a health
probe (the server's `GET /health`, else `GET {base}/models`: `OpenAIUpstream._healthy`) succeeds; the
prober (`ReplicaProber`, run by the upstream backend) probes ejected replicas every
`probe_interval_s`, and all replicas at start. A success resets the count.

When every replica is out, `pick` still returns the one ejected longest ago if its
cool-down (`probe_interval_s`) has passed — a request is the fastest probe — else None,
and the caller answers 503 with Retry-After.

Pure bookkeeping over a clock; no I/O. Used from the event loop only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

DEFAULT_EJECT_AFTER = 2
DEFAULT_PROBE_INTERVAL_S = 2.0


@dataclass(eq=False)
class Replica:
    base_url: str  # e.g. http://gpu-a:8000/v1 (the OpenAI API root)
    outstanding: int = 0
    failures: int = 0  # consecutive
    ejected_at: float | None = None
    last_used: float = 0.0
    served: int = 0  # requests answered, for stats and tests

    @property
    def in_service(self) -> bool:
        return self.ejected_at is None


def health_answer(status: int) -> str:
    """What a replica's `GET /health` (at its server's root) says: `"health"` — the
    server's own health check (200 healthy, 503 loading); `"no health"` — the server has
    none (404/405), ask its models from now on; `"ask models"` — an answer that is no
    model server's (a proxy's 401, a 500), ask its models this time."""
    if status in (200, 503):
        return "health"
    return "no health" if status in (404, 405) else "ask models"


class ReplicaSet:
    def __init__(
        self,
        base_urls: Iterable[str],
        *,
        eject_after: int = DEFAULT_EJECT_AFTER,
        probe_interval_s: float = DEFAULT_PROBE_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.replicas = [Replica(url.rstrip("/")) for url in base_urls]
        if not self.replicas:
            raise ValueError("an endpoint needs at least one replica")
        self._eject_after = eject_after
        self.probe_interval_s = probe_interval_s
        self._clock = clock

    def pick(self, exclude: Iterable[Replica] = ()) -> Replica | None:
        """The replica for the next attempt (not one of `exclude`, the ones this request
        already tried), or None when none can take it now."""
        tried = set(map(id, exclude))
        candidates = [r for r in self.replicas if id(r) not in tried]
        live = [r for r in candidates if r.in_service]
        if live:
            return min(live, key=lambda r: (r.outstanding, r.last_used))
        now = self._clock()
        cooled = [
            r for r in candidates
            if r.ejected_at is not None and now - r.ejected_at >= self.probe_interval_s
        ]
        return min(cooled, key=lambda r: r.ejected_at or 0.0) if cooled else None

    def begin(self, replica: Replica) -> None:
        replica.outstanding += 1
        replica.last_used = self._clock()

    def end(self, replica: Replica) -> None:
        replica.outstanding = max(0, replica.outstanding - 1)

    def succeeded(self, replica: Replica) -> None:
        replica.failures = 0
        replica.ejected_at = None
        replica.served += 1

    def failed(self, replica: Replica) -> None:
        replica.failures += 1
        if replica.failures >= self._eject_after or replica.ejected_at is not None:
            replica.ejected_at = self._clock()

    def probed(self, replica: Replica, ok: bool) -> None:
        """A health probe's result: back in service, or (still) out."""
        if ok:
            replica.failures = 0
            replica.ejected_at = None
        else:
            replica.failures = max(replica.failures, self._eject_after)
            replica.ejected_at = self._clock()

    def to_probe(self) -> list[Replica]:
        return [r for r in self.replicas if not r.in_service]

    @property
    def any_in_service(self) -> bool:
        return any(r.in_service for r in self.replicas)

    def retry_after_s(self) -> int:
        return max(1, round(self.probe_interval_s))

    def stats(self) -> dict[str, int]:
        return {
            "replicas": len(self.replicas),
            "replicas_in_service": sum(1 for r in self.replicas if r.in_service),
            "outstanding_requests": sum(r.outstanding for r in self.replicas),
        }
