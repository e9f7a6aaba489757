from __future__ import annotations

import pytest

from netatlas.broadband.ndt7.guard import Guard
from netatlas.broadband.ndt7.spec import Ndt7Error


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_cap_on_concurrent_tests_answers_503() -> None:
    guard = Guard(max_tests=2, per_ip_concurrent=0, per_ip_per_hour=0)
    a, b = guard.acquire("192.0.2.1"), guard.acquire("192.0.2.2")
    with pytest.raises(Ndt7Error) as info:
        guard.acquire("192.0.2.3")
    assert info.value.status == 503
    assert info.value.retry_after
    a.release()
    a.release()  # idempotent
    guard.acquire("192.0.2.3")
    b.release()
    assert guard.running == 1


def test_per_address_concurrency_counts_ipv6_by_64() -> None:
    guard = Guard(max_tests=10, per_ip_concurrent=1, per_ip_per_hour=0)
    t = guard.acquire("2001:db8:1:2::1")
    with pytest.raises(Ndt7Error) as info:
        guard.acquire("2001:db8:1:2::99")
    assert info.value.status == 429
    guard.acquire("2001:db8:1:3::1")
    t.release()
    guard.acquire("2001:db8:1:2::99")


def test_per_address_hourly_limit_slides() -> None:
    clock = Clock()
    guard = Guard(max_tests=10, per_ip_concurrent=0, per_ip_per_hour=2, clock=clock)
    guard.acquire("192.0.2.1").release()
    clock.now += 600
    guard.acquire("192.0.2.1").release()
    with pytest.raises(Ndt7Error) as info:
        guard.acquire("192.0.2.1")
    assert info.value.status == 429
    assert info.value.retry_after == 3000
    clock.now += 3001
    guard.acquire("192.0.2.1")
    guard.acquire("192.0.2.7")
