"""A live server on a real socket (uvicorn in a thread), for the ndt7 and browser tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn

from netatlas.broadband.ndt7.server import Limits
from netatlas.broadband.service import Broadband
from netatlas.http.state import Lazy
from netatlas.settings import Settings
from tests.conftest import DATA
from tests.live import listening_socket, wait_until

ASN_DB = str(DATA / "maxmind" / "GeoLite2-ASN-Test.mmdb")


@dataclass
class LiveServer:
    url: str  # http://127.0.0.1:PORT
    ws: str  # ws://127.0.0.1:PORT
    app: Any
    broadband: Broadband


def serve(app: Any) -> tuple[uvicorn.Server, threading.Thread, int]:
    """Run ``app`` on a thread, on a port the kernel picks (no race with other servers)."""
    sock = listening_socket()
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        app,
        log_level="warning",
        ws_per_message_deflate=False,  # as `netatlas serve` runs it
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()

    def started() -> bool:
        if not thread.is_alive():
            raise RuntimeError("the test server did not start")
        return server.started

    wait_until(started, "the test server to start")
    return server, thread, port


def make_live(app: Any, settings: Settings, limits: Limits | None) -> Broadband:
    services = app.state.services
    bb = Broadband.from_settings(settings, services.engine, services.geoip)
    if limits is not None:
        bb.limits = limits
    app.state.services.broadband = Lazy.ready(bb)
    return bb


@pytest.fixture
def live(settings: Settings, request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    """The app on a real port. Subtests last 1 s (hard stop 3 s) unless the test passes
    ``full_runtime: True`` in its indirect parameters; other parameters override settings."""
    from dataclasses import replace

    from netatlas.app import create_app

    overrides = dict(getattr(request, "param", {}) or {})
    full = overrides.pop("full_runtime", False)
    s = replace(settings, geoip_asn_path=ASN_DB, **overrides)
    app = create_app(s, run_jobs=False)
    bb = make_live(app, s, None if full else Limits(runtime=1.0, max_runtime=3.0))
    server, thread, port = serve(app)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", app, bb)
    finally:
        server.should_exit = True
        thread.join(15)
        app.state.services.engine.dispose()
