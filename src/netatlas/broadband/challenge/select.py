"""Which tests a challenge package holds: the selection and the streaming query.

A test here is one survey response and the download and upload it names (an ndt7 run), kept
only when its contributor gave the challenge consent (``survey_response.challenge_consent``)
and the statistics would count its figures (not ``pending`` or ``rejected``, see
:mod:`netatlas.broadband.verification`). Its time is the download's start (the upload's when
there is no download). Its location is the browser's when the contributor shared it, else the
IP location of its tests (a town's centre, marked ``ip``).

The area is a box (W,S,E,N) or an area of one of the project's layers (an imported polygon
layer, ``countries``, ``h3:R``, ``quadkey:Z``): the database filters by the area's bounding
box, and each chunk of rows is then tested against the outline itself.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import shapely
from sqlalchemy import BigInteger, Engine, case, cast, func, or_, select, true
from sqlalchemy.sql.elements import ColumnElement

from netatlas.broadband.areas import AreaLayer, UnknownLayer, get_layer
from netatlas.broadband.models import measurements, survey_response
from netatlas.broadband.verification import PENDING, REJECTED

__all__ = ["COLUMNS", "Area", "SelectionError", "parse_bbox", "resolve_area", "test_chunks"]

CHUNK = 5000
#: Survey answers the package reads (the default form's names).
ANSWERS = ("isp", "technology", "connection_type")
NUMBERS = ("advertised_download", "advertised_upload")


class SelectionError(ValueError):
    """A bad selection (unknown layer or area, an empty box…); the message says which."""


@dataclass(frozen=True)
class Area:
    """Where: a box, or one area of a layer (with its outline's box)."""

    west: float
    south: float
    east: float
    north: float
    layer: AreaLayer | None = None
    key: str = ""
    label: str = ""

    def contains(self, lat: Sequence[float], lon: Sequence[float]) -> list[bool]:
        """Whether each point lies in the area (the outline's, for a layer's area)."""
        la = np.asarray(lat, np.float64)
        lo = np.asarray(lon, np.float64)
        inside = (la >= self.south) & (la <= self.north) & (lo >= self.west) & (lo <= self.east)
        if self.layer is not None and la.size:
            target = int(self.layer.codes([self.key])[0])
            inside &= self.layer.assign(la, lo) == target
        result: list[bool] = inside.tolist()
        return result


def parse_bbox(text: str) -> Area:
    """``W,S,E,N`` in degrees. Raises SelectionError."""
    try:
        west, south, east, north = (float(p) for p in text.split(","))
    except ValueError:
        raise SelectionError("a box is W,S,E,N: four numbers in degrees") from None
    if not all(math.isfinite(v) for v in (west, south, east, north)):
        raise SelectionError("a box is W,S,E,N: four numbers in degrees")
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise SelectionError("a box needs -180 ≤ W < E ≤ 180 and -90 ≤ S < N ≤ 90")
    return Area(west, south, east, north, label=f"box {west:g},{south:g},{east:g},{north:g}")


def resolve_area(engine: Engine, layer_spec: str, key: str) -> Area:
    """An area of a layer, by the layer's name and the area's key. Raises SelectionError."""
    try:
        layer = get_layer(engine, layer_spec)
    except UnknownLayer as exc:
        raise SelectionError(str(exc)) from None
    geometry = layer.geometry(key) if key else None
    if geometry is None or int(layer.codes([key])[0]) < 0:
        raise SelectionError(f"no area {key!r} in layer {layer_spec!r}")
    west, south, east, north = shapely.from_geojson(geometry).bounds
    name = layer.name(key)
    label = f"{layer_spec} {key}" + (f" ({name})" if name else "")
    return Area(west, south, east, north, layer, key, label)


def _counted(table: Any) -> ColumnElement[bool]:
    """The test is missing or the statistics would count it."""
    v = table.c.verification
    return or_(table.c.id.is_(None), v.is_(None), v.not_in((PENDING, REJECTED)))


def _epoch(when: Any, dialect: str) -> Any:
    """Whole UTC epoch seconds of a stored (naive UTC) time, computed by the database: far
    cheaper than making a datetime object of each row."""
    if dialect == "sqlite":
        return cast(func.strftime("%s", when), BigInteger)
    return cast(func.floor(func.extract("epoch", when)), BigInteger)


def _query(area: Area, since: datetime, until: datetime, dialect: str) -> Any:
    s = survey_response.c
    d = measurements.alias("d")
    u = measurements.alias("u")
    when = case((d.c.id.is_not(None), d.c.test_time), else_=u.c.test_time)
    browser = s.lat.is_not(None)
    lat = case((browser, s.lat), (d.c.lat.is_not(None), d.c.lat), else_=u.c.lat)
    lon = case((browser, s.lon), (d.c.lat.is_not(None), d.c.lon), else_=u.c.lon)
    accuracy = case((browser, s.accuracy), (d.c.lat.is_not(None), d.c.accuracy), else_=u.c.accuracy)
    answers = [s.answers[name].as_string().label(name) for name in ANSWERS]
    numbers = [s.answers[name].as_float().label(name) for name in NUMBERS]
    return (
        select(
            s.id,
            d.c.uuid.label("download_uuid"),
            u.c.uuid.label("upload_uuid"),
            _epoch(when, dialect).label("epoch"),
            case((d.c.id.is_not(None), d.c.source), else_=u.c.source).label("source"),
            case((d.c.id.is_not(None), d.c.verification), else_=u.c.verification).label(
                "verification"
            ),
            case((d.c.id.is_not(None), d.c.asn), else_=u.c.asn).label("asn"),
            case((d.c.id.is_not(None), d.c.isp), else_=u.c.isp).label("as_name"),
            d.c.mean_mbps.label("download"),
            u.c.mean_mbps.label("upload"),
            case((d.c.min_rtt_ms.is_not(None), d.c.min_rtt_ms), else_=u.c.min_rtt_ms).label(
                "latency"
            ),
            d.c.loss_rate,
            lat.label("lat"),
            lon.label("lon"),
            accuracy.label("accuracy"),
            case((browser, "browser"), else_="ip").label("location_source"),
            s.consent,
            s.challenge_consent,
            *answers,
            *numbers,
        )
        .select_from(
            survey_response.outerjoin(d, d.c.id == s.download_id).outerjoin(
                u, u.c.id == s.upload_id
            )
        )
        .where(
            s.challenge_consent == true(),
            or_(d.c.id.is_not(None), u.c.id.is_not(None)),
            _counted(d),
            _counted(u),
            when >= since,
            when < until,
            lat.between(area.south, area.north),
            lon.between(area.west, area.east),
        )
        .order_by(s.id)
    )


#: The columns of a chunk, in the query's order.
COLUMNS = (
    "id", "download_uuid", "upload_uuid", "epoch", "source", "verification", "asn", "as_name",
    "download", "upload", "latency", "loss_rate", "lat", "lon", "accuracy", "location_source",
    "consent", "challenge_consent", *ANSWERS, *NUMBERS,
)  # fmt: skip


def _rows(engine: Engine, query: Any) -> Iterator[Sequence[Sequence[Any]]]:
    """The query's rows, CHUNK at a time, read through the driver's own cursor: SQLAlchemy's
    row objects would cost more than the rest of the read. The query's only values are
    times, coordinates and fixed words, written into the SQL by SQLAlchemy. PostgreSQL reads
    with a server-side cursor, so that memory stays flat, in binary (numbers are not parsed
    from text: less than half the work on this side)."""
    sql = str(query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    with engine.connect() as conn:
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        if engine.dialect.name == "postgresql":
            cursor = dbapi.cursor(name="challenge_tests", binary=True)
        else:
            cursor = dbapi.cursor()
        try:
            cursor.execute(sql)
            while rows := cursor.fetchmany(CHUNK):
                yield rows
        finally:
            cursor.close()


def test_chunks(
    engine: Engine, area: Area, since: datetime, until: datetime
) -> Generator[dict[str, list[Any]], None, None]:
    """The package's tests in order of id, a chunk of columns (:data:`COLUMNS`) at a time,
    filtered by the area's outline."""
    if not since < until:
        raise SelectionError("the period is empty: since must be before until")
    for rows in _rows(engine, _query(area, since, until, engine.dialect.name)):
        columns = dict(zip(COLUMNS, map(list, zip(*rows, strict=True)), strict=True))
        inside = area.contains(columns["lat"], columns["lon"])
        if not all(inside):
            columns = {
                k: [v for v, keep in zip(c, inside, strict=True) if keep]
                for k, c in columns.items()
            }
        if columns["id"]:
            yield columns
