"""The applied-batch record: a batch whose effect is committed is never applied again."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Connection, text

from netatlas.clock import ManualClock
from netatlas.jobs.batches import drain, prune_applied
from netatlas.jobs.context import Context
from netatlas.queue.base import Batch


def test_redelivered_batch_after_commit_is_skipped(ctx: Context, queue_clock: ManualClock) -> None:
    ctx.queue.push("q", [b"a", b"b"])
    applied: list[list[bytes]] = []

    def apply(conn: Connection, batch: Batch) -> None:
        applied.append(batch.items)

    # The process "dies" after committing but before acknowledging: the ack never happens.
    real_ack = ctx.queue.ack
    ctx.queue.ack = lambda batch: None  # type: ignore[method-assign]
    assert drain(ctx, "q", 10, apply, max_batches=1) == 2
    ctx.queue.ack = real_ack  # type: ignore[method-assign]
    queue_clock.advance(ctx.settings.lease_seconds + 1)  # the lease runs out
    # The batch comes back with the same id; it is recognised and only acknowledged.
    assert drain(ctx, "q", 10, apply) == 0
    assert applied == [[b"a", b"b"]]
    assert not ctx.queue.queues()


def test_failed_apply_leaves_batch_for_retry(ctx: Context, queue_clock: ManualClock) -> None:
    ctx.queue.push("q", [b"x"])

    def boom(conn: Connection, batch: Batch) -> Any:
        conn.execute(text("SELECT 1"))
        raise RuntimeError("worker bug")

    with pytest.raises(RuntimeError, match="worker bug"):
        drain(ctx, "q", 10, boom)
    queue_clock.advance(ctx.settings.lease_seconds + 1)  # the lease runs out
    seen: list[bytes] = []
    assert drain(ctx, "q", 10, lambda conn, batch: seen.extend(batch.items)) == 1
    assert seen == [b"x"]


def test_prune_keeps_recent_ids(ctx: Context) -> None:
    ctx.queue.push("q", [b"1"])
    drain(ctx, "q", 10, lambda conn, batch: None)
    assert prune_applied(ctx) == 0
    with ctx.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM applied_batch")).scalar_one() == 1
