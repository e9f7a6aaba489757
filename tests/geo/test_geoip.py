from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import maxminddb
import pytest

from netatlas.geo.geoip import (
    CITY_RADIUS,
    COUNTRY_SCORE,
    REGION_RADIUS,
    SUBDIVISION_RADIUS,
    MaxMindGeoIP,
    NoGeoIP,
    geoip_from_settings,
    lookup_address,
    result_from_record,
)
from netatlas.geo.regions import get_regions, region_name
from netatlas.settings import Settings
from tests.conftest import DATA

MAXMIND = DATA / "maxmind"
CITY_DB = MAXMIND / "GeoIP2-City-Test.mmdb"
BROKEN_DB = MAXMIND / "GeoIP2-City-Test-Broken-Double-Format.mmdb"


@pytest.fixture(scope="module")
def geoip() -> Iterator[MaxMindGeoIP]:
    db = MaxMindGeoIP(str(CITY_DB))
    yield db
    db.close()


def test_london_city_radius(geoip: MaxMindGeoIP) -> None:
    # MaxMind says 100 km; London's city radius (40 km) is the tighter cap.
    result = geoip.lookup("81.2.69.192")
    assert result is not None
    assert (result.lat, result.lon) == (51.5142, -0.0931)
    assert result.accuracy == 40000.0
    assert result.score == 0.8
    assert (result.region, result.region_name, result.city) == ("GB", "United Kingdom", True)
    assert result.region_radius == get_regions().max_radius("GB")
    assert result.source == "geoip" and result.fallback is None


def test_london_maxmind_radius(geoip: MaxMindGeoIP) -> None:
    # Here MaxMind's own accuracy_radius (3 km) is the tighter cap.
    result = geoip.lookup("81.2.69.144")
    assert result is not None
    assert result.accuracy == 3000.0
    assert result.region == "GB"


def test_country_only(geoip: MaxMindGeoIP) -> None:
    result = geoip.lookup("67.43.156.1")
    assert result is not None
    assert (result.lat, result.lon) == (27.5, 90.5)
    assert (result.region, result.region_name, result.city) == ("BT", "Bhutan", False)
    assert result.score == COUNTRY_SCORE == 0.9
    # Bhutan is smaller than MaxMind's 534 km: the region radius wins.
    assert result.accuracy == get_regions().max_radius("BT") < 534_000


def test_city_without_table_entry(geoip: MaxMindGeoIP) -> None:
    # Boxford, GB: not a big city, so the default 25 km city radius applies.
    result = geoip.lookup("2.125.160.216")
    assert result is not None
    assert result.accuracy == CITY_RADIUS == 25_000


@pytest.mark.parametrize(
    ("ip", "region"),
    [("2001:218::1", "JP"), ("2a02:d280::1", "CZ"), ("::ffff:81.2.69.192", "GB")],
)
def test_ipv6(geoip: MaxMindGeoIP, ip: str, region: str) -> None:
    result = geoip.lookup(ip)
    assert result is not None
    assert result.region == region
    assert result.city is (region == "GB")


@pytest.mark.parametrize(
    "ip",
    [
        "127.0.0.1",
        "::1",
        "10.1.2.3",
        "192.168.0.1",
        "172.16.5.4",
        "100.64.0.1",
        "169.254.1.1",
        "fe80::1",
        "fe80::1%eth0",
        "fc00::1",
        "224.0.0.1",
        "ff02::1",
        "0.0.0.0",
        "::",
        "255.255.255.255",
        "192.0.2.1",
        "2001:db8::1",
        "::ffff:127.0.0.1",
        "",
        "not an ip",
        "999.1.1.1",
        "81.2.69.192/24",
        "1.2.3.4",  # public but not in the test database
    ],
)
def test_no_answer(geoip: MaxMindGeoIP, ip: str) -> None:
    assert geoip.lookup(ip) is None


def test_lookup_address() -> None:
    assert lookup_address(" 81.2.69.192 ") == "81.2.69.192"
    assert lookup_address("::ffff:81.2.69.192") == "81.2.69.192"
    assert lookup_address("2001:218::1") == "2001:218::1"
    assert lookup_address("10.0.0.1") is None


def test_heartbeat_up(geoip: MaxMindGeoIP) -> None:
    beat = geoip.heartbeat()
    assert beat["up"] is True
    assert isinstance(beat["time"], int) and beat["time"] >= 0
    assert isinstance(beat["age_in_days"], int) and beat["age_in_days"] >= 0
    assert beat["version"].startswith("20") and beat["version"].endswith("+00:00")


def test_heartbeat_age_from_build_epoch() -> None:
    db = MaxMindGeoIP(str(CITY_DB), clock=lambda: 0.0)
    epoch = db._build_epoch
    db.close()
    db = MaxMindGeoIP(str(CITY_DB), clock=lambda: epoch + 10 * 86400 + 5)
    assert db.heartbeat()["age_in_days"] == 10
    db.close()
    assert db.heartbeat() == {"up": False, "time": 0, "age_in_days": -1, "version": None}
    assert db.lookup("81.2.69.192") is None


def test_broken_database_is_down() -> None:
    db = MaxMindGeoIP(str(BROKEN_DB))
    assert not db.up and db.error
    assert db.heartbeat() == {"up": False, "time": 0, "age_in_days": -1, "version": None}
    assert db.lookup("81.2.69.192") is None


