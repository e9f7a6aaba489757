"""Who may start a test now: a cap on concurrent tests, and per-address limits.

Counted in this process's memory: the checks run on every handshake and cost nothing, and a
test is tied to the process that serves it. With several server processes each enforces the
caps on its own share (a client gets at most processes × limit); ``NETATLAS_NDT7_MAX_TESTS``
is per process for the same reason: it protects the CPU and the uplink of the process's host.

Addresses are counted as the keyless locate limit counts them: IPv4 whole, IPv6 per /64.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from netatlas.broadband.ndt7.spec import Ndt7Error
from netatlas.geo.buckets import ip_bucket

__all__ = ["Guard", "Ticket"]

HOUR = 3600.0


@dataclass
class Ticket:
    """A running test's place; :meth:`release` when the test ends (idempotent)."""

    guard: Guard
    bucket: str | None
    released: bool = field(default=False)

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.guard._release(self.bucket)


class Guard:
    def __init__(
        self,
        max_tests: int,
        per_ip_concurrent: int,
        per_ip_per_hour: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_tests = max_tests
        self.per_ip_concurrent = per_ip_concurrent
        self.per_ip_per_hour = per_ip_per_hour
        self.clock = clock
        self.running = 0
        self._by_ip: dict[str, int] = {}
        self._starts: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._last_purge = clock()

    def acquire(self, ip: str | None) -> Ticket:
        """A ticket for one subtest, or :class:`Ndt7Error` (503 when the server is full,
        429 when this address runs or ran too many)."""
        bucket = ip_bucket(ip)
        now = self.clock()
        with self._lock:
            if self.max_tests and self.running >= self.max_tests:
                raise Ndt7Error(
                    503,
                    "the server is running as many tests as it can; try again in a minute",
                    retry_after=30,
                )
            if bucket is not None:
                if self.per_ip_concurrent and self._by_ip.get(bucket, 0) >= self.per_ip_concurrent:
                    raise Ndt7Error(429, "too many tests at once from your address", retry_after=15)
                starts = self._starts.setdefault(bucket, deque())
                while starts and starts[0] <= now - HOUR:
                    starts.popleft()
                if self.per_ip_per_hour and len(starts) >= self.per_ip_per_hour:
                    wait = math.ceil(starts[0] + HOUR - now)
                    raise Ndt7Error(
                        429,
                        f"too many tests from your address this hour; retry in {wait} s",
                        retry_after=max(1, wait),
                    )
                starts.append(now)
                self._by_ip[bucket] = self._by_ip.get(bucket, 0) + 1
            self.running += 1
            if now - self._last_purge > HOUR:
                self._purge(now)
        return Ticket(self, bucket)

    def _release(self, bucket: str | None) -> None:
        with self._lock:
            self.running = max(0, self.running - 1)
            if bucket is not None:
                left = self._by_ip.get(bucket, 0) - 1
                if left > 0:
                    self._by_ip[bucket] = left
                else:
                    self._by_ip.pop(bucket, None)

    def _purge(self, now: float) -> None:
        self._last_purge = now
        for bucket in [b for b, s in self._starts.items() if not s or s[-1] <= now - HOUR]:
            del self._starts[bucket]
