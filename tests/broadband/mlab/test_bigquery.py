"""The BigQuery import: the query it builds, and its rows through the file import's code."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, func, select

from netatlas.broadband.aggregate.models import mlab_state
from netatlas.broadband.mlab.bigquery import BBox, LocalRows, build_query, import_bigquery
from netatlas.broadband.mlab.synthetic import unified_rows
from netatlas.broadband.models import measurements


def test_query_text_and_parameters() -> None:
    sql, params = build_query(BBox(-122.5, 47.4, -122.2, 47.8), date(2024, 1, 1), date(2024, 1, 31))
    assert "`measurement-lab.ndt.unified_downloads`" in sql
    assert "`measurement-lab.ndt.unified_uploads`" in sql
    assert sql.count("WHERE date BETWEEN @since AND @until") == 2  # the partition filter
    assert "client.Geo.Latitude BETWEEN @south AND @north" in sql
    assert "client.Geo.Longitude BETWEEN @west AND @east" in sql
    assert "UNION ALL" in sql and "'download' AS direction" in sql
    assert "a.MeanThroughputMbps AS MeanThroughputMbps" in sql
    assert "client.Network.ASNumber AS ASNumber" in sql
    assert params == {
        "since": date(2024, 1, 1),
        "until": date(2024, 1, 31),
        "west": -122.5,
        "south": 47.4,
        "east": -122.2,
        "north": 47.8,
    }
    wrapped, _ = build_query(BBox(170, -50, -170, -30), date(2024, 1, 1), date(2024, 1, 2))
    assert "(client.Geo.Longitude >= @west OR client.Geo.Longitude <= @east)" in wrapped


def test_bbox_parsing() -> None:
    assert str(BBox.parse("-1,51,1,52")) == "-1,51,1,52"
    for bad in ("1,2,3", "a,b,c,d", "0,60,1,50", "0,0,200,1", "nan,0,1,1"):
        with pytest.raises(ValueError):
            BBox.parse(bad)


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(measurements)).scalar_one())


def test_incremental_runs(engine: Engine) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    rows = list(unified_rows(200, bbox=(-1.0, 51.0, 1.0, 52.0), start=start, days=20))
    rows += list(unified_rows(20, bbox=(10.0, 51.0, 11.0, 52.0), start=start, days=20, seed=2))
    for r in rows[:3]:  # quirks of BigQuery's answers: quoted integers, datetimes
        r["client"]["Network"]["ASNumber"] = str(r["client"]["Network"]["ASNumber"])  # type: ignore[index]
    rows[5]["a"].update(MeanThroughputMbps=None, TestTime="2024-01-02 00:00:00 UTC")  # type: ignore[attr-defined]
    bq = LocalRows(rows)
    box = BBox(-1.0, 51.0, 1.0, 52.0)
    with pytest.raises(ValueError, match="since"):
        import_bigquery(engine, bq, box, today=date(2024, 1, 11))
    run = import_bigquery(engine, bq, box, since=date(2024, 1, 1), today=date(2024, 1, 11))
    assert run is not None and (run.since, run.until) == (date(2024, 1, 1), date(2024, 1, 10))
    first = _count(engine)
    assert 0 < first < 400 and run.report.inserted == first
    assert dict(run.report.bad) == {"no throughput": 1}
    assert bq.queries[0][0] == run.sql
    # The next day: from the last date again (M-Lab may have added to it), nothing twice.
    assert import_bigquery(engine, bq, box, today=date(2024, 1, 11)) is None
    run = import_bigquery(engine, bq, box, today=date(2024, 1, 30))
    assert run is not None and run.since == date(2024, 1, 10)
    assert run.report.duplicates > 0
    assert _count(engine) == 399  # every test in the box, the one without a throughput aside
    with engine.connect() as conn:
        state = conn.execute(select(mlab_state)).one()
    assert state.name == "bigquery:-1,51,1,52" and state.last_date == date(2024, 1, 29)
