"""Wiring shared by the self-service key tests: an app on one backend with a manual clock for
its limits, and an in-process client from a public address."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from starlette.testclient import TestClient

from netatlas.app import create_app
from netatlas.clock import ManualClock
from netatlas.location.models import api_key
from netatlas.settings import Settings
from tests.conftest import DATA

ADDRESS = "81.2.69.192"  # in the GeoIP test database (London)
CITY = DATA / "maxmind" / "GeoIP2-City-Test.mmdb"
#: Noon UTC on a fixed day: a test's minute and day never end between two of its requests.
NOON = 1_764_936_000.0


@contextmanager
def key_app(
    settings: Settings, start: float | None = NOON, address: str = ADDRESS, **changes: Any
) -> Iterator[tuple[Any, TestClient, ManualClock]]:
    """The app, a client from ``address`` and the limits' clock, at ``start`` (None: now,
    for blocks, whose end the server stamps by the real time)."""
    changes.setdefault("geoip_city_path", str(CITY))
    app = create_app(dataclasses.replace(settings, **changes), run_jobs=False)
    clock = ManualClock(start)
    app.state.services.limiter.clock = clock
    try:
        with TestClient(app, base_url="http://127.0.0.1", client=(address, 5000)) as client:
            yield app, client, clock
    finally:
        app.state.services.close()


def add_key(app: Any, name: str, **values: Any) -> None:
    row = {
        "valid_key": name,
        "allow_fallback": False,
        "allow_locate": True,
        "allow_region": True,
        "store_sample_locate": 0,
        "store_sample_submit": 100,
        **values,
    }
    with app.state.services.engine.begin() as conn:
        conn.execute(api_key.insert().values(**row))


def rate(response: Any) -> tuple[str | None, str | None, str | None]:
    h = response.headers
    return (h.get("x-ratelimit-limit"), h.get("x-ratelimit-remaining"), h.get("x-ratelimit-reset"))


def error_reason(response: Any) -> str:
    body = response.json()["error"]
    assert body["code"] == response.status_code
    reason: str = body["errors"][0]["reason"]
    return reason
