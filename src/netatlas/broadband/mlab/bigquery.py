"""``netatlas mlab bigquery --bbox W,S,E,N --since DATE``: M-Lab's unified views, fetched.

One standard-SQL query over ``measurement-lab.ndt.unified_downloads`` and
``unified_uploads``, filtered on the ``date`` partition column (so BigQuery scans only those
days) and on the client's IP location inside the box (a box crossing the antimeridian has
west > east). Its rows go through :func:`.mlab_rows.unified_row` and the same batched,
idempotent insert as files. Runs are incremental: the last date imported for the box is
kept in ``mlab_state``, and the next run starts from it (that day again, as M-Lab may still
have been adding to it; the ids make re-fetched tests harmless). M-Lab publishes a day's
tests about a day later, so runs stop at yesterday (UTC).

BigQuery sits behind :class:`BigQueryRunner`: :class:`GoogleBigQuery` uses
``google-cloud-bigquery`` (the optional ``netatlas[bigquery]`` extra, with Google's usual
credentials); :class:`LocalRows` answers from rows at hand, filtering as the query would.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

import msgspec
from sqlalchemy import Engine, select

from netatlas.broadband.aggregate.models import mlab_state
from netatlas.broadband.mlab.importer import ImportReport, import_items
from netatlas.broadband.mlab.rows import BadRow, UnifiedRow, parse_time, unified_row
from netatlas.db.upsert import insert_for

__all__ = [
    "BBox",
    "BigQueryRunner",
    "GoogleBigQuery",
    "LocalRows",
    "build_query",
    "import_bigquery",
]

VIEWS = {
    "download": "measurement-lab.ndt.unified_downloads",
    "upload": "measurement-lab.ndt.unified_uploads",
}


@dataclass(frozen=True)
class BBox:
    west: float
    south: float
    east: float
    north: float

    @classmethod
    def parse(cls, text: str) -> BBox:
        """``W,S,E,N`` in degrees. Raises ValueError."""
        try:
            w, s, e, n = (float(v) for v in text.split(","))
        except ValueError:
            raise ValueError(f"expected W,S,E,N in degrees, not {text!r}") from None
        if not all(math.isfinite(v) for v in (w, s, e, n)):
            raise ValueError("box edges must be numbers")
        if not (-180 <= w <= 180 and -180 <= e <= 180 and -90 <= s < n <= 90):
            raise ValueError("need -180 ≤ W, E ≤ 180 and -90 ≤ S < N ≤ 90")
        return cls(w, s, e, n)

    def __str__(self) -> str:
        return f"{self.west:g},{self.south:g},{self.east:g},{self.north:g}"

    def contains(self, lat: float, lon: float) -> bool:
        inside_lon = (
            self.west <= lon <= self.east
            if self.west <= self.east
            else lon >= self.west or lon <= self.east
        )
        return self.south <= lat <= self.north and inside_lon


def _select(direction: str, wraps: bool) -> str:
    lon = (
        "(client.Geo.Longitude >= @west OR client.Geo.Longitude <= @east)"
        if wraps
        else "client.Geo.Longitude BETWEEN @west AND @east"
    )
    return f"""SELECT
  id,
  '{direction}' AS direction,
  STRUCT(a.UUID AS UUID, a.TestTime AS TestTime, a.CongestionControl AS CongestionControl,
         a.MeanThroughputMbps AS MeanThroughputMbps, a.MinRTT AS MinRTT,
         a.LossRate AS LossRate) AS a,
  STRUCT(client.IP AS IP,
         STRUCT(client.Geo.Latitude AS Latitude, client.Geo.Longitude AS Longitude,
                client.Geo.AccuracyRadiusKm AS AccuracyRadiusKm,
                client.Geo.CountryCode AS CountryCode) AS Geo,
         STRUCT(client.Network.ASNumber AS ASNumber,
                client.Network.ASName AS ASName) AS Network) AS client
