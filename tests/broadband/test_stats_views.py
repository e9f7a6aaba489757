"""The statistics API over generated data (both backends): what it publishes, and what it
withholds (see netatlas.broadband.aggregate.privacy)."""

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

from netatlas.broadband.aggregate.privacy import publish_threshold
from netatlas.broadband.aggregate.update import update_statistics
from netatlas.settings import Settings
from tests.broadband.test_aggregate import AWAY, T0, load, row

AGGS = {
    "aggregation": [
        {"name": "tiles", "area": "quadkey:16", "time": "month", "isp": True, "min_tests": 5},
        {"name": "hours", "time": "day", "hour_of_day": True, "day_of_week": True},
    ]
}
SECRET = "statistics test secret"
THRESHOLD = publish_threshold(1, 5)  # one element per cell, min_tests 5


def api_client(settings: Settings, tmp_path: Path, aggs: dict[str, Any]) -> Any:
    from netatlas.app import create_app

    path = tmp_path / "aggs.json"
    path.write_text(json.dumps(aggs))
    s = Settings(**{**settings.__dict__, "aggregations_path": str(path), "secret_key": SECRET})
    return create_app(s, run_jobs=False), str(path)


@pytest.fixture
def api(settings: Settings, tmp_path: Path) -> Any:
    app, path = api_client(settings, tmp_path, AGGS)
    rng = np.random.default_rng(3)
    home = rng.lognormal(4, 0.7, 400)
    away = rng.lognormal(2, 0.7, 300)
    rows = [
        row(f"h{i}", float(v), when=T0 + timedelta(days=i % 20), ip=f"192.0.2.{i % 100}")
        for i, v in enumerate(home)
    ]
    rows += [
        row(f"hu{i}", 20.0 + i % 7, direction="upload", when=T0 + timedelta(days=i % 20))
        for i in range(100)
    ]
    rows += [
        row(
            f"a{i}",
            float(v),
            where=AWAY,
            when=T0 + timedelta(days=35 + i % 5),
            asn=5089,
            isp="Virgin Media Limited",
            ip=f"198.51.100.{i % 60}",
        )
        for i, v in enumerate(away)
    ]
    rows += [row("lonely", 3.0, where=AWAY, isp="Tiny ISP", asn=64500)]
    rows += [
        row(f"s{i}", 50.0 + i, isp="Small ISP", asn=64501, ip=f"203.0.113.{i}") for i in range(8)
    ]
    engine = app.state.services.engine
    load(engine, rows)
    update_statistics(engine, path)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client, home, away
    engine.dispose()


def near(value: float, exact: float, within: float) -> bool:
    return abs(value - exact) <= within


def test_aggregations_list(api: Any) -> None:
    client, _, _ = api
    body = client.get("/api/v1/broadband/aggregations").json()
    tiles, hours = body["aggregations"]
    assert tiles["name"] == "tiles" and tiles["bins"] == ["area", "time", "isp"]
    assert tiles["version"] == 1 and "bin_count" not in tiles  # would tell of new bins
    assert tiles["publish_threshold"] == THRESHOLD == 15 and tiles["min_clients"] == 3
    assert "download_p95" in tiles["stats"] and "download_max" not in tiles["stats"]
    assert hours["bins"] == ["time", "hour", "dow"]


def test_geojson_published_figures(api: Any) -> None:
    client, home, away = api
    r = client.get(
        "/api/v1/broadband/stats/tiles",
        params={
            "stats": "tests,download_count,upload_count,download_median,MedianDownload,"
            "download_p5,download_p95,download_histogram",
            "format": "geojson",
        },
    )
    assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json"
    body = r.json()
    assert body["type"] == "FeatureCollection" and body["total"] == 2
    by_isp = {f["properties"]["isp"]: f for f in body["features"]}
    assert set(by_isp) == {"British Telecommunications PLC", "Virgin Media Limited"}
    bt = by_isp["British Telecommunications PLC"]["properties"]
    assert bt["period"] == "2024-03" and "insufficient" not in bt
    # Counts carry noise of a few tests; a test more or less is not visible.
    assert near(bt["download_count"], 400, 8) and near(bt["upload_count"], 100, 8)
    assert bt["tests"] == bt["download_count"] + bt["upload_count"]
    assert bt["download_median"] == pytest.approx(np.median(home), rel=0.1)
    assert bt["download_p5"] == pytest.approx(np.quantile(home, 0.05), rel=0.3)
    assert bt["download_p95"] == pytest.approx(np.quantile(home, 0.95), rel=0.3)
    assert near(sum(bt["download_histogram"]), 400, 40) and len(bt["download_histogram"]) == 8
    virgin = by_isp["Virgin Media Limited"]
    assert virgin["properties"]["period"] == "2024-04"
    assert virgin["properties"]["download_median"] == pytest.approx(np.median(away), rel=0.1)
    assert virgin["properties"]["upload_count"] is None  # no upload tests: "fewer than K"
    assert virgin["geometry"]["type"] == "Polygon"


