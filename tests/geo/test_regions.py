from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import pytest
import shapely

from netatlas.geo.mcc import is_valid_mcc, regions_for_mcc, valid_mccs
from netatlas.geo.regions import (
    BUFFER_DEGREES,
    Regions,
    genc_code,
    get_regions,
    region_name,
)

DATA_DIR = Path(__file__).resolve().parents[2] / "src" / "netatlas" / "geo" / "data"

LONDON = (51.5, -0.1)
BERLIN = (52.52, 13.405)
PRISTINA = (42.66, 21.16)
MID_ATLANTIC = (30.0, -40.0)
# South-west of Land's End, in the sea, about 0.2 degrees from the Cornish coast.
OFF_CORNWALL = (49.95, -5.9)


@pytest.fixture(scope="module")
def regions() -> Regions:
    return get_regions()


def test_get_regions_is_cached(regions: Regions) -> None:
    assert get_regions() is regions
    assert len(regions) > 240
    assert "GB" in regions and "XK" in regions and "ZZ" not in regions


@pytest.mark.parametrize(
    ("lat", "lon", "code"),
    [
        (*LONDON, "GB"),
        (*BERLIN, "DE"),
        (*PRISTINA, "XK"),
        (48.8566, 2.3522, "FR"),  # Paris
        (40.4168, -3.7038, "ES"),  # Madrid
        (36.14, -5.35, "GI"),  # Gibraltar, added from the 1:10m data
        (60.17, 24.94, "FI"),  # Helsinki
        (60.10, 19.94, "AX"),  # Mariehamn
        (59.91, 10.75, "NO"),  # Oslo
        (78.22, 15.65, "SJ"),  # Longyearbyen, split out of Norway
        (4.93, -52.33, "GF"),  # Cayenne, split out of France
        (-21.11, 55.53, "RE"),  # Réunion
        (35.17, 33.36, "CY"),  # Nicosia
        (35.34, 33.32, "CY"),  # Kyrenia, Natural Earth's "N. Cyprus" merged into CY
        (9.56, 44.06, "SO"),  # Hargeisa, Natural Earth's "Somaliland" merged into SO
        (31.5, 34.45, "PS"),  # Gaza
        (40.71, -74.0, "US"),  # New York
        (21.31, -157.86, "US"),  # Honolulu
        (18.47, -66.11, "PR"),  # San Juan
        (55.75, 37.62, "RU"),  # Moscow
        (64.73, 177.5, "RU"),  # Anadyr, east of the antimeridian cut
        (-18.14, 178.44, "FJ"),  # Suva
        (-16.8, -179.95, "FJ"),  # Fiji, west of the antimeridian
        (-8.52, 179.2, "TV"),  # Funafuti
        (-10.49, 105.63, "CX"),  # Christmas Island
        (-12.17, 96.83, "CC"),  # Cocos (Keeling) Islands
        (-33.87, 151.21, "AU"),  # Sydney
        (-85.0, 0.0, "AQ"),
    ],
)
def test_region_for_known_places(regions: Regions, lat: float, lon: float, code: str) -> None:
    assert regions.region_for(lat, lon) == code
    assert regions.in_region(lat, lon, code)
    assert regions.in_any_region(lat, lon)


def test_point_off_the_cornish_coast_belongs_to_gb_by_the_buffer(regions: Regions) -> None:
    lat, lon = OFF_CORNWALL
    gb = regions.shape("GB")
    assert not gb.contains(shapely.Point(lon, lat))  # really in the sea
    assert 0.1 < gb.distance(shapely.Point(lon, lat)) < BUFFER_DEGREES
    assert regions.region_for(lat, lon) == "GB"
    assert regions.in_region(lat, lon, "GB")
    assert regions.in_any_region(lat, lon)


@pytest.mark.parametrize(
    ("lat", "lon"),
    [MID_ATLANTIC, (0.0, 0.0), (48.3, -7.0), (36.4173, 18.728), (-60.0, 11.0), (-40.0, -120.0)],
)
def test_open_sea_has_no_region(regions: Regions, lat: float, lon: float) -> None:
    assert regions.region_for(lat, lon) is None
    assert not regions.in_any_region(lat, lon)
    assert not regions.in_region(lat, lon, "GB")


def test_in_region(regions: Regions) -> None:
    assert regions.in_region(*LONDON, "GB")
    assert regions.in_region(*LONDON, "gb")
    assert not regions.in_region(*LONDON, "FR")
    assert not regions.in_region(*BERLIN, "GB")
    # Strasbourg is French, but within the buffer of Germany too.
    assert regions.region_for(48.58, 7.75) == "FR"
    assert regions.in_region(48.58, 7.75, "FR")
    assert regions.in_region(48.58, 7.75, "DE")
    assert regions.in_region(*PRISTINA, "XK")
    assert regions.in_region(31.5, 34.45, "XW")  # GENC alias of PS
    assert not regions.in_region(*LONDON, "ZZ")
    assert not regions.in_region(*MID_ATLANTIC, "US")


def test_buffer_wraps_across_the_antimeridian(regions: Regions) -> None:
    # Taveuni (Fiji) lies at about 179.9 E; 0.2 degrees further east is -179.9.
    assert regions.in_region(-16.85, -179.85, "FJ")
    assert regions.region_for(-16.85, -179.85) == "FJ"


