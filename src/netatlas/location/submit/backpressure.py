"""Backpressure: shed optional work, then refuse new submissions, when the pipeline falls behind.

The *backlog* is the number of items waiting in the pipeline queues: ``incoming``, the station
shard queues, cell areas and the datamap grid. Export targets' queues are left out on purpose:
a target that is down keeps its own backlog (with back-off and dead letters) and must not stop
the service from accepting data.

Ichnaea's rate controller lowered the share of locate queries learnt from as its queues grew;
here the learning sample rate falls linearly from 1 at the soft limit to 0 at the hard limit
(a proportional controller with the soft limit as its set point). At the hard limit new
submissions are refused with 503 and ``Retry-After`` until the backlog is back under 90 % of
it (the gap keeps the answer from flapping). Nothing already queued is ever dropped.

The backlog is measured at most once every :data:`REFRESH` seconds per process, and only from
the thread pool (the submit and locate work runs there anyway): the event loop reads only the
cached figure.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from netatlas.http.errors import Unavailable
from netatlas.http.outage import RETRY_AFTER as QUEUE_RETRY_AFTER
from netatlas.queue import Queue

__all__ = [
    "QUEUE_RETRY_AFTER",
    "REFRESH",
    "RETRY_AFTER",
    "Backpressure",
    "Overloaded",
    "Pressure",
    "Unavailable",
    "pipeline_backlog",
]

log = logging.getLogger(__name__)

REFRESH = 2.0  # seconds a backlog measurement is trusted
RETRY_AFTER = 60  # seconds a client refused for the backlog is asked to wait
RESUME_FRACTION = 0.9  # refusing stops below this share of the hard limit
EXPORT_PREFIX = "export_"


class Overloaded(Unavailable):
    """503: the pipeline backlog is over the hard limit; the client should come back later."""

    message = "The service is catching up with its backlog; retry later."

    def __init__(self, retry_after: int = RETRY_AFTER) -> None:
        super().__init__(retry_after)


@dataclass(frozen=True, slots=True)
class Pressure:
    """One measurement and what it means."""

    backlog: int
    learn_rate: float  # share of locate queries that may be learnt from, 0..1
    refusing: bool  # new submissions get 503
    measured: float  # monotonic seconds; 0.0: never measured


def pipeline_backlog(queue: Queue) -> int:
    """Items waiting (or claimed, unfinished) in every pipeline queue but the export targets'."""
    return sum(queue.size(name) for name in queue.queues() if not name.startswith(EXPORT_PREFIX))


class Backpressure:
    """The backlog figure of one process and the two decisions taken from it.

    ``soft`` and ``hard`` are item counts (``NETATLAS_BACKLOG_SOFT_LIMIT`` and
    ``NETATLAS_BACKLOG_HARD_LIMIT``); 0 switches the respective rule off.
    """

    def __init__(
        self,
        queue: Queue,
        soft: int,
        hard: int,
        *,
        refresh: float = REFRESH,
        clock: Callable[[], float] = time.monotonic,
        measure: Callable[[Queue], int] = pipeline_backlog,
    ) -> None:
        self.queue = queue
        self.soft = max(soft, 0)
        self.hard = max(hard, 0)
        self.refresh_seconds = refresh
        self._clock = clock
        self._measure = measure
        self._lock = threading.Lock()
        self._state = Pressure(0, 1.0, False, 0.0)
        self.failures = 0  # measurements that failed (the queue backend was down)

    @property
    def enabled(self) -> bool:
        return bool(self.soft or self.hard)

    def current(self) -> Pressure:
        """The last measurement, however old; never blocks."""
        return self._state

    def refusing(self) -> bool:
        """True when a recent measurement says to refuse submissions (the event loop's check)."""
        state = self._state
        return state.refusing and self._clock() - state.measured < self.refresh_seconds

    def refresh(self, *, force: bool = False) -> Pressure:
        """The measurement, renewed when it is older than the refresh period (blocking I/O).

        One thread measures at a time; the others go on with the previous figure meanwhile.
        ``force`` measures now whatever the age (the heartbeat and the metrics page).
        """
        state = self._state
        if not self.enabled:
            return state
        if not force and self._clock() - state.measured < self.refresh_seconds:
            return state
        if not self._lock.acquire(blocking=force):
            return state
        try:
            return self._renew(state)
        finally:
            self._lock.release()

    def _renew(self, previous: Pressure) -> Pressure:
        try:
            backlog = self._measure(self.queue)
        except Exception as exc:  # the queue is down: pushes fail on their own with 503
            self.failures += 1
            log.warning("backlog not measured: %s", exc)
            backlog = previous.backlog
        state = Pressure(
            backlog, self.learn_rate(backlog), self._refuses(backlog, previous), self._clock()
        )
        if state.refusing != previous.refusing:
            log.warning(
                "pipeline backlog %d items: submissions %s",
                backlog,
                "refused (503)" if state.refusing else "accepted again",
            )
        self._state = state
        return state

    def learn_rate(self, backlog: int) -> float:
        """1 up to the soft limit, falling linearly to 0 at the hard limit (or at 2 × soft)."""
        if not self.soft or backlog <= self.soft:
            return 1.0
        top = self.hard if self.hard > self.soft else 2 * self.soft
        if backlog >= top:
            return 0.0
        return (top - backlog) / (top - self.soft)

    def _refuses(self, backlog: int, previous: Pressure) -> bool:
        if not self.hard:
            return False
        if previous.refusing:
            return backlog >= self.hard * RESUME_FRACTION
        return backlog >= self.hard

    def admit_submission(self) -> None:
        """Raise :class:`Overloaded` when submissions are to be refused (from a worker thread)."""
        if self.refresh().refusing:
            raise Overloaded()

    def learn(self, rng: Callable[[], float] = random.random) -> bool:
        """Whether this locate query may be learnt from (from a worker thread)."""
        rate = self.refresh().learn_rate
        return rate >= 1.0 or rng() < rate

    def describe(self) -> dict[str, Any]:
        """The figures for the heartbeat and the metrics."""
        state = self._state
        return {
            "backlog": state.backlog,
            "learn_rate": round(state.learn_rate, 4),
            "refusing": state.refusing,
            "soft_limit": self.soft,
            "hard_limit": self.hard,
        }
