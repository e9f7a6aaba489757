"""Hostile and malformed input on the MLS paths: every answer is the error envelope or a normal
answer, never a 500."""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import json
import threading
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from netatlas.app import create_app
from netatlas.http.body import INLINE_BYTES
from netatlas.location.locate import views as locate_views
from netatlas.location.models import api_key
from netatlas.location.submit import intake
from netatlas.settings import Settings
from tests.location.locate._seed import add_area, add_macs

PATHS = ["/v1/geolocate", "/v1/country", "/v2/geosubmit", "/v1/geosubmit", "/v1/submit"]
SUBMIT_PATHS = ["/v2/geosubmit", "/v1/geosubmit", "/v1/submit"]
WIFIS = [
    {"macAddress": "00:1a:2b:3c:4d:5e", "signalStrength": -60},
    {"macAddress": "00:1a:2b:3c:4d:5f", "signalStrength": -70},
]


def _body(path: str) -> dict[str, Any]:
    """A small valid body for ``path``."""
    if path in ("/v1/geolocate", "/v1/country"):
        return {"wifiAccessPoints": WIFIS}
    if path == "/v2/geosubmit":
        return {
            "items": [
                {"position": {"latitude": 51.5, "longitude": -0.1}, "wifiAccessPoints": WIFIS}
            ]
        }
    if path == "/v1/geosubmit":
        return {"items": [{"latitude": 51.5, "longitude": -0.1, "wifiAccessPoints": WIFIS}]}
    return {
        "items": [{"lat": 51.5, "lon": -0.1, "wifi": [{"key": w["macAddress"]} for w in WIFIS]}]
    }


def _error(res: Any, status: int, reason: str) -> dict[str, Any]:
    assert res.status_code == status, res.text
    assert res.headers["content-type"] == "application/json"
    body: dict[str, Any] = res.json()["error"]
    assert body["code"] == status
    assert body["errors"][0]["reason"] == reason
    assert body["errors"][0]["message"] == body["message"]
    return body


def _ok(res: Any, path: str) -> None:
    """A normal answer: queued, or located / not found."""
    if path in SUBMIT_PATHS:
        assert res.status_code in (200, 204), res.text
    else:
        assert res.status_code in (200, 404), res.text
        if res.status_code == 404:
            _error(res, 404, "notFound")


# ----------------------------------------------------------------------------- charsets


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("charset", ["punycode", "idna", "utf-7", "undefined", "cp1252"])
def test_codecs_other_than_json_charsets_are_a_400(client: Any, path: str, charset: str) -> None:
    for raw in (
        json.dumps(_body(path)).encode(),
        b"xn--" + b"a" * 50 + b"-\xff",  # invalid punycode / idna: was an uncaught UnicodeError
        b"{}" + b"\x80" * 10,
    ):
        for encoding in (None, "gzip"):
            data = gzip.compress(raw) if encoding else raw
            headers = {"Content-Type": f"application/json; charset={charset}"}
            if encoding:
                headers["Content-Encoding"] = encoding
            res = client.post(path, content=data, headers=headers)
            body = _error(res, 400, "parseError")
            assert body["details"]["decode"].startswith("unsupported charset: ")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("charset", ["UTF-16", "utf-16le", "UTF-32BE", "latin1", "us-ascii"])
def test_json_charsets_are_decoded(client: Any, path: str, charset: str) -> None:
    codec = {"utf-16le": "utf-16-le", "UTF-32BE": "utf-32-be", "us-ascii": "ascii"}
    data = json.dumps(_body(path)).encode(codec.get(charset, charset))
    res = client.post(
        path, content=data, headers={"Content-Type": f"text/plain; charset={charset}"}
    )
    _ok(res, path)


@pytest.mark.parametrize("path", PATHS)
def test_bytes_invalid_in_their_charset_are_a_400(client: Any, path: str) -> None:
    for data, charset in ((b'{"a": "\xe9"}', "utf-8"), (b"{\x00}", "utf-16"), (b"{}\x80", "ascii")):
        res = client.post(
            path, content=data, headers={"Content-Type": f"application/json; charset={charset}"}
        )
        assert "decode" in _error(res, 400, "parseError")["details"]


