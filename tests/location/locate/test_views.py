"""/v1/geolocate and /v1/country over HTTP: Ichnaea's replayable cases and our additions."""

from __future__ import annotations

import dataclasses
import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from netatlas.app import create_app
from netatlas.clock import ManualClock
from netatlas.features import process_until_idle
from netatlas.jobs.context import Context
from netatlas.location.models import api_key
from netatlas.settings import Settings
from tests.conftest import DATA
from tests.location.locate._seed import add_cell, add_macs

CITY = DATA / "maxmind" / "GeoIP2-City-Test.mmdb"
LONDON = {"X-Forwarded-For": "81.2.69.192"}
CORS = {"access-control-allow-origin": "*", "access-control-max-age": "2592000"}


def utc_now() -> datetime:
    """Now, naive UTC as stored: read when a test seeds its stations, never at import."""
    return datetime.now(UTC).replace(tzinfo=None)


def _add_key(app: Any, name: str, **values: Any) -> None:
    row = {
        "valid_key": name,
        "allow_fallback": False,
        "allow_locate": True,
        "allow_region": True,
        "store_sample_locate": 100,
        "store_sample_submit": 100,
        **values,
    }
    with app.state.services.engine.begin() as conn:
        conn.execute(api_key.insert().values(**row))


def _make(settings: Settings, **changes: Any) -> Any:
    s = dataclasses.replace(settings, geoip_city_path=str(CITY), **changes)
    app = create_app(s, run_jobs=False)
    # The limits count per minute and per UTC day: a frozen clock keeps a test's requests in
    # one window, whenever it runs (a minute's or a day's end falls between no two of them).
    app.state.services.limiter.clock = ManualClock()  # type: ignore[attr-defined]
    _add_key(app, "test")
    return app


@pytest.fixture
def geo_app(settings: Settings) -> Iterator[Any]:
    app = _make(settings)
    yield app
    app.state.services.close()


@pytest.fixture
def api(geo_app: Any) -> Iterator[TestClient]:
    with TestClient(geo_app) as client:
        yield client


def _error(res: Any, status: int, reason: str) -> dict[str, Any]:
    assert res.status_code == status
    body: dict[str, Any] = res.json()["error"]
    assert body["code"] == status
    assert body["errors"][0]["reason"] == reason
    return body


def test_ip_only_answer_has_no_fallback_marker(api: TestClient) -> None:
    res = api.post("/v1/geolocate?key=test", json={}, headers=LONDON)
    assert res.status_code == 200
    assert res.json() == {"location": {"lat": 51.5142, "lng": -0.0931}, "accuracy": 40000.0}
    for name, value in CORS.items():
        assert res.headers[name] == value


@pytest.mark.parametrize(
    "method,body",
    [
        ("GET", None),
        ("POST", b""),
        ("POST", b'{"invalid": 0}'),
        ("POST", b'{"wifiAccessPoints": []}'),
    ],
)
def test_empty_queries_are_ip_queries(api: TestClient, method: str, body: bytes | None) -> None:
    res = api.request(method, "/v1/geolocate?key=test", content=body, headers=LONDON)
    assert res.status_code == 200
    assert res.json()["accuracy"] == 40000.0


def test_keyless_is_allowed_by_default(api: TestClient) -> None:
    res = api.post("/v1/geolocate", json={}, headers=LONDON)
    assert res.status_code == 200


@pytest.mark.parametrize("key", [None, "invalid_key", "abcdefg"])
def test_required_key(settings: Settings, key: str | None) -> None:
    app = _make(settings, require_api_key=True)
    url = "/v1/geolocate" + (f"?key={key}" if key else "")
    with TestClient(app) as client:
        body = _error(client.post(url, json={}, headers=LONDON), 400, "keyInvalid")
        assert body["message"] == "Missing or invalid API key."
        assert client.post("/v1/geolocate?key=test", json={}, headers=LONDON).status_code == 200
    app.state.services.close()


def test_not_json(api: TestClient) -> None:
    body = _error(api.post("/v1/geolocate?key=test", content=b"\xae\x00"), 400, "parseError")
    assert "decode" in body["details"]


def test_not_a_mapping(api: TestClient) -> None:
    body = _error(api.post("/v1/geolocate?key=test", content=b"[1]"), 400, "parseError")
    assert body["details"]["validation"] == {
        "": '"[1]" is not a mapping type: Does not implement dict-like functionality.'
    }


def test_truncated_and_valid_gzip(api: TestClient) -> None:
    packed = gzip.compress(b"{}")
    res = api.post(
        "/v1/geolocate?key=test",
        content=packed[:-4],
        headers={"Content-Encoding": "gzip", **LONDON},
    )
    body = _error(res, 400, "parseError")
    assert "end-of-stream" in body["details"]["decode"]
    res = api.post(
        "/v1/geolocate?key=test", content=packed, headers={"Content-Encoding": "gzip", **LONDON}
    )
    assert res.status_code == 200


