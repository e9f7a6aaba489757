"""How old the oldest waiting item of each queue is, where a queue can tell.

The embedded queue stores a creation time with every item. Redis list items are opaque bytes,
but the items of ``incoming`` and of the export targets' queues are encoded submissions that
carry the time they were accepted, so their age is read from the head of the list. Other Redis
queues (observation chunks, grid cells) carry no time and are left out.
"""

from __future__ import annotations

from sqlalchemy import func, select

from netatlas.db.models import queue_item
from netatlas.location.submit.report import decode_submission
from netatlas.queue import Queue

__all__ = ["queue_ages"]


def queue_ages(queue: Queue) -> dict[str, float]:
    """Queue name -> creation time (seconds since the epoch) of its oldest waiting item."""
    from netatlas.queue.local import SqlQueue
    from netatlas.queue.redis import PREFIX, RedisQueue

    if isinstance(queue, SqlQueue):
        with queue.engine.connect() as conn:
            rows = conn.execute(
                select(queue_item.c.queue, func.min(queue_item.c.created)).group_by(
                    queue_item.c.queue
                )
            ).all()
        return {str(name): float(created) for name, created in rows}
    if isinstance(queue, RedisQueue):
        ages: dict[str, float] = {}
        for name in queue.queues():
            if name != "incoming" and not (name.startswith("export_") and ":" not in name):
                continue
            head = queue.client.lindex(PREFIX + "q:" + name, 0)
            if not isinstance(head, bytes):
                continue
            try:
                received = decode_submission(head).received
            except Exception:  # not a submission after all: no age
                continue
            if received:
                ages[name] = received / 1000.0
        return ages
    return {}
