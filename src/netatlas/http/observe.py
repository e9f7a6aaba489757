"""The request middleware: a request id, the latency histogram, ndt7 test counts, error logs.

A plain ASGI middleware, kept cheap because every request pays for it: two clock reads, one
closure, one tuple and a dict lookup for the histogram, and a header scan for the request id.
The id is the proxy's ``X-Request-ID`` when it sent a sane one, else this process's prefix and
a counter; it is set for logging (:data:`netatlas.http.logging.REQUEST_ID`) and echoed in the
response. Requests that end in 5xx (but 503), or take longer than :data:`SLOW_SECONDS`,
are logged.

WebSocket handshakes on the ndt7 paths are counted by outcome: 101 when the test was accepted,
else the HTTP status of the refusal (see :func:`netatlas.http.metrics.ndt7_test`).
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from pathlib import Path
from typing import Any

from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from netatlas.http.logging import REQUEST_ID
from netatlas.http.metrics import REGISTRY, Registry, ndt7_test

__all__ = ["SLOW_SECONDS", "Observe", "endpoint_of"]

log = logging.getLogger("netatlas.request")

SLOW_SECONDS = 1.0
NDT7_PATHS = {"/ndt/v7/download": "download", "/ndt/v7/upload": "upload"}
_HEADER = b"x-request-id"
_MAX_ID = 128
# id(route) -> (route, template); routes define __eq__, so they cannot be keys themselves.
# Holding the route keeps its id from being reused while the entry exists.
_templates: dict[int, tuple[Any, str]] = {}


def endpoint_of(scope: Scope) -> str:
    """The matched route's path template ("unmatched" when no route matched)."""
    route = scope.get("route")
    if route is None:
        return "unmatched"
    entry = _templates.get(id(route))
    if entry is None or entry[0] is not route:
        path = str(getattr(route, "path", "") or "/")
        entry = _templates[id(route)] = (
            route,
            path + "/{path}" if isinstance(route, Mount) else path,
        )
    return entry[1]


class _Ids:
    """Request ids made here: a per-process prefix and a counter (no randomness per request)."""

    def __init__(self) -> None:
        self.prefix = f"{os.getpid():x}{os.urandom(3).hex()}-"
        self.counter = itertools.count(1)

    def next(self) -> str:
        return f"{self.prefix}{next(self.counter):x}"


def _given_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == _HEADER:
            if 0 < len(value) <= _MAX_ID and value.isascii():
                text: str = value.decode("ascii")
                if text.isprintable():
                    return text
            return None
    return None


class Observe:
    def __init__(
        self, app: ASGIApp, spool: Path | None = None, registry: Registry = REGISTRY
    ) -> None:
        self.app = app
        self.spool = spool
        self.registry = registry
        self.ids = _Ids()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket" and scope["path"] in NDT7_PATHS:
            await self._ndt7(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        request_id = _given_id(scope) or self.ids.next()
        token = REQUEST_ID.set(request_id)
        header = (_HEADER, request_id.encode("ascii"))
        status = [500]

        async def send_observed(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        except BaseException:
            status[0] = 500
            raise
        finally:
            now = time.perf_counter()
            elapsed = now - start
            self.registry.observe_request(endpoint_of(scope), status[0], elapsed)
            # 503s are expected answers (an outage, backpressure), logged where they arise.
            if (status[0] >= 500 and status[0] != 503) or elapsed > SLOW_SECONDS:
                log.warning(
                    "%s %s %d in %.0f ms",
                    scope["method"],
                    scope["path"],
                    status[0],
                    elapsed * 1000,
                    extra={"status": status[0], "duration_ms": round(elapsed * 1000, 1)},
                )
            if self.spool is not None and self.registry.due(now):
                self.registry.flush(self.spool, now)
            REQUEST_ID.reset(token)

    async def _ndt7(self, scope: Scope, receive: Receive, send: Send) -> None:
        direction = NDT7_PATHS[scope["path"]]
        outcome = [0]

        async def send_observed(message: Message) -> None:
            kind = message["type"]
            if not outcome[0]:
                if kind == "websocket.accept":
                    outcome[0] = 101
                    self.registry.add_gauge("ndt7_tests_running", (direction,), 1)
                elif kind == "websocket.http.response.start":
                    outcome[0] = int(message["status"])
                elif kind == "websocket.close":
                    outcome[0] = 403  # closed before accepting: the handshake gets 403
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            if outcome[0] == 101:
                self.registry.add_gauge("ndt7_tests_running", (direction,), -1)
            ndt7_test(direction, outcome[0] or 500)