def test_bad_charset(api: TestClient) -> None:
    res = api.post(
        "/v1/geolocate?key=test",
        content=b'{"carrier": "\xe9"}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    body = _error(res, 400, "parseError")
    assert "can't decode byte 0xe9" in body["details"]["decode"]


def test_ipf_off_is_not_found(api: TestClient) -> None:
    res = api.post("/v1/geolocate?key=test", json={"fallbacks": {"ipf": 0}}, headers=LONDON)
    _error(res, 404, "notFound")


def test_unknown_wifi_without_ip_is_not_found(api: TestClient) -> None:
    wifis = [{"macAddress": "00:1a:2b:3c:4d:5e"}, {"macAddress": "00:1a:2b:3c:4d:5f"}]
    res = api.post("/v1/geolocate?key=test", json={"wifiAccessPoints": wifis})
    _error(res, 404, "notFound")


def test_unknown_wifi_with_ip_is_ipf(api: TestClient) -> None:
    wifis = [{"macAddress": "00:1a:2b:3c:4d:5e"}, {"macAddress": "00:1a:2b:3c:4d:5f"}]
    res = api.post("/v1/geolocate?key=test", json={"wifiAccessPoints": wifis}, headers=LONDON)
    assert res.json()["fallback"] == "ipf"


def test_options_and_other_methods(api: TestClient) -> None:
    res = api.options("/v1/geolocate")
    assert res.status_code == 200
    assert res.headers["access-control-max-age"] == "2592000"
    for method in ("DELETE", "PATCH", "PUT"):
        assert api.request(method, "/v1/geolocate").status_code == 405


def test_daily_limit(geo_app: Any, api: TestClient) -> None:
    _add_key(geo_app, "limited", maxreq=3)
    codes = [
        api.post("/v1/geolocate?key=limited", json={}, headers=LONDON).status_code for _ in range(5)
    ]
    assert codes == [200, 200, 200, 403, 403]
    res = api.post("/v1/geolocate?key=limited", json={}, headers=LONDON)
    _error(res, 403, "dailyLimitExceeded")
    # The region API is not limited (Ichnaea compatibility).
    assert api.post("/v1/country?key=limited", json={}, headers=LONDON).status_code == 200


def test_key_not_allowed(geo_app: Any, api: TestClient) -> None:
    _add_key(geo_app, "nolocate", allow_locate=False, allow_region=False)
    _error(api.post("/v1/geolocate?key=nolocate", json={}, headers=LONDON), 400, "keyInvalid")
    _error(api.post("/v1/country?key=nolocate", json={}, headers=LONDON), 400, "keyInvalid")


def test_keyless_rate_limit(settings: Settings) -> None:
    app = _make(settings, keyless_rate_per_minute=3)
    with TestClient(app) as client:
        codes = [
            client.post("/v1/geolocate", json={}, headers=LONDON).status_code for _ in range(4)
        ]
        res = client.post("/v1/geolocate", json={}, headers=LONDON)
        # A known key is not under the per-address limit.
        keyed = client.post("/v1/geolocate?key=test", json={}, headers=LONDON).status_code
    app.state.services.close()
    assert codes == [200, 200, 200, 429]
    _error(res, 429, "rateLimitExceeded")
    assert "retry-after" in res.headers
    assert keyed == 200


def test_wifi_answer(geo_app: Any, api: TestClient) -> None:
    engine = geo_app.state.services.engine
    rows = [("101010101010", 51.5, -0.1), ("202020202020", 51.50001, -0.1)]
    rows += [("303030303030", 51.50002, -0.1), ("404040404040", None, None)]
    now = utc_now()
    # Well observed stations: one known from a few fixes would widen the circle.
    add_macs(engine, "wifi", rows, created=now, modified=now, last_seen=now.date(), samples=1000)
    wifis = [
        {"macAddress": "10:10:10:10:10:10", "channel": 11, "frequency": 2462, "ssid": "x"},
        {"macAddress": "20-20-20-20-20-20", "signalStrength": -130},
        {"macAddress": "303030303030"},
        {"macAddress": "404040404040"},
    ]
    res = api.post("/v1/geolocate?key=test", json={"wifiAccessPoints": wifis}, headers=LONDON)
    assert res.status_code == 200
    body = res.json()
    assert body["location"]["lat"] == pytest.approx(51.50001, abs=2e-5)
    assert body["location"]["lng"] == pytest.approx(-0.1, abs=1e-6)
    assert 10.0 <= body["accuracy"] <= 50.0
    assert "fallback" not in body


def test_single_wifi_is_never_answered(geo_app: Any, api: TestClient) -> None:
    engine = geo_app.state.services.engine
    now = utc_now()
    add_macs(engine, "wifi", [("101010101010", 51.5, -0.1)], created=now, modified=now)
    wifis = [{"macAddress": "101010101010"}, {"macAddress": "999999999999"}]
    res = api.post("/v1/geolocate?key=test", json={"wifiAccessPoints": wifis})
    _error(res, 404, "notFound")


def test_cell_and_area(geo_app: Any, api: TestClient) -> None:
    engine = geo_app.state.services.engine
    now = utc_now()
    add_cell(engine, "lte", 234, 30, 1234, 5678, 51.6, -0.2, created=now, modified=now)
    cell = {"mobileCountryCode": 234, "mobileNetworkCode": 30, "locationAreaCode": 1234}
    res = api.post(
        "/v1/geolocate?key=test",
        json={"radioType": "lte", "cellTowers": [{**cell, "cellId": 5678, "signalStrength": -70}]},
    )
    assert res.status_code == 200
    assert res.json()["location"] == {"lat": 51.6, "lng": -0.2}
    assert res.json()["accuracy"] == 1000.0
    # microG-style: string codes and "umts" are accepted, not a 400.
    res = api.post(
        "/v1/geolocate?key=test",
        json={"cellTowers": [{**cell, "radioType": "umts", "mobileCountryCode": "234"}]},
    )
    assert res.status_code in (200, 404)


def test_country_cases(geo_app: Any, api: TestClient) -> None:
    res = api.post("/v1/country?key=test", json={}, headers=LONDON)
    assert res.json() == {"country_code": "GB", "country_name": "United Kingdom"}
    res = api.post("/v1/country?key=test", json={}, headers={"X-Forwarded-For": "127.0.0.1"})
    _error(res, 404, "notFound")
    cell = {"radioType": "lte", "mobileNetworkCode": 1, "locationAreaCode": 1, "cellId": 1}
    us = api.post(
        "/v1/country?key=test",
        json={"cellTowers": [{**cell, "mobileCountryCode": 310}]},
        headers=LONDON,
    )
    assert us.status_code == 200
    # A German cell names its country even from a UK address.
    de = api.post("/v1/country?key=test", json={"cellTowers": [{**cell, "mobileCountryCode": 262}]})
    assert de.json() == {"country_code": "DE", "country_name": "Germany"}


def test_untrusted_forwarded_for_is_ignored(settings: Settings) -> None:
    app = _make(settings, trusted_proxies=("10.0.0.1",))
    with TestClient(app, client=("203.0.113.9", 5000)) as client:
        res = client.post("/v1/geolocate?key=test", json={}, headers=LONDON)
    app.state.services.close()
    _error(res, 404, "notFound")


def test_ipv6_client(api: TestClient) -> None:
    res = api.post("/v1/country?key=test", json={}, headers={"X-Forwarded-For": "2a02:d280::1"})
    assert res.json()["country_code"] == "CZ"


def test_learning_needs_opt_in_and_internal_answer(
    geo_app: Any, api: TestClient, settings: Settings
) -> None:
    engine = geo_app.state.services.engine
    rows = [("101010101010", 51.5, -0.1), ("202020202020", 51.5001, -0.1)]
    now = utc_now()
    add_macs(engine, "wifi", rows, created=now, modified=now, last_seen=now.date())
    wifis = [{"macAddress": m} for m in ("101010101010", "202020202020", "303030303030")]
    queue = geo_app.state.services.queue
    # Keyless without the opt-in header: not learnt.
    assert api.post("/v1/geolocate", json={"wifiAccessPoints": wifis}).status_code == 200
    assert queue.size("incoming") == 0
    # GeoIP answers are never learnt, even with the header.
    unknown = [{"macAddress": "505050505050"}, {"macAddress": "606060606060"}]
    headers = {"X-Ichnaea-Contribute-Opt-In": "1", **LONDON}
    res = api.post("/v1/geolocate", json={"wifiAccessPoints": unknown}, headers=headers)
    assert res.json()["fallback"] == "ipf"
    assert queue.size("incoming") == 0
    res = api.post("/v1/geolocate", json={"wifiAccessPoints": wifis}, headers=headers)
    assert res.status_code == 200
    assert queue.size("incoming") == 1
    ctx = Context(geo_app.state.services.settings, engine, queue)
    process_until_idle(ctx)
    # The unknown neighbour was learnt from the query as a "query"-sourced station.
    from sqlalchemy import select

    from netatlas.location.models import SOURCE_CODE, wifi_shards

    table = wifi_shards["3"]
    with engine.connect() as conn:
        row = conn.execute(select(table.c.source, table.c.lat)).first()
    assert row is not None and row.source == SOURCE_CODE["query"]


def test_garbage_never_500(api: TestClient) -> None:
    bodies: list[Any] = [
        {"wifiAccessPoints": "x"},
        {"wifiAccessPoints": [1, None, {"macAddress": []}]},
        {"cellTowers": [{"radioType": "cdma", "cellId": "x"}], "considerIp": "maybe"},
        {"fallbacks": []},
        {"bluetoothBeacons": [{"macAddress": "zz"}] * 3},
        json.loads('{"radioType": null, "cellTowers": null}'),
    ]
    for body in bodies:
        res = api.post("/v1/geolocate?key=test", json=body, headers=LONDON)
        assert res.status_code in (200, 400, 404), (body, res.text)
        res = api.post("/v1/country?key=test", json=body, headers=LONDON)
        assert res.status_code in (200, 400, 404), (body, res.text)


def _seed_town(engine: Any) -> None:
    rows = [("0012ab000001", 51.5, -0.1), ("0012ab000002", 51.50005, -0.1)]
    rows += [("0012ab000003", 51.5, -0.10007)]
    now = utc_now()
    add_macs(engine, "wifi", rows, created=now, modified=now, last_seen=now.date())
    add_cell(engine, "lte", 234, 30, 12, 99, 51.5, -0.1, created=now, modified=now)
    add_cell(engine, "gsm", 234, 30, 12, 4711, 51.5, -0.1, created=now, modified=now)


def _near(res: Any, max_m: float = 200.0) -> None:
    assert res.status_code == 200, res.text
    loc = res.json()["location"]
    assert abs(loc["lat"] - 51.5) * 111_000 < max_m
    assert abs(loc["lng"] + 0.1) * 69_000 < max_m


def test_real_client_shapes(geo_app: Any, api: TestClient) -> None:
    _seed_town(geo_app.state.services.engine)
    # GeoClue: top-level "gsm" even for LTE, colon MACs with a signal only, no considerIp.
    geoclue = {
        "radioType": "gsm",
        "cellTowers": [
            {
                "cellId": 99,
                "mobileCountryCode": 234,
                "mobileNetworkCode": 30,
                "locationAreaCode": 12,
                "radioType": "lte",
            }
        ],
        "wifiAccessPoints": [
            {"macAddress": "00:12:ab:00:00:01", "signalStrength": -50},
            {"macAddress": "00:12:ab:00:00:02", "signalStrength": -60},
        ],
    }
    _near(api.post("/v1/geolocate?key=geoclue", json=geoclue), 50)
    # microG (modern): WiFi only, no IP, no fallbacks.
    microg = {
        "considerIp": False,
        "wifiAccessPoints": [
            {"macAddress": "00:12:ab:00:00:01", "signalStrength": -55, "frequency": 2437},
            {"macAddress": "00:12:ab:00:00:03", "signalStrength": -65, "frequency": 5180},
        ],
        "fallbacks": {"lacf": False, "ipf": False},
    }
    _near(api.post("/v1/geolocate", json=microg, headers=LONDON), 50)
    # microG (legacy UnifiedNlp): no Content-Type set by Java, a null top-level radio type.
    legacy = (
        '{"radioType": null, "cellTowers": [{"radioType": "gsm", "mobileCountryCode": 234,'
        ' "mobileNetworkCode": 30, "locationAreaCode": 12, "cellId": 4711, "asu": 15}],'
        ' "fallbacks": {"lacf": true, "ipf": false}}'
    )
    res = api.post(
        "/v1/geolocate",
        content=legacy,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    _near(res, 2000)
    # Firefox: dash-separated MACs, signal only; with no WiFi, an empty JSON body.
    firefox = {
        "wifiAccessPoints": [
            {"macAddress": "00-12-ab-00-00-02", "signalStrength": -48},
            {"macAddress": "00-12-ab-00-00-01", "signalStrength": -70},
        ]
    }
    _near(api.post("/v1/geolocate?key=", json=firefox), 50)
    res = api.post(
        "/v1/geolocate", content=b"", headers={"Content-Type": "application/json", **LONDON}
    )
    assert res.json()["accuracy"] == 40000.0
    # NeoStumbler's own map: short cell field names, BLE, considerIp.
    neo = {
        "considerIp": True,
        "cellTowers": [
            {"radioType": "lte", "mcc": 234, "mnc": 30, "lac": 12, "cellId": 99, "age": 10}
        ],
        "bluetoothBeacons": [],
        "wifiAccessPoints": [
            {"macAddress": "0012ab000001", "signalStrength": -51},
            {"macAddress": "0012ab000002", "signalStrength": -52},
        ],
    }
    _near(api.post("/v1/geolocate", json=neo, headers=LONDON), 50)
