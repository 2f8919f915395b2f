"""The replica set's books: least outstanding first, ejection after failures, re-admission
by a probe, a cooled-down replica tried when none is in service."""

from vertexcompat.backends.replicas import ReplicaSet


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def test_least_outstanding_then_least_recently_used():
    clock = Clock()
    rs = ReplicaSet(["http://a/v1/", "http://b/v1"], clock=clock)
    a, b = rs.replicas
    assert a.base_url == "http://a/v1"
    first = rs.pick()
    rs.begin(first)
    second = rs.pick()
    assert {first, second} == {a, b}
    rs.begin(second)
    clock.now += 1
    rs.end(first)
    assert rs.pick() is first
    assert rs.pick(exclude=[first]) is second
    assert rs.stats() == {"replicas": 2, "replicas_in_service": 2, "outstanding_requests": 1}


def test_ejected_after_failures_and_back_after_a_good_probe():
    clock = Clock()
    rs = ReplicaSet(["http://a/v1", "http://b/v1"], eject_after=2, probe_interval_s=5, clock=clock)
    a, b = rs.replicas
    rs.failed(a)
    assert a.in_service
    rs.failed(a)
    assert not a.in_service and rs.to_probe() == [a]
    for _ in range(3):
        assert rs.pick() is b
    rs.probed(a, ok=False)
    assert not a.in_service
    rs.probed(a, ok=True)
    assert a.in_service and a.failures == 0


def test_with_none_in_service_a_cooled_down_replica_is_tried():
    clock = Clock()
    rs = ReplicaSet(["http://a/v1"], eject_after=1, probe_interval_s=2, clock=clock)
    (a,) = rs.replicas
    rs.failed(a)
    assert rs.pick() is None and not rs.any_in_service
    assert rs.retry_after_s() == 2
    clock.now += 2
    assert rs.pick() is a
    assert rs.pick(exclude=[a]) is None
    rs.succeeded(a)
    assert a.in_service and a.served == 1
