"""M-Lab import: ndt-server result files and archives, unified-view rows (NDJSON, CSV,
Parquet), idempotence and bad rows."""

from __future__ import annotations

import csv
import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from netatlas.broadband.measurements import ClientNetwork, get_measurement, measurement_row
from netatlas.broadband.mlab.importer import import_paths
from netatlas.broadband.mlab.rows import SOURCE, UnifiedRow, unified_row
from netatlas.broadband.mlab.synthetic import unified_rows
from netatlas.broadband.models import measurements
from netatlas.broadband.ndt7.summary import Summary
from tests.conftest import DATA

MLAB = DATA / "mlab"
ARCHIVE = MLAB / "ndt7-archive-syd03-2020-03-18.tgz"
DOWNLOAD = "ndt-knwp4_1583603744_000000000000590E"
UPLOAD = "ndt-knwp4_1583603744_0000000000005CF2"


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(measurements)).scalar_one())


def test_archive_imports_with_mlabs_own_figures(engine: Engine) -> None:
    report = import_paths(engine, [ARCHIVE])
    assert (report.read, report.inserted, report.duplicates, sum(report.bad.values())) == (
        114,
        114,
        0,
        0,
    )
    # The values M-Lab's parser (m-lab/etl ndt7_result_test.go) reports for these two tests.
    down = get_measurement(engine, DOWNLOAD)
    assert down is not None
    assert down["direction"] == "download" and down["source"] == SOURCE
    assert down["mean_mbps"] == pytest.approx(38.714033637501984, rel=1e-15)
    assert down["min_rtt_ms"] == pytest.approx(285.804)
    assert down["loss_rate"] == pytest.approx(0.12029169202467564, rel=1e-15)
    assert down["congestion_control"] == "bbr"
    assert down["test_time"] == datetime(2020, 3, 18, 0, 6, 57, 568560)
    up = get_measurement(engine, UPLOAD)
    assert up is not None
    assert up["mean_mbps"] == pytest.approx(2.6848341983403983, rel=1e-15)
    assert up["min_rtt_ms"] == pytest.approx(173.733)
    assert up["loss_rate"] == 0


def test_reimport_changes_nothing(engine: Engine) -> None:
    import_paths(engine, [ARCHIVE])
    with engine.connect() as conn:
        before = conn.execute(select(measurements).order_by(measurements.c.id)).all()
    again = import_paths(engine, [ARCHIVE, MLAB / "ndt7"])
    assert again.inserted == 1  # only the 2022 file is new
    assert again.duplicates == 116
    with engine.connect() as conn:
        after = conn.execute(select(measurements).order_by(measurements.c.id)).all()
    assert after[: len(before)] == before


def test_result_file_with_asn(engine: Engine) -> None:
    from netatlas.geo.asn import asn_from_path

    asn = asn_from_path(str(DATA / "maxmind" / "GeoLite2-ASN-Test.mmdb"))
    report = import_paths(engine, [MLAB / "ndt7"], asn)
    assert report.inserted == 3
    row = get_measurement(engine, "ndt-rczlq_1666977535_unsafe_000000000016912D")
    assert row is not None
    assert row["client_name"] == "ist"
    assert row["mean_mbps"] == pytest.approx(8 * 95049504 / 9919546)


def _rows(n: int = 50) -> list[dict[str, object]]:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    return list(unified_rows(n, bbox=(-0.1, 51.4, 0.1, 51.6), start=start, days=30))


def test_ndjson_rows_and_bad_rows(engine: Engine, tmp_path: Path) -> None:
    rows = _rows()
    path = tmp_path / "unified.ndjson.gz"
    lines = [json.dumps(r) for r in rows]
    lines.insert(3, "{not json")
    no_speed = {"id": "x1", "direction": "upload", "a": {"TestTime": "2024-01-01 00:00:00 UTC"}}
    lines.insert(5, json.dumps(no_speed))
    bad_loc = dict(rows[0], id="x2", client={"Geo": {"Latitude": 123.0, "Longitude": 0.0}})
    lines.insert(7, json.dumps(bad_loc))
    lines.insert(9, json.dumps(dict(rows[0], id="x3", direction=None)))
    lines.insert(11, json.dumps({"a": {"MeanThroughputMbps": "fast"}}))
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    report = import_paths(engine, [path])
    assert report.inserted == len(rows)
    assert dict(report.bad) == {
        "invalid JSON": 1,
        "no throughput": 1,
        "bad location": 1,
        "unknown direction": 1,
        "wrong field type": 1,
    }
    row = get_measurement(engine, str(rows[0]["id"]))
    assert row is not None
    assert row["asn"] == rows[0]["client"]["Network"]["ASNumber"]  # type: ignore[index]
    assert row["lat"] == rows[0]["client"]["Geo"]["Latitude"]  # type: ignore[index]
    assert row["accuracy"] == 5000.0
    assert row["region"] == "GB"
    assert import_paths(engine, [path]).inserted == 0


