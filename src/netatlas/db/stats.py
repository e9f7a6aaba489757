"""Statistics tables: daily running totals (``stat``) and per-region counts (``region_stat``)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Date, Integer, SmallInteger, String, Table

from netatlas.db.metadata import metadata

# Ichnaea's stat keys: cell 1, unique_cell 2, wifi 3, unique_wifi 4, blue 8, unique_blue 9.
STAT_KEYS = {"cell": 1, "unique_cell": 2, "wifi": 3, "unique_wifi": 4, "blue": 8, "unique_blue": 9}

stat = Table(
    "stat",
    metadata,
    Column("key", SmallInteger, primary_key=True),
    Column("time", Date, primary_key=True),
    Column("value", BigInteger, nullable=False),
)

region_stat = Table(
    "region_stat",
    metadata,
    Column("region", String(2), primary_key=True),
    Column("gsm", Integer, nullable=False, default=0),
    Column("wcdma", Integer, nullable=False, default=0),
    Column("lte", Integer, nullable=False, default=0),
    Column("nr", Integer, nullable=False, default=0),
    Column("blue", BigInteger, nullable=False, default=0),
    Column("wifi", BigInteger, nullable=False, default=0),
)

# Per-day counts written by the station updaters inside their own transactions, one row per
# (key, day, shard) so that parallel updaters never wait on one hot row. The stat job folds
# them into ``stat``.
stat_counter = Table(
    "stat_counter",
    metadata,
    Column("key", SmallInteger, primary_key=True),
    Column("day", Date, primary_key=True),
    Column("shard", String(16), primary_key=True),
    Column("value", BigInteger, nullable=False),
)
