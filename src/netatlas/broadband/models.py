"""Speed-test tables: one ``measurements`` row per ndt7 subtest, one ``survey_response`` per
submitted survey.

``measurements`` holds the figures M-Lab's unified views carry per test (``a.MeanThroughputMbps``,
``a.MinRTT``, ``a.LossRate``, the client's network and IP location), whatever ran the test:
``source`` is ``local`` for a test against this server (the full record is the ndt-server-format
file at ``archive``), ``mlab`` for a test a visitor ran against M-Lab's fleet (figures as the
browser reported them, ``uuid`` is M-Lab's test id so their row can be joined later).

``verification`` says whether the statistics may count a test (see :mod:`.verification`):
``NULL`` for tests measured here or imported, ``pending`` / ``rejected`` for figures a browser
reported that nothing has confirmed, ``admin`` / ``mlab`` once confirmed. ``client_ip`` is
erased after the retention period (see :mod:`.retention`); ``client_key`` then stands in for
it: a random value shared by the tests one address ran on one UTC day, so that the
statistics' per-client de-duplication counts them as before.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    false,
)

from netatlas.db.metadata import metadata

measurements = Table(
    "measurements",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uuid", String(128), nullable=False, unique=True),
    Column("source", String(8), nullable=False),  # local | mlab
    Column("direction", String(8), nullable=False),  # download | upload
    Column("test_time", DateTime, nullable=False),  # UTC start of the subtest
    Column("mean_mbps", Float),  # 8 × bytes / elapsed µs, from the last TCPInfo (M-Lab)
    Column("min_rtt_ms", Float),  # TCPInfo.MinRTT / 1000
    Column("loss_rate", Float),  # BytesRetrans / BytesSent (download); 0 for uploads
    Column("num_bytes", BigInteger),  # application bytes moved
    Column("elapsed_s", Float),
    Column("congestion_control", String(16)),
    Column("client_ip", String(45)),
    Column("asn", BigInteger),
    Column("isp", String(255)),  # the AS organisation name (GeoLite2-ASN)
    Column("lat", Float),  # IP location (GeoIP City), never the browser's
    Column("lon", Float),
    Column("accuracy", Float),  # metres
    Column("region", String(2)),
    Column("client_name", String(64)),  # the ndt7 client_name metadata
    Column("archive", String(255)),  # result file, relative to the data dir
    Column("verification", String(8)),  # NULL | pending | rejected | admin | mlab
    Column("client_key", String(24)),  # stands in for client_ip once it is erased
    Index("ix_measurements_test_time", "test_time"),
    Index("ix_measurements_asn", "asn"),
)

# The tests whose address is still kept, by age: what the retention job looks for.
Index(
    "ix_measurements_ip_kept",
    measurements.c.test_time,
    sqlite_where=measurements.c.client_ip.is_not(None),
    postgresql_where=measurements.c.client_ip.is_not(None),
)

survey_response = Table(
    "survey_response",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created", DateTime, nullable=False),
    Column("form", String(64), nullable=False),  # the survey's name in its settings file
    Column("answers", JSON, nullable=False),
    Column("consent", Boolean, nullable=False),
    # Evidence for a regulator's challenge process (precise location, test by test): its own yes.
    Column("challenge_consent", Boolean, nullable=False, server_default=false()),
    Column("lat", Float),  # browser location: stored only with consent
    Column("lon", Float),
    Column("accuracy", Float),
    Column("client_ip", String(45)),
    Column("download_id", Integer, ForeignKey("measurements.id"), unique=True),
    Column("upload_id", Integer, ForeignKey("measurements.id"), unique=True),
)