def test_small_cells_are_never_listed(api: Any) -> None:
    """A cell of one test (Tiny ISP) or eight (Small ISP) is not listed, by any query; a
    listed cell's published counts all reach the threshold."""
    client, _, _ = api
    queries = [
        "/tiles?format=json&stats=tests,download_count,upload_count",
        "/tiles?format=json&b.isp=key&stats=tests,download_count,upload_count",
        "/tiles?format=json&b.isp=key&b.area=all&b.time=all&stats=tests,download_count",
        "/tiles?format=json&f.isp=Tiny ISP,Small ISP&stats=tests,download_count",
        "/tiles?format=json&b.isp=key&f.isp=Tiny ISP&stats=tests",
        "/hours?format=json&b.hour=key&stats=tests,download_count,upload_count",
        "/hours?format=json&stats=tests,download_count,upload_count",
    ]
    for query in queries:
        body = client.get("/api/v1/broadband/stats" + query).json()
        for r in body["rows"]:
            assert r.get("isp") not in ("Tiny ISP", "Small ISP"), query
            for name in ("tests", "download_count", "upload_count"):
                assert r.get(name) is None or r[name] >= THRESHOLD, (query, r)
        if "Tiny ISP" in query:
            assert body["rows"] == [] and body["total"] == 0, query


@pytest.mark.parametrize(
    "name",
    ["download_min", "download_max", "DownloadMax", "UploadMin", "download_mean",
     "AverageDownload", "min_rtt_mean", "clients", "loss_rate"],
)  # fmt: skip
def test_extremes_and_means_are_not_published(api: Any, name: str) -> None:
    client, _, _ = api
    r = client.get(f"/api/v1/broadband/stats/tiles?stats=tests,{name}")
    assert r.status_code == 400
    error = r.json()["error"]
    assert "not published" in error["message"] and "download_p95" in error["valid"]


def test_percentiles_need_enough_tests(api: Any) -> None:
    """Percentiles need 15 tests beyond them (30 for a median, 300 for p5 and p95), so they
    never describe the extreme tests of a small cell."""
    client, _, away = api
    r = client.get(
        "/api/v1/broadband/stats/tiles?format=json&b.time=all&f.isp=Virgin Media Limited"
        "&stats=download_count,download_p10,download_p90,download_median"
    )
    (only,) = r.json()["rows"]
    assert only["download_p10"] == pytest.approx(np.quantile(away, 0.1), rel=0.25)
    assert only["download_p90"] == pytest.approx(np.quantile(away, 0.9), rel=0.25)
    r = client.get(
        "/api/v1/broadband/stats/hours?format=json&b.time=key"
        "&stats=download_count,download_p5,download_p95,download_median,download_q25"
    )
    rows = r.json()["rows"]
    assert len(rows) > 20 and all(x["download_count"] < 300 for x in rows)
    assert all(x["download_p5"] is None and x["download_p95"] is None for x in rows)
    assert all((x["download_median"] is None) == (x["download_count"] < 30) for x in rows)
    assert all((x["download_q25"] is None) == (x["download_count"] < 60) for x in rows)
    assert any(x["download_median"] is not None for x in rows)


