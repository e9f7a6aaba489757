"""Tables of the infrastructure itself: the SQL queue and the record of applied batches."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, LargeBinary, String, Table

from netatlas.db.metadata import metadata

# Embedded mode's queue: items waiting in a named queue, oldest first.
queue_item = Table(
    "queue_item",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("queue", String(64), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("created", Float, nullable=False),
    Index("ix_queue_item_queue_id", "queue", "id"),
)

# A claimed batch: its items move here, under an id, until the consumer acknowledges it. A
# batch whose lease ran out is handed out again with the same id.
queue_batch = Table(
    "queue_batch",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("queue", String(64), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("lease_until", Float, nullable=False),
    Column("attempts", Integer, nullable=False, default=1),
    Index("ix_queue_batch_queue_lease", "queue", "lease_until"),
)

# Ids of batches whose effect is committed. Written in the same transaction as the effect,
# so a batch redelivered after a crash is recognised and skipped.
applied_batch = Table(
    "applied_batch",
    metadata,
    Column("id", String(80), primary_key=True),
    Column("applied", BigInteger, nullable=False),  # seconds since the epoch
)
