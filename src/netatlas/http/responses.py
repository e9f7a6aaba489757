"""HTTP helpers shared by the API views: JSON responses, the error envelope, CORS, body limits."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import msgspec
from starlette.requests import Request
from starlette.responses import Response

from netatlas.http.clientip import client_ip
from netatlas.http.errors import ApiError, ParseError, PayloadTooLarge

_encode = msgspec.json.encode
_T = TypeVar("_T")

#: Large request bodies decoded and parsed at once per process. Parsing holds the GIL, so more
#: at once would not finish sooner; each can take many times its size in memory (a 32 MiB body
#: of empty objects takes over a gigabyte), and they would take the threads that serve database
#: lookups and queue writes.
LARGE_BODIES = anyio.CapacityLimiter(2)

# Ichnaea compatibility: every API response, errors included, allows any origin for 30 days.
CORS_HEADERS = {"Access-Control-Allow-Origin": "*", "Access-Control-Max-Age": "2592000"}


def json_response(data: Any, status: int = 200, *, cors: bool = True) -> Response:
    return Response(
        _encode(data),
        status_code=status,
        media_type="application/json",
        headers=CORS_HEADERS if cors else None,
    )


def error_response(error: ApiError, *, cors: bool = True) -> Response:
    headers = dict(CORS_HEADERS) if cors else {}
    headers.update(error.headers)
    retry_after = getattr(error, "retry_after", None)
    if retry_after:
        headers["Retry-After"] = str(retry_after)
    return Response(
        error.body(), status_code=error.status, media_type="application/json", headers=headers
    )


async def run_large(func: Callable[[], _T]) -> _T:
    """Run ``func`` (a large body's decoding, parsing and what follows) in a worker thread, at
    most ``LARGE_BODIES`` at once."""
    return await anyio.to_thread.run_sync(func, limiter=LARGE_BODIES)


def options_response() -> Response:
    return Response(status_code=200, headers=CORS_HEADERS)


async def read_body(request: Request, limit: int) -> bytes:
    """The raw request body, refusing (413) anything over ``limit`` without reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise PayloadTooLarge(limit=limit)
        except ValueError:
            raise ParseError.decode_error("invalid Content-Length header") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(limit=limit)
        chunks.append(chunk)
    return b"".join(chunks)


def request_ip(request: Request, trusted: Sequence[str]) -> str | None:
    """The client's address: the peer, or what trusted proxies say in ``X-Forwarded-For``."""
    peer = request.client.host if request.client else None
    forwarded = ", ".join(request.headers.getlist("x-forwarded-for")) or None
    return client_ip(peer, forwarded, trusted)


def charset_of(request: Request) -> str | None:
    content_type = request.headers.get("content-type", "")
    for part in content_type.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "charset" and value:
            return value.strip().strip('"')
    return None