def _random_points(n: int, seed: int) -> tuple[list[float], list[float]]:
    rnd = random.Random(seed)
    lats: list[float] = []
    lons: list[float] = []
    for _ in range(n):
        if rnd.random() < 0.5:  # uniform over the sphere
            lats.append(math.degrees(math.asin(rnd.uniform(-1.0, 1.0))))
            lons.append(rnd.uniform(-180.0, 180.0))
        else:  # crowded, coastal Europe and the Mediterranean
            lats.append(rnd.uniform(34.0, 62.0))
            lons.append(rnd.uniform(-12.0, 32.0))
    return lats, lons


def test_vectorised_agrees_with_scalar(regions: Regions) -> None:
    lats, lons = _random_points(400, seed=20240601)
    lats.append(OFF_CORNWALL[0])
    lons.append(OFF_CORNWALL[1])
    many = regions.regions_for(lats, lons)
    anywhere = regions.in_any_regions(lats, lons)
    assert len(many) == len(anywhere) == len(lats)
    for lat, lon, code, inside in zip(lats, lons, many, anywhere, strict=True):
        assert regions.region_for(lat, lon) == code
        assert regions.in_any_region(lat, lon) is inside
        # A point gets a region exactly when it is inside some buffered region.
        assert (code is not None) is inside
        if code is not None:
            assert regions.in_region(lat, lon, code)
    found = [c for c in many if c is not None]
    assert len(found) > 100
    assert len(set(found)) > 10
    assert many.count(None) > 50


def test_regions_for_accepts_arrays_and_odd_input(regions: Regions) -> None:
    assert regions.regions_for([], []) == []
    assert regions.regions_for(np.array([LONDON[0]]), np.array([LONDON[1]])) == ["GB"]
    assert regions.regions_for([math.nan, LONDON[0]], [0.0, LONDON[1]]) == [None, "GB"]
    assert regions.region_for(95.0, 0.0) is None
    with pytest.raises(ValueError):
        regions.regions_for([1.0, 2.0], [1.0])


def test_max_radius(regions: Regions) -> None:
    assert 500_000 < regions.max_radius("GB") < 1_000_000
    assert 300_000 < regions.max_radius("DE") < 600_000
    assert 50_000 < regions.max_radius("XK") < 150_000
    assert regions.max_radius("VA") <= 2_000
    # Measured across the antimeridian, not round the world.
    assert 3_000_000 < regions.max_radius("RU") < 6_000_000
    assert regions.max_radius("FJ") < 1_000_000
    assert regions.max_radius("XW") == regions.max_radius("PS")
    with pytest.raises(KeyError):
        regions.max_radius("ZZ")


def test_shapes(regions: Regions) -> None:
    for code in ("GB", "RU", "AQ", "XK"):
        exact, buf = regions.shape(code), regions.buffered_shape(code)
        assert exact.is_valid and buf.is_valid
        assert buf.contains(exact.representative_point())
        assert buf.area > exact.area
        assert buf.bounds[0] >= -180.0
        assert buf.bounds[2] <= 180.0


def test_load_from_directory() -> None:
    loaded = Regions.load(DATA_DIR)
    assert loaded.codes == get_regions().codes
    assert loaded.region_for(*BERLIN) == "DE"


def test_data_files_are_compact() -> None:
    total = sum(p.stat().st_size for p in DATA_DIR.iterdir() if p.is_file())
    assert total < 3 * 1024 * 1024


def test_genc_code() -> None:
    assert genc_code("AX") == "FI"
    assert genc_code("PS") == "XW"
    assert genc_code("SJ") == "XR"
    assert genc_code("UM") == "US"
    assert genc_code("GB") == "GB"
    assert genc_code("ps") == "XW"
    assert genc_code("XK") == "XK"


def test_region_name(regions: Regions) -> None:
    assert region_name("GB") == "United Kingdom"
    assert region_name("DE") == "Germany"
    assert region_name("XK") == "Kosovo"
    assert region_name("de") == "Germany"
    assert region_name(genc_code("PS"))
    assert region_name(genc_code("SJ"))
    for code in regions.codes:
        assert region_name(code)
    with pytest.raises(KeyError):
        region_name("ZZ")


def test_regions_for_mcc(regions: Regions) -> None:
    assert "GB" in regions_for_mcc(234)
    assert set(regions_for_mcc(234)) == {"GB", "GG", "IM", "JE"}
    assert regions_for_mcc(262) == ("DE",)
    assert "US" in regions_for_mcc(310)
    assert {"PR", "GU", "VI"} <= set(regions_for_mcc(310))
    assert regions_for_mcc(221) == ("XK",)
    assert regions_for_mcc(0) == ()
    # Every listed region has a polygon, so in_region() can check a cell's position.
    for mcc in valid_mccs():
        assert regions_for_mcc(mcc)
        assert all(code in regions for code in regions_for_mcc(mcc))


def test_is_valid_mcc() -> None:
    assert is_valid_mcc(234)
    assert is_valid_mcc(262)
    assert is_valid_mcc(310)
    assert not is_valid_mcc(0)
    assert not is_valid_mcc(999)
    assert not is_valid_mcc(1)  # test networks
    assert not is_valid_mcc(901)  # international, no region
    assert not is_valid_mcc(-5)
    assert not is_valid_mcc(1000)
