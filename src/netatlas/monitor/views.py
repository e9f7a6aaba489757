"""Ichnaea's monitoring endpoints: deep heartbeat, load-balancer heartbeat, version."""

from __future__ import annotations

import os
import time
from typing import Any

import msgspec
from sqlalchemy import Engine, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from netatlas.db.migrate import current_revision
from netatlas.http.openapi import OpenAPIPath, Reply
from netatlas.http.responses import json_response
from netatlas.location.services import services_of
from netatlas.version import version_info

METHODS = ["GET", "HEAD", "POST"]


def _timed(check: Any) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        extra = check()
    except Exception:
        return {"up": False, "time": 0}
    return {"up": True, "time": int((time.perf_counter() - start) * 1000), **(extra or {})}


def _ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(select(1))


def _readable(path: str) -> dict[str, Any]:
    if not os.access(path, os.R_OK):
        raise OSError(path)
    return {}


def health(services: Any) -> tuple[bool, dict[str, Any]]:
    """Every backend this process depends on, as Ichnaea's heartbeat reports them.

    ``database`` always; ``read_database`` when locate reads through its own pool
    (PostgreSQL); ``redis`` in scale-out mode (queues and the Celery broker); ``geoip`` and
    ``asn`` when their files are configured; ``pipeline``, the backlog, which is down while
    submissions are refused. An embedded install without the optional parts is healthy.
    """
    body: dict[str, Any] = {}
    db = _timed(lambda: {"alembic_version": current_revision(services.engine) or "unknown"})
    if not db["up"]:
        db["alembic_version"] = "unknown"
    body["database"] = db
    read_engine = getattr(services, "read_engine", services.engine)
    if read_engine is not services.engine:
        body["read_database"] = _timed(lambda: _ping(read_engine))
    if services.settings.redis_url:
        body["redis"] = _timed(lambda: None if services.queue.ping() else 1 / 0)
    geoip = getattr(services, "geoip", None)
    if geoip is not None:
        body["geoip"] = geoip.heartbeat()
    if services.settings.geoip_asn_path:
        body["asn"] = _timed(lambda: _readable(services.settings.geoip_asn_path))
    pressure = getattr(services, "backpressure", None)
    if pressure is not None and pressure.enabled:
        # refresh() never raises: with the queue down it keeps the last figure.
        pipeline = _timed(lambda: {"_state": pressure.refresh(force=True), **pressure.describe()})
        pipeline["up"] = not pipeline.pop("_state").refusing
        body["pipeline"] = pipeline
    ok = all(part["up"] for part in body.values())
    return ok, body


async def heartbeat(request: Request) -> Response:
    ok, body = await run_in_threadpool(health, services_of(request))
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


class Heartbeat(msgspec.Struct):
    """Backend name -> ``{"up": bool, "time": ms, ...}`` (Ichnaea's shape)."""

    database: dict[str, Any]


class LbHeartbeat(msgspec.Struct):
    status: str


class Version(msgspec.Struct):
    source: str
    version: str
    commit: str
    build: str


openapi = [
    OpenAPIPath(
        "/__heartbeat__",
        "get",
        "Deep health check: every backend this process uses.",
        tags=("monitoring",),
        responses={
            200: Reply("Every backend is up.", Heartbeat),
            503: Reply("A backend is down (the body says which).", Heartbeat),
        },
    ),
    OpenAPIPath(
        "/__lbheartbeat__",
        "get",
        "Load-balancer check: the process answers.",
        tags=("monitoring",),
        responses={200: Reply("Alive.", LbHeartbeat)},
    ),
    OpenAPIPath(
        "/__version__",
        "get",
        "Source, version and commit.",
        tags=("monitoring",),
        responses={200: Reply("The version.", Version)},
    ),
    OpenAPIPath(
        "/metrics",
        "get",
        "Prometheus metrics of this host's server processes and the shared pipeline.",
        tags=("monitoring",),
        responses={200: Reply("Prometheus text format 0.0.4.", str, media_type="text/plain")},
    ),
]
