"""The table behind embedded mode's request counters (scale-out mode counts in Redis)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, String, Table

from netatlas.db.metadata import metadata

# One counter per name, e.g. ``apilimit:<key>:v1.geolocate:20260101`` (daily key limit) or
# ``fallback_ratelimit:<name>:<window>`` (external provider calls). The period is part of the
# name, so a new period starts a new row; ``expires`` (seconds since the epoch) only tells
# the clean-up which rows are no longer needed.
rate_counter = Table(
    "rate_counter",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("count", BigInteger, nullable=False),
    Column("expires", BigInteger, nullable=False),
    Index("ix_rate_counter_expires", "expires"),
)
