"""The internal position and region search (reference/ichnaea.md 4.1, 4.4, 4.5).

:func:`locate` reads every station the query names in one statement, drops blocked ones, and
adds one candidate per cluster of found WiFi access points and Bluetooth beacons (complete
linkage, at least two stations per cluster), one per group of found cells sharing an area, and -
only when no exact cell gave an answer and ``lacf`` is on - one per known cell area
(``fallback="lacf"``). The caller adds the GeoIP and external fallback candidates to the returned
:class:`~.result.ResultList` and asks it for the best answer.

:func:`region` sums station scores per station region and adds, for each cell of the query,
``1 / n`` to each of the ``n`` regions its MCC belongs to (plus the area's score to the area's
stored region when the MCC is shared by several regions).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Final, TypeVar

from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from netatlas.geo.mcc import regions_for_mcc
from netatlas.location.ids import area_id, cell_id
from netatlas.location.locate import sources
from netatlas.location.locate.cluster import clusters
from netatlas.location.locate.estimate import (
    BLUE,
    WIFI,
    Found,
    Model,
    estimate_cells,
    estimate_macs,
)
from netatlas.location.locate.query import Query
from netatlas.location.locate.result import RegionResult, RegionResultList, Result, ResultList
from netatlas.location.locate.score import area_score, day_of, is_blocked, station_score
from netatlas.location.models import RADIO_CODE, RADIO_NAME
from netatlas.location.radio import RADIOS
from netatlas.location.submit.report import BlueBeacon, CellTower, WifiAccessPoint

__all__ = ["MAX_LOOKUPS", "locate", "region", "search_internal"]

MAX_LOOKUPS: Final = 100  # networks of each kind looked up, strongest signal first
MAX_CLUSTERED: Final = 50  # found stations of each kind clustered, best scores first
AREA_MIN_ACCURACY: Final = 50_000.0
AREA_MAX_ACCURACY: Final = 500_000.0
# The weakest signal of each radio (Ichnaea's defaults for a cell without one).
_WEAKEST: Final = {name: r.signal_min for name, r in RADIOS.items()}
_AREA_PREFIX: Final = 9  # bytes of a packed cell id that are its area: radio, mcc, mnc, lac

_Entry = TypeVar("_Entry", WifiAccessPoint, BlueBeacon, CellTower)


@contextmanager
def _reading(conn_or_engine: Connection | Engine) -> Iterator[Connection]:
    if isinstance(conn_or_engine, Connection):
        yield conn_or_engine
        return
    with conn_or_engine.connect() as conn:
        # Marked read-only in case anything runs through SQLAlchemy on it (on SQLite a deferred
        # transaction, never the write lock); the lookups themselves begin none (see sources).
        conn.execution_options(readonly=True)
        yield conn


class _Hit:
    """A found, usable station with what the query said about it."""

    __slots__ = ("found", "region")

    def __init__(self, found: Found, region: str | None) -> None:
        self.found = found
        self.region = region


_Hits = dict[bytes, _Hit]


def _today(now: datetime | None) -> int:
    moment = now if now is not None else datetime.now(UTC)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.date().toordinal()


def _signal_key(entry: WifiAccessPoint | BlueBeacon | CellTower) -> int:
    return -(entry.signalStrength if entry.signalStrength is not None else -999)


def _strongest(entries: Sequence[_Entry], limit: int) -> Sequence[_Entry]:
    return entries if len(entries) <= limit else sorted(entries, key=_signal_key)[:limit]


def _mac_groups(
    kind: int,
    entries: Sequence[WifiAccessPoint] | Sequence[BlueBeacon],
    measured: dict[tuple[int, bytes], tuple[int | None, int | None]],
) -> dict[str, list[bytes]]:
    """6-byte MACs grouped by shard (the 5th hex character); records signal and age."""
    groups: dict[str, list[bytes]] = {}
    for e in entries:
        mac = e.macAddress
        key = bytes.fromhex(mac)
        groups.setdefault(mac[4], []).append(key)
        measured[(kind, key)] = (e.signalStrength, e.age)
    return groups


def _lookup(conn: Connection, query: Query, today: int) -> tuple[_Hits, _Hits, _Hits]:
    """Usable stations found for the query: (WiFi by MAC, Bluetooth by MAC, cells by cell id)."""
    measured: dict[tuple[int, bytes], tuple[int | None, int | None]] = {}
    wifis = _mac_groups(sources.WIFI, _strongest(query.wifis, MAX_LOOKUPS), measured)
    blues = _mac_groups(sources.BLUE, _strongest(query.blues, MAX_LOOKUPS), measured)
    cells: dict[str, list[bytes]] = {}
    for c in _strongest(query.cells, MAX_LOOKUPS):
        radio = c.radioType or ""
        key = cell_id(
            RADIO_CODE[radio],
            c.mobileCountryCode or 0,
            c.mobileNetworkCode or 0,
            c.locationAreaCode or 0,
            c.cellId or 0,
        )
        cells.setdefault(radio, []).append(key)
        measured[(sources.CELL, key)] = (c.signalStrength, c.age)
    found: tuple[_Hits, _Hits, _Hits] = ({}, {}, {})
    if not measured:
        return found
    for row in sources.fetch_stations(conn, wifis, blues, cells):
        created = day_of(row.created)
        block_last = day_of(row.block_last)
        if is_blocked(today, created, block_last, row.block_count):
            continue
        modified, last_seen = day_of(row.modified), day_of(row.last_seen)
        score = station_score(
            today, created, modified, last_seen, block_last, row.samples, row.radius
        )
        signal, age = measured[(row.kind, row.key)]
        radius = float(row.radius or 0)
        samples = row.samples or 1
        found[row.kind][row.key] = _Hit(
            Found(row.lat, row.lon, radius, samples, score, signal, age), row.region
        )
    return found


def _majority_region(hits: Iterable[_Hit]) -> str | None:
    scores: dict[str, float] = {}
    for h in hits:
        if h.region:
            scores[h.region] = scores.get(h.region, 0.0) + h.found.score
    return max(scores, key=scores.__getitem__) if scores else None


def _by_score(hit: _Hit) -> tuple[float, int]:
    signal = hit.found.signal
    return (-hit.found.score, -(signal if signal is not None else -999))


def _mac_results(hits: _Hits, model: Model) -> list[Result]:
    if len(hits) < 2:
        return []
    ranked = sorted(hits.values(), key=_by_score)[:MAX_CLUSTERED]
    results = []
    for members in clusters([(h.found.lat, h.found.lon) for h in ranked], model.cluster_distance):
        # Members are indexes into `ranked`, ascending: the first ones have the best scores.
        used = [ranked[i] for i in members[: model.top]]
        fit = estimate_macs([h.found for h in used], model)
        # Stations that cannot all be heard from one place (given their signals) make a
        # cluster less believable: its score is scaled by how much of the weight agrees.
        score = sum(ranked[i].found.score for i in members) * fit.agreement
        region = _majority_region(used)
        results.append(Result(fit.lat, fit.lon, fit.accuracy, score, None, "internal", region))
    return results


def _cell_results(hits: _Hits) -> list[Result]:
    by_area: dict[bytes, list[_Hit]] = {}
    for key, hit in hits.items():
        by_area.setdefault(key[:_AREA_PREFIX], []).append(hit)
    results = []
    # Areas in a fixed order (the loudest heard cell first, then the area id): equal candidates
    # are then decided the same way whatever order the database returned the rows in.
    for prefix, members in sorted(by_area.items(), key=_area_order):
        members.sort(key=_by_score)
        weakest = _WEAKEST.get(RADIO_NAME.get(prefix[0], ""), -140)
        lat, lon, accuracy = estimate_cells([h.found for h in members], weakest)
        score = sum(h.found.score for h in members)
        results.append(
            Result(lat, lon, accuracy, score, None, "internal", _majority_region(members))
        )
    return results


def _area_order(item: tuple[bytes, list[_Hit]]) -> tuple[int, bytes]:
    loudest = max(-1_000 if h.found.signal is None else h.found.signal for h in item[1])
    return -loudest, item[0]


def _area_ids(query: Query) -> list[bytes]:
    return [area_id(RADIO_CODE[radio], mcc, mnc, lac) for radio, mcc, mnc, lac in query.area_keys()]


def _area_results(conn: Connection, query: Query, today: int) -> list[Result]:
    results = []
    for row in sources.fetch_areas(conn, _area_ids(query)):
        score = _area_row_score(row, today)
        accuracy = min(max(float(row.radius or 0), AREA_MIN_ACCURACY), AREA_MAX_ACCURACY)
        results.append(Result(row.lat, row.lon, accuracy, score, "lacf", "internal", row.region))
    return results


def search_internal(conn: Connection, query: Query, today: int) -> list[Result]:
    """Candidates from the station tables (``today``: the day number, ``date.toordinal()``)."""
    if not (query.wifis or query.blues or query.cells or query.area_cells):
        return []
    wifi_hits, blue_hits, cell_hits = _lookup(conn, query, today)
    results = _mac_results(blue_hits, BLUE)
    results += _mac_results(wifi_hits, WIFI)
    cell_results = _cell_results(cell_hits)
    results += cell_results
    if not cell_results and query.lacf and (query.cells or query.area_cells):
        results += _area_results(conn, query, today)
    return results


def locate(
    conn_or_engine: Connection | Engine,
    query: Query,
    geoip: Result | None = None,
    *,
    now: datetime | None = None,
) -> ResultList:
    """The candidates for a position query: internal ones, plus ``geoip`` when ``ipf`` allows.

    ``geoip`` is the GeoIP source's answer for the client's address (``source="geoip"``,
    ``fallback="ipf"``). Take ``.best()`` of the returned list; add an external fallback result
    first when ``.satisfied(query.expected_accuracy())`` is false and the key allows one.
    """
    results = ResultList()
    if query.wifis or query.blues or query.cells or (query.area_cells and query.lacf):
        with _reading(conn_or_engine) as conn:
            results.extend(search_internal(conn, query, _today(now)))
    if geoip is not None and query.ipf:
        results.add(geoip)
    return results


def region(
    conn_or_engine: Connection | Engine,
    query: Query,
    geoip: RegionResult | None = None,
    *,
    now: datetime | None = None,
    region_radius: Callable[[str], float] | None = None,
) -> RegionResultList:
    """The candidates for a region (/v1/country) query, plus ``geoip`` when ``ipf`` allows.

    Found WiFi/Bluetooth/cell stations add their score to their stored region; each query cell
    (exact or area-only) adds ``1 / n`` to each of the ``n`` regions of its MCC, and when ``n > 1``
    the known area adds its score to its stored region. ``region_radius`` gives each result's
    accuracy (e.g. ``Regions.max_radius``); without it accuracies are 0.
    """
    radius = region_radius or (lambda _code: 0.0)
    scores: dict[str, float] = {}

    def add(code: str | None, score: float) -> None:
        if code:
            scores[code] = scores.get(code, 0.0) + score

    ambiguous: dict[bytes, None] = {}  # areas of cells whose MCC has several regions
    for c in (*query.cells, *query.area_cells):
        codes = regions_for_mcc(c.mobileCountryCode or 0)
        for code in codes:
            add(code, 1.0 / len(codes))
        if len(codes) > 1:
            radio = RADIO_CODE[c.radioType or ""]
            mcc, mnc, lac = c.mobileCountryCode or 0, c.mobileNetworkCode or 0, c.locationAreaCode
            ambiguous[area_id(radio, mcc, mnc, lac or 0)] = None
    if query.wifis or query.blues or query.cells or ambiguous:
        today = _today(now)
        with _reading(conn_or_engine) as conn:
            wifi_hits, blue_hits, cell_hits = _lookup(conn, query, today)
            for hits in (wifi_hits, blue_hits):
                if len(hits) >= 2:
                    for hit in hits.values():
                        add(hit.region, hit.found.score)
            for hit in cell_hits.values():
                add(hit.region, hit.found.score)
            if ambiguous:
                for area in sources.fetch_areas(conn, list(ambiguous)):
                    add(area.region, _area_row_score(area, today))
    results = RegionResultList(
        RegionResult(code, radius(code), score) for code, score in scores.items()
    )
    if geoip is not None and query.ipf:
        results.add(geoip)
    return results


def _area_row_score(row: sources.AreaRow, today: int) -> float:
    return area_score(
        today,
        day_of(row.created),
        day_of(row.modified),
        day_of(row.last_seen),
        row.num_cells,
        row.radius,
    )
