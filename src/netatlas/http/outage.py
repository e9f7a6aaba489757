"""A backend that is down answers 503, never 500.

While PostgreSQL restarts, Redis is away or SQLite is locked for longer than its busy timeout,
any view that reaches the backend raises the driver's connection error. These handlers turn
such errors into the MLS error envelope with status 503 and a short ``Retry-After``, the
answer clients already know how to wait on. Errors that are not about reaching a backend
(a bug, a constraint violation) stay 500s and are logged as such.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import psycopg
import redis.exceptions
import sqlalchemy.exc
from starlette.requests import Request
from starlette.responses import Response

from netatlas.http.errors import Unavailable
from netatlas.http.responses import error_response
from netatlas.queue import QueueUnavailable

__all__ = ["OUTAGE_ERRORS", "RETRY_AFTER", "outage_handlers"]

log = logging.getLogger(__name__)

OUTAGE_ERRORS: tuple[type[Exception], ...] = (
    sqlalchemy.exc.OperationalError,  # connection refused or lost; SQLite busy for too long
    sqlalchemy.exc.InterfaceError,  # the driver's connection is closed
    sqlalchemy.exc.TimeoutError,  # no pooled connection came free in time
    sqlalchemy.exc.DisconnectionError,
    # The hot path's raw driver cursors (locate on PostgreSQL) raise the driver's own errors.
    psycopg.OperationalError,
    psycopg.InterfaceError,
    sqlite3.OperationalError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,  # Redis is replaying its append-only file
    QueueUnavailable,
)


RETRY_AFTER = 5  # seconds a client is asked to wait while a backend restarts
_LOG_EVERY = 10.0  # seconds: an outage fails every request; one line per period is enough
_last_logged: dict[str, float] = {}


async def _backend_down(request: Request, exc: Exception) -> Response:
    kind = type(exc).__name__
    now = time.monotonic()
    if now - _last_logged.get(kind, -_LOG_EVERY) >= _LOG_EVERY:
        _last_logged[kind] = now
        log.warning("backend unavailable (%s at %s): %s", kind, request.url.path, exc)
    return error_response(Unavailable(RETRY_AFTER, "A backend is unavailable; retry shortly."))


def outage_handlers() -> Mapping[Any, Callable[[Request, Exception], Awaitable[Response]]]:
    """Exception handlers for ``Starlette(exception_handlers=...)``."""
    return dict.fromkeys(OUTAGE_ERRORS, _backend_down)
