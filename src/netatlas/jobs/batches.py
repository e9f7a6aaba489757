"""Exactly-once application of queued batches.

The effect of a batch and the row recording its id are committed in one transaction; the batch
is acknowledged in the queue afterwards. If the process dies between the commit and the ack, the
batch comes back after its lease with the same id, is found in ``applied_batch`` and is only
acknowledged.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Connection, delete, insert, select

from netatlas.db.models import applied_batch
from netatlas.jobs.context import Context
from netatlas.queue.base import Batch

KEEP_APPLIED_SECONDS = 14 * 86400


def drain(
    ctx: Context,
    queue: str,
    limit: int,
    apply: Callable[[Connection, Batch], None],
    *,
    max_batches: int | None = None,
) -> int:
    """Apply batches from ``queue`` until it is empty; returns how many items were handled."""
    handled = 0
    batches = 0
    while max_batches is None or batches < max_batches:
        batch = ctx.queue.claim(queue, limit)
        if batch is None:
            break
        batches += 1
        key = f"{queue}:{batch.id}"
        with ctx.engine.begin() as conn:
            done = conn.execute(select(applied_batch.c.id).where(applied_batch.c.id == key)).first()
            if done is None:
                apply(conn, batch)
                conn.execute(insert(applied_batch).values(id=key, applied=int(time.time())))
                handled += len(batch.items)
        ctx.queue.ack(batch)
    return handled


def prune_applied(ctx: Context) -> int:
    """Forget ids of batches applied long ago (far beyond any lease)."""
    cutoff = int(time.time()) - KEEP_APPLIED_SECONDS
    with ctx.engine.begin() as conn:
        return conn.execute(delete(applied_batch).where(applied_batch.c.applied < cutoff)).rowcount
