"""Hostile and malformed input on the MLS paths: every answer is the error envelope or a normal
answer, never a 500."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest

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
