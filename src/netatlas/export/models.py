"""Export targets: where accepted submissions are copied (Ichnaea's export_config), and the
delivery state of each target."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Integer, String, Table

from netatlas.db.metadata import metadata

export_config = Table(
    "export_config",
    metadata,
    Column("name", String(40), primary_key=True),
    # Queued submissions (accepted requests) per upload.
    Column("batch", Integer, nullable=False, default=100),
    Column("schema", String(32), nullable=False),  # dummy | geosubmit | internal | s3 | file
    Column("url", String(512)),
    Column("skip_keys", String(1024)),  # comma-separated
    Column("skip_sources", String(64)),  # comma-separated
    # Seconds a partial batch may wait before it is sent anyway (Ichnaea: one hour).
    Column("max_age", Integer, nullable=False, default=3600, server_default="3600"),
)

# One row per target that has been tried: consecutive failures drive the back-off; a target
# whose retry_at lies in the future is left alone (its submissions wait in its queue).
export_state = Table(
    "export_state",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("failures", Integer, nullable=False, default=0),  # consecutive failed uploads
    Column("retry_at", Float),  # no upload before this time (seconds since the epoch)
    Column("pending_since", Float),  # when the queue was first seen holding a partial batch
    Column("last_error", String(500)),
    Column("last_failure", Float),
    Column("last_success", Float),
    Column("reports", BigInteger, nullable=False, default=0),  # reports delivered, in total
)
