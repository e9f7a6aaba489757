"""Queues: pick the implementation from settings."""

from __future__ import annotations

from sqlalchemy import Engine

from netatlas.queue.base import Batch, Queue, QueueUnavailable
from netatlas.settings import Settings

__all__ = ["Batch", "Queue", "QueueUnavailable", "make_queue"]


def make_queue(settings: Settings, engine: Engine) -> Queue:
    if settings.redis_url:
        from netatlas.queue.redis import RedisQueue

        return RedisQueue(settings.redis_url, settings.lease_seconds)
    from netatlas.queue.local import SqlQueue

    return SqlQueue(engine, settings.lease_seconds)