def test_bigquery_json_export_quirks(engine: Engine, tmp_path: Path) -> None:
    """INT64 quoted, the direction from the file name, RFC 3339 times."""
    row = {
        "id": "q1",
        "date": "2024-02-01",
        "a": {"TestTime": "2024-02-01T10:00:00.5Z", "MeanThroughputMbps": 12.5, "MinRTT": 9.0},
        "client": {"IP": "192.0.2.1", "Network": {"ASNumber": "64500", "ASName": "Example"}},
    }
    path = tmp_path / "unified_uploads-000.json"
    path.write_text(json.dumps(row) + "\n" + json.dumps(dict(row, id="q2")) + "\n")
    report = import_paths(engine, [path])
    assert report.inserted == 2, report.summary()
    stored = get_measurement(engine, "q1")
    assert stored is not None
    assert stored["direction"] == "upload" and stored["asn"] == 64500
    assert stored["test_time"] == datetime(2024, 2, 1, 10, 0, 0, 500000)


def test_csv_rows(engine: Engine, tmp_path: Path) -> None:
    rows = _rows(10)
    path = tmp_path / "export.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "direction", "a.TestTime", "a_MeanThroughputMbps", "MinRTT",
                    "client.Geo.Latitude", "client_Geo_Longitude", "ASNumber"])  # fmt: skip
        for r in rows:
            a, geo = r["a"], r["client"]["Geo"]  # type: ignore[index]
            w.writerow([r["id"], r["direction"], a["TestTime"], a["MeanThroughputMbps"],  # type: ignore[index]
                        a["MinRTT"], geo["Latitude"], geo["Longitude"], "2856"])  # type: ignore[index]  # fmt: skip
    report = import_paths(engine, [path])
    assert report.inserted == 20, report.summary()
    stored = get_measurement(engine, str(rows[0]["id"]))
    assert stored is not None and stored["asn"] == 2856
    assert stored["mean_mbps"] == rows[0]["a"]["MeanThroughputMbps"]  # type: ignore[index]


def test_parquet_rows(engine: Engine, tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rows = _rows(10)
    for r in rows:  # Parquet exports carry real timestamps
        r["a"]["TestTime"] = datetime.fromisoformat(r["a"]["TestTime"].replace(" UTC", "+00:00"))  # type: ignore[index]
    path = tmp_path / "unified.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    report = import_paths(engine, [path])
    assert report.inserted == 20, report.summary()


def test_unreadable_files_are_reported(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("hello")
    broken = tmp_path / "broken.tgz"
    broken.write_bytes(ARCHIVE.read_bytes()[:100_000])
    report = import_paths(engine, [tmp_path / "missing.json", tmp_path / "x.txt", broken])
    assert len(report.errors) == 3
    assert report.inserted == _count(engine)  # what came before the damage is kept


def test_unified_row_has_the_measurement_row_keys() -> None:
    row = unified_row(
        UnifiedRow(
            id="k",
            direction="download",
            a=__import__("netatlas.broadband.mlab.rows", fromlist=["Summary_"]).Summary_(
                TestTime="2024-01-01 00:00:00 UTC", MeanThroughputMbps=1.0
            ),
        )
    )
    reference = measurement_row(
        uuid="k",
        source=SOURCE,
        direction="download",
        test_time=datetime(2024, 1, 1, tzinfo=UTC),
        summary=Summary(1.0, None, None, None),
        client_ip=None,
        network=ClientNetwork(),
    )
    assert row == reference
