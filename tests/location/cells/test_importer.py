"""Importing MLS / OpenCellID cell files: streaming, idempotent, crowd data left alone."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from sqlalchemy import insert, select

from netatlas.jobs.context import Context
from netatlas.location.cells.csvfile import HEADER
from netatlas.location.cells.importer import import_rows
from netatlas.location.ids import cell_id
from netatlas.location.models import RADIO_CODE, SOURCE_CODE, cell_area, cell_tables
from netatlas.location.stations.observations import CellObservation
from netatlas.location.stations.update import apply_observations
from netatlas.location.tasks import update_cellarea

ROWS = [
    "GSM,234,15,1234,4711,,-0.1245,51.5005,1200,7,1,1600000000,1700000000,",
    "UMTS,234,15,1234,70000,300,-0.1250,51.5010,900,3,1,1600000000,1700000000,",
    "LTE,262,1,4711,123456789,77,13.405,52.52,1500,12,1,1600000000,1700000000,0",
    "NR,262,1,4000000,60000000001,900,13.41,52.53,300,2,1,1650000000,1710000000,",
    "CDMA,310,1,1,1,,-100,40,1000,1,1,1600000000,1700000000,",
    "LTE,999999,1,1,1,,13,52,1000,1,1,1600000000,1700000000,",
    "LTE,262,1,4711,5,,0,0,1000,1,1,1600000000,1700000000,",
    "LTE,262,1",
]


def csv(rows: list[str]) -> io.StringIO:
    return io.StringIO(HEADER + "\r\n" + "\r\n".join(rows) + "\r\n")


def cell(conn: Any, radio: str, mcc: int, mnc: int, lac: int, cid: int) -> Any:
    table = cell_tables[radio]
    key = cell_id(RADIO_CODE[radio], mcc, mnc, lac, cid)
    return conn.execute(select(table).where(table.c.cellid == key)).first()


def snapshot(ctx: Context) -> list[tuple[Any, ...]]:
    with ctx.engine.connect() as conn:
        return [
            tuple(row)
            for table in cell_tables.values()
            for row in conn.execute(select(table).order_by(table.c.cellid))
        ]


def test_import_counts_bad_rows_by_line_and_writes_the_rest(ctx: Context) -> None:
    report = import_rows(ctx.engine, csv(ROWS), "ocid", ctx.regions, block=2)
    assert (report.rows, report.written, report.kept) == (8, 4, 0)
    assert dict(report.bad) == {"unsupported radio": 1, "mcc": 1, "position": 1, "columns": 1}
    assert report.bad_lines == {
        "unsupported radio": [6],
        "mcc": [7],
        "position": [8],
        "columns": [9],
    }
    assert "bad mcc: 1 (lines 7)" in report.summary()
    with ctx.engine.connect() as conn:
        lte = cell(conn, "lte", 262, 1, 4711, 123456789)
        assert lte.origin == "ocid" and lte.source is None and lte.weight is None
        assert (lte.lat, lte.lon, lte.radius, lte.samples, lte.psc) == (52.52, 13.405, 1500, 12, 77)
        assert lte.region == "DE" and lte.created == dt.datetime(2020, 9, 13, 12, 26, 40)
        assert lte.modified == dt.datetime(2023, 11, 14, 22, 13, 20)
        assert lte.last_seen == dt.date(2023, 11, 14)
        assert lte.min_lat < 52.52 < lte.max_lat and lte.min_lon < 13.405 < lte.max_lon
        nr = cell(conn, "nr", 262, 1, 4000000, 60000000001)
        assert nr is not None and nr.psc == 900
        assert cell(conn, "wcdma", 234, 15, 1234, 70000).psc == 300
        assert cell(conn, "gsm", 234, 15, 1234, 4711).region == "GB"
    update_cellarea(ctx)
    with ctx.engine.connect() as conn:
        areas = conn.execute(select(cell_area.c.radio, cell_area.c.num_cells)).all()
    assert sorted(areas) == [(0, 1), (2, 1), (3, 1), (4, 1)]


def test_import_is_idempotent(ctx: Context) -> None:
    import_rows(ctx.engine, csv(ROWS), "mls", ctx.regions)
    first = snapshot(ctx)
    again = import_rows(ctx.engine, csv(ROWS), "mls", ctx.regions)
    assert (again.written, again.kept) == (0, 4)  # unchanged rows are not rewritten
    assert snapshot(ctx) == first
    changed = [ROWS[0].replace("1200", "1300"), *ROWS[1:]]
    assert import_rows(ctx.engine, csv(changed), "mls", ctx.regions).written == 1


def test_the_last_row_of_a_cell_wins(ctx: Context) -> None:
    later = ROWS[2].replace("52.52", "52.6")
    import_rows(ctx.engine, csv([ROWS[2], later]), "mls", ctx.regions)
    with ctx.engine.connect() as conn:
        assert cell(conn, "lte", 262, 1, 4711, 123456789).lat == 52.6


def test_crowd_cells_are_never_overwritten(ctx: Context) -> None:
    key = cell_id(RADIO_CODE["lte"], 262, 1, 4711, 123456789)
    now = dt.datetime(2026, 1, 1)
    with ctx.engine.begin() as conn:
        conn.execute(
            insert(cell_tables["lte"]).values(
                cellid=key, radio=3, mcc=262, mnc=1, lac=4711, cid=123456789, lat=52.0, lon=13.0,
                radius=10, samples=5, source=SOURCE_CODE["gnss"], weight=5.0, created=now,
                modified=now,
            )
        )  # fmt: skip
    report = import_rows(ctx.engine, csv(ROWS[2:3]), "ocid", ctx.regions)
    assert (report.written, report.kept) == (0, 1)
    with ctx.engine.connect() as conn:
        row = cell(conn, "lte", 262, 1, 4711, 123456789)
    assert (row.lat, row.origin, row.samples) == (52.0, None, 5)


def test_crowd_data_refines_an_imported_cell_and_keeps_its_origin(ctx: Context) -> None:
    import_rows(ctx.engine, csv(ROWS[2:3]), "ocid", ctx.regions)
    obs = CellObservation(
        "lte", 262, 1, 4711, 123456789, None, 52.521, 13.406, 10.0, None, None, -90, None, None,
        SOURCE_CODE["gnss"], 1.0,
    )  # fmt: skip
    with ctx.engine.begin() as conn:
        stats = apply_observations(conn, "cell", "lte", [obs], ctx.regions, dt.datetime.now(dt.UTC))
    assert stats.transitions == {"change": 1}
    with ctx.engine.connect() as conn:
        row = cell(conn, "lte", 262, 1, 4711, 123456789)
    assert row.origin == "ocid" and row.source == SOURCE_CODE["gnss"] and row.samples == 13
    assert 52.52 < row.lat < 52.521
    # A later import leaves the refined cell alone.
    report = import_rows(ctx.engine, csv(ROWS[2:3]), "ocid", ctx.regions)
    assert report.written == 0
    with ctx.engine.connect() as conn:
        assert cell(conn, "lte", 262, 1, 4711, 123456789).samples == 13
