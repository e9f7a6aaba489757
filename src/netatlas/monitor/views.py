"""Ichnaea's monitoring endpoints: deep heartbeat, load-balancer heartbeat, version."""

from __future__ import annotations

import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from netatlas.db.migrate import current_revision
from netatlas.monitor.version import version_info
from netatlas.web.http import json_response

METHODS = ["GET", "HEAD", "POST"]


def _timed(check: Any) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        extra = check()
    except Exception:
        return {"up": False, "time": 0}
    return {"up": True, "time": int((time.perf_counter() - start) * 1000), **(extra or {})}


def health(services: Any) -> tuple[bool, dict[str, Any]]:
    """Every backend this process depends on, as Ichnaea's heartbeat reports them.

    The Redis part appears in scale-out mode only, and GeoIP only when a database is
    configured: an embedded install without them is healthy.
    """
    body: dict[str, Any] = {}
    db = _timed(lambda: {"alembic_version": current_revision(services.engine) or "unknown"})
    if not db["up"]:
        db["alembic_version"] = "unknown"
    body["database"] = db
    if services.settings.redis_url:
        body["redis"] = _timed(lambda: None if services.queue.ping() else 1 / 0)
    geoip = getattr(services, "geoip", None)
    if geoip is not None:
        body["geoip"] = geoip.heartbeat()
    ok = all(part["up"] for part in body.values())
    return ok, body


async def heartbeat(request: Request) -> Response:
    ok, body = await run_in_threadpool(health, request.app.state.services)
    return json_response(body, 200 if ok else 503, cors=False)


async def lbheartbeat(request: Request) -> Response:
    return json_response({"status": "OK"}, cors=False)


async def version(request: Request) -> Response:
    return json_response(version_info(), cors=False)


routes = [
    Route("/__heartbeat__", heartbeat, methods=METHODS),
    Route("/__lbheartbeat__", lbheartbeat, methods=METHODS),
    Route("/__version__", version, methods=METHODS),
]
