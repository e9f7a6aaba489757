"""``netatlas cells import``: loading an MLS or OpenCellID cell export into the cell tables.

Streaming: the file is read in blocks of rows, each written in one transaction, so memory stays
flat whatever the file size; one thread parses the next block while another writes the last.
Idempotent: a row is written when its cell is new, or holds only imported data (``origin`` set,
no crowd ``source`` yet) that differs from the file, so importing a file twice, or again after
an interruption, ends in the same tables, and cells this instance learnt from its own
contributors are never overwritten. Imported rows carry ``origin`` = the data set's name and no
weight: the station updater counts their samples when crowd data refines them later. Their
cell areas are marked dirty; the cell-area job recomputes them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np
from sqlalchemy import Connection, Engine, text

from netatlas.geo.protocols import RegionLookup
from netatlas.location.cells.vector import Cells, bbox, parse_lines
from netatlas.location.models import RADIO_NAME, cell_tables
from netatlas.location.stations.update import lock_key

BLOCK = 50_000
KEEP_LINES = 20  # line numbers kept per bad-row reason
PG_EPOCH = 946_684_800  # 2000-01-01, PostgreSQL's binary timestamp origin

_KEY = np.dtype([("radio", "u1"), ("mcc", ">u2"), ("mnc", ">u2"), ("lac", ">u4"), ("cid", ">u8")])
COLUMNS = (
    "cellid", "radio", "mcc", "mnc", "lac", "cid", "psc", "lat", "lon", "max_lat", "min_lat",
    "max_lon", "min_lon", "radius", "region", "samples", "source", "weight", "created",
    "modified", "last_seen", "block_first", "block_last", "block_count", "origin",
)  # fmt: skip
_COMPARED = ("psc", "lat", "lon", "radius", "region", "samples", "created", "modified", "origin")


@dataclass
class ImportReport:
    rows: int = 0  # data rows read
    written: int = 0  # cells inserted or changed
    kept: int = 0  # good rows not written: the cell holds crowd data, is unchanged or repeats
    bad: Counter[str] = field(default_factory=Counter)  # reason → rows
    bad_lines: dict[str, list[int]] = field(default_factory=dict)  # reason → first lines

    def summary(self) -> str:
        lines = [f"{self.rows} rows: {self.written} cells written, {self.kept} kept as they were"]
        for reason, count in self.bad.most_common():
            shown = ", ".join(str(n) for n in self.bad_lines.get(reason, []))
            more = " …" if count > len(self.bad_lines.get(reason, [])) else ""
            lines.append(f"  bad {reason}: {count} (lines {shown}{more})")
        return "\n".join(lines)

    def add_bad(self, bad: list[tuple[int, str]]) -> None:
        for line, reason in bad:
            self.bad[reason] += 1
            lines = self.bad_lines.setdefault(reason, [])
            if len(lines) < KEEP_LINES:
                lines.append(line)


def read_blocks(text: IO[str], size: int) -> Iterator[tuple[list[str], list[int]]]:
    """Blocks of about ``size`` lines (without their ends) and their line numbers."""
    number = 0
    tail = ""
    while True:
        chunk = text.read(size * 128)
        if not chunk:
            break
        chunk = tail + chunk
        cut = chunk.rfind("\n")
        if cut < 0:
            tail = chunk
            continue
        tail = chunk[cut + 1 :]
        lines = chunk[:cut].replace("\r\n", "\n").split("\n")
        yield lines, list(range(number + 1, number + 1 + len(lines)))
        number += len(lines)
    if tail.strip():
        yield [tail.rstrip("\r")], [number + 1]


@dataclass
class Prepared:
    """One block's cells, one per key (the file's last row wins), sorted by key."""

    cells: Cells
    keys: np.ndarray[Any, Any]  # S17: the packed cell ids
    regions: list[str | None]
    box: tuple[np.ndarray[Any, Any], ...]  # max_lat, min_lat, max_lon, min_lon


def prepare(cells: Cells, regions: RegionLookup) -> Prepared:
    packed = np.empty(len(cells.radio), _KEY)
    for name in _KEY.names or ():
        packed[name] = getattr(cells, name)
    keys = packed.view("S17")
    # Unique on the reversed block keeps each key's last row; the result is sorted by key.
    _, first = np.unique(keys[::-1], return_index=True)
    order = len(keys) - 1 - first
    cells = cells.take(order)
    found = regions.regions_for(cells.lat.tolist(), cells.lon.tolist())
    return Prepared(cells, keys[order], found, bbox(cells.lat, cells.lon, cells.range))


def _upsert_tail(conn: Connection, table: str) -> str:
    sets = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c != "cellid")
    if conn.dialect.name == "postgresql":
        mine = ", ".join(f"{table}.{c}" for c in _COMPARED)
        theirs = ", ".join(f"excluded.{c}" for c in _COMPARED)
        changed = f"({mine}) IS DISTINCT FROM ({theirs})"
    else:
        changed = "(" + " OR ".join(f"{table}.{c} IS NOT excluded.{c}" for c in _COMPARED) + ")"
    only_imported = f"{table}.source IS NULL AND {table}.origin IS NOT NULL"
    return f"ON CONFLICT (cellid) DO UPDATE SET {sets} WHERE {only_imported} AND {changed}"


def _key_bytes(keys: np.ndarray[Any, Any]) -> list[bytes]:
    # Not keys.tolist(): numpy drops trailing zero bytes of "S" values.
    raw = keys.tobytes()
    return [raw[i : i + 17] for i in range(0, len(raw), 17)]


def _sqlite_times(seconds: np.ndarray[Any, Any]) -> list[str]:
    # SQLAlchemy's storage format for DateTime on SQLite.
    iso = np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s").tolist()
    return [s.replace("T", " ") + ".000000" for s in iso]


def _write_sqlite(conn: Connection, block: Prepared, origin: str) -> int:
    c = block.cells
    created = _sqlite_times(c.created)
    modified = _sqlite_times(c.updated)
    n = len(c.radio)
    keys = _key_bytes(block.keys)
    rows = zip(
        keys, c.radio.tolist(), c.mcc.tolist(), c.mnc.tolist(), c.lac.tolist(),
        c.cid.tolist(), [None if p < 0 else p for p in c.psc.tolist()], c.lat.tolist(),
        c.lon.tolist(), *(a.tolist() for a in block.box), c.range.tolist(), block.regions,
        c.samples.tolist(), [None] * n, [None] * n, created, modified, [m[:10] for m in modified],
        [None] * n, [None] * n, [0] * n, [origin] * n,
        strict=True,
    )  # fmt: skip
    by_radio: dict[int, list[tuple[Any, ...]]] = {}
    for row in rows:
        by_radio.setdefault(row[1], []).append(row)
    written = 0
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        for code, values in sorted(by_radio.items()):
            table = cell_tables[RADIO_NAME[code]].name
            marks = ", ".join("?" for _ in COLUMNS)
            sql = f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({marks}) "
            cursor.executemany(sql + _upsert_tail(conn, table), values)
            written += cursor.rowcount
        areas = sorted({k[:9] for k in keys})
        cursor.executemany(
            "INSERT INTO cell_area_dirty (areaid) VALUES (?)"
            " ON CONFLICT (areaid) DO UPDATE SET areaid = excluded.areaid",
            [(a,) for a in areas],
        )
    finally:
        cursor.close()
    return written


_STAGE = (
    ("cellid", "bytea", "S17"), ("radio", "smallint", ">i2"), ("mcc", "smallint", ">i2"),
    ("mnc", "smallint", ">i2"), ("lac", "integer", ">i4"), ("cid", "bigint", ">i8"),
    ("psc", "smallint", ">i2"), ("lat", "float8", ">f8"), ("lon", "float8", ">f8"),
    ("max_lat", "float8", ">f8"), ("min_lat", "float8", ">f8"), ("max_lon", "float8", ">f8"),
    ("min_lon", "float8", ">f8"), ("radius", "integer", ">i4"), ("region", "text", "S2"),
    ("samples", "bigint", ">i8"), ("created", "timestamp", ">i8"), ("modified", "timestamp", ">i8"),
)  # fmt: skip
_RECORD = np.dtype(
    [("fields", ">i2")]
    + [x for name, _, kind in _STAGE for x in ((f"n_{name}", ">i4"), (name, kind))]
)
_NO_REGION = b"--"  # binary COPY rows have a fixed size here: NULL region and psc are stand-ins


def _binary_copy(block: Prepared) -> bytes:
    """The block in PostgreSQL's binary COPY format, built by numpy (no per-row Python)."""
    c = block.cells
    rec = np.zeros(len(c.radio), _RECORD)
    rec["fields"] = len(_STAGE)
    for name, _, kind in _STAGE:
        rec[f"n_{name}"] = np.dtype(kind).itemsize
    micro = 1_000_000
    values: dict[str, Any] = {
        "cellid": block.keys, "radio": c.radio, "mcc": c.mcc, "mnc": c.mnc, "lac": c.lac,
        "cid": c.cid, "psc": c.psc, "lat": c.lat, "lon": c.lon, "max_lat": block.box[0],
        "min_lat": block.box[1], "max_lon": block.box[2], "min_lon": block.box[3],
        "radius": c.range, "samples": c.samples,
        "region": np.array([r.encode() if r else _NO_REGION for r in block.regions], "S2"),
        "created": (c.created - PG_EPOCH) * micro, "modified": (c.updated - PG_EPOCH) * micro,
    }  # fmt: skip
    for name, value in values.items():
        rec[name] = value
    header = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8
    return header + rec.tobytes() + b"\xff\xff"


