"""No test lost at a coastline: points just outside a polygon layer count in the nearest area
(within the aggregation's tolerance, measured on the sphere), a test's own country code counts
in the countries layer, and what still finds no area is counted where operators see it
(``netatlas aggregate``, the admin settings page)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from sqlalchemy import Engine, insert, select
from starlette.testclient import TestClient

from netatlas.admin import auth
from netatlas.broadband.aggregate.config import ConfigError, parse_aggregations
from netatlas.broadband.aggregate.models import stats_bin, stats_state
from netatlas.broadband.aggregate.update import update_statistics
from netatlas.broadband.areas import CountriesLayer, H3Layer, assign, get_layer, rebin_codes
from netatlas.broadband.areas_import import import_layer
from netatlas.broadband.mlab.files import convert_row
from netatlas.broadband.mlab.importer import import_items
from netatlas.broadband.models import measurements, survey_response
from netatlas.cli import main
from netatlas.settings import Settings

T0 = datetime(2024, 3, 1, tzinfo=UTC)
# Natural Earth's US coast west of Seattle crosses 47.6° N at 124.361° W.
OFF_SEATTLE = (47.6, -124.56)  # 0.2° out to sea: 14.7 km from the shore
FAR_OUT = (47.6, -126.0)  # 108 km from any land
MID_ATLANTIC = (40.0, -40.0)  # 1,289 km from any land
SEATTLE = (47.61, -122.33)
PARIS = (48.85, 2.35)


def mlab_row(
    uuid: str, where: tuple[float, float], country: str | None = None, mbps: float = 50.0
) -> dict[str, Any]:
    geo: dict[str, Any] = {"Latitude": where[0], "Longitude": where[1]}
    if country is not None:
        geo["CountryCode"] = country
    return {
        "id": uuid,
        "direction": "download",
        "a": {"TestTime": T0.isoformat(), "MeanThroughputMbps": mbps, "MinRTT": 20.0},
        "client": {"IP": "192.0.2.7", "Geo": geo, "Network": {"ASNumber": 64500}},
    }


def load(engine: Engine, rows: list[dict[str, Any]]) -> None:
    report = import_items(engine, (convert_row(r) for r in rows))
    assert not report.bad, report.summary()


def config(tmp_path: Path, **agg: Any) -> str:
    path = tmp_path / "aggregations.json"
    path.write_text(json.dumps({"aggregation": [{"name": "a", "time": "all", **agg}]}))
    return str(path)


def stored(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(select(stats_bin.c.area, stats_bin.c.tests)).all()
    return {area: int(tests) for area, tests in rows}


def counts(engine: Engine, name: str = "a") -> tuple[int, int]:
    with engine.connect() as conn:
        row = conn.execute(
            select(stats_state.c.tests, stats_state.c.unlocated).where(
                stats_state.c.aggregation == name
            )
        ).one()
    return int(row.tests), int(row.unlocated)


def square(key: str, x0: float, y0: float, size: float = 1.0) -> dict[str, Any]:
    ring = [[x0, y0], [x0 + size, y0], [x0 + size, y0 + size], [x0, y0 + size], [x0, y0]]
    return {
        "type": "Feature",
        "properties": {"GEOID": key},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def import_squares(engine: Engine, tmp_path: Path, features: list[dict[str, Any]]) -> str:
    """A county-style layer; its name is new to the process (layers are cached by name and
    version, and every test starts a database of its own)."""
    name = f"counties_{uuid.uuid4().hex[:12]}"
    path = tmp_path / "counties.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    import_layer(engine, name, path, "GEOID")
    return name


# ---- the countries layer -----------------------------------------------------------------------


def test_a_point_off_the_seattle_coast_counts_in_the_us(engine: Engine, tmp_path: Path) -> None:
    layer = get_layer(engine, "countries")
    lat, lon = np.array([OFF_SEATTLE[0], FAR_OUT[0]]), np.array([OFF_SEATTLE[1], FAR_OUT[1]])
    assert layer.assign(lat, lon).tolist() == [-1, -1]  # outside Natural Earth's coastline

    load(engine, [mlab_row("near", OFF_SEATTLE), mlab_row("far", FAR_OUT)])
    (report,) = update_statistics(engine, config(tmp_path, area="countries"))
    assert not report.error
    assert stored(engine) == {"US": 1}  # the one 100 km out lands nowhere
    assert (report.tests, report.unlocated) == (1, 1)
    assert counts(engine) == (1, 1)


def test_the_tolerance_is_the_aggregations(engine: Engine, tmp_path: Path) -> None:
    load(engine, [mlab_row("near", OFF_SEATTLE), mlab_row("far", FAR_OUT)])
    (report,) = update_statistics(engine, config(tmp_path, area="countries", area_tolerance_km=0))
    assert stored(engine) == {} and report.unlocated == 2
    (report,) = update_statistics(engine, config(tmp_path, area="countries", area_tolerance_km=120))
    assert report.rebuilt  # a changed tolerance rebuilds the bins
    assert stored(engine) == {"US": 2} and counts(engine) == (2, 0)


def test_a_rows_own_country_code_wins(engine: Engine, tmp_path: Path) -> None:
    load(
        engine,
        [
            mlab_row("atlantic", MID_ATLANTIC, country="PT"),  # its point is in no country
            mlab_row("border", SEATTLE, country="ca"),  # the source's code over the polygon
            mlab_row("genc", MID_ATLANTIC, country="XW"),  # GENC's code of Palestine
            mlab_row("unknown", MID_ATLANTIC, country="ZZ"),  # no such country: the point
            mlab_row("nocode", SEATTLE),
        ],
    )
    (report,) = update_statistics(engine, config(tmp_path, area="countries"))
    assert stored(engine) == {"PT": 1, "CA": 1, "PS": 1, "US": 1}
    assert report.unlocated == 1


def test_a_country_code_is_not_a_polygon_layers_key(engine: Engine, tmp_path: Path) -> None:
    # Only the countries layer is keyed by country: elsewhere the point decides.
    layer = import_squares(engine, tmp_path, [square("PT", -41, 39, 2.0)])
    load(engine, [mlab_row("in", MID_ATLANTIC, country="US"), mlab_row("out", (0, 0), "PT")])
    (report,) = update_statistics(engine, config(tmp_path, area=layer))
    assert stored(engine) == {"PT": 1} and report.unlocated == 1


def test_a_browser_location_beats_the_ip_country(engine: Engine, tmp_path: Path) -> None:
    load(
        engine,
        [
            mlab_row("moved", SEATTLE, country="US"),
            mlab_row("at-sea", SEATTLE, country="US"),
            mlab_row("stays", SEATTLE, country="US"),
        ],
    )
    with engine.begin() as conn:
        ids = dict(conn.execute(select(measurements.c.uuid, measurements.c.id)).all())
        for uuid, where in (("moved", PARIS), ("at-sea", MID_ATLANTIC)):
            conn.execute(
                insert(survey_response).values(
                    created=datetime(2024, 3, 1),
                    form="default",
                    answers={},
                    consent=True,
                    lat=where[0],
                    lon=where[1],
                    download_id=ids[uuid],
                )
            )
    update_statistics(engine, config(tmp_path, area="countries", location="survey"))
    # The browser's position in France wins; one in mid-ocean falls back to the IP's country.
    assert stored(engine) == {"FR": 1, "US": 2}


# ---- imported layers ---------------------------------------------------------------------------


def test_an_imported_layer_takes_points_just_outside(engine: Engine, tmp_path: Path) -> None:
    layer = import_squares(engine, tmp_path, [square("53001", 0, 0), square("53003", 1, 0)])
    load(
        engine,
        [
            mlab_row("inside", (0.5, 0.5)),
            mlab_row("east", (0.5, 2.1)),  # 11.1 km east of 53003
            mlab_row("gap-south", (-0.2, 0.3)),  # 22.2 km south of 53001
            mlab_row("far", (0.5, 2.3)),  # 33.4 km east: nowhere
            mlab_row("nowhere", (40.0, 40.0)),
        ],
    )
    (report,) = update_statistics(engine, config(tmp_path, area=layer))
    assert stored(engine) == {"53001": 2, "53003": 1}
    assert (report.tests, report.unlocated) == (3, 2) and counts(engine) == (3, 2)
    # An update adds to the totals; a rebuild starts them again.
    load(engine, [mlab_row("later", (1.05, 1.5)), mlab_row("later-far", (3.0, 1.5))])
    (report,) = update_statistics(engine, config(tmp_path, area=layer))
    assert not report.rebuilt and (report.tests, report.unlocated) == (1, 1)
    assert counts(engine) == (4, 3) and stored(engine) == {"53001": 2, "53003": 2}
    (report,) = update_statistics(engine, config(tmp_path, area=layer), rebuild=True)
    assert counts(engine) == (4, 3) and report.rebuilt


def test_a_gap_between_areas_goes_to_the_nearer(engine: Engine, tmp_path: Path) -> None:
    layer = get_layer(
        engine, import_squares(engine, tmp_path, [square("W", 0, 0), square("E", 1.2, 0)])
    )
    lat = np.array([0.5, 0.5, 0.5])
    lon = np.array([1.05, 1.15, 1.1])  # a 0.2°-wide gap: near the west, near the east, middle
    codes = assign(layer, lat, lon)
    assert layer.keys(codes[:2]) == ["W", "E"]
    assert codes[2] >= 0  # midway: either, but not lost


def test_across_the_antimeridian(engine: Engine, tmp_path: Path) -> None:
    layer = get_layer(engine, import_squares(engine, tmp_path, [square("edge", 179.5, 0, 0.5)]))
    lat, lon = np.array([0.25, 0.25]), np.array([-179.9, -179.7])  # 11.1 and 33.4 km away
    assert assign(layer, lat, lon).tolist() == [0, -1]


def _brute_force_km(geoms: Any, lat: float, lon: float) -> float:
    """Great-circle distance to the nearest point of densely sampled outlines."""
    xy = shapely.get_coordinates(shapely.segmentize(shapely.boundary(geoms), 0.002))
    p1, p2 = np.radians(lat), np.radians(xy[:, 1])
    h = (
        np.sin((p2 - p1) / 2) ** 2
        + np.cos(p1) * np.cos(p2) * np.sin(np.radians(xy[:, 0] - lon) / 2) ** 2
    )
    return float(2 * 6371.0088 * np.arcsin(np.sqrt(h)).min())


def test_the_tolerance_is_in_kilometres_at_high_latitudes(engine: Engine) -> None:
    # At 70° N a degree of longitude is 38 km, a third of a degree of latitude: points off
    # Norway's coast are judged by their distance on the sphere, not in degrees.
    layer = get_layer(engine, "countries")
    assert isinstance(layer, CountriesLayer)
    rng = np.random.default_rng(3)
    lat, lon = rng.uniform(69.5, 71.0, 400), rng.uniform(16.0, 26.0, 400)
    outside = layer.assign(lat, lon) < 0
    lat, lon = lat[outside], lon[outside]
    found = layer.nearest(lat, lon, 25_000.0)
    nordic = layer._geoms[layer.codes(["NO", "SE", "FI", "RU"])]
    checked = 0
    for la, lo, code in zip(lat.tolist(), lon.tolist(), found.tolist(), strict=True):
        km = _brute_force_km(nordic, la, lo)
        if abs(km - 25.0) < 0.5:
            continue  # too close to call with sampled outlines
        assert (code >= 0) == (km < 25.0), (la, lo, km)
        checked += 1
    assert checked > 100 and (found >= 0).sum() > 20


def test_rebinning_into_countries_keeps_coastal_cells(engine: Engine) -> None:
    # A hexagon whose centre is in the sea off Seattle, re-binned into countries by a query.
    hexes, countries = H3Layer(8), get_layer(engine, "countries")
    cell = hexes.assign(np.array([OFF_SEATTLE[0]]), np.array([OFF_SEATTLE[1]]))
    lat, lon = hexes.centres(cell)
    assert countries.assign(lat, lon).tolist() == [-1]
    assert countries.keys(rebin_codes(hexes, cell, countries)) == ["US"]
    far = hexes.assign(np.array([FAR_OUT[0]]), np.array([FAR_OUT[1]]))
    assert rebin_codes(hexes, far, countries).tolist() == [-1]


# ---- configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", [-1, 201, True, "25"])
def test_bad_tolerances_are_refused(value: object) -> None:
    with pytest.raises(ConfigError, match="area_tolerance_km"):
        parse_aggregations({"aggregation": [{"name": "a", "area_tolerance_km": value}]})


# ---- where the counts are shown ----------------------------------------------------------------


def test_netatlas_aggregate_prints_the_counts(
    settings: Settings,
    engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
) -> None:
    monkeypatch.setenv("NETATLAS_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("NETATLAS_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("NETATLAS_AGGREGATIONS_PATH", config(tmp_path, area="countries"))
    load(engine, [mlab_row("near", OFF_SEATTLE), mlab_row("far", FAR_OUT)])
    assert main(["aggregate"]) == 0
    out = capsys.readouterr().out
    assert "a: rebuilt, 1 tests into 1 bins (1 without an area in countries)" in out
    load(engine, [mlab_row("far-2", FAR_OUT), mlab_row("code", FAR_OUT, "US")])
    assert main(["aggregate"]) == 0
    out = capsys.readouterr().out
    assert "a: updated, 1 tests into 1 bins (1 without an area in countries)" in out
    assert "in all 2 tests, 2 without an area" in out


def test_admin_settings_page_shows_the_counts(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    load(engine, [mlab_row("near", OFF_SEATTLE), mlab_row("far", FAR_OUT), mlab_row("in", SEATTLE)])
    update_statistics(engine, settings.aggregations_path)  # the built-in aggregations
    auth.set_password(engine, "admin", "correct horse battery")
    page = client.get("/admin/login").text
    nonce = re.search(r'name="nonce" value="([^"]+)"', page)
    assert nonce is not None
    data = {"nonce": nonce.group(1), "user": "admin", "password": "correct horse battery"}
    assert client.post("/admin/login", data=data, follow_redirects=False).status_code == 303
    html = client.get("/admin/settings").text
    assert "Tests without an area" in html

    def row(name: str) -> str:
        found = re.search(rf"<td><code>{name}</code>(.*?)</tr>", html, re.S)
        assert found is not None
        return found.group(1)

    assert ">1 of 3<" in row("countries")  # the one 100 km out to sea
    assert ">0 of 3<" in row("hex8")  # hexagons cover the globe
