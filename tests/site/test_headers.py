"""Every HTML response carries the page security headers, whichever feature's view made it:
each GET route of the app is requested (admin pages logged in) and checked."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import Engine
from starlette.routing import Route
from starlette.testclient import TestClient

from netatlas.admin import auth
from netatlas.settings import Settings
from tests.admin.test_admin import PASSWORD, _login

# Values for path parameters, so that routes with them are requested too.
SAMPLES = {"level": "low", "name": "x", "aggregation": "x", "key": "x", "id": "1", "z": "0"}
# Pages that must be HTML (so the check below cannot pass by finding no HTML at all).
PAGES = ["/", "/speedtest", "/downloads", "/coverage", "/stats", "/api", "/privacy"]


def _path(route: Route) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: SAMPLES.get(m.group(1), "0"), route.path)


def _get_paths(app: Any) -> list[str]:
    return sorted(
        _path(r) for r in app.routes if isinstance(r, Route) and r.methods and "GET" in r.methods
    )


def _check(res: Any) -> None:
    csp = res.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp, (res.url, csp)
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "object-src 'none'" in csp
    assert res.headers.get("x-frame-options") == "DENY", res.url
    assert res.headers.get("referrer-policy") == "same-origin", res.url
    assert res.headers.get("x-content-type-options") == "nosniff", res.url


@pytest.fixture
def logged_in(client: TestClient, engine: Engine) -> Iterator[TestClient]:
    auth.set_password(engine, "admin", PASSWORD)
    assert _login(client).status_code == 303
    yield client


def test_every_html_route_sends_the_security_headers(logged_in: TestClient, app: Any) -> None:
    html = []
    for path in [*_get_paths(app), "/no-such-page"]:
        res = logged_in.get(path, follow_redirects=False)
        assert res.status_code < 500, (path, res.status_code)
        if res.headers.get("content-type", "").startswith("text/html"):
            _check(res)
            html.append(path)
    assert set(PAGES) | {"/admin", "/admin/keys", "/no-such-page"} <= set(html), html
    # Logged out, the login page and the answers that stop at it are pages too.
    logged_in.cookies.clear()
    _check(logged_in.get("/admin/login"))


@pytest.mark.parametrize("path", ["/speedtest", "/downloads"])
def test_the_speed_test_and_downloads_pages_send_them(client: TestClient, path: str) -> None:
    res = client.get(path)
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/html")
    _check(res)
    assert "connect-src 'self';" in res.headers["content-security-policy"]


@pytest.mark.parametrize(
    ("overrides", "sources"),
    [
        ({"ndt7_mode": "mlab"}, "https://locate.measurementlab.net wss://*.measurement-lab.org"),
        ({"ndt7_server": "ndt.example.net:8443"}, "ws://ndt.example.net:8443 wss://ndt"),
    ],
)
def test_the_speed_test_may_connect_to_its_test_servers(
    settings: Settings, overrides: dict[str, str], sources: str
) -> None:
    from netatlas.app import create_app

    app = create_app(replace(settings, **overrides), run_jobs=False)
    try:
        with TestClient(app, base_url="http://127.0.0.1") as client:
            res = client.get("/speedtest")
            _check(res)
            assert f"connect-src 'self' {sources}" in res.headers["content-security-policy"]
            # Only the speed test: the other pages keep their own site only.
            home = client.get("/").headers["content-security-policy"]
            assert "connect-src 'self';" in home
    finally:
        app.state.services.engine.dispose()