def _write_postgres(conn: Connection, block: Prepared, origin: str) -> int:
    """Binary COPY into a temporary table, then one INSERT … SELECT … ON CONFLICT per radio."""
    present = sorted(set(block.cells.radio.tolist()))
    for code in present:  # the station updater's locks, in a fixed order
        key = lock_key("cell", RADIO_NAME[code])
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    columns = ", ".join(f"{name} {sql}" for name, sql, _ in _STAGE)
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE IF NOT EXISTS cell_import_stage ({columns}) ON COMMIT DELETE ROWS"
    )
    raw: Any = conn.connection.dbapi_connection
    written = 0
    with raw.cursor() as cursor:
        cursor.execute("TRUNCATE cell_import_stage")
        names = ", ".join(name for name, _, _ in _STAGE)
        with cursor.copy(f"COPY cell_import_stage ({names}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(_binary_copy(block))
        select = (
            "cellid, radio, mcc, mnc, lac, cid, NULLIF(psc, -1), lat, lon, max_lat, min_lat,"
            " max_lon, min_lon, radius, NULLIF(region, '--'), samples, NULL, NULL, created,"
            " modified, modified::date, NULL, NULL, 0, %s"
        )
        for code in present:
            table = cell_tables[RADIO_NAME[code]].name
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(COLUMNS)}) SELECT {select}"
                f" FROM cell_import_stage WHERE radio = {int(code)} " + _upsert_tail(conn, table),
                (origin,),
            )
            written += cursor.rowcount
        cursor.execute(
            "INSERT INTO cell_area_dirty (areaid)"
            " SELECT DISTINCT substring(cellid from 1 for 9) FROM cell_import_stage"
            " ON CONFLICT (areaid) DO UPDATE SET areaid = excluded.areaid"
        )
    return written


