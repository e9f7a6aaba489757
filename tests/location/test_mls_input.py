"""Hostile and malformed input on the MLS paths: every answer is the error envelope or a normal
answer, never a 500."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from typing import Any

import pytest

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
