"""HTTP views of the MLS-compatible submit API (Ichnaea wire format)."""

from __future__ import annotations

from typing import Literal

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from netatlas.location.errors import ApiError, ParseError
from netatlas.location.intake import accept_submission
from netatlas.web.http import (
    CORS_HEADERS,
    charset_of,
    error_response,
    json_response,
    options_response,
    read_body,
)

METHODS = ["GET", "HEAD", "POST", "OPTIONS"]


def _submit_view(api: Literal["v2", "v1", "v0"]):  # type: ignore[no-untyped-def]
    async def view(request: Request) -> Response:
        if request.method == "OPTIONS":
            return options_response()
        services = request.app.state.services
        try:
            if request.method != "POST":
                # Ichnaea compatibility: a submit without a body is a parse error.
                raise ParseError()
            raw = await read_body(request, services.settings.max_body_bytes)
            key = services.keys.get(request.query_params.get("key"))

            def accept() -> int:
                return accept_submission(
                    services.queue,
                    raw,
                    api=api,
                    content_encoding=request.headers.get("content-encoding"),
                    charset=charset_of(request),
                    max_size=services.settings.max_body_bytes,
                    key=key,
                )

            # Parsing is CPU work and the queue write blocking I/O: both stay off the loop.
            await run_in_threadpool(accept)
        except ApiError as error:
            return error_response(error)
        if api == "v0":
            # Ichnaea compatibility: /v1/submit answers 204 with an empty body.
            return Response(status_code=204, headers=CORS_HEADERS)
        return json_response({})

    return view


routes = [
    Route("/v2/geosubmit", _submit_view("v2"), methods=METHODS),
    Route("/v1/geosubmit", _submit_view("v1"), methods=METHODS),
    Route("/v1/submit", _submit_view("v0"), methods=METHODS),
]
