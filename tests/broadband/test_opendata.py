"""Open-data files on both backends: the same figures the statistics API publishes, nothing
below its thresholds, listed and served under /downloads."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from starlette.testclient import TestClient

from netatlas.broadband.aggregate.privacy import publish_threshold
from netatlas.broadband.aggregate.update import update_statistics
from netatlas.broadband.areas import get_layer
from netatlas.broadband.opendata import OPEN_STATS, prune, publish_open_data, query_params
from netatlas.export.downloads import export_store
from netatlas.settings import Settings
from tests.broadband.test_aggregate import AWAY, T0, load, row
from tests.broadband.test_stats_views import SECRET, api_client

AGGS = {
    "aggregation": [
        {"name": "tiles", "area": "quadkey:16", "time": "month", "isp": True, "min_tests": 5},
        {"name": "monthly", "time": "month"},
    ]
}
NOW = datetime(2026, 12, 5, 12, tzinfo=UTC)


@pytest.fixture
def published(settings: Settings, tmp_path: Path) -> Any:
    app, path = api_client(settings, tmp_path, AGGS)
    rng = np.random.default_rng(5)
    rows = [
        row(f"h{i}", float(v), when=T0 + timedelta(days=i % 20), ip=f"192.0.2.{i % 90}")
        for i, v in enumerate(rng.lognormal(4, 0.7, 300))
    ]
    rows += [row(f"a{i}", 5.0 + i, where=AWAY, ip=f"198.51.100.{i}") for i in range(3)]
    rows += [row("lonely", 3.0, where=(51.3, 0.2), isp="Tiny ISP", asn=64500)]
    engine = app.state.services.engine
    load(engine, rows)
    update_statistics(engine, path)
    s = replace(settings, aggregations_path=path, secret_key=SECRET)
    written = publish_open_data(engine, s, export_store(s), NOW)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client, s, written
    engine.dispose()


def _api_rows(client: TestClient, name: str) -> list[dict[str, Any]]:
    res = client.get(f"/api/v1/broadband/stats/{name}", params=query_params())
    assert res.status_code == 200
    rows: list[dict[str, Any]] = res.json()["rows"]
    return rows


def test_files_equal_the_published_figures(published: Any) -> None:
    client, settings, written = published
    store = export_store(settings)
    day = "netatlas-aggregates-2026-12-05-"
    assert sorted(written) == sorted(
        [f"{day}{n}.{ext}" for n in ("monthly", "tiles") for ext in ("parquet", "geojson")]
        + [f"{day}licence.txt"]
    )
    for name in ("tiles", "monthly"):
        api = _api_rows(client, name)
        assert api  # the seeded home tile passes the thresholds
        table = pq.read_table(io.BytesIO(store.read(f"{day}{name}.parquet") or b""))
        assert table.to_pylist() == api
        geo = json.loads(store.read(f"{day}{name}.geojson") or b"")
        assert [f["properties"] for f in geo["features"]] == api
    tiles = json.loads(store.read(f"{day}tiles.geojson") or b"")
    assert all(f["geometry"]["type"] == "Polygon" for f in tiles["features"])


def test_nothing_below_the_thresholds(published: Any) -> None:
    client, settings, _ = published
    store = export_store(settings)
    table = pq.read_table(io.BytesIO(store.read("netatlas-aggregates-2026-12-05-tiles.parquet")))
    threshold = publish_threshold(1, 5)
    rows = table.to_pylist()
    assert len(rows) >= 1 and set(table.column_names) >= {"area", "time", "isp", *OPEN_STATS}
    for r in rows:
        assert r["tests"] is not None and r["tests"] >= threshold
        for direction in ("download", "upload"):
            count = r[f"{direction}_count"]
            if count is None or count < threshold:
                assert r[f"{direction}_median"] is None
    # The tiles holding three tests and one test are in neither file.
    engine = client.app.state.services.engine
    layer = get_layer(engine, "quadkey:16")
    small = layer.keys(layer.assign(np.array([AWAY[0], 51.3]), np.array([AWAY[1], 0.2])))
    geo = (store.read("netatlas-aggregates-2026-12-05-tiles.geojson") or b"").decode()
    for key in small:
        assert key not in {r["area"] for r in rows} and key not in geo


def test_listed_served_and_written_once_a_day(published: Any) -> None:
    client, settings, written = published
    listing = client.get("/api/v1/downloads").json()["downloads"]
    names = {d["name"]: d for d in listing}
    assert set(written) <= set(names)
    assert names[written[0]]["kind"] == "aggregates"
    licence = client.get("/downloads/netatlas-aggregates-2026-12-05-licence.txt")
    assert licence.status_code == 200 and "CC0-1.0" in licence.text
    res = client.get("/downloads/netatlas-aggregates-2026-12-05-tiles.parquet")
    assert res.headers["content-type"] == "application/vnd.apache.parquet"
    assert pq.read_table(io.BytesIO(res.content)).num_rows >= 1
    engine = client.app.state.services.engine  # type: ignore[attr-defined]
    assert publish_open_data(engine, settings, export_store(settings), NOW) == []


def test_odbl_licence_and_pruning(published: Any) -> None:
    client, settings, _ = published
    s = replace(settings, open_data_license="ODbL-1.0")
    store = export_store(s)
    engine = client.app.state.services.engine  # type: ignore[attr-defined]
    for days in range(1, 9):
        publish_open_data(engine, s, store, NOW + timedelta(days=days))
    days_left = {f.name[20:30] for f in store.list("netatlas-aggregates-")}
    assert len(days_left) == 7 and "2026-12-05" not in days_left
    text = (store.read("netatlas-aggregates-2026-12-13-licence.txt") or b"").decode()
    assert "ODbL-1.0" in text and "opendatacommons.org" in text
    assert prune(store) == 0
