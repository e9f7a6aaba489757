"""Measurements read for aggregation, as columns, and M-Lab-style de-duplication ranks.

Only tests with a positive throughput count (M-Lab's statistics drop ``MeanThroughputMbps``
of 0), and of the figures a browser reported only those confirmed since (see
:mod:`netatlas.broadband.verification`). Each test carries its IP location and, when a
consented survey is linked to it, the browser location, so an aggregation can choose either;
the plan's advertised speed for the test's direction, when a consented survey linked to the
test gave one (the advertised-vs-measured statistics);
and the country code its source gave (M-Lab's client geolocation, or the GeoIP answer of a
test run here), when an aggregation is binned by country.

De-duplication: a test's *rank* is how many earlier tests (lower ``measurements.id``) of the
same client, UTC day and direction there are; the client is the address or, once that is
erased, the ``client_key`` standing in for it on that day. An aggregation keeping ``k`` tests
per client per day keeps ranks below ``k``. Ranks depend only on the table, so an
incremental update and a rebuild count the same tests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import BigInteger, Connection, Float, and_, case, cast, func, literal, or_, select
from sqlalchemy.sql import ColumnElement

from netatlas.broadband.aggregate.config import SOURCES
from netatlas.broadband.aggregate.sketch import client_hashes
from netatlas.broadband.models import measurements, survey_response
from netatlas.broadband.verification import counted

__all__ = ["Tests", "add_ranks", "read_tests"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Array = npt.NDArray[Any]


@dataclass
class Tests:
    id: I64
    source: npt.NDArray[np.int8]  # index in config.SOURCES
    download: npt.NDArray[np.bool_]
    epoch: I64
    mbps: F64
    seconds: F64
    rtt: F64
    loss: F64
    client: npt.NDArray[np.uint64]
    asn: I64  # -1: unknown
    isp: Array  # str or None
    lat: F64
    lon: F64
    survey_lat: F64  # NaN: no consented survey location
    survey_lon: F64
    rank: I64
    country: npt.NDArray[np.str_]  # upper-case code of the IP location; "" when unknown
    advertised: F64  # Mbit/s the plan advertises for the test's direction; NaN: not given

    @property
    def size(self) -> int:
        return int(self.id.size)

    def take(self, index: npt.NDArray[Any]) -> Tests:
        return Tests(**{k: v[index] for k, v in self.__dict__.items()})


def epoch_of(conn: Connection, column: Any) -> ColumnElement[Any]:
    """Whole UTC epoch seconds of a naive-UTC DateTime column."""
    if conn.dialect.name == "postgresql":
        return cast(func.extract("epoch", column), BigInteger)
    return cast(func.strftime("%s", column), BigInteger)


def client_of(m: Any) -> ColumnElement[Any]:
    """The client a test is counted under (the address, its stand-in, or the test itself)."""
    return func.coalesce(m.c.client_ip, m.c.client_key, literal("test:") + m.c.uuid)


def _floats(values: list[Any]) -> F64:
    return np.array(values, dtype=np.float64)  # None becomes NaN


def _speed(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if 0 < number < math.inf else math.nan


def _positive(values: Sequence[Any]) -> F64:
    """Advertised speeds: a number above 0 (a form may let 0 or text through), else NaN."""
    return np.array([_speed(v) for v in values], dtype=np.float64)


def read_tests(
    conn: Connection, after_id: int, upto_id: int, *, survey: bool = True, country: bool = True
) -> Tests:
    """Tests with ``after_id < id <= upto_id``, in id order; ``survey=False`` leaves the
    survey locations out (NaN) and ``country=False`` the country codes ("")."""
    m = measurements
    down = survey_response.alias("sd")
    up = survey_response.alias("su")
    nothing = literal(None, Float)
    query = (
        select(
            m.c.id,
            case(*((m.c.source == name, i) for i, name in enumerate(SOURCES)), else_=-1),
            case((m.c.direction == "download", 1), else_=0),
            epoch_of(conn, m.c.test_time),
            m.c.mean_mbps,
            m.c.elapsed_s,
            m.c.min_rtt_ms,
            m.c.loss_rate,
            client_of(m),
            m.c.asn,
            m.c.isp,
            m.c.lat,
            m.c.lon,
            func.coalesce(down.c.lat, up.c.lat) if survey else nothing,
            func.coalesce(down.c.lon, up.c.lon) if survey else nothing,
            func.coalesce(
                # As text: a form edited to ask for text must not break the read.
                down.c.answers["advertised_download"].as_string(),
                up.c.answers["advertised_upload"].as_string(),
            ),
            *([func.upper(func.coalesce(m.c.region, ""))] if country else []),
        )
        .where(m.c.id > after_id, m.c.id <= upto_id, m.c.mean_mbps > 0, counted(m))
        .order_by(m.c.id)
    )
    query = query.outerjoin(
        down, and_(down.c.download_id == m.c.id, down.c.consent.is_(True))
    ).outerjoin(up, and_(up.c.upload_id == m.c.id, up.c.consent.is_(True)))
    # Straight to the driver's cursor: plain tuples, no per-row result objects.
    sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    cols: list[Any] = list(zip(*rows, strict=True)) if rows else [()] * (16 + country)
    n = len(rows)
    asn = np.array([-1 if a is None else a for a in cols[9]], dtype=np.int64)
    return Tests(
        id=np.array(cols[0], dtype=np.int64),
        source=np.array(cols[1], dtype=np.int8),
        download=np.array(cols[2], dtype=bool),
        epoch=np.array(cols[3], dtype=np.int64),
        mbps=_floats(cols[4]),
        seconds=_floats(cols[5]),
        rtt=_floats(cols[6]),
        loss=_floats(cols[7]),
        client=client_hashes(list(cols[8])),
        asn=asn,
        isp=np.array(cols[10], dtype=object),
        lat=_floats(cols[11]),
        lon=_floats(cols[12]),
        survey_lat=_floats(cols[13]),
        survey_lon=_floats(cols[14]),
        rank=np.zeros(n, np.int64),
        country=np.array(cols[16], dtype="U2") if country else np.full(n, "", "U2"),
        advertised=_positive(cols[15]),
    )


def _day_keys(client: npt.NDArray[np.uint64], epoch: I64, download: Any) -> npt.NDArray[np.uint64]:
    """One 64-bit key per (client, UTC day, direction)."""
    day = (epoch // 86400).astype(np.uint64)
    mixed = client ^ (day * np.uint64(0x9E3779B97F4A7C15)) ^ np.asarray(download).astype(np.uint64)
    return mixed.astype(np.uint64)


def _prior_keys(conn: Connection, before_id: int, epoch: I64) -> npt.NDArray[np.uint64]:
    """Day keys of the tests before ``before_id`` on the UTC days ``epoch`` covers."""
    days = np.unique(epoch // 86400)
    m = measurements
    t = epoch_of(conn, m.c.test_time)
    if days.size <= 20:
        ranges = [and_(t >= int(d) * 86400, t < (int(d) + 1) * 86400) for d in days.tolist()]
        when = or_(*ranges)
    else:
        when = and_(t >= int(days[0]) * 86400, t < (int(days[-1]) + 1) * 86400)
    rows = conn.execute(
        select(client_of(m), t, m.c.direction).where(
            m.c.id < before_id, m.c.mean_mbps > 0, counted(m), when
        )
    ).all()
    if not rows:
        return np.zeros(0, np.uint64)
    ips, epochs, dirs = zip(*rows, strict=True)
    clients = client_hashes(list(ips))
    return _day_keys(clients, np.array(epochs, np.int64), np.array([d == "download" for d in dirs]))


def add_ranks(conn: Connection, tests: Tests) -> None:
    """Fill ``tests.rank`` (tests must be in id order)."""
    if tests.size == 0:
        return
    keys = _day_keys(tests.client, tests.epoch, tests.download)
    prior = _prior_keys(conn, int(tests.id[0]), tests.epoch)
    pk, pc = np.unique(prior, return_counts=True)
    order = np.argsort(keys, kind="stable")  # stable: id order within each key
    sorted_keys = keys[order]
    start = np.ones(sorted_keys.size, bool)
    start[1:] = sorted_keys[1:] != sorted_keys[:-1]
    group_start = np.maximum.accumulate(np.where(start, np.arange(sorted_keys.size), 0))
    within = np.arange(sorted_keys.size) - group_start
    before = np.zeros(sorted_keys.size, np.int64)
    if pk.size:
        pos = np.minimum(np.searchsorted(pk, sorted_keys), pk.size - 1)
        before = np.where(pk[pos] == sorted_keys, pc[pos], 0)
    rank = np.empty_like(within)
    rank[order] = within + before
    tests.rank = rank
