"""A backend that cannot be reached answers 503 with ``Retry-After``, never 500."""

from __future__ import annotations

from typing import Any

from netatlas.db.engine import make_engine
from netatlas.queue.redis import RedisQueue

WIFIS = {
    "wifiAccessPoints": [{"macAddress": "00:1a:2b:3c:4d:5e"}, {"macAddress": "00:1a:2b:3c:4d:5f"}]
}


def test_locate_with_the_database_down_is_503(client: Any, app: Any) -> None:
    services = app.state.services
    good = services.read_engine
    # Nothing listens on port 1: every connection attempt is refused at once.
    services.read_engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/none")
    try:
        res = client.post("/v1/geolocate", json=WIFIS)
    finally:
        services.read_engine.dispose()
        services.read_engine = good
    assert res.status_code == 503
    assert res.headers["retry-after"] == "5"
    assert res.json()["error"]["errors"][0]["reason"] == "serviceUnavailable"


def test_submit_with_the_queue_down_is_503(client: Any, app: Any) -> None:
    services = app.state.services
    good = services.queue
    services.queue = RedisQueue("redis://127.0.0.1:1/0")
    try:
        res = client.post(
            "/v2/geosubmit",
            json={"items": [{"position": {"latitude": 51.5, "longitude": -0.1}, **WIFIS}]},
        )
    finally:
        services.queue = good
    assert res.status_code == 503
    assert res.headers["retry-after"] == "5"