# ----------------------------------------------------------------- networks in one query

KNOWN = ["a0b1c2d3e4f0", "a0b1c2d3e4f1", "a0b1c2d3e4f2"]


def _huge_query(n: int) -> dict[str, Any]:
    """``n`` WiFi networks (the three known ones strongest) and ``n`` LTE cells with distinct
    LACs, half with a cell id and half without (area-only)."""
    wifis = [{"macAddress": mac, "signalStrength": -45} for mac in KNOWN]
    wifis += [{"macAddress": f"00{i:010x}", "signalStrength": -90} for i in range(n - 3)]
    cells: list[dict[str, Any]] = [
        {"radioType": "lte", "mobileCountryCode": 234, "mobileNetworkCode": 30,
         "locationAreaCode": lac, "signalStrength": -100 - lac % 20}
        | ({"cellId": 1000 + lac} if lac % 2 else {})
        for lac in range(1, n + 1)
    ]  # fmt: skip
    return {"wifiAccessPoints": wifis, "cellTowers": cells}


def test_tens_of_thousands_of_networks_are_answered(client: Any, app: Any) -> None:
    # 20,000 distinct LACs once overflowed SQLite's bound-variable limit (a 500); now only the
    # strongest networks of each kind are considered and the answer comes from the known ones.
    engine = app.state.services.engine
    now = datetime.now(UTC).replace(tzinfo=None)
    add_macs(
        engine,
        "wifi",
        [(mac, 51.5 + i * 1e-4, -0.1) for i, mac in enumerate(KNOWN)],
        created=now,
        modified=now,
        last_seen=now.date(),
    )
    body = gzip.compress(json.dumps(_huge_query(20_000)).encode())
    headers = {"Content-Encoding": "gzip"}
    res = client.post("/v1/geolocate", content=body, headers=headers)
    assert res.status_code == 200, res.text
    assert res.json()["location"]["lat"] == pytest.approx(51.5001, abs=1e-3)
    assert "fallback" not in res.json()
    res = client.post("/v1/country", content=body, headers=headers)
    assert res.status_code == 200, res.text
    assert res.json()["country_code"] == "GB"


def test_more_areas_than_any_bound_variable_limit(client: Any, app: Any) -> None:
    # 140,000 distinct 5G tracking areas: more keys than one statement may bind on SQLite (up to
    # 250,000 variables as Debian builds it, 32,766 by default) or PostgreSQL (65,535).
    engine = app.state.services.engine
    add_area(engine, "nr", 234, 30, 20, 51.5, -0.1)
    cells = [
        {"radioType": "nr", "mobileCountryCode": 234, "mobileNetworkCode": 30,
         "locationAreaCode": tac, "signalStrength": -50 if tac == 20 else -120}
        for tac in range(1, 140_001)
    ]  # fmt: skip
    body = gzip.compress(json.dumps({"cellTowers": cells}).encode())
    headers = {"Content-Encoding": "gzip"}
    res = client.post("/v1/geolocate", content=body, headers=headers)
    assert res.status_code == 200, res.text
    assert res.json()["fallback"] == "lacf"
    assert res.json()["location"]["lat"] == pytest.approx(51.5, abs=1e-3)
    res = client.post("/v1/country", content=body, headers=headers)
    assert res.status_code == 200, res.text
    assert res.json()["country_code"] == "GB"


# ----------------------------------------------------------------- submit rate per address


