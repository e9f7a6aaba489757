"""The page, its settings, the survey API and refused handshakes, in process."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from starlette.testclient import TestClient, WebSocketDenialResponse

from netatlas.app import create_app
from netatlas.broadband.models import survey_response
from netatlas.broadband.service import Broadband
from netatlas.http.ratelimit import RedisLimiter, SqlLimiter
from netatlas.http.state import Lazy
from netatlas.settings import Settings
from tests.broadband.test_survey import ANSWERS, add_test


def test_page_renders_the_form_and_the_official_client(client: Any) -> None:
    res = client.get("/speedtest")
    assert res.status_code == 200
    html = res.text
    for name in ("isp", "connection_type", "cost_of_service", "advertised_download", "consent"):
        assert f'name="{name}"' in html
    assert '<script src="/static/vendor/ndt7/ndt7.js">' in html
    assert "cdn" not in html.lower()
    config = json.loads(re.search(r'id="st-config">(.*?)</script>', html, re.S)[1])  # type: ignore[index]
    assert config["mode"] == "local" and config["vendor"] == "/static/vendor/ndt7/"
    assert [u["key"] for u in config["use_cases"]] == [
        "browsing",
        "video_streaming",
        "audio_streaming",
        "video_conferencing",
        "online_backup",
        "gaming",
    ]
    assert client.get("/api/v1/speedtest/config").json() == config


def test_static_files_are_ours(client: Any) -> None:
    for path in (
        "/static/speedtest/speedtest.js",
        "/static/speedtest/speedtest.css",
        "/static/vendor/ndt7/ndt7.js",  # copied from npm by scripts/vendor.sh (make install)
        "/static/vendor/ndt7/ndt7-download-worker.js",
        "/static/vendor/ndt7/ndt7-upload-worker.js",
    ):
        assert client.get(path).status_code == 200, path
    assert client.get("/static/nothing.js").status_code == 404


def test_survey_api(client: Any, engine: Engine) -> None:
    add_test(engine, "h_9_A", "download", ip="192.0.2.1")
    res = client.post("/api/v1/survey", content=b"{nope")
    assert res.status_code == 400
    assert "not JSON" in res.json()["error"]["details"]["decode"]
    res = client.post("/api/v1/survey", json={"answers": {"isp": ""}, "consent": True})
    assert res.status_code == 400
    error = res.json()["error"]
    assert error["message"] == "The survey has errors."
    assert error["details"]["validation"] == {
        "answers.isp": "required",
        "answers.connection_type": "required",
        "answers.cost_of_service": "required",
        "download": "run the speed test first: no test is named",
    }
    res = client.post(
        "/api/v1/survey",
        json={"answers": ANSWERS, "consent": True, "download": {"uuid": "h_9_A"}},
        headers={"X-Forwarded-For": "192.0.2.1"},  # the test client comes via a trusted hop
    )
    assert res.status_code == 201, res.text
    body = res.json()
    assert body["measurements"]["download"] and body["measurements"]["upload"] is None
    res = client.post("/api/v1/survey", content=b"x" * 70_000)
    assert res.status_code == 413
    # Answered for this site's own page: no cross-origin access, in success or error.
    assert "access-control-allow-origin" not in res.headers


def test_token_endpoint(client: Any) -> None:
    body = client.post("/api/v1/speedtest/token").json()
    assert body["token"].count(".") == 2 and body["expires"] > 0


@pytest.mark.parametrize(
    ("path", "subprotocols", "status", "fragment"),
    [
        ("/ndt/v7/download", None, 400, "Sec-WebSocket-Protocol"),
        ("/ndt/v7/upload", ["chat"], 400, "Sec-WebSocket-Protocol"),
        ("/ndt/v7/download?a=1&a=2", ["net.measurementlab.ndt.v7"], 400, "duplicate"),
        ("/ndt/v7/download?a", ["net.measurementlab.ndt.v7"], 400, "without a value"),
    ],
)
def test_bad_handshakes_are_refused_before_the_upgrade(
    client: Any, path: str, subprotocols: list[str] | None, status: int, fragment: str
) -> None:
    with pytest.raises(WebSocketDenialResponse) as info:
        client.websocket_connect(path, subprotocols=subprotocols).__enter__()
    assert info.value.status_code == status
    assert fragment in info.value.json()["error"]["message"]


def test_mlab_mode_page_asks_for_mlabs_data_policy(settings: Any) -> None:
    from dataclasses import replace

    from starlette.testclient import TestClient

    from netatlas.app import create_app

    app = create_app(replace(settings, ndt7_mode="mlab"), run_jobs=False)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        html = client.get("/speedtest").text
        config = client.get("/api/v1/speedtest/config").json()
    app.state.services.engine.dispose()
    assert config["mode"] == "mlab" and config["server"] is None
    assert 'name="mlab_policy"' in html and "Measurement Lab" in html


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_survey_posts_are_limited_per_address(settings: Settings) -> None:
    s = replace(settings, survey_ip_per_hour=3)
    app = create_app(s, run_jobs=False)
    services = app.state.services
    engine = services.engine
    clock = Clock(1_772_366_430.0)  # 2026-03-01 12:00:30 UTC
    limiter = (
        RedisLimiter.from_url(s.redis_url, clock=clock)
        if s.redis_url
        else SqlLimiter(engine, clock=clock)
    )
    services.broadband = Lazy.ready(Broadband.from_settings(s, engine, services.geoip, limiter))
    for i in range(3):
        add_test(engine, f"h_8_{i}", "download", ip="192.0.2.1")

    def post(ip: str, uuid: str = "") -> Any:
        body = {"answers": ANSWERS, "consent": True}
        if uuid:
            body["download"] = {"uuid": uuid}
        return client.post("/api/v1/survey", json=body, headers={"X-Forwarded-For": ip})

    with TestClient(app, base_url="http://127.0.0.1") as client:
        # Good and bad submissions count alike: three an hour per address.
        assert post("192.0.2.1", "h_8_0").status_code == 201
        assert post("192.0.2.1").status_code == 400
        assert post("192.0.2.1").status_code == 400
        res = post("192.0.2.1", "h_8_1")
        assert res.status_code == 429
        error = res.json()["error"]
        assert error["code"] == 429 and error["errors"][0]["reason"] == "rateLimitExceeded"
        assert error["message"] == (
            "Too many survey submissions from this address: at most 3 an hour."
        )
        assert res.headers["Retry-After"] == str(3600 - 30)  # the next hour
        assert "access-control-allow-origin" not in res.headers
        assert post("192.0.2.2").status_code == 400  # another address has its own count
        # IPv6: one count per /64, which one subscriber usually holds whole.
        for ip in ("2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:abcd:ef01:2345:6789"):
            assert post(ip).status_code == 400
        assert post("2001:db8:1:2::77").status_code == 429
        assert post("2001:db8:1:3::1").status_code == 400
        clock.now += 3600  # the next hour
        assert post("192.0.2.1", "h_8_1").status_code == 201
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(survey_response)).scalar() == 2
    engine.dispose()
