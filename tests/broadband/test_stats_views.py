"""The statistics API over generated data with known answers (both backends)."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from starlette.testclient import TestClient

from netatlas.broadband.aggregate.update import update_statistics
from netatlas.settings import Settings
from tests.broadband.test_aggregate import AWAY, T0, load, row

AGGS = {
    "aggregation": [
        {"name": "tiles", "area": "quadkey:16", "time": "month", "isp": True, "min_tests": 5},
        {"name": "hours", "time": "day", "hour_of_day": True, "day_of_week": True},
    ]
}


@pytest.fixture
def api(settings: Settings, tmp_path: Path) -> Any:
    from netatlas.app import create_app

    path = tmp_path / "aggs.json"
    path.write_text(json.dumps(AGGS))
    s = Settings(**{**settings.__dict__, "aggregations_path": str(path)})
    app = create_app(s, run_jobs=False)
    rng = np.random.default_rng(3)
    home = rng.lognormal(4, 0.7, 40)
    away = rng.lognormal(2, 0.7, 30)
    rows = [row(f"h{i}", float(v), when=T0 + timedelta(days=i % 20)) for i, v in enumerate(home)]
    rows += [
        row(
            f"a{i}",
            float(v),
            where=AWAY,
            when=T0 + timedelta(days=35 + i % 5),
            asn=5089,
            isp="Virgin Media Limited",
            ip=f"198.51.100.{i}",
        )
        for i, v in enumerate(away)
    ]
    rows += [row("lonely", 3.0, where=AWAY, isp="Tiny ISP", asn=64500)]
    engine = app.state.services.engine
    load(engine, rows)
    update_statistics(engine, str(path))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client, home, away
    engine.dispose()


def test_aggregations_list(api: Any) -> None:
    client, _, _ = api
    body = client.get("/api/v1/broadband/aggregations").json()
    tiles, hours = body["aggregations"]
    assert tiles["name"] == "tiles" and tiles["bins"] == ["area", "time", "isp"]
    assert tiles["bin_count"] == 3 and tiles["version"] == 1
    assert hours["bins"] == ["time", "hour", "dow"]


def test_geojson_known_answers(api: Any) -> None:
    client, home, away = api
    r = client.get(
        "/api/v1/broadband/stats/tiles",
        params={"stats": "tests,download_median,download_mean,MedianDownload", "format": "geojson"},
    )
    assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json"
    body = r.json()
    assert body["type"] == "FeatureCollection" and body["total"] == 3
    by_isp = {f["properties"]["isp"]: f for f in body["features"]}
    bt = by_isp["British Telecommunications PLC"]["properties"]
    assert bt["tests"] == 40 and bt["period"] == "2024-03" and not bt["insufficient"]
    assert bt["download_median"] == pytest.approx(np.median(home), rel=0.01)
    assert bt["download_mean"] == pytest.approx(home.mean(), abs=1e-3)
    virgin = by_isp["Virgin Media Limited"]
    assert virgin["properties"]["period"] == "2024-04"
    assert virgin["properties"]["download_median"] == pytest.approx(np.median(away), rel=0.01)
    assert virgin["geometry"]["type"] == "Polygon"
    tiny = by_isp["Tiny ISP"]["properties"]
    assert tiny["insufficient"] and tiny["tests"] == 1 and tiny["download_median"] is None


def test_rebin_and_filter(api: Any) -> None:
    client, home, away = api
    both = np.concatenate([home, away, [3.0]])
    r = client.get(
        "/api/v1/broadband/stats/tiles?format=json&b.time=year&stats=tests,download_median"
    )
    (only,) = r.json()["rows"]
    assert only["period"] == "2024" and only["tests"] == 71 and "area" not in only
    assert only["download_median"] == pytest.approx(np.median(both), rel=0.01)
    r = client.get(
        "/api/v1/broadband/stats/tiles?format=json&b.area=quadkey:10&b.isp_bins=&stats=tests"
    )
    assert sorted(x["tests"] for x in r.json()["rows"]) == [1, 30, 40]
    r = client.get(
        "/api/v1/broadband/stats/tiles?format=json&b.spatial_join=key&b.time_slices=month"
        "&f.time_slices=2024-04,2024-12&stats=tests"
    )
    assert [x["tests"] for x in r.json()["rows"]] == [30]
    r = client.get(
        "/api/v1/broadband/stats/tiles?format=json&f.isp=Virgin Media Limited&stats=tests"
    )
    assert [x["tests"] for x in r.json()["rows"]] == [30]
    r = client.get("/api/v1/broadband/stats/hours?format=json&b.hour=&f.dow=4-5&stats=tests")
    rows = r.json()["rows"]
    assert rows and all(set(x) == {"hour", "insufficient", "tests"} for x in rows)


def test_csv_and_paging(api: Any) -> None:
    client, _, _ = api
    r = client.get(
        "/api/v1/broadband/stats/tiles?format=csv&limit=2&stats=tests,download_histogram"
    )
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 2 and rows[1]["download_histogram"].count("|") == 7
    assert rows[0]["insufficient"] == "true" and rows[0]["download_histogram"] == ""
    assert 'rel="next"' in r.headers["link"] and "offset=2" in r.headers["link"]
    page2 = client.get("/api/v1/broadband/stats/tiles?format=json&limit=2&offset=2").json()
    assert len(page2["rows"]) == 1 and page2["next"] is None


def test_etag(api: Any) -> None:
    client, _, _ = api
    url = "/api/v1/broadband/stats/tiles?format=json"
    first = client.get(url)
    etag = first.headers["etag"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert client.get(url + "&stats=tests", headers={"If-None-Match": etag}).status_code == 200


@pytest.mark.parametrize(
    ("query", "valid"),
    [
        ("/nope", "tiles"),
        ("/tiles?stats=speed", "download_median"),
        ("/tiles?format=xml", "geojson"),
        ("/tiles?b.colour=red", "time"),
        ("/tiles?f.hour=1", "isp"),
        ("/tiles?b.time=week", "quarter"),
        ("/tiles?bogus=1", "stats"),
        ("/tiles?limit=0", None),
        ("/tiles?f.time=yesterday,today", None),
        ("/tiles?b.area=nowhere", None),
        ("/hours?f.hour=25", None),
        ("/hours?b.hour=3", None),
    ],
)
def test_bad_queries(api: Any, query: str, valid: str | None) -> None:
    client, _, _ = api
    r = client.get("/api/v1/broadband/stats" + query)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["message"]
    if valid:
        assert valid in error["valid"]
