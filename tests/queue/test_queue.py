from __future__ import annotations

from netatlas.clock import ManualClock
from netatlas.jobs.context import Context


def test_push_claim_ack(ctx: Context) -> None:
    q = ctx.queue
    q.push("a", [b"1", b"\x00\xff", b"3"])
    assert q.size("a") == 3
    batch = q.claim("a", 2)
    assert batch is not None
    assert batch.items == [b"1", b"\x00\xff"]
    # Claimed items still count until acknowledged; nobody else gets them.
    assert q.size("a") == 3
    other = q.claim("a", 5)
    assert other is not None and other.items == [b"3"]
    q.ack(batch)
    q.ack(other)
    assert q.size("a") == 0
    assert q.claim("a", 5) is None
    assert q.queues() == []


def test_expired_lease_redelivers_same_batch(ctx: Context, queue_clock: ManualClock) -> None:
    q = ctx.queue
    lease = ctx.settings.lease_seconds
    q.push("a", [b"x", b"y"])
    first = q.claim("a", 10)
    assert first is not None
    assert q.claim("a", 10) is None  # leased
    queue_clock.advance(lease - 1)
    assert q.claim("a", 10) is None  # still leased
    queue_clock.advance(2)  # the lease has run out
    again = q.claim("a", 10)
    assert again is not None
    assert again.id == first.id
    assert again.items == first.items
    assert again.attempts == 2


def test_commit_moves_items_atomically(ctx: Context) -> None:
    q = ctx.queue
    q.push("in", [b"a", b"b"])
    batch = q.claim("in", 10)
    assert batch is not None
    q.commit(batch, {"out1": [b"a1"], "out2": [b"b1", b"b2"]})
    assert q.size("in") == 0
    assert q.size("out1") == 1
    assert q.size("out2") == 2
    assert sorted(q.queues()) == ["out1", "out2"]
    out = q.claim("out2", 10)
    assert out is not None and out.items == [b"b1", b"b2"]


def test_ping(ctx: Context) -> None:
    assert ctx.queue.ping()