def test_broken_data_found_at_lookup_time(tmp_path: Path) -> None:
    # Opened while good, replaced underneath by a corrupt file: look-ups answer None.
    path = tmp_path / "city.mmdb"
    shutil.copy(CITY_DB, path)
    db = MaxMindGeoIP(str(path))
    assert db.up
    db._reader.close()
    db._reader = maxminddb.open_database(str(BROKEN_DB))
    assert db.lookup("81.2.69.192") is None
    assert db.heartbeat()["up"] is False
    db.close()


@pytest.mark.parametrize("name", ["missing.mmdb", "empty.mmdb", "text.mmdb"])
def test_unusable_file_is_down(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    if name == "empty.mmdb":
        path.write_bytes(b"")
    elif name == "text.mmdb":
        path.write_text("not a database\n" * 100)
    db = MaxMindGeoIP(str(path))
    assert db.heartbeat()["up"] is False
    assert db.heartbeat()["age_in_days"] == -1
    assert db.lookup("81.2.69.192") is None


def test_from_settings(tmp_path: Path) -> None:
    none = geoip_from_settings(Settings(data_dir=tmp_path))
    assert isinstance(none, NoGeoIP)
    assert none.lookup("81.2.69.192") is None
    assert none.heartbeat()["up"] is False
    db = geoip_from_settings(Settings(data_dir=tmp_path, geoip_city_path=str(CITY_DB)))
    assert isinstance(db, MaxMindGeoIP)
    assert db.lookup("81.2.69.192") is not None
    db.close()


# ----------------------------------------------------------------- record → result rules


def _record(
    iso: str = "US",
    accuracy: int | None = None,
    city: str | None = None,
    subdivisions: bool = False,
    lat: float = 40.0,
    lon: float = -100.0,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "location": {"latitude": lat, "longitude": lon},
        "country": {"iso_code": iso, "names": {"en": f"Country {iso}"}},
    }
    if accuracy is not None:
        record["location"]["accuracy_radius"] = accuracy
    if city is not None:
        record["city"] = {"geoname_id": 1, "names": {"en": city}}
    if subdivisions:
        record["subdivisions"] = [{"iso_code": "XX"}]
    return record


def radius_of(code: str) -> float | None:
    return {"US": 5_000_000.0, "GB": 700_000.0, "FI": 600_000.0, "XW": 120_000.0}.get(code)


def test_rules_region_then_accuracy_radius() -> None:
    result = result_from_record(_record(), radius_of)
    assert result is not None
    assert result.accuracy == 5_000_000.0 and result.score == 0.9 and not result.city
    result = result_from_record(_record(accuracy=1000), radius_of)
    assert result is not None and result.accuracy == 1_000_000.0


def test_rules_subdivision_caps() -> None:
    us = result_from_record(_record(subdivisions=True), radius_of)
    assert us is not None and us.accuracy == 1_200_000.0  # US: large states
    gb = result_from_record(_record("GB", subdivisions=True), radius_of)
    assert gb is not None and gb.accuracy == SUBDIVISION_RADIUS


def test_rules_city_caps_and_scores() -> None:
    ny = result_from_record(_record(city="New York", subdivisions=True), radius_of)
    assert ny is not None and ny.accuracy == 45_000.0 and ny.score == 0.8 and ny.city
    small = result_from_record(_record(city="Smallville"), radius_of)
    assert small is not None and small.accuracy == CITY_RADIUS
    # London, Ontario is not London, England.
    ontario = result_from_record(_record("CA", city="London"), radius_of)
    assert ontario is not None and ontario.accuracy == CITY_RADIUS and ontario.score == 0.7
    # A country without a city score gets the default.
    other = result_from_record(_record("BT", city="Thimphu"), radius_of)
    assert other is not None and other.score == 0.3
    # MaxMind's accuracy still wins when tighter than the city.
    tight = result_from_record(_record(city="New York", accuracy=5), radius_of)
    assert tight is not None and tight.accuracy == 5000.0


def test_rules_genc_codes_and_unknown_regions() -> None:
    aland = result_from_record(_record("AX"), radius_of)
    assert aland is not None and aland.region == "FI" and aland.accuracy == 600_000.0
    palestine = result_from_record(_record("PS"), radius_of)
    assert palestine is not None and palestine.region == "XW"
    assert palestine.region_name == region_name("XW")
    unknown = result_from_record(_record("ZZ"), radius_of)
    assert unknown is not None and unknown.accuracy == REGION_RADIUS
    assert unknown.region_name == "Country ZZ"  # not in the name table: MaxMind's name


@pytest.mark.parametrize(
    "record",
    [
        {},
        {"location": {"latitude": 1.0, "longitude": 2.0}},
        {"country": {"iso_code": "GB"}},
        {"location": {"latitude": 1.0}, "country": {"iso_code": "GB"}},
        {"location": {"latitude": "1", "longitude": 2.0}, "country": {"iso_code": "GB"}},
        {"location": {"latitude": 91.0, "longitude": 2.0}, "country": {"iso_code": "GB"}},
        {"location": {"latitude": 1.0, "longitude": 2.0}, "country": {"iso_code": None}},
        {"location": [], "country": {"iso_code": "GB"}},
    ],
)
def test_rules_incomplete_records(record: dict[str, Any]) -> None:
    assert result_from_record(record, radius_of) is None
