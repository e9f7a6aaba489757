"""CSV downloads never hand a spreadsheet a formula: text cells starting with =, +, -, @, a
tab or a carriage return get a leading ', numbers stay numbers. The admin exports, the
statistics API's CSV and the map's own CSV download (its script, run in Node)."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, update
from starlette.testclient import TestClient

from netatlas.broadband.aggregate.update import update_statistics
from netatlas.broadband.models import measurements, survey_response
from netatlas.settings import Settings
from netatlas.site.render import STATIC_DIR
from tests.admin import test_admin
from tests.broadband.test_aggregate import T0, load, row

admin = test_admin.admin  # the fixture: a client logged in as an administrator

FORMULAS = ['=HYPERLINK("http://evil.example")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_admin_csv_exports_neutralise_formulas(admin: TestClient, engine: Engine) -> None:
    ids = test_admin._surveys(engine, len(FORMULAS))
    with engine.begin() as conn:
        for survey_id, text in zip(ids, FORMULAS, strict=True):
            answers = {"isp": text, "connection_type": "wired", "advertised_download": -5}
            conn.execute(
                update(survey_response)
                .where(survey_response.c.id == survey_id)
                .values(answers=answers)
            )
        conn.execute(update(measurements).values(isp="=cmd|' /C calc'!A0"))
    rows = _rows(admin.get("/admin/surveys.csv").text)
    assert [r["answer_isp"] for r in rows] == ["'" + t for t in FORMULAS]
    assert {r["isp"] for r in rows} == {"'=cmd|' /C calc'!A0"}
    # Numbers are numbers: a negative longitude and a negative answer are written as they are.
    assert {r["lon"] for r in rows} == {"-0.1"}
    assert {r["answer_advertised_download"] for r in rows} == {"-5"}
    assert {r["answer_connection_type"] for r in rows} == {"wired"}
    tests = _rows(admin.get("/admin/tests.csv").text)
    assert {t["isp"] for t in tests} == {"'=cmd|' /C calc'!A0"}


def test_the_statistics_csv_neutralises_formulas(settings: Settings, tmp_path: Path) -> None:
    from netatlas.app import create_app

    path = tmp_path / "aggs.json"
    path.write_text(json.dumps({"aggregation": [{"name": "isps", "time": "month", "isp": True}]}))
    app = create_app(Settings(**{**settings.__dict__, "aggregations_path": str(path)}))
    engine = app.state.services.engine
    try:
        # Enough tests and clients per ISP for the cells to be published (see /privacy).
        load(
            engine,
            [
                row(f"f{i}", 50.0 + i % 10, isp="=1+2", asn=64500, ip=f"203.0.113.{i}")
                for i in range(80)
            ],
        )
        load(engine, [row(f"p{i}", 20.0 + i % 10, ip=f"198.51.100.{i}") for i in range(80)])
        update_statistics(engine, str(path))
        with TestClient(app, base_url="http://127.0.0.1") as client:
            res = client.get("/api/v1/broadband/stats/isps", params={"format": "csv"})
        assert res.status_code == 200
        rows = _rows(res.text)
        assert sorted(r["isp"] for r in rows) == ["'=1+2", "British Telecommunications PLC"]
        assert all(r["period"] == T0.strftime("%Y-%m") for r in rows)
        assert all(float(r["download_median"]) > 0 for r in rows)  # numbers stay numbers
    finally:
        engine.dispose()


NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="needs Node.js to run the map's script")
def test_the_maps_csv_download_neutralises_formulas() -> None:
    rows: list[dict[str, Any]] = [
        {"isp": text, "value": -3.5, "area": "8" + str(i)} for i, text in enumerate(FORMULAS)
    ]
    rows.append({"isp": 'Fibre, "Co"', "value": 12, "area": None})
    maps = json.dumps(str(STATIC_DIR / "site" / "maps.js"))
    call = f"window.NetAtlasMaps.csv(['isp', 'value', 'area'], {json.dumps(rows)})"
    script = f"global.window = {{}}; require({maps}); process.stdout.write({call});"
    done = subprocess.run([str(NODE), "-e", script], capture_output=True, check=True, timeout=30)
    out = done.stdout.decode()
    parsed = _rows(out)
    assert [r["isp"] for r in parsed] == ["'" + t for t in FORMULAS] + ['Fibre, "Co"']
    assert {r["value"] for r in parsed[:-1]} == {"-3.5"}  # a negative number stays a number
    assert parsed[-1]["area"] == ""
