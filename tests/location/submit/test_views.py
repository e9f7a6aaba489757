"""The submit API over HTTP: status codes, bodies, CORS, and what reaches the queue."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest

from netatlas.location.submit.report import decode_submission
from netatlas.queue.local import SqlQueue
from netatlas.queue.redis import RedisQueue

CORS = {"access-control-allow-origin": "*", "access-control-max-age": "2592000"}


def _report(**extra: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "timestamp": 1_700_000_000_000,
        "position": {"latitude": 51.5, "longitude": -0.1, "accuracy": 10.0},
        "wifiAccessPoints": [
            {"macAddress": "00:1a:2b:3c:4d:5e", "signalStrength": -60},
            {"macAddress": "00-1a-2b-3c-4d-5f", "signalStrength": -70},
        ],
    }
    report.update(extra)
    return report


def _queued(app: Any) -> list[Any]:
    queue = app.state.services.queue
    batch = queue.claim("incoming", 1000)
    if batch is None:
        return []
    queue.ack(batch)
    return [decode_submission(item) for item in batch.items]


def _error(res: Any) -> dict[str, Any]:
    body: dict[str, Any] = res.json()["error"]
    assert body["code"] == res.status_code
    assert body["errors"][0]["message"] == body["message"]
    return body


def test_v2_geosubmit_accepts_and_queues(client: Any, app: Any) -> None:
    res = client.post("/v2/geosubmit", json={"items": [_report(), _report()]})
    assert res.status_code == 200
    assert res.json() == {}
    for name, value in CORS.items():
        assert res.headers[name] == value
    (submission,) = _queued(app)
    assert len(submission.reports) == 2
    macs = [w.macAddress for w in submission.reports[0].wifiAccessPoints]
    assert macs == ["001a2b3c4d5e", "001a2b3c4d5f"]
    assert submission.api_key is None


def test_gzip_body_without_content_type(client: Any, app: Any) -> None:
    body = gzip.compress(json.dumps({"items": [_report()]}).encode())
    res = client.post("/v2/geosubmit", content=body, headers={"Content-Encoding": "gzip"})
    assert res.status_code == 200
    assert len(_queued(app)) == 1


def test_form_content_type_is_still_json(client: Any, app: Any) -> None:
    res = client.post(
        "/v2/geosubmit",
        content=json.dumps({"items": [_report()]}),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert res.status_code == 200
    assert len(_queued(app)) == 1


def test_v1_geosubmit_flat_report(client: Any, app: Any) -> None:
    report = {
        "latitude": 51.5,
        "longitude": -0.1,
        "accuracy": 10,
        "wifiAccessPoints": [{"macAddress": "001a2b3c4d5e"}],
    }
    res = client.post("/v1/geosubmit", json={"items": [report]})
    assert res.status_code == 200
    assert res.json() == {}
    (submission,) = _queued(app)
    assert submission.reports[0].position.latitude == 51.5


def test_v1_submit_is_204_empty(client: Any, app: Any) -> None:
    item = {
        "lat": 51.5,
        "lon": -0.1,
        "time": "2024-01-02T03:04:05+00:00",
        "wifi": [{"key": "00:1a:2b:3c:4d:5e", "signal": -60, "frequency": 2412}],
        "cell": [{"radio": "gsm", "mcc": 234, "mnc": 30, "lac": 12, "cid": 34}],
    }
    res = client.post("/v1/submit", json={"items": [item]}, headers={"X-Nickname": "me"})
    assert res.status_code == 204
    assert res.content == b""
    assert res.headers["access-control-allow-origin"] == "*"
    (submission,) = _queued(app)
    report = submission.reports[0]
    assert report.cellTowers[0].radioType == "gsm"
    assert report.timestamp == 1704164645000


def test_known_key_is_recorded_unknown_key_ignored(client: Any, app: Any) -> None:
    from netatlas.location.models import api_key

    with app.state.services.engine.begin() as conn:
        conn.execute(
            api_key.insert().values(
                valid_key="test",
                allow_fallback=False,
                allow_locate=True,
                allow_region=True,
                store_sample_locate=100,
                store_sample_submit=100,
            )
        )
    assert client.post("/v2/geosubmit?key=test", json={"items": [_report()]}).status_code == 200
    assert client.post("/v2/geosubmit?key=nope", json={"items": [_report()]}).status_code == 200
    queued = _queued(app)
    assert [s.api_key for s in queued] == ["test", None]


def test_bad_entries_are_dropped_not_the_batch(client: Any, app: Any) -> None:
    bad = _report(
        wifiAccessPoints=[
            {"macAddress": 10},
            {"macAddress": "zz:zz"},
            {"macAddress": "02:00:00:00:00:01"},  # locally administered
            {"macAddress": "00:1a:2b:3c:4d:61", "ssid": "home_nomap"},
            {"macAddress": "00:1a:2b:3c:4d:60", "signalStrength": -70},
        ]
    )
    res = client.post("/v2/geosubmit", json={"items": [bad, "not a report", _report()]})
    assert res.status_code == 200
    (submission,) = _queued(app)
    assert len(submission.reports) == 2
    assert [w.macAddress for w in submission.reports[0].wifiAccessPoints] == ["001a2b3c4d60"]


@pytest.mark.parametrize("path", ["/v2/geosubmit", "/v1/geosubmit", "/v1/submit"])
def test_missing_items_is_a_parse_error(client: Any, path: str) -> None:
    res = client.post(path, json={})
    assert res.status_code == 400
    error = _error(res)
    assert error["errors"][0] == {
        "domain": "global",
        "reason": "parseError",
        "message": "Parse Error",
    }
    assert error["details"] == {"validation": {"items": "Required"}}
    assert res.headers["access-control-allow-origin"] == "*"


def test_get_is_a_parse_error_without_details(client: Any) -> None:
    res = client.get("/v2/geosubmit")
    assert res.status_code == 400
    assert "details" not in _error(res)


def test_not_json(client: Any) -> None:
    res = client.post("/v2/geosubmit", content=b"\x00\x01garbage")
    assert res.status_code == 400
    assert "decode" in _error(res)["details"]


def test_truncated_gzip(client: Any) -> None:
    body = gzip.compress(json.dumps({"items": [_report()]}).encode())[:-12]
    res = client.post("/v2/geosubmit", content=body, headers={"Content-Encoding": "gzip"})
    assert res.status_code == 400
    assert "end-of-stream" in _error(res)["details"]["decode"]


def test_options_and_other_methods(client: Any) -> None:
    res = client.options("/v2/geosubmit")
    assert res.status_code == 200
    assert res.headers["access-control-max-age"] == "2592000"
    for method in ("DELETE", "PATCH", "PUT"):
        assert client.request(method, "/v2/geosubmit").status_code == 405


def test_body_over_limit_is_413(client: Any, app: Any) -> None:
    limit = app.state.services.settings.max_body_bytes
    res = client.post("/v2/geosubmit", content=b"{" + b" " * limit + b"}")
    assert res.status_code == 413
    assert _error(res)["errors"][0]["reason"] == "payloadTooLarge"


def test_gzip_bomb_is_413(client: Any, app: Any) -> None:
    limit = app.state.services.settings.max_body_bytes
    bomb = gzip.compress(b'{"items": [' + b" " * (limit + 1024) + b"]}")
    assert len(bomb) < limit
    res = client.post("/v2/geosubmit", content=bomb, headers={"Content-Encoding": "gzip"})
    assert res.status_code == 413


def test_queue_down_is_503(client: Any, app: Any) -> None:
    services = app.state.services
    if services.settings.redis_url:
        services.queue = RedisQueue("redis://127.0.0.1:1/0")
    else:
        from netatlas.db.engine import make_engine

        services.queue = SqlQueue(make_engine("postgresql+psycopg://postgres@127.0.0.1:1/x"))
    res = client.post("/v2/geosubmit", json={"items": [_report()]})
    assert res.status_code == 503
    assert _error(res)["errors"][0]["reason"] == "serviceUnavailable"
