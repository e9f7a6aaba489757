"""HTTP views of /v1/geolocate and /v1/country (Ichnaea and Google wire format)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from netatlas.http.body import decode_body, decode_small_body
from netatlas.http.errors import ApiError, ErrorEnvelope
from netatlas.http.openapi import OpenAPIPath, Param, Reply
from netatlas.http.responses import (
    charset_of,
    error_response,
    json_response,
    options_response,
    read_body,
    request_ip,
    run_large,
)
from netatlas.location.locate.answer import Answer, Caller, country, geolocate
from netatlas.location.locate.query import MAX_NETWORKS, LocateRequest, Query, parse_query
from netatlas.location.schema import CountryResponse, GeolocateResponse
from netatlas.location.services import Services, services_of

METHODS = ["GET", "HEAD", "POST", "OPTIONS"]

Answering = Callable[[Services, Query, Caller], Answer]


def caller_of(request: Request, services: Services) -> Caller:
    return Caller(
        key=request.query_params.get("key"),
        ip=request_ip(request, services.settings.trusted_proxies),
        contribute=request.headers.get("x-ichnaea-contribute-opt-in") == "1",
        agent=request.headers.get("user-agent"),
    )


def _view(answer: Answering) -> Callable[[Request], Awaitable[Response]]:
    async def view(request: Request) -> Response:
        if request.method == "OPTIONS":
            return options_response()
        services = services_of(request)
        try:
            raw = b""
            if request.method == "POST":
                raw = await read_body(request, services.settings.max_body_bytes)
            encoding = request.headers.get("content-encoding")
            charset = charset_of(request)
            max_size = services.settings.max_body_bytes
            caller = caller_of(request, services)
            # An empty body, GET and HEAD are IP-only queries (Ichnaea compatibility). A small
            # body is parsed here, a large one in a worker thread (see run_large).
            text = decode_small_body(raw, encoding, charset, max_size)
            if text is not None:
                query = parse_query(text)
            else:
                query = await run_large(
                    lambda: parse_query(decode_body(raw, encoding, charset, max_size))
                )
            answered = await run_in_threadpool(answer, services, query, caller)
        except ApiError as error:
            return error_response(error)
        response = json_response(answered.body)
        response.headers.update(answered.headers)
        return response

    return view


routes = [
    Route("/v1/geolocate", _view(geolocate), methods=METHODS),
    Route("/v1/country", _view(country), methods=METHODS),
]


_RATE = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def _locate_doc(path: str, answer: type, summary: str) -> OpenAPIPath:
    return OpenAPIPath(
        path,
        "post",
        summary,
        request=LocateRequest,
        params=[Param("key", "API key (required when the server requires keys).")],
        tags=("location",),
        description=(
            "An empty body is an IP-only query. Bodies may be gzip-encoded. At most "
            f"{MAX_NETWORKS} networks of each kind (WiFi, Bluetooth, cells, cell areas) are "
            "considered, the strongest signals."
        ),
        responses={
            200: Reply("The answer.", answer, headers=_RATE),
            400: Reply("Bad body or key (unknown, pending or revoked).", ErrorEnvelope),
            403: Reply(
                "The key's daily limit is used up, or the key is blocked.",
                ErrorEnvelope,
                headers=(*_RATE, "Retry-After"),
            ),
            404: Reply("No source knows the place.", ErrorEnvelope),
            413: Reply("The body is over the size limit.", ErrorEnvelope),
            429: Reply(
                "Too many keyless requests.", ErrorEnvelope, headers=(*_RATE, "Retry-After")
            ),
            503: Reply("A backend is unavailable.", ErrorEnvelope, headers=("Retry-After",)),
        },
    )


openapi = [
    _locate_doc("/v1/geolocate", GeolocateResponse, "Locate a device from the networks it sees."),
    _locate_doc("/v1/country", CountryResponse, "The country a device is in."),
]
