"""``netatlas mlab import PATH…``: M-Lab rows into the ``measurements`` table.

Streaming: rows are inserted in batches as they are read, so a file of any size needs little
memory. Idempotent: a row whose test id (``measurements.uuid``) is already stored is counted
as a duplicate and left alone, except that M-Lab's record of a test a visitor's browser
reported (mode ``mlab``) confirms that test and gives it M-Lab's figures (see
:mod:`.verification`). Bad rows are counted by reason; a file that cannot be read at
all is reported and the import goes on with the next one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from netatlas.broadband.mlab.files import FileError, Item, read_path
from netatlas.broadband.mlab.rows import BadRow
from netatlas.broadband.models import measurements
from netatlas.broadband.verification import confirm_from_mlab
from netatlas.geo.asn import AsnLookup, NoAsn
from netatlas.geo.geoip import GeoIP

__all__ = ["ImportReport", "import_items", "import_paths"]

BATCH = 20_000


@dataclass
class ImportReport:
    read: int = 0  # rows seen, bad ones included
    inserted: int = 0
    duplicates: int = 0  # test id already stored (or twice in the input)
    confirmed: int = 0  # of those, tests a browser reported that M-Lab's record confirmed
    bad: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)  # files that could not be read

    def summary(self) -> str:
        text = (
            f"{self.read} rows read: {self.inserted} imported, {self.duplicates} already"
            f" stored, {sum(self.bad.values())} bad"
        )
        if self.confirmed:
            text += f"; {self.confirmed} reported tests confirmed"
        if self.bad:
            text += " (" + ", ".join(f"{r}: {n}" for r, n in self.bad.most_common()) + ")"
        return text


def _insert(conn: Connection, rows: list[dict[str, Any]]) -> int:
    """INSERT … ON CONFLICT (uuid) DO NOTHING straight to the driver's executemany: a third
    of the time of SQLAlchemy's per-parameter processing for million-row imports, and it
    reports the rows inserted on both databases. Returns that count."""
    names = list(rows[0])
    sqlite = conn.dialect.name == "sqlite"
    mark = "?" if sqlite else "%s"
    sql = (
        f"INSERT INTO {measurements.name} ({', '.join(names)})"
        f" VALUES ({', '.join([mark] * len(names))}) ON CONFLICT (uuid) DO NOTHING"
    )
    if not sqlite:
        return int(conn.exec_driver_sql(sql, [tuple(r.values()) for r in rows]).rowcount)
    at = names.index("test_time")
    params = []
    for row in rows:
        values = list(row.values())
        # SQLAlchemy's SQLite DateTime text form, so reads through the model are unchanged.
        values[at] = values[at].isoformat(" ", "microseconds")
        params.append(tuple(values))
    return int(conn.exec_driver_sql(sql, params).rowcount)


def _flush(engine: Engine, rows: dict[str, dict[str, Any]], report: ImportReport) -> None:
    if not rows:
        return
    with engine.begin() as conn:
        inserted = _insert(conn, list(rows.values()))
        if inserted < len(rows):  # only stored test ids can be waiting for M-Lab's record
            report.confirmed += confirm_from_mlab(conn, rows.values())
    report.inserted += inserted
    report.duplicates += len(rows) - inserted
    rows.clear()


def import_items(
    engine: Engine, items: Iterable[Item], report: ImportReport | None = None, batch: int = BATCH
) -> ImportReport:
    """Store rows (and count bad ones) from any reader: files or BigQuery."""
    report = report or ImportReport()
    pending: dict[str, dict[str, Any]] = {}
    try:
        for item in items:
            report.read += 1
            if isinstance(item, BadRow):
                report.bad[item.reason] += 1
                continue
            if item["uuid"] in pending:
                report.duplicates += 1
                continue
            pending[item["uuid"]] = item
            if len(pending) >= batch:
                _flush(engine, pending, report)
    except FileError as exc:  # what was read before the damage is kept
        report.errors.append(str(exc))
    _flush(engine, pending, report)
    return report


def import_paths(
    engine: Engine,
    paths: Sequence[Path],
    asn: AsnLookup | None = None,
    geoip: GeoIP | None = None,
    batch: int = BATCH,
) -> ImportReport:
    """Import files, archives and directories; see :mod:`.mlab_files` for the formats."""
    report = ImportReport()
    for path in paths:
        items = (item for _, item in read_path(path, asn or NoAsn(), geoip))
        import_items(engine, items, report, batch)
    return report
