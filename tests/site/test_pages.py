"""The public pages and their JSON, in-process on both backends."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import Engine, insert
from starlette.testclient import TestClient

from netatlas.db.stats import STAT_KEYS, region_stat, stat
from netatlas.http.headers import page_headers
from netatlas.settings import Settings
from netatlas.site import apidoc
from netatlas.site.coverage import tile_bounds
from netatlas.storage.tiles import DirectoryTileStore

PAGES = ["/", "/coverage", "/stats", "/api", "/privacy", "/downloads", "/speedtest"]


def _stats(engine: Engine) -> None:
    today = dt.datetime.now(dt.UTC).date()
    rows = []
    for name, per_day in (("unique_wifi", 100), ("wifi", 900), ("unique_cell", 3), ("cell", 40)):
        for back in range(3, -1, -1):
            day = today - dt.timedelta(days=back)
            rows.append({"key": STAT_KEYS[name], "time": day, "value": per_day * (4 - back)})
    with engine.begin() as conn:
        conn.execute(insert(stat), rows)
        conn.execute(
            insert(region_stat),
            [
                {"region": "GB", "gsm": 1, "wcdma": 2, "lte": 3, "nr": 4, "blue": 5, "wifi": 300},
                {"region": "FR", "gsm": 0, "wcdma": 0, "lte": 1, "nr": 0, "blue": 0, "wifi": 20},
            ],
        )


def _assets(html: str) -> list[str]:
    return re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="([^"]+)"', html)


@pytest.mark.parametrize("path", PAGES)
def test_every_page_is_html_from_this_site_only(client: TestClient, path: str) -> None:
    res = client.get(path)
    assert res.status_code == 200, res.text[:300]
    assert res.headers["content-type"].startswith("text/html")
    assert '<nav id="site-nav"' in res.text
    # Scripts, styles and images come from this site: no CDN, no other host.
    assets = _assets(res.text)
    assert assets and all(a.startswith("/") and not a.startswith("//") for a in assets), assets


@pytest.mark.parametrize("path", ["/", "/speedtest", "/coverage", "/stats", "/downloads", "/api"])
def test_every_menu_page_has_the_same_frame(client: TestClient, path: str) -> None:
    html = client.get(path).text
    # The frame's files carry their content hash, so a new release is fetched again.
    for asset in ("site/icon.svg", "site/site.css", "site/site.js"):
        assert re.search(rf'"/static/{asset}\?v=[0-9a-f]{{10}}"', html), asset
    # The menu marks the page itself, and only it.
    assert re.findall(r'<a href="([^"]+)" aria-current="page"', html) == [path]


@pytest.mark.parametrize("path", ["/", "/coverage", "/stats", "/api", "/privacy"])
def test_own_pages_forbid_other_hosts_and_framing(client: TestClient, path: str) -> None:
    res = client.get(path)
    csp = res.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "img-src 'self' data:;" in csp  # no basemap configured: no other host at all
    assert 'aria-current="page"' in res.text or path == "/privacy"


def test_the_basemap_is_the_only_other_host(settings: Settings) -> None:
    osm = replace(settings, basemap_url="https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png")
    assert (
        "img-src 'self' data: https://*.tile.openstreetmap.org;"
        in page_headers(osm)["Content-Security-Policy"]
    )
    plain = replace(settings, basemap_url="https://tiles.example.org/{z}/{x}/{y}.png")
    assert "https://tiles.example.org;" in page_headers(plain)["Content-Security-Policy"]
    bad = replace(settings, basemap_url="javascript:alert(1)")
    assert "img-src 'self' data:;" in page_headers(bad)["Content-Security-Policy"]


def test_map_page_carries_its_settings(settings: Settings) -> None:
    from netatlas.app import create_app

    url = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    app = create_app(replace(settings, basemap_url=url), run_jobs=False)
    try:
        with TestClient(app, base_url="http://127.0.0.1") as client:
            html = client.get("/").text
    finally:
        app.state.services.engine.dispose()
    found = re.search(r'<script type="application/json" id="map-config">(.*?)</script>', html)
    assert found is not None
    config = json.loads(found.group(1))
    assert config["map"]["basemap_url"] == url
    assert config["map"]["basemap_attribution"]
    assert {u["key"] for u in config["use_cases"]} >= {"browsing", "video_conferencing"}
    assert "/static/vendor/leaflet/leaflet.js" in html


def test_not_found_is_a_page_for_people_and_json_for_programs(client: TestClient) -> None:
    res = client.get("/no/such/page")
    assert res.status_code == 404
    assert res.headers["content-type"].startswith("text/html")
    assert "Page not found" in res.text and "/no/such/page" in res.text
    for path in ("/api/v1/nothing", "/v1/nothing", "/__nothing__", "/anything.json"):
        res = client.get(path)
        assert res.status_code == 404, path
        assert res.json()["error"]["code"] == 404, path


def test_outlines_are_gzipped_cached_geojson(client: TestClient) -> None:
    res = client.get("/geo/outlines-low.geojson", headers={"Accept-Encoding": "gzip"})
    assert res.status_code == 200
    assert res.headers["content-encoding"] == "gzip"
    assert res.headers["cache-control"] == "public, max-age=86400"
    data = res.json()  # httpx undoes the gzip
    assert data["type"] == "FeatureCollection"
    names = {f["properties"]["code"]: f["properties"]["name"] for f in data["features"]}
    assert names["GB"] == "United Kingdom" and len(names) > 200
    again = client.get("/geo/outlines-low.geojson", headers={"If-None-Match": res.headers["etag"]})
    assert again.status_code == 304
    plain = client.get("/geo/outlines-high.geojson", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert len(plain.content) > len(gzip.compress(plain.content))
    assert plain.json()["features"]
    bad = client.get("/geo/outlines-huge.geojson")
    assert bad.status_code == 404 and "low or high" in bad.json()["error"]["message"]


def test_stats_json_and_page(client: TestClient, engine: Engine) -> None:
    empty = client.get("/api/v1/stats").json()
    assert empty["totals"]["unique_wifi"] == 0 and empty["series"]["wifi"] == []
    _stats(engine)
    data = client.get("/api/v1/stats").json()
    assert data["totals"]["unique_wifi"] == 400 and data["totals"]["cell"] == 160
    assert [v for _, v in data["series"]["unique_wifi"]] == [100, 200, 300, 400]
    assert data["kinds"]["wifi"] == {
        "stations": "unique_wifi",
        "observations": "wifi",
        "title": "WiFi networks",
    }
    assert len(client.get("/api/v1/stats?days=1").json()["series"]["wifi"]) == 2
    for bad in ("0", "-1", "x", "99999999"):
        res = client.get(f"/api/v1/stats?days={bad}")
        assert res.status_code == 400 and "days" in res.json()["error"]["message"]
    regions = client.get("/api/v1/stats/regions").json()["regions"]
    assert [r["region"] for r in regions] == ["GB", "FR"]
    assert regions[0]["cell"] == 10 and regions[0]["total"] == 315
    assert regions[0]["name"] == "United Kingdom"
    ichnaea = client.get("/stats_wifi.json").json()
    (line,) = ichnaea["series"]
    assert line["title"] == "WiFi networks" and line["data"][-1][1] == 400
    assert line["data"][-1][0] % 1000 == 0  # epoch milliseconds of a month's first day
    html = client.get("/stats").text
    assert "400" in html and "United Kingdom" in html and "3,760" in html  # observations


def test_coverage_page_lists_countries_and_the_tiles_box(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    assert "No stations yet" in client.get("/coverage").text
    _stats(engine)
    store = DirectoryTileStore(settings.data_dir / "tiles")
    store.write([("10/511/340.png", b"\x89PNG a"), ("10/512/341.png", b"\x89PNG b")])
    store.write([("9/255/170.png", b"\x89PNG c")])
    store.write([("data.json", b'{"updated": "2025-06-01T12:00:00+00:00"}')])
    west, south, east, north = tile_bounds(settings) or (0.0, 0.0, 0.0, 0.0)
    assert west == pytest.approx(-0.3515625) and east == pytest.approx(0.3515625)
    assert south < 51.5 < north
    html = client.get("/coverage").text
    assert "United Kingdom" in html and "/tiles/" not in html.split("<script")[0]
    config = json.loads(re.findall(r'id="map-config">(.*?)</script>', html)[0])
    assert config["bounds"] == pytest.approx([west, south, east, north])
    assert config["regions"][0]["region"] == "GB"


def test_no_tiles_no_box(settings: Settings) -> None:
    assert tile_bounds(settings) is None
    assert tile_bounds(replace(settings, tiles_store="s3://bucket/tiles")) is None


def test_api_reference_has_a_curl_example_per_endpoint(client: TestClient) -> None:
    html = client.get("/api").text
    assert html.count("<pre><code>curl") >= 10
    assert "http://127.0.0.1/api/v1/stats" in html
    assert "/v1/geolocate" in html and "--data" in html


def test_api_reference_falls_back_without_an_openapi_document() -> None:
    sections = apidoc.sections(apidoc.FALLBACK, "http://host")
    paths = {s["path"] for s in sections}
    assert {"/v1/geolocate", "/api/v1/broadband/stats/{aggregation}", "/api/v1/stats"} <= paths
    locate = next(s for s in sections if s["path"] == "/v1/geolocate")
    assert locate["curl"].startswith("curl -s -X POST -H 'Content-Type: application/json'")
    assert "'http://host/v1/geolocate?key=test'" in locate["curl"]
    assert '"wifiAccessPoints"' in locate["curl"]
    stats = next(s for s in sections if s["path"].startswith("/api/v1/broadband/stats"))
    assert "http://host/api/v1/broadband/stats/countries?" in stats["curl"]


def test_curl_bodies_from_schemas_and_fallback_examples() -> None:
    doc: dict[str, Any] = {
        "paths": {
            "/v1/thing": {
                "post": {
                    "summary": "Not described yet.",
                    "requestBody": {
                        "content": {"application/json": {"schema": {"$ref": "#/c/s/Thing"}}}
                    },
                }
            },
            "/api/v1/broadband/stats/{aggregation}": {
                "get": {"parameters": [{"name": "aggregation", "in": "path", "required": True}]}
            },
        },
        "components": {
            "schemas": {
                "Thing": {
                    "type": "object",
                    "required": ["name", "size", "tags"],
                    "properties": {
                        "name": {"type": "string"},
                        "size": {"anyOf": [{"type": "null"}, {"type": "integer"}]},
                        "tags": {"type": "array", "items": {"enum": ["a", "b"]}},
                        "extra": {"type": "boolean"},
                    },
                }
            }
        },
    }
    by_path = {s["path"]: s for s in apidoc.sections(doc, "http://h")}
    assert '{"name":"text","size":0,"tags":["a"]}' in by_path["/v1/thing"]["curl"]
    assert by_path["/v1/thing"]["summary"] == "Not described yet."
    stats = by_path["/api/v1/broadband/stats/{aggregation}"]
    assert "/stats/countries?b.time=key" in stats["curl"]  # the hand-written example


def test_robots(client: TestClient) -> None:
    assert "Disallow: /admin" in client.get("/robots.txt").text
