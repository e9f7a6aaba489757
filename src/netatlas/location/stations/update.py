"""The station updater: applies a shard's observations to its station table, and cell areas.

:func:`apply_observations` runs inside the caller's transaction and touches the database a fixed
number of times per batch, whatever its size: one select of every touched row (locked on
PostgreSQL), one executemany upsert of every changed row, one for the dirty cell areas and one
for the day's stat counters. The decisions themselves live in :mod:`._station_logic`.
:func:`recompute_areas` folds the cells of dirty areas into ``cell_area``.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any, Final, cast

import msgspec
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    LargeBinary,
    Select,
    Table,
    any_,
    bindparam,
    delete,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.engine import Connection

from netatlas.db.stats import STAT_KEYS, stat_counter
from netatlas.db.upsert import insert_for
from netatlas.geo.protocols import RegionLookup
from netatlas.location.ids import decode_area_id
from netatlas.location.models import (
    RADIO_CODE,
    RADIO_NAME,
    blue_shards,
    cell_area,
    cell_area_dirty,
    cell_tables,
    wifi_shards,
)
from netatlas.location.stations import rules as logic
from netatlas.location.stations.observations import (
    BlueObservation,
    CellObservation,
    Kind,
    Observation,
    WifiObservation,
)
from netatlas.location.stations.rules import (
    CONFIRM,
    MAX_DIST,
    MOVE_DIST,
    NEW,
    NEW_BLOCK,
    STATION_COLUMNS,
    Station,
    corner_radius,
)

SELECT_CHUNK: Final = 5_000

_CELL_KEY = struct.Struct(">BHHIQ")  # same packing as ids.cell_id, bound once for speed


class ApplyStats(msgspec.Struct):
    """What one :func:`apply_observations` call did."""

    observations: int = 0  # observations with a non-zero weight (stat "wifi"/"blue"/"cell")
    stations: int = 0  # distinct stations touched
    written: int = 0  # rows inserted or updated
    areas: int = 0  # cell areas marked dirty
    transitions: dict[str, int] = {}  # transition (or "blocked") → stations


# --- dialect helpers --------------------------------------------------------------------------


def _upsert(conn: Connection, table: Table, keep: Iterable[str] = ()) -> Any:
    """INSERT … ON CONFLICT (pk) DO UPDATE SET every non-key column (but ``keep``)."""
    ins: Any = insert_for(conn, table)
    pk = [c.name for c in table.primary_key.columns]
    skip = set(pk) | set(keep)
    return ins.on_conflict_do_update(
        index_elements=pk,
        set_={c.name: ins.excluded[c.name] for c in table.columns if c.name not in skip},
    )


_statements: dict[tuple[str, str, str], Any] = {}


def _cached(conn: Connection, table: Table, what: str, build: Callable[[], Any]) -> Any:
    key = (conn.dialect.name, table.name, what)
    stmt = _statements.get(key)
    if stmt is None:
        stmt = _statements[key] = build()
    return stmt


def lock_key(kind: str, shard: str) -> int:
    """The signed 64-bit advisory-lock number of one station shard."""
    digest = hashlib.blake2b(f"netatlas.stations:{kind}:{shard}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def station_table(kind: Kind, shard: str) -> Table:
    if kind == "wifi":
        return wifi_shards[shard]
    if kind == "blue":
        return blue_shards[shard]
    if kind == "cell":
        return cell_tables[shard]
    raise ValueError(f"unknown station kind: {kind!r}")


def _naive_utc(now: datetime) -> datetime:
    if now.tzinfo is not None:
        return now.astimezone(UTC).replace(tzinfo=None)
    return now


# --- the updater ------------------------------------------------------------------------------


def _group(
    kind: Kind, shard: str, observations: Sequence[Observation]
) -> tuple[dict[bytes, list[Observation]], int]:
    groups: dict[bytes, list[Observation]] = {}
    get = groups.get
    count = 0
    if kind == "cell":
        radio = RADIO_CODE[shard]
        pack = _CELL_KEY.pack
        for o in observations:
            if o.weight <= 0.0:
                continue
            if not isinstance(o, CellObservation) or o.radio != shard:
                raise ValueError(f"not a {shard} cell observation: {o!r}")
            count += 1
            key = pack(radio, o.mcc, o.mnc, o.lac, o.cid)
            group = get(key)
            if group is None:
                groups[key] = [o]
            else:
                group.append(o)
    else:
        expected = WifiObservation if kind == "wifi" else BlueObservation
        fromhex = bytes.fromhex
        for o in observations:
            if o.weight <= 0.0:
                continue
            if not isinstance(o, expected) or o.mac[4] != shard:
                raise ValueError(f"not a {kind} observation of shard {shard}: {o!r}")
            count += 1
            key = fromhex(o.mac)
            group = get(key)
            if group is None:
                groups[key] = [o]
            else:
                group.append(o)
    return groups, count


def _select_rows(
    conn: Connection, table: Table, keys: list[bytes], for_update: bool
) -> dict[bytes, Any]:
    pk = table.primary_key.columns[0]
    extra = [table.c.psc] if "psc" in table.c else []

    def build() -> Select[Any]:
        cols = [pk, *extra, *(table.c[name] for name in STATION_COLUMNS)]
        if conn.dialect.name == "postgresql":
            # One array parameter instead of thousands of placeholders: the driver splits
            # and the server parses far less.
            keys_param = bindparam("keys", type_=pg_dialect.ARRAY(LargeBinary))
            stmt = select(*cols).where(pk == any_(keys_param))
        else:
            stmt = select(*cols).where(pk.in_(bindparam("keys", expanding=True)))
        return stmt.with_for_update() if for_update else stmt

    stmt = _cached(conn, table, "select_for_update" if for_update else "select", build)
    rows: dict[bytes, Any] = {}
    for start in range(0, len(keys), SELECT_CHUNK):
        for row in conn.execute(stmt, {"keys": keys[start : start + SELECT_CHUNK]}):
            rows[bytes(row[0])] = row
    return rows


def apply_observations(
    conn: Connection,
    kind: Kind,
    shard: str,
    observations: Sequence[Observation],
    regions: RegionLookup,
    now: datetime,
) -> ApplyStats:
    """Apply one shard's observations to its station table, inside the caller's transaction.

    ``shard`` is the MAC shard ("0"…"f") for WiFi/BLE and the radio name for cells; every
    observation must belong to it. On PostgreSQL the shard is serialised with a transaction
    advisory lock and the touched rows are selected FOR UPDATE. Also marks the cell areas of
    changed cells dirty and adds the day's counts to ``stat_counter``.
    """
    now = _naive_utc(now)
    today = now.date()
    postgres = conn.dialect.name == "postgresql"
    table = station_table(kind, shard)
    if postgres:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(kind, shard)})

    groups, count = _group(kind, shard, observations)
    stats = ApplyStats(observations=count, stations=len(groups))
    if not groups:
        return stats
    keys = sorted(groups)  # a fixed order: rows are locked the same way by every writer
    existing = _select_rows(conn, table, keys, postgres)

    is_cell = kind == "cell"
    offset = 2 if is_cell else 1  # key (and psc) precede the station columns in a select
    base = 7 if is_cell else 1  # the key (and cell columns) precede them in a written row
    max_dist = MAX_DIST[kind]
    move_dist = MOVE_DIST[kind]
    in_region = regions.in_region
    decide = logic.decide
    astuple = msgspec.structs.astuple
    transitions: Counter[str] = Counter()
    writes: list[list[Any]] = []  # rows in table column order
    lookups: list[list[Any]] = []
    dirty: set[bytes] = set()
    for key in keys:
        group = groups[key]
        row = existing.get(key)
        station = None if row is None else Station(*row[offset:])
        transition, new, lookup = decide(station, group, max_dist, now, in_region, move_dist)
        transitions[transition] += 1
        if new is None:
            continue
        if is_cell:
            cells = cast(list[CellObservation], group)
            psc = None if row is None else row[1]
            for o in cells:
                if o.psc is not None:
                    psc = o.psc
            c = cells[0]
            # origin last: None for a new cell; an existing row keeps its own (see _write_rows).
            values = [key, key[0], c.mcc, c.mnc, c.lac, c.cid, psc, *astuple(new), None]
            if transition != CONFIRM:
                dirty.add(key[:9])  # radio, mcc, mnc, lac: the area id
        else:
            values = [key, *astuple(new)]
        writes.append(values)
        if lookup:
            lookups.append(values)
    # A confirm that wrote nothing still counts; a confirm never dirties an area.

    if lookups:
        found = regions.regions_for([v[base] for v in lookups], [v[base + 1] for v in lookups])
        region_at = base + 7
        for values, region in zip(lookups, found, strict=True):
            values[region_at] = region
    if writes:
        _write_rows(conn, table, writes)
    if dirty:
        stmt = _cached(conn, cell_area_dirty, "mark", lambda: _mark_dirty(conn))
        conn.execute(stmt, [{"areaid": a} for a in sorted(dirty)])
    _count_stats(conn, kind, shard, today, count, transitions[NEW] + transitions[NEW_BLOCK])

    stats.written = len(writes)
    stats.areas = len(dirty)
    stats.transitions = dict(transitions)
    return stats


def _mark_dirty(conn: Connection) -> Any:
    # Not DO NOTHING: a no-op update locks an already-dirty row until this transaction ends.
    # Otherwise recompute_areas could read the cells before this commit, then delete the
    # dirty row, and the change would never reach the area.
    ins: Any = insert_for(conn, cell_area_dirty)
    return ins.on_conflict_do_update(
        index_elements=["areaid"], set_={"areaid": ins.excluded.areaid}
    )


def _row_layout(table: Table) -> list[str]:
    """Column names in table order, checked against the rows :func:`apply_observations` builds."""
    names = [c.name for c in table.columns]
    pk = table.primary_key.columns[0].name
    cell = ["radio", "mcc", "mnc", "lac", "cid", "psc"] if "psc" in names else []
    tail = ["origin"] if cell else []
    if names != [pk, *cell, *STATION_COLUMNS, *tail]:
        raise RuntimeError(f"unexpected column order in {table.name}: {names}")
    return names


def _write_rows(conn: Connection, table: Table, rows: list[list[Any]]) -> None:
    """One executemany of the upsert for every row (lists in table column order).

    A cell's ``origin`` (the data set it was imported from) survives crowd updates.
    """
    keep = ("origin",) if "origin" in table.c else ()
    if conn.dialect.name == "postgresql":
        # psycopg pipelines an executemany; SQLAlchemy's per-row parameter processing would
        # cost more than the driver itself, and PostgreSQL's types need none. So the dialect's
        # statement is compiled once with positional placeholders and handed plain tuples.
        def build() -> str:
            _row_layout(table)
            dialect_class: Any = type(conn.dialect)
            positional = dialect_class(paramstyle="format")
            compiled = _upsert(conn, table, keep).compile(dialect=positional)
            if list(compiled.positiontup or ()) != [c.name for c in table.columns]:
                raise RuntimeError(f"unexpected parameter order for {table.name}")
            return str(compiled.string)

        sql = _cached(conn, table, "upsert_sql", build)
        conn.exec_driver_sql(sql, [tuple(r) for r in rows])
        return
    # SQLite stores dates and times as text: SQLAlchemy's types do that conversion.
    names = _cached(conn, table, "layout", lambda: _row_layout(table))
    stmt = _cached(conn, table, "upsert", lambda: _upsert(conn, table, keep))
    conn.execute(stmt, [dict(zip(names, r, strict=True)) for r in rows])


def _count_stats(
    conn: Connection, kind: Kind, shard: str, today: date, observations: int, unique: int
) -> None:
    rows = [
        {"key": STAT_KEYS[name], "day": today, "shard": f"{kind}_{shard}", "value": value}
        for name, value in ((kind, observations), ("unique_" + kind, unique))
        if value
    ]
    if not rows:
        return

    def build() -> Any:
        ins: Any = insert_for(conn, stat_counter)
        return ins.on_conflict_do_update(
            index_elements=["key", "day", "shard"],
            set_={"value": stat_counter.c.value + ins.excluded.value},
        )

    conn.execute(_cached(conn, stat_counter, "add", build), rows)


# --- cell areas -------------------------------------------------------------------------------


def recompute_areas(
    conn: Connection,
    regions: RegionLookup,
    mcc_regions: Callable[[int], tuple[str, ...]],
    now: datetime,
    limit: int = 1000,
) -> int:
    """Recompute up to ``limit`` dirty cell areas from their cells; returns how many.

    An area keeps the unweighted mean centre of its positioned cells, the union of their
    bounding boxes, the radius to its farthest corner, the mean cell radius, the cell count,
    the cells' majority region and the latest ``last_seen``; an area without positioned cells
    is deleted. Runs inside the caller's transaction; on PostgreSQL dirty rows another worker
    holds are skipped.
    """
    now = _naive_utc(now)
    query = select(cell_area_dirty.c.areaid).order_by(cell_area_dirty.c.areaid).limit(limit)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    area_ids = [bytes(row[0]) for row in conn.execute(query)]
    if not area_ids:
        return 0

    upserts: list[dict[str, Any]] = []
    gone: list[bytes] = []
    for areaid in area_ids:
        radio, mcc, mnc, lac = decode_area_id(areaid)
        values = _area_values(conn, radio, mcc, mnc, lac, regions, mcc_regions)
        if values is None:
            gone.append(areaid)
            continue
        values.update(areaid=areaid, radio=radio, mcc=mcc, mnc=mnc, lac=lac)
        values.update(created=now, modified=now)
        upserts.append(values)
    if upserts:
        stmt = _cached(
            conn, cell_area, "upsert", lambda: _upsert(conn, cell_area, keep=("created",))
        )
        conn.execute(stmt, upserts)
    keys: BindParameter[Any] = bindparam("keys", expanding=True)
    if gone:
        conn.execute(delete(cell_area).where(cell_area.c.areaid.in_(keys)), {"keys": gone})
    conn.execute(
        delete(cell_area_dirty).where(cell_area_dirty.c.areaid.in_(keys)), {"keys": area_ids}
    )
    return len(area_ids)


def _area_values(
    conn: Connection,
    radio: int,
    mcc: int,
    mnc: int,
    lac: int,
    regions: RegionLookup,
    mcc_regions: Callable[[int], tuple[str, ...]],
) -> dict[str, Any] | None:
    table = cell_tables[RADIO_NAME[radio]]
    c = table.c
    area: ColumnElement[bool] = tuple_(c.mcc, c.mnc, c.lac) == tuple_(mcc, mnc, lac)
    if conn.dialect.name == "sqlite":  # older SQLite builds lack row values
        area = (c.mcc == mcc) & (c.mnc == mnc) & (c.lac == lac)
    rows = conn.execute(
        select(
            c.lat, c.lon, c.max_lat, c.min_lat, c.max_lon, c.min_lon, c.radius, c.region,
            c.last_seen,
        ).where(area, c.lat.is_not(None), c.lon.is_not(None))
    ).all()  # fmt: skip
    if not rows:
        return None
    n = len(rows)
    lat = math.fsum(r.lat for r in rows) / n
    lon = math.fsum(r.lon for r in rows) / n
    max_lat = max(r.lat if r.max_lat is None else r.max_lat for r in rows)
    min_lat = min(r.lat if r.min_lat is None else r.min_lat for r in rows)
    max_lon = max(r.lon if r.max_lon is None else r.max_lon for r in rows)
    min_lon = min(r.lon if r.min_lon is None else r.min_lon for r in rows)
    seen = [r.last_seen for r in rows if r.last_seen is not None]
    return {
        "lat": lat,
        "lon": lon,
        "radius": corner_radius(lat, lon, max_lat, min_lat, max_lon, min_lon),
        "region": _majority_region(
            [r.region for r in rows if r.region], lat, lon, mcc, regions, mcc_regions
        ),
        "avg_cell_radius": round(math.fsum(r.radius or 0 for r in rows) / n),
        "num_cells": n,
        "last_seen": max(seen) if seen else None,
    }


def _majority_region(
    codes: list[str],
    lat: float,
    lon: float,
    mcc: int,
    regions: RegionLookup,
    mcc_regions: Callable[[int], tuple[str, ...]],
) -> str | None:
    """The cells' most common region; ties (or no region at all) go to the centre's region
    among the MCC's regions."""
    if codes:
        ranked = Counter(codes).most_common()
        top = ranked[0][1]
        tied = sorted(code for code, n in ranked if n == top)
        if len(tied) == 1:
            return tied[0]
        for code in tied:
            if regions.in_region(lat, lon, code):
                return code
        return tied[0]
    allowed = mcc_regions(mcc)
    found = regions.region_for(lat, lon)
    if found is not None and (not allowed or found in allowed):
        return found
    for code in allowed:
        if regions.in_region(lat, lon, code):
            return code
    return allowed[0] if len(allowed) == 1 else found
