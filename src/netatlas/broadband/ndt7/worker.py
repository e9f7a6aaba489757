"""``netatlas ndt7``: the ndt7 endpoints in a process of their own.

By default ``netatlas serve`` answers ndt7 itself, on the same port as everything else. A
multi-gigabit upload keeps a Python process busy (framing and unmasking megabyte messages holds
the interpreter lock), and requests that share that process wait for it. A site that expects
fast testers runs ``netatlas ndt7 --port 8001`` beside ``netatlas serve`` and sets
``NETATLAS_NDT7_SERVER=host:8001``: the page then sends its tests there, and the location API
keeps its latency whatever the tests do. Both processes store into the same data directory and
database, with the same settings; the ndt7 process's counts (tests by outcome, tests running)
reach ``/metrics`` of the main server through the data directory's metrics spool, as its
workers' do.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute

from netatlas.broadband.service import Broadband
from netatlas.db.engine import engine_from_settings
from netatlas.geo.geoip import MaxMindGeoIP
from netatlas.http.metrics import FLUSH_SECONDS, REGISTRY, spool_dir
from netatlas.http.observe import Observe
from netatlas.http.responses import json_response
from netatlas.http.state import Lazy
from netatlas.settings import Settings

__all__ = ["Ndt7Services", "ndt7_app", "serve"]


@dataclass
class Ndt7Services:
    """What the ndt7 process's views use (it keeps them as :mod:`netatlas.http.state` says)."""

    broadband: Lazy[Broadband]


async def _lbheartbeat(request: Request) -> Response:
    return json_response({"status": "OK"}, cors=False)


def ndt7_app(settings: Settings) -> Starlette:
    """An application with the ndt7 endpoints only (and a load-balancer heartbeat)."""
    from netatlas.broadband import views

    engine = engine_from_settings(settings)
    geoip = MaxMindGeoIP(settings.geoip_city_path) if settings.geoip_city_path else None

    spool = spool_dir(settings.data_dir)

    async def flush_now_and_then() -> None:
        # Plain requests, which flush the counts in the main server, are rare here.
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            REGISTRY.flush(spool, time.perf_counter())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        flusher = asyncio.create_task(flush_now_and_then())
        try:
            yield
        finally:
            flusher.cancel()
            if geoip is not None:
                geoip.close()
            engine.dispose()

    routes = [r for r in views.routes if isinstance(r, WebSocketRoute)]
    app = Starlette(
        routes=[*routes, Route("/__lbheartbeat__", _lbheartbeat)],
        middleware=[Middleware(Observe, spool=spool)],
        lifespan=lifespan,
    )
    app.state.services = Ndt7Services(Lazy.ready(Broadband.from_settings(settings, engine, geoip)))
    return app


def serve(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(
        ndt7_app(settings),
        host=host,
        port=port,
        log_level=settings.log_level,
        access_log=False,
        ws_per_message_deflate=False,  # ndt7 measures raw throughput: never compress
    )
