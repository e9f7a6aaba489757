"""Tables of the M-Lab import, the area layers and the binned statistics.

* ``area_layer`` / ``area`` — polygon layers imported with ``netatlas areas import`` (census
  block groups, counties, districts): one row per polygon, GeoJSON in lon/lat degrees, with a
  representative point used when bins are re-binned into another layer.
* ``stats_state`` — per declared aggregation: the fingerprint of its declaration (a changed
  declaration or polygon layer means a rebuild), the highest ``measurements.id`` aggregated, and
  a version bumped on every change (the stats API's ETags), and how many tests the bins hold
  and how many found no area.
* ``stats_bin`` — one row per bin (area × time slice × hour of day × day of week × ISP): its
  test count and, packed in one column, mergeable partial statistics: counts, sums, min/max,
  M-Lab's 8-bucket histograms, log-bucket quantile sketches and a distinct-client sketch (see
  :mod:`.frame`). Dimensions an aggregation does not bin by hold a constant (``''`` or ``-1``,
  period ``0``).
* ``mlab_state`` — the last date imported from BigQuery, per bounding box.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
)

from netatlas.db.metadata import metadata

area_layer = Table(
    "area_layer",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("key_property", String(64), nullable=False),
    Column("source", String(255)),  # the file it came from
    Column("features", Integer, nullable=False),
    Column("version", Integer, nullable=False),  # bumped by every import of the layer
    Column("imported", DateTime, nullable=False),
)

area = Table(
    "area",
    metadata,
    Column("layer", String(64), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("name", String(255)),
    Column("geometry", Text, nullable=False),  # GeoJSON (Multi)Polygon, lon/lat
    Column("lat", Float, nullable=False),  # a point inside the polygon
    Column("lon", Float, nullable=False),
)

stats_state = Table(
    "stats_state",
    metadata,
    Column("aggregation", String(64), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("watermark", BigInteger, nullable=False),  # highest measurements.id aggregated
    Column("version", Integer, nullable=False),
    Column("updated", DateTime, nullable=False),
    Column("tests", BigInteger, nullable=False, server_default="0"),  # in the bins
    Column("unlocated", BigInteger, nullable=False, server_default="0"),  # found no area
)


stats_bin = Table(
    "stats_bin",
    metadata,
    Column("aggregation", String(64), nullable=False),
    Column("area", String(64), nullable=False),
    Column("period", BigInteger, nullable=False),  # UTC epoch seconds of the slice start
    Column("hour", SmallInteger, nullable=False),  # 0–23 local, or -1
    Column("dow", SmallInteger, nullable=False),  # 0 Monday – 6 Sunday, or -1
    Column("isp", String(128), nullable=False),
    Column("tests", Integer, nullable=False),
    Column("partial", LargeBinary, nullable=False),  # packed partial statistics, see frame.py
    # The time slice second: a time filter reads one range of the key.
    PrimaryKeyConstraint("aggregation", "period", "area", "hour", "dow", "isp"),
)

mlab_state = Table(
    "mlab_state",
    metadata,
    Column("name", String(96), primary_key=True),  # "bigquery:W,S,E,N"
    Column("last_date", Date, nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("updated", DateTime, nullable=False),
)
