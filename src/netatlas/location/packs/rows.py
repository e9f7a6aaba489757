"""The stations a pack may hold, streamed from the station tables.

A station goes into a pack only when locate would use it and more:

* it has a position (a blocked station has none; ``_nomap``, hidden and randomised networks
  are never stored at all, see ``location.submit.networks``);
* it is not blocked on the build day, temporarily or long-term (bus and train WiFi, phone
  hotspots): the same predicate locate uses, :func:`netatlas.location.locate.score.is_blocked`;
* its current position was vouched for by at least two distinct contributors on at least two
  distinct days (the ``contributors`` and ``days`` columns, restarted whenever the station is
  new, moves or is blocked, so a moved station is out until confirmed at its new place);
* imported cells only from the data sets listed in ``NETATLAS_CELL_EXPORT_ORIGINS`` (as the
  public cell exports), so share-alike data never lands in a file under other terms.

Rows are streamed (``yield_per``) table by table in key order; nothing is loaded whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any, Final, NamedTuple

from sqlalchemy import BigInteger, ColumnElement, Connection, Table, and_, cast, func, or_, select

from netatlas.location.locate.score import is_blocked
from netatlas.location.models import RADIOS, SHARDS, cell_tables, wifi_shards
from netatlas.location.packs.region import Region
from netatlas.location.stations.rules import PUBLISH_CONTRIBUTORS, PUBLISH_DAYS

__all__ = ["MIN_CONTRIBUTORS", "MIN_DAYS", "PackCell", "PackWifi", "iter_cells", "iter_wifis"]

MIN_CONTRIBUTORS: Final = PUBLISH_CONTRIBUTORS
MIN_DAYS: Final = PUBLISH_DAYS
_YIELD: Final = 20_000
_EPOCH_DAY: Final = 719_163  # date(1970, 1, 1).toordinal()


class PackCell(NamedTuple):
    radio: str  # gsm | wcdma | lte | nr
    mcc: int
    mnc: int
    lac: int
    cid: int
    psc: int | None
    lat: float
    lon: float
    radius: int
    samples: int
    created: int  # seconds since the epoch (0: unknown), for the MLS file's times
    modified: int


class PackWifi(NamedTuple):
    mac: bytes
    lat: float
    lon: float


def _vouched(t: Table) -> list[ColumnElement[bool]]:
    return [
        t.c.lat.is_not(None),
        t.c.lon.is_not(None),
        t.c.contributors >= MIN_CONTRIBUTORS,
        t.c.days >= MIN_DAYS,
    ]


def _bbox(t: Table, box: tuple[float, float, float, float]) -> list[ColumnElement[bool]]:
    south, west, north, east = box
    lon: ColumnElement[bool]
    if west <= east:
        lon = and_(t.c.lon >= west, t.c.lon <= east)
    else:  # across the antimeridian
        lon = or_(t.c.lon >= west, t.c.lon <= east)
    return [t.c.lat >= south, t.c.lat <= north, lon]


def _where(t: Table, region: Region, cells: bool) -> list[ColumnElement[bool]] | None:
    """The region's condition on a station table; None when no row of it can match."""
    if region.kind == "bbox" and region.bbox is not None:
        return _bbox(t, region.bbox)
    if region.kind == "mcc" and cells:
        return [t.c.mcc == region.mccs[0]]
    codes = region.countries
    if not codes:
        return None
    return [t.c.region.in_(codes)]


def _epoch(conn: Connection, column: Any) -> ColumnElement[Any]:
    """Seconds since the epoch, computed by the database: a million rows' dates are not
    parsed one by one in Python."""
    if conn.dialect.name == "postgresql":
        return cast(func.extract("epoch", column), BigInteger)
    return cast(func.strftime("%s", column), BigInteger)


def _day(seconds: int | None) -> int | None:
    return None if seconds is None else seconds // 86_400 + _EPOCH_DAY


def _usable(today: int, created: int | None, block_last: int | None, count: int | None) -> bool:
    if not count and block_last is None:
        return True  # never blocked (most stations): nothing to check
    return not is_blocked(today, _day(created), _day(block_last), count)


def iter_cells(
    conn: Connection, region: Region, today: date, origins: Iterable[str] = ()
) -> Iterator[PackCell]:
    """The region's publishable cells (see the module's docstring), radio by radio."""
    day = today.toordinal()
    allowed = sorted(set(origins))
    for radio in RADIOS:
        t = cell_tables[radio]
        where = _where(t, region, cells=True)
        if where is None:
            continue
        origin: ColumnElement[bool] = t.c.origin.is_(None)
        if allowed:
            origin = or_(origin, t.c.origin.in_(allowed))
        query = (
            select(
                t.c.mcc, t.c.mnc, t.c.lac, t.c.cid, t.c.psc, t.c.lat, t.c.lon, t.c.radius,
                t.c.samples, _epoch(conn, t.c.created), _epoch(conn, t.c.modified),
                _epoch(conn, t.c.block_last), t.c.block_count,
            )
            .where(*_vouched(t), origin, *where)
            .order_by(t.c.cellid)
        )  # fmt: skip
        result = conn.execution_options(stream_results=True, yield_per=_YIELD).execute(query)
        for part in result.partitions():  # a batch at a time: no per-row fetch overhead
            for mcc, mnc, lac, cid, psc, lat, lon, radius, samples, cr, mo, bl, bc in part:
                if _usable(day, cr, bl, bc):
                    yield PackCell(
                        radio, mcc, mnc, lac, cid, psc, lat, lon, radius or 0, samples or 0,
                        cr or 0, mo or 0,
                    )  # fmt: skip


def iter_wifis(conn: Connection, region: Region, today: date) -> Iterator[PackWifi]:
    """The region's publishable WiFi access points, shard by shard."""
    day = today.toordinal()
    for shard in SHARDS:
        t = wifi_shards[shard]
        where = _where(t, region, cells=False)
        if where is None:
            continue
        query = (
            select(
                t.c.mac,
                t.c.lat,
                t.c.lon,
                _epoch(conn, t.c.created),
                _epoch(conn, t.c.block_last),
                t.c.block_count,
            )
            .where(*_vouched(t), *where)
            .order_by(t.c.mac)
        )
        result = conn.execution_options(stream_results=True, yield_per=_YIELD).execute(query)
        for part in result.partitions():
            for mac, lat, lon, created, block_last, count in part:
                if _usable(day, created, block_last, count):
                    yield PackWifi(bytes(mac), lat, lon)
