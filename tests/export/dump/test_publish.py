"""``netatlas dump build``, the daily job, /downloads/dump/ and the reader's command line."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from netatlas.app import create_app
from netatlas.cli import main
from netatlas.export.dump import reader
from netatlas.export.dump.service import dump_daily
from netatlas.features import job
from netatlas.jobs.context import Context
from tests.export.dump.test_select import TODAY, mac, observe

MACS = [mac(n) for n in range(6)]


def use(monkeypatch: pytest.MonkeyPatch, ctx: Context) -> None:
    s = ctx.settings
    monkeypatch.setenv("NETATLAS_DATA_DIR", str(s.data_dir))
    monkeypatch.setenv("NETATLAS_DATABASE_URL", s.database_url)
    monkeypatch.setenv("NETATLAS_REDIS_URL", s.redis_url)
    monkeypatch.setenv("NETATLAS_LOG_LEVEL", "warning")
    monkeypatch.setenv("NETATLAS_DUMP_HASH_COST", "10")
    monkeypatch.setenv("NETATLAS_DUMP_GRID_METRES", "100")
    monkeypatch.setenv("NETATLAS_DUMP_MIN_STATIONS", "3")


def test_build_serve_and_read(
    ctx: Context, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    observe(ctx, MACS, TODAY - dt.timedelta(days=2))
    observe(ctx, MACS, TODAY)
    use(monkeypatch, ctx)
    assert main(["dump", "build"]) == 0
    assert "6 WiFi, 0 Bluetooth in 1 cells of 100 m (k=3" in capsys.readouterr().out

    app = create_app(dataclasses.replace(ctx.settings), run_jobs=False)
    try:
        with TestClient(app, base_url="http://127.0.0.1") as client:
            listing = client.get("/api/v1/downloads/dump").json()["dumps"]
            names = {d["kind"]: d["name"] for d in listing}
            day = dt.datetime.now(dt.UTC).date().isoformat()
            assert names == {
                "data": f"netatlas-dump-{day}.csv.gz",
                "manifest": f"netatlas-dump-{day}.json",
            }
            data = client.get(f"/downloads/dump/{names['data']}").content
            manifest: dict[str, Any] = client.get(f"/downloads/dump/{names['manifest']}").json()
            assert client.get("/downloads/dump/netatlas-dump-1999-01-01.csv.gz").status_code == 404
            assert client.get("/downloads/dump/..%2Fnetatlas.db").status_code == 404
    finally:
        app.state.services.engine.dispose()

    assert manifest["sha256"] == hashlib.sha256(data).hexdigest()
    assert manifest["size"] == len(data)
    assert manifest["grid_metres"] == 100.0 and manifest["k"] == 3
    assert manifest["hash"]["algorithm"] == "scrypt" and manifest["hash"]["log2_n"] == 10
    assert manifest["counts"]["wifi"] == 6 and manifest["licence"] == "ODbL-1.0"

    path = ctx.settings.data_dir / "dump.csv.gz"
    path.write_bytes(data)
    scan = ctx.settings.data_dir / "scan.json"
    scan.write_text(json.dumps([[m, -60] for m in MACS[:3]]))
    assert reader.main([str(path), str(scan)]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert abs(answer["location"]["lat"] - 52.52) < 0.002
    assert abs(answer["location"]["lng"] - 13.405) < 0.002
    assert answer["accuracy"] >= 50.0  # never finer than half a cell
    scan.write_text(json.dumps([[mac(99), -60], [mac(98), -70]]))
    assert reader.main([str(path), str(scan)]) == 1
    scan.write_text(json.dumps([[MACS[0], -60]]))  # one network never gives a place
    assert reader.main([str(path), str(scan)]) == 1
    not_a_dump = ctx.settings.data_dir / "x.csv.gz"
    not_a_dump.write_bytes(b"nope")
    assert reader.main([str(not_a_dump), str(scan)]) == 2


def test_the_daily_job_runs_only_when_enabled(ctx: Context, tmp_path: Path) -> None:
    observe(ctx, MACS, TODAY - dt.timedelta(days=2))
    observe(ctx, MACS, TODAY)
    assert job("wifi_dump_daily").func(ctx) is None
    assert not (ctx.settings.data_dir / "exports" / "dump").exists()

    on = Context.from_settings(
        dataclasses.replace(ctx.settings, dump_daily=True, dump_hash_cost=10, dump_min_stations=3),
        engine=ctx.engine,
    )
    name = dump_daily(on)
    assert name is not None
    assert (ctx.settings.data_dir / "exports" / "dump" / name).is_file()
    assert dump_daily(on) is None  # once a day