def test_rebin_and_filter(api: Any) -> None:
    client, home, away = api
    r = client.get(
        "/api/v1/broadband/stats/tiles?format=json&b.time=year&stats=tests,download_median"
    )
    (only,) = r.json()["rows"]
    assert only["period"] == "2024" and near(only["tests"], 809, 10) and "area" not in only
    both = np.concatenate([home, away, [3.0], 50.0 + np.arange(8)])
    assert only["download_median"] == pytest.approx(np.median(both), rel=0.1)
    r = client.get(
        "/api/v1/broadband/stats/tiles?format=json&b.area=quadkey:10&b.isp_bins=&stats=tests"
    )
    counts = sorted(x["tests"] for x in r.json()["rows"])
    assert len(counts) == 2 and near(counts[0], 300, 8) and near(counts[1], 500, 8)
    r = client.get(
        "/api/v1/broadband/stats/tiles?format=json&b.spatial_join=key&b.time_slices=month"
        "&f.time_slices=2024-04,2024-12&stats=tests"
    )
    (april,) = r.json()["rows"]
    assert near(april["tests"], 300, 10)
    r = client.get(
        "/api/v1/broadband/stats/tiles?format=json&f.isp=Virgin Media Limited&stats=tests"
    )
    (virgin,) = r.json()["rows"]
    assert near(virgin["tests"], 300, 8)
    r = client.get("/api/v1/broadband/stats/hours?format=json&b.hour=&f.dow=0-6&stats=tests")
    rows = r.json()["rows"]
    assert rows and all(set(x) == {"hour", "tests"} for x in rows)


def test_repeats_and_rephrasings_give_the_same_figures(api: Any) -> None:
    """The noise is fixed per element: asking again, re-ordering or repeating a filter's
    values gives the same answer, so nothing can be averaged away."""
    client, _, _ = api
    stats = "stats=tests,download_count,download_median,download_histogram,good_gaming"
    base = "/api/v1/broadband/stats/tiles?format=json&b.area=all&b.time=all&" + stats
    answers = [
        client.get(base + "&f.isp=" + isps).json()["rows"]
        for isps in (
            "British Telecommunications PLC,Virgin Media Limited",
            "Virgin Media Limited,British Telecommunications PLC",
            "Virgin Media Limited,British Telecommunications PLC,Virgin Media Limited",
        )
    ]
    assert answers[0] and answers[0] == answers[1] == answers[2]
    again = client.get(base + "&f.isp=British Telecommunications PLC,Virgin Media Limited")
    assert again.json()["rows"] == answers[0]


def test_quarters_add_up_the_months(api: Any) -> None:
    """A quarter's figures are the sum of its months' noisy releases, exactly what a filter
    naming those months gives: re-binning months is no new release to combine."""
    client, _, _ = api
    stats = "stats=tests,download_count,download_median,download_histogram"
    quarter = client.get(
        f"/api/v1/broadband/stats/tiles?format=json&b.area=key&b.time=quarter&{stats}"
    ).json()["rows"]
    months = client.get(
        f"/api/v1/broadband/stats/tiles?format=json&b.area=key&f.time=2024-01,2024-03&{stats}"
    ).json()["rows"]
    q1 = {r["area"]: r for r in quarter if r["period"] == "2024-Q1"}
    assert q1 and len(months) == len(q1)
    for r in months:
        same = {k: v for k, v in q1[r["area"]].items() if k not in ("time", "period")}
        assert same == r


def test_csv_and_paging(api: Any) -> None:
    client, _, _ = api
    r = client.get(
        "/api/v1/broadband/stats/tiles?format=csv&limit=1&stats=tests,download_histogram"
    )
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 1 and rows[0]["download_histogram"].count("|") == 7
    assert "insufficient" not in rows[0]
    assert 'rel="next"' in r.headers["link"] and "offset=1" in r.headers["link"]
    page2 = client.get("/api/v1/broadband/stats/tiles?format=json&limit=1&offset=1").json()
    assert len(page2["rows"]) == 1 and page2["next"] is None and page2["total"] == 2
    empty = client.get("/api/v1/broadband/stats/tiles?format=csv&f.isp=Nobody&stats=tests")
    assert empty.text == "tests\r\n"  # CRLF line ends (RFC 4180)


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
        ("/hours?b.time=all&f.time=1970-01-01,2024-12-31&f.hour=0-23&f.dow=0-6", None),
        ("/tiles?f.time=99999999999999999999,99999999999999999999", None),
        ("/hours?f.time=1,99999999999", None),
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
