"""Queues: pick the implementation from settings."""

from __future__ import annotations

from sqlalchemy import Engine

from netatlas.clock import Clock, system_clock
from netatlas.queue.base import Batch, Queue, QueueUnavailable
from netatlas.settings import Settings

__all__ = ["Batch", "Queue", "QueueUnavailable", "make_queue"]


def make_queue(settings: Settings, engine: Engine, clock: Clock = system_clock) -> Queue:
    """The Redis queue when ``redis_url`` is set, else the SQL-table queue on ``engine``.

    ``clock`` gives the time for item stamps and lease deadlines (tests pass a manual one).
    """
    if settings.redis_url:
        from netatlas.queue.redis import RedisQueue

        return RedisQueue(settings.redis_url, settings.lease_seconds, clock)
    from netatlas.queue.local import SqlQueue

    return SqlQueue(engine, settings.lease_seconds, clock)