def _reports(n: int, wifis: int = 20, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` stumbler-like reports (``wifis`` access points and a cell each, ~2 KB of JSON)."""
    return [
        {
            "timestamp": 1_700_000_000_000 + i * 1000,
            "position": {"latitude": 51.5 + i * 1e-5, "longitude": -0.1, "accuracy": 8.5,
                         "altitude": 40.1, "speed": 1.4, "heading": 90.0, "source": "gps"},
            "wifiAccessPoints": [
                {"macAddress": f"{seed:02x}{i:06x}{j:04x}", "signalStrength": -60 - j,
                 "frequency": 2437, "ssid": "somewhere"}
                for j in range(wifis)
            ],
            "cellTowers": [{"radioType": "lte", "mobileCountryCode": 234, "mobileNetworkCode": 30,
                            "locationAreaCode": 1234, "cellId": 5678 + i, "signalStrength": -90}],
        }
        for i in range(n)
    ]  # fmt: skip


def _limited(settings: Settings, per_minute: int, burst: int) -> Any:
    s = dataclasses.replace(settings, submit_bytes_per_minute=per_minute, submit_burst_bytes=burst)
    app = create_app(s, run_jobs=False)
    with app.state.services.engine.begin() as conn:
        conn.execute(
            api_key.insert().values(
                valid_key="partner", allow_locate=True, allow_region=True, allow_fallback=False
            )
        )
    return app


@pytest.mark.parametrize("path", SUBMIT_PATHS)
def test_submissions_over_the_address_rate_are_a_429(settings: Settings, path: str) -> None:
    # 32 KiB at once, then 1 KiB a second; each body below is about 10 KB.
    app = _limited(settings, per_minute=60 * 1024, burst=32 * 1024)
    body = _body(path)
    body["items"] = body["items"] * (10_000 // len(json.dumps(body["items"])))
    data = json.dumps(body).encode()
    assert 9_000 < len(data) < 11_000
    first = {"X-Forwarded-For": "81.2.69.192"}
    with TestClient(app) as client:
        for _ in range(3):
            _ok(client.post(path, content=data, headers=first), path)
        res = client.post(path, content=data, headers=first)
        error = _error(res, 429, "rateLimitExceeded")
        assert error["errors"][0]["domain"] == "usageLimits"
        assert 1 <= int(res.headers["retry-after"]) <= 10
        assert res.headers["access-control-allow-origin"] == "*"
        # Gzip changes nothing: what counts is the JSON after decompression.
        packed = gzip.compress(data)
        res = client.post(path, content=packed, headers={"Content-Encoding": "gzip", **first})
        _error(res, 429, "rateLimitExceeded")
        # Another address, the same address's other /64 neighbour, and a known key pass.
        _ok(client.post(path, content=data, headers={"X-Forwarded-For": "81.2.69.193"}), path)
        _ok(client.post(f"{path}?key=partner", content=data, headers=first), path)
        # An unknown key is no key.
        res = client.post(f"{path}?key=unknown", content=data, headers=first)
        _error(res, 429, "rateLimitExceeded")
    app.state.services.close()


def test_large_and_undecodable_bodies_count_too(settings: Settings) -> None:
    app = _limited(settings, per_minute=60 * 1024, burst=256 * 1024)
    body = json.dumps({"items": _reports(100)}).encode()
    assert 150_000 < len(body) < 256 * 1024  # over INLINE_BYTES: decoded in a worker thread
    with TestClient(app) as client:
        a = {"X-Forwarded-For": "81.2.69.192", "Content-Encoding": "gzip"}
        _ok(client.post("/v2/geosubmit", content=gzip.compress(body), headers=a), "/v2/geosubmit")
        _error(client.post("/v2/geosubmit", content=body, headers=a), 429, "rateLimitExceeded")
        # A broken gzip stream counts as much as it could have inflated to (here: the bucket).
        b = {"X-Forwarded-For": "81.2.69.194", "Content-Encoding": "gzip"}
        broken = gzip.compress(body)[:-100]
        _error(client.post("/v2/geosubmit", content=broken, headers=b), 400, "parseError")
        _error(
            client.post("/v2/geosubmit", json={"items": []}, headers=b), 429, "rateLimitExceeded"
        )
    app.state.services.close()


def test_ordinary_stumblers_are_never_refused(client: Any) -> None:
    # Default settings. A phone back online uploads a week's backlog of 5,000 reports in
    # batches of 500 (about 10 MB of JSON), then uploads a few reports every few seconds.
    headers = {"X-Forwarded-For": "81.2.69.192", "Content-Encoding": "gzip"}
    for batch in range(10):
        data = gzip.compress(json.dumps({"items": _reports(500, seed=batch)}).encode())
        assert client.post("/v2/geosubmit", content=data, headers=headers).status_code == 200
    for upload in range(200):
        data = gzip.compress(json.dumps({"items": _reports(3, seed=100 + upload)}).encode())
        assert client.post("/v2/geosubmit", content=data, headers=headers).status_code == 200


# ----------------------------------------------------------------- where bodies are parsed


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@pytest.fixture
def parsed_on_loop(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Records, for each body parsed, whether that happened on the event loop."""
    seen: list[bool] = []

    def spy(parse: Callable[..., Any]) -> Callable[..., Any]:
        def recorded(*args: Any, **kwargs: Any) -> Any:
            seen.append(_on_event_loop())
            return parse(*args, **kwargs)

        return recorded

    monkeypatch.setattr(locate_views, "parse_query", spy(locate_views.parse_query))
    monkeypatch.setattr(intake, "parse_submit", spy(intake.parse_submit))
    return seen


def test_small_bodies_inline_large_ones_in_a_thread(
    client: Any, parsed_on_loop: list[bool]
) -> None:
    many = [{"macAddress": f"00{i:010x}", "signalStrength": -90} for i in range(1, 2001)]
    large_query = json.dumps({"wifiAccessPoints": many}).encode()
    large_batch = json.dumps({"items": _reports(200)}).encode()
    assert len(large_query) > INLINE_BYTES and len(large_batch) > INLINE_BYTES
    assert len(gzip.compress(large_batch)) < 32 * 1024  # was parsed inline, by compressed size
    gz = {"Content-Encoding": "gzip"}
    for path in ("/v1/geolocate", "/v1/country"):
        _ok(client.post(path, json=_body(path)), path)
        _ok(client.post(path, content=large_query), path)
        _ok(client.post(path, content=gzip.compress(large_query), headers=gz), path)
    for path in SUBMIT_PATHS:
        _ok(client.post(path, json=_body(path)), path)
    _ok(client.post("/v2/geosubmit", content=large_batch), "/v2/geosubmit")
    _ok(
        client.post("/v2/geosubmit", content=gzip.compress(large_batch), headers=gz),
        "/v2/geosubmit",
    )
    assert parsed_on_loop == [True, False, False] * 2 + [True] * 3 + [False, False]


def test_large_bodies_are_parsed_two_at_a_time(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Parsing holds the GIL, and a large body can take many times its size in memory while
    # parsed: a burst of large bodies must neither multiply that nor take every worker thread.
    lock = threading.Lock()
    inside = [0, 0]  # now, most at once

    def spy(parse: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            with lock:
                inside[0] += 1
                inside[1] = max(inside)
            try:
                time.sleep(0.05)  # long enough for the other requests to catch up
                return parse(*args, **kwargs)
            finally:
                with lock:
                    inside[0] -= 1

        return counted

    monkeypatch.setattr(locate_views, "parse_query", spy(locate_views.parse_query))
    monkeypatch.setattr(intake, "parse_submit", spy(intake.parse_submit))
    many = [{"macAddress": f"00{i:010x}", "signalStrength": -90} for i in range(1, 2001)]
    bodies = [("/v1/geolocate", json.dumps({"wifiAccessPoints": many}).encode())] * 4
    bodies += [("/v2/geosubmit", json.dumps({"items": _reports(200)}).encode())] * 4
    with ThreadPoolExecutor(len(bodies)) as pool:
        answers = list(pool.map(lambda job: client.post(job[0], content=job[1]), bodies))
    for (path, _), res in zip(bodies, answers, strict=True):
        _ok(res, path)
    assert inside == [0, 2]


# ----------------------------------------------------------------------------- garbage

ODD_VALUES: list[Any] = [
    None, True, 0, -1, 1.5, -0.0, 10**30, -(10**30), 2**63, 2**64, 1e308, "", "x", "12", "NaN",
    "\u0000", [], [1], [[]], [{}], {}, {"a": 1},
]  # fmt: skip
WIFI_FIELDS = ["macAddress", "signalStrength", "age", "channel", "frequency", "ssid", "radioType"]
CELL_FIELDS = [
    "radioType", "radio", "mobileCountryCode", "mobileNetworkCode", "locationAreaCode", "cellId",
    "newRadioCellId", "age", "asu", "primaryScramblingCode", "signalStrength", "timingAdvance",
    "mcc", "mnc", "lac", "tac",
]  # fmt: skip
POSITION_FIELDS = ["latitude", "longitude", "accuracy", "altitude", "age", "heading", "source"]
TOP_FIELDS = [
    "items", "wifiAccessPoints", "cellTowers", "bluetoothBeacons", "fallbacks", "considerIp",
    "radioType", "carrier", "homeMobileCountryCode", "homeMobileNetworkCode",
]  # fmt: skip
WIFI = {"macAddress": "a0b1c2d3e4f5", "signalStrength": -50}
WIFI2 = {"macAddress": "a0b1c2d3e4f6", "signalStrength": -60}
CELL = {"radioType": "lte", "mobileCountryCode": 234, "mobileNetworkCode": 30,
        "locationAreaCode": 1, "cellId": 2}  # fmt: skip
POSITION = {"latitude": 51.5, "longitude": -0.1}


def _garbage_bodies() -> list[Any]:
    """Wrong JSON types at every level of every API's body."""
    bodies: list[Any] = [None, 0, "x", [], [{}], 1e308]
    for value in ODD_VALUES:
        bodies += [{name: value} for name in TOP_FIELDS]
        bodies.append({"fallbacks": {"lacf": value, "ipf": value}})
        bodies.append({"items": [value, {"wifiAccessPoints": [WIFI, WIFI2]}]})
        for name in WIFI_FIELDS:
            entry = WIFI | {name: value}
            bodies.append({"wifiAccessPoints": [entry, WIFI2], "bluetoothBeacons": [entry, WIFI2]})
            report = {
                "position": POSITION,
                "wifiAccessPoints": [entry],
                "bluetoothBeacons": [entry],
            }
            bodies.append({"items": [report, POSITION | {"wifi": [entry], "blue": [entry]}]})
        for name in CELL_FIELDS:
            cell = CELL | {name: value}
            bodies.append({"cellTowers": [cell, value]})
            bodies.append({"items": [{"cellTowers": [cell]}, POSITION | {"cell": [cell]}]})
        for name in [*POSITION_FIELDS, "timestamp", "time", "position", "carrier"]:
            report = {"position": POSITION | {name: value}, "wifiAccessPoints": [WIFI], name: value}
            bodies.append({"items": [report, POSITION | {"wifi": [WIFI], name: value}]})
    return bodies


def _literal_bodies() -> list[bytes]:
    """JSON the encoders would not write: non-finite literals, huge numbers, deep nesting."""
    wifi = b'{"macAddress":"a0b1c2d3e4f5","signalStrength":%s}'
    return [
        b"NaN", b"-Infinity", b'{"considerIp": NaN}', b'{"fallbacks": {"ipf": Infinity}}',
        b'{"wifiAccessPoints":[' + wifi % b"NaN" + b"," + wifi % b"-Infinity" + b"]}",
        b'{"items":[{"position":{"latitude":NaN,"longitude":Infinity},"wifiAccessPoints":['
        + wifi % b"1e999" + b"]}]}",
        b'{"items":[{"timestamp":' + b"9" * 5000 + b',"wifiAccessPoints":[' + wifi % b"-1e999"
        + b"]}]}",
        b'{"cellTowers":[{"radioType":"lte","mobileCountryCode":' + b"9" * 5000
        + b',"mobileNetworkCode":1e400,"locationAreaCode":-1e400,"cellId":1e-400}]}',
        b'{"homeMobileCountryCode": 1e999, "homeMobileNetworkCode": NaN}',
        b"[" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b'{"items": [' + b"[" * 5000 + b"]" * 5000 + b"]}",
        b'{"wifiAccessPoints": [' + b"[" * 5000 + b"]" * 5000 + b"]}",
        b'{"items":[{"position":' + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"}]}",
        b'{"items":[{"wifiAccessPoints":[{"macAddress":' + b"[" * 5000 + b"]" * 5000 + b"}]}]}",
        b'{"carrier":"\\ud800","items":[{"carrier":"\\udc00","wifiAccessPoints":[{"macAddress":"\\ud800"}]}]}',
        b"{}{}", b'{"items": []} x', b"\x00", b"\xff\xfe{", b'{"items":[1,2,"x",null,[],true]}',
    ]  # fmt: skip


def _answered(res: Any, path: str) -> None:
    """A normal answer, or a 4xx error envelope: never a 5xx."""
    assert res.status_code < 500, (path, res.status_code, res.text[:200])
    if res.status_code >= 400:
        _error(res, res.status_code, res.json()["error"]["errors"][0]["reason"])


@pytest.mark.parametrize("path", PATHS)
def test_wrong_types_at_every_level(client: Any, path: str) -> None:
    for body in _garbage_bodies():
        _answered(client.post(path, content=json.dumps(body)), path)


@pytest.mark.parametrize("path", PATHS)
def test_literals_deep_nesting_and_broken_text(client: Any, path: str) -> None:
    for raw in _literal_bodies():
        _answered(client.post(path, content=raw), path)
        res = client.post(path, content=gzip.compress(raw), headers={"Content-Encoding": "gzip"})
        _answered(res, path)


@pytest.mark.parametrize("path", PATHS)
def test_broken_and_mislabelled_compression(client: Any, path: str) -> None:
    raw = json.dumps(_body(path)).encode()
    packed = gzip.compress(raw)
    for data, coding in [
        (packed[:-4], "gzip"), (packed[:10], "gzip"), (b"\x1f\x8b", None), (packed[:-4], None),
        (gzip.compress(packed), "gzip"), (raw, "br"), (packed, "br"), (raw, "gzip, br"),
        (zlib.compress(raw)[:-3], "deflate"), (b"\x1f\x8b\x08" + b"\x00" * 7, "gzip"),
        (packed, "deflate, gzip"), (b"", "gzip"), (packed, "a" * 5000),
    ]:  # fmt: skip
        headers = {"Content-Encoding": coding} if coding else {}
        res = client.post(path, content=data, headers=headers)
        if res.status_code == 400:
            assert "decode" in _error(res, 400, "parseError").get("details", {"decode": ""})
        else:
            _ok(res, path)


@pytest.mark.parametrize("path", PATHS)
def test_gzip_bombs_up_to_the_limit(settings: Settings, path: str) -> None:
    limit = 1 << 20
    app = create_app(dataclasses.replace(settings, max_body_bytes=limit), run_jobs=False)
    start, end = (b'{"items": [', b"]}") if path in SUBMIT_PATHS else (b"{", b"}")
    exactly = start + b" " * (limit - len(start) - len(end)) + end
    over = start + b" " * (limit + 1 - len(start) - len(end)) + end
    gz = {"Content-Encoding": "gzip"}
    with TestClient(app) as client:
        res = client.post(path, content=gzip.compress(exactly), headers=gz)
        if path in SUBMIT_PATHS:
            _ok(res, path)  # nothing to queue, but a well-formed body
        else:
            assert res.status_code == 404  # an IP-only query from an unknown address
        _error(client.post(path, content=gzip.compress(over), headers=gz), 413, "payloadTooLarge")
        many = gzip.compress(exactly[:-1] + b"x" * (10 * limit) + end)
        _error(client.post(path, content=many, headers=gz), 413, "payloadTooLarge")
    app.state.services.close()