FROM `{VIEWS[direction]}`
WHERE date BETWEEN @since AND @until
  AND client.Geo.Latitude BETWEEN @south AND @north
  AND {lon}"""


def build_query(bbox: BBox, since: date, until: date) -> tuple[str, dict[str, Any]]:
    """The standard-SQL text and its named parameters."""
    wraps = bbox.west > bbox.east
    sql = _select("download", wraps) + "\nUNION ALL\n" + _select("upload", wraps)
    params: dict[str, Any] = {
        "since": since,
        "until": until,
        "west": bbox.west,
        "south": bbox.south,
        "east": bbox.east,
        "north": bbox.north,
    }
    return sql, params


class BigQueryRunner(Protocol):
    def rows(self, sql: str, params: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
        """Run the query; yield its rows as (nested) mappings."""


class GoogleBigQuery:
    """The real service (``pip install 'netatlas[bigquery]'``), billed to ``project``."""

    def __init__(self, project: str) -> None:
        try:
            from google.cloud import bigquery
        except ImportError:
            raise RuntimeError(
                "BigQuery needs google-cloud-bigquery: pip install 'netatlas[bigquery]'"
            ) from None
        self._bq = bigquery
        self._client = bigquery.Client(project=project)

    def rows(self, sql: str, params: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
        bq = self._bq
        query_params = [
            bq.ScalarQueryParameter(k, "DATE" if isinstance(v, date) else "FLOAT64", v)
            for k, v in params.items()
        ]
        job = self._client.query(sql, job_config=bq.QueryJobConfig(query_parameters=query_params))
        for row in job.result(page_size=10_000):
            yield dict(row.items())


class LocalRows:
    """Unified-view rows at hand (e.g. an export), filtered as :func:`build_query` would."""

    def __init__(self, rows: Iterable[Mapping[str, Any]]) -> None:
        self._rows = list(rows)
        self.queries: list[tuple[str, dict[str, Any]]] = []

    def rows(self, sql: str, params: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
        self.queries.append((sql, dict(params)))
        box = BBox(params["west"], params["south"], params["east"], params["north"])
        for row in self._rows:
            try:
                day = parse_time(row["a"]["TestTime"]).date()
                geo = row["client"]["Geo"]
                lat, lon = float(geo["Latitude"]), float(geo["Longitude"])
            except (KeyError, TypeError, ValueError, BadRow):
                continue
            if params["since"] <= day <= params["until"] and box.contains(lat, lon):
                yield row


def _items(rows: Iterable[Mapping[str, Any]]) -> Iterator[dict[str, Any] | BadRow]:
    for row in rows:
        try:
            yield unified_row(msgspec.convert(row, UnifiedRow, strict=False))
        except msgspec.ValidationError:
            yield BadRow("wrong field type")
        except BadRow as bad:
            yield bad


@dataclass
class BigQueryRun:
    since: date
    until: date
    sql: str
    report: ImportReport


def import_bigquery(
    engine: Engine,
    runner: BigQueryRunner,
    bbox: BBox,
    since: date | None = None,
    until: date | None = None,
    today: date | None = None,
    first: date | None = None,
) -> BigQueryRun | None:
    """Fetch and import the box's tests from ``since`` — by default the last date imported
    for the box, or ``first`` on the box's first run — to ``until`` (default yesterday, UTC).
    None when there is nothing new to fetch."""
    name = f"bigquery:{bbox}"
    with engine.connect() as conn:
        last = conn.execute(
            select(mlab_state.c.last_date).where(mlab_state.c.name == name)
        ).scalar()
    today = today or datetime.now(UTC).date()
    until = until or today - timedelta(days=1)
    if last is not None and since is None and last >= until:
        return None  # already fetched through ``until``
    start = since or last or first
    if start is None:
        raise ValueError("first run for this box: give a start date (--since)")
    if start > until:
        return None
    sql, params = build_query(bbox, start, until)
    report = import_items(engine, _items(runner.rows(sql, params)))
    with engine.begin() as conn:
        stmt = insert_for(conn, mlab_state).values(
            name=name,
            last_date=until,
            rows=report.inserted,
            updated=datetime.now(UTC).replace(tzinfo=None),
        )
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["name"],
                set_={
                    "last_date": stmt.excluded.last_date,
                    "rows": mlab_state.c.rows + stmt.excluded.rows,
                    "updated": stmt.excluded.updated,
                },
            )
        )
    return BigQueryRun(start, until, sql, report)
