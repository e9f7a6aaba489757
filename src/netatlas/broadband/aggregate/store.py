"""Reading and writing ``stats_bin`` rows and the per-aggregation ``stats_state`` (which also
keeps how many tests the bins hold and how many found no area).

Writers claim an aggregation first: its state row is updated on the condition that its
version is still the one they read, before any bin is written, in the same transaction. Two
updaters racing (the embedded scheduler and a ``netatlas aggregate`` beside it) therefore
never count a test twice: the second finds the version moved on and rolls back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection, delete, select, update

from netatlas.broadband.aggregate.models import stats_bin, stats_state
from netatlas.db.upsert import insert_for

__all__ = [
    "KEYS",
    "STATS_COLUMNS",
    "Counts",
    "State",
    "claim",
    "get_state",
    "load_bins",
    "write_bins",
]

KEYS = ("area", "period", "hour", "dow", "isp")
STATS_COLUMNS = ("tests", "partial")
BATCH = 5000


@dataclass(frozen=True)
class Counts:
    """Tests binned, and tests that found no area."""

    tests: int = 0
    unlocated: int = 0


@dataclass(frozen=True)
class State:
    fingerprint: str
    watermark: int
    version: int
    updated: datetime
    counts: Counts = Counts()  # totals of the stored bins


def _state(row: Any) -> State:
    counts = Counts(int(row.tests), int(row.unlocated))
    return State(row.fingerprint, int(row.watermark), int(row.version), row.updated, counts)


def get_state(conn: Connection, name: str) -> State | None:
    row = conn.execute(select(stats_state).where(stats_state.c.aggregation == name)).first()
    return None if row is None else _state(row)


def states(conn: Connection) -> dict[str, State]:
    return {r.aggregation: _state(r) for r in conn.execute(select(stats_state)).all()}


def claim(
    conn: Connection,
    name: str,
    seen: State | None,
    fingerprint: str,
    watermark: int,
    counts: Counts = Counts(),
    *,
    rebuilt: bool = False,
) -> int | None:
    """Move the state on from ``seen``; returns the new version, or None when another writer
    got there first. ``counts`` are this run's: they replace the totals after a rebuild and
    are added to them after an update."""
    now = datetime.now(UTC).replace(tzinfo=None)
    if seen is None:
        stmt = (
            insert_for(conn, stats_state)
            .values(
                aggregation=name,
                fingerprint=fingerprint,
                watermark=watermark,
                version=1,
                updated=now,
                tests=counts.tests,
                unlocated=counts.unlocated,
            )
            .on_conflict_do_nothing(index_elements=["aggregation"])
            .returning(stats_state.c.version)
        )
        return 1 if conn.execute(stmt).first() is not None else None
    c = stats_state.c
    result = conn.execute(
        update(stats_state)
        .where(c.aggregation == name, c.version == seen.version)
        .values(
            fingerprint=fingerprint,
            watermark=watermark,
            version=seen.version + 1,
            updated=now,
            tests=counts.tests if rebuilt else c.tests + counts.tests,
            unlocated=counts.unlocated if rebuilt else c.unlocated + counts.unlocated,
        )
        .returning(c.version)
    )
    return seen.version + 1 if result.first() is not None else None


def load_bins(
    conn: Connection, name: str, keys: Sequence[tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    """The stored bins with these keys: (area, period, hour, dow, isp, partial) tuples.

    Asked for by time slice and area, which the primary key finds directly (a row-value IN
    list is not used as an index by SQLite); other hours, weekdays or ISPs of those areas
    are dropped here."""
    wanted = set(keys)
    areas_of: dict[int, set[str]] = {}
    for key in keys:
        areas_of.setdefault(key[1], set()).add(key[0])
    c = stats_bin.c
    out: list[tuple[Any, ...]] = []
    for period, areas in sorted(areas_of.items()):
        chosen = sorted(areas)
        for i in range(0, len(chosen), 500):
            rows = conn.execute(
                select(*(c[k] for k in KEYS), c.partial).where(
                    c.aggregation == name, c.period == period, c.area.in_(chosen[i : i + 500])
                )
            ).all()
            out.extend(t for r in rows if (t := tuple(r))[:-1] in wanted)
    return out


def _ranks(values: Sequence[Any]) -> Any:
    """Values (ints, or strings in code-point order as the index sorts them) as sortable ints."""
    if values and isinstance(values[0], int):
        return np.asarray(values, np.int64)
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = np.empty(len(values), np.int64)
    ranks[order] = np.arange(len(values))
    return ranks


def write_bins(
    conn: Connection, name: str, columns: Mapping[str, Sequence[Any]], *, replace_all: bool
) -> int:
    """Store bins given as columns (keys and statistics); with ``replace_all`` the
    aggregation's other bins are deleted first, else equal keys are overwritten."""
    names = ["aggregation", *KEYS, *STATS_COLUMNS]
    n = len(columns["period"])
    values = [[name] * n, *(columns[c] for c in names[1:])]
    rows = list(zip(*values, strict=True))
    # In primary-key order, the index grows at its end instead of at random places (the
    # rebuild of a few hundred thousand bins inserts about twice as fast).
    if n:
        pk = [c.name for c in stats_bin.primary_key.columns][1:]
        order = np.lexsort(tuple(_ranks(columns[k]) for k in reversed(pk))).tolist()
        rows = [rows[i] for i in order]
    if replace_all:
        conn.execute(delete(stats_bin).where(stats_bin.c.aggregation == name))
    if replace_all and conn.dialect.name == "postgresql":
        raw: Any = conn.connection.dbapi_connection  # the same transaction
        with (
            raw.cursor() as cursor,
            cursor.copy(f"COPY {stats_bin.name} ({', '.join(names)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return n
    # Plain tuples straight to the driver: SQLAlchemy's per-parameter processing of 35
    # columns costs more than the database for the hundreds of thousands of bins of a rebuild.
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"INSERT INTO {stats_bin.name} ({', '.join(names)})"
        f" VALUES ({', '.join([mark] * len(names))})"
    )
    if not replace_all:
        sql += f" ON CONFLICT ({', '.join(['aggregation', *KEYS])}) DO UPDATE SET "
        sql += ", ".join(f"{c} = excluded.{c}" for c in STATS_COLUMNS)
    for i in range(0, n, BATCH):
        conn.exec_driver_sql(sql, rows[i : i + BATCH])
    return n