def import_rows(
    engine: Engine,
    text: IO[str],
    origin: str,
    regions: RegionLookup,
    *,
    block: int = BLOCK,
) -> ImportReport:
    """Import a CSV text stream (header optional) as cells of data set ``origin``.

    Lines are split on commas; a line with quotes goes through the csv module (a quoted field
    spanning lines is not supported: neither MLS nor OpenCellID writes one).
    """
    if not origin or len(origin) > 16:
        raise ValueError("an origin is 1-16 characters, e.g. mls or ocid")
    report = ImportReport()
    write = _write_postgres if engine.dialect.name == "postgresql" else _write_sqlite
    good = 0

    def store(prepared: Prepared) -> int:
        with engine.begin() as conn:
            return write(conn, prepared, origin)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cells-import") as writer:
        pending: Future[int] | None = None
        for lines, numbers in read_blocks(text, block):
            cells, bad, count = parse_lines(lines, numbers)
            report.rows += count
            report.add_bad(bad)
            good += len(cells.radio)
            prepared = prepare(cells, regions) if len(cells.radio) else None
            if pending is not None:
                report.written += pending.result()
                pending = None
            if prepared is not None:
                pending = writer.submit(store, prepared)
        if pending is not None:
            report.written += pending.result()
    report.kept = good - report.written
    return report
