from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from netatlas.db.migrate import head_revision
from netatlas.settings import Settings


def test_heartbeat_reports_database_revision(client: Any, settings: Settings) -> None:
    res = client.get("/__heartbeat__")
    assert res.status_code == 200
    body = res.json()
    assert body["database"]["up"] is True
    assert body["database"]["alembic_version"] == head_revision()
    assert isinstance(body["database"]["time"], int)
    if settings.redis_url:
        assert body["redis"]["up"] is True
    assert "access-control-allow-origin" not in res.headers


def test_heartbeat_503_when_database_is_down(client: Any, app: Any) -> None:
    services = app.state.services
    from netatlas.db.engine import make_engine

    # Nothing listens on port 1: every connection attempt is refused at once.
    broken: Engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/none")
    services.engine = broken
    res = client.get("/__heartbeat__")
    assert res.status_code == 503
    assert res.json()["database"] == {"up": False, "time": 0, "alembic_version": "unknown"}
    broken.dispose()


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST"])
def test_lbheartbeat(client: Any, method: str) -> None:
    res = client.request(method, "/__lbheartbeat__")
    assert res.status_code == 200
    if method != "HEAD":
        assert res.json() == {"status": "OK"}


@pytest.mark.parametrize("method", ["DELETE", "PATCH", "PUT", "OPTIONS"])
def test_lbheartbeat_other_methods(client: Any, method: str) -> None:
    assert client.request(method, "/__lbheartbeat__").status_code == 405


def test_version(client: Any) -> None:
    body = client.get("/__version__").json()
    assert set(body) == {"source", "version", "commit", "build"}
    assert body["version"] == "0.1.0"


def test_security_headers(client: Any) -> None:
    res = client.get("/__lbheartbeat__")
    assert res.headers["x-content-type-options"] == "nosniff"
    assert res.headers["strict-transport-security"].startswith("max-age=31536000")


def test_heartbeat_includes_geoip_when_configured(settings: Settings) -> None:
    import dataclasses

    from starlette.testclient import TestClient

    from netatlas.app import create_app
    from tests.conftest import DATA

    path = DATA / "maxmind" / "GeoIP2-City-Test.mmdb"
    app = create_app(dataclasses.replace(settings, geoip_city_path=str(path)), run_jobs=False)
    with TestClient(app) as client:
        body = client.get("/__heartbeat__").json()
    assert body["geoip"]["up"] is True
    assert body["geoip"]["age_in_days"] >= 0

    broken = DATA / "maxmind" / "GeoIP2-City-Test-Broken-Double-Format.mmdb"
    app = create_app(dataclasses.replace(settings, geoip_city_path=str(broken)), run_jobs=False)
    with TestClient(app) as client:
        res = client.get("/__heartbeat__")
    assert res.status_code == 503
    assert res.json()["geoip"]["up"] is False
