"""Reading the stations a query names: one batched primary-key lookup per station table touched.

WiFi and Bluetooth stations live in 16 shard tables each (by the 5th hex character of the MAC)
and cells in one table per radio; each table a query touches is read once, by an ``IN (…)``
lookup of all its keys. On PostgreSQL all those lookups form a single ``SELECT … UNION ALL
SELECT …`` statement over every table of the kinds asked for (keys as arrays), so a query costs
one round trip and reuses one prepared statement whatever its mix of networks. On SQLite
(in process, no round trips) they are separate statements: preparing a union of a different set
of tables for every query costs about three times as much as running it, while the per-table
statements (key lists padded to a power of two) are prepared once and then served from the
driver's statement cache. Cell areas are a second read, only issued when needed. Rows without a
position are filtered out in SQL; blocked rows by the caller, which knows the day.

The SQL is plain text with the driver's placeholders (``?`` for sqlite3, ``%s`` for psycopg),
run on the DB-API cursor: SQLAlchemy's compilation and result processing would cost more than the
lookup itself. No transaction is begun for it: on SQLite (autocommit mode) each statement reads a
snapshot of its own; on PostgreSQL the driver opens a transaction that the connection pool rolls
back when the connection is returned. Dates come back as ISO text from SQLite and as
``date``/``datetime`` objects from PostgreSQL (see :func:`.score.day_of`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Final, NamedTuple

from sqlalchemy.engine import Connection

__all__ = ["AreaRow", "StationRow", "fetch_areas", "fetch_stations"]

WIFI: Final = 0
BLUE: Final = 1
CELL: Final = 2

_STATION_COLUMNS: Final = (
    "lat, lon, radius, samples, created, modified, last_seen, block_last, block_count, region"
)
_AREA_COLUMNS: Final = "areaid, lat, lon, radius, num_cells, created, modified, last_seen, region"


class StationRow(NamedTuple):
    """The columns a lookup reads, in ``SELECT`` order after the kind and the key."""

    kind: int  # WIFI, BLUE or CELL
    key: bytes  # MAC (6 bytes) or packed cell id
    lat: float
    lon: float
    radius: int | None
    samples: int | None
    created: Any
    modified: Any
    last_seen: Any
    block_last: Any
    block_count: int | None
    region: str | None


class AreaRow(NamedTuple):
    areaid: bytes
    lat: float
    lon: float
    radius: int | None
    num_cells: int | None
    created: Any
    modified: Any
    last_seen: Any
    region: str | None


@functools.lru_cache(maxsize=4096)
def _station_sql(parts: tuple[tuple[int, str, str, int], ...], mark: str) -> str:
    """``parts``: (kind, table, key column, number of keys) for each table read."""
    selects = []
    for kind, table, column, n in parts:
        marks = ", ".join([mark] * n)
        selects.append(
            f"SELECT {kind}, {column}, {_STATION_COLUMNS} FROM {table} "
            f"WHERE {column} IN ({marks}) AND lat IS NOT NULL AND lon IS NOT NULL"
        )
    return " UNION ALL ".join(selects)


_TABLES: Final = {
    WIFI: tuple((WIFI, f"wifi_shard_{s}", "mac") for s in "0123456789abcdef"),
    BLUE: tuple((BLUE, f"blue_shard_{s}", "mac") for s in "0123456789abcdef"),
    CELL: tuple((CELL, f"cell_{r}", "cellid") for r in ("gsm", "lte", "nr", "wcdma")),
}


def _pg_tables(kinds: tuple[int, ...]) -> tuple[tuple[int, str, str], ...]:
    return tuple(t for kind in kinds for t in _TABLES[kind])


@functools.lru_cache(maxsize=8)
def _pg_station_sql(kinds: tuple[int, ...]) -> str:
    return " UNION ALL ".join(
        f"SELECT {kind}, {column}, {_STATION_COLUMNS} FROM {table} "
        f"WHERE {column} = ANY(%s::bytea[]) AND lat IS NOT NULL AND lon IS NOT NULL"
        for kind, table, column in _pg_tables(kinds)
    )


@functools.lru_cache(maxsize=256)
def _area_sql(n: int, mark: str) -> str:
    marks = ", ".join([mark] * n)
    return (
        f"SELECT {_AREA_COLUMNS} FROM cell_area "
        f"WHERE areaid IN ({marks}) AND lat IS NOT NULL AND lon IS NOT NULL"
    )


def _mark(conn: Connection) -> str:
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


def _padded(keys: list[bytes]) -> list[bytes]:
    """Keys padded (by repeating the last) to a power of two: few statement shapes to prepare."""
    n = len(keys)
    size = 1 << (n - 1).bit_length()
    return keys if size == n else keys + [keys[-1]] * (size - n)


def fetch_stations(
    conn: Connection,
    wifis: dict[str, list[bytes]],
    blues: dict[str, list[bytes]],
    cells: dict[str, list[bytes]],
) -> list[StationRow]:
    """Positioned station rows for MACs grouped by shard and cell ids grouped by radio.

    ``wifis``/``blues`` map a shard character to 6-byte MACs, ``cells`` a radio name to packed
    cell ids (:func:`netatlas.location.ids.cell_id`). Blocked rows are included.
    """
    lookups: list[tuple[int, str, str, list[bytes]]] = []
    for kind, prefix, groups in ((WIFI, "wifi", wifis), (BLUE, "blue", blues)):
        for shard in sorted(groups):
            lookups.append((kind, f"{prefix}_shard_{shard}", "mac", groups[shard]))
    for radio in sorted(cells):
        lookups.append((CELL, f"cell_{radio}", "cellid", cells[radio]))
    if not lookups:
        return []
    mark = _mark(conn)
    cursor = conn.connection.cursor()
    try:
        if mark == "?":
            # SQLite, in process: one statement per table, each shape prepared once and then
            # served from the driver's statement cache.
            rows: list[Any] = []
            for kind, table, column, keys in lookups:
                padded = _padded(keys)
                cursor.execute(_station_sql(((kind, table, column, len(padded)),), mark), padded)
                rows += cursor.fetchall()
        else:
            # A database server: one round trip for every table, and one statement text per
            # combination of kinds (at most seven), whatever the keys: every table of a kind is
            # named, with an array of keys that is empty for tables the query does not touch.
            # psycopg prepares a statement after a few uses; with the key count or the set of
            # shards in the text, almost every query was a new statement to parse and plan.
            # An untouched table gets [b""], which matches no key: an empty list would be sent
            # with another parameter type, and each mix of types is a statement of its own.
            by_table = {table: keys for _, table, _, keys in lookups}
            kinds = tuple(sorted({kind for kind, *_ in lookups}))
            tables = _pg_tables(kinds)
            params = [by_table.get(t) or [b""] for _, t, _ in tables]
            cursor.execute(_pg_station_sql(kinds), params)
            rows = list(cursor.fetchall())
    finally:
        cursor.close()
    return [StationRow(*row) for row in rows]


def fetch_areas(conn: Connection, area_ids: Sequence[bytes]) -> list[AreaRow]:
    """Positioned cell-area rows for packed area ids (:func:`netatlas.location.ids.area_id`)."""
    if not area_ids:
        return []
    keys = _padded(list(area_ids))
    cursor = conn.connection.cursor()
    try:
        cursor.execute(_area_sql(len(keys), _mark(conn)), keys)
        return [AreaRow(*row) for row in cursor.fetchall()]
    finally:
        cursor.close()
