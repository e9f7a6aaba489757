"""NetAtlas's JSON API for self-service keys: ``POST /api/v1/keys`` signs up for a key (the
answer is the only place the key is ever shown), ``GET /api/v1/keys/usage?key=KEY`` tells the
holder the key's state, limits and use today.

The sign-up endpoint answers JSON bodies only and sends no CORS headers: a page of another site
cannot post JSON here without a preflight this server does not grant, so it needs no CSRF
token (the HTML form on ``/keys`` carries one).
"""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from netatlas.http.errors import ApiError, ErrorEnvelope, ParseError
from netatlas.http.openapi import OpenAPIPath, Param, Reply
from netatlas.http.responses import error_response, json_response, read_body, request_ip
from netatlas.location.services import Services, services_of
from netatlas.location.signup import NewKey, key_usage, sign_up

__all__ = ["KeyUsage", "NewKeyResponse", "SignupRequest", "new_key", "routes", "usage_of"]

MAX_SIGNUP_BYTES = 4096
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class SignupRequest(msgspec.Struct, forbid_unknown_fields=True):
    """What a sign-up may say: both optional."""

    contact: str | None = None  # how the operator may reach the holder (e-mail, Matrix, …)
    purpose: str | None = None  # what the key is for, in a sentence


class NewKeyResponse(msgspec.Struct):
    key: str  # shown once: the server keeps only its hash
    key_id: str  # the key's public id (what the operator sees)
    status: str  # active, or pending until an administrator approves it
    daily_limit: int | None  # /v1/geolocate requests a UTC day; null: none


class KeyUsage(msgspec.Struct):
    key_id: str
    status: str  # active, pending or revoked
    locate: bool  # may use /v1/geolocate
    country: bool  # may use /v1/country
    daily_limit: int | None
    used_today: int | None  # /v1/geolocate requests counted today (null: not counted)
    remaining_today: int | None
    reset_seconds: int  # until the next UTC day
    blocked: bool  # blocked from everywhere now
    blocked_seconds: int | None  # until a time-limited block ends
    network_blocks: int  # blocks from some networks in force
    keyless_per_minute: int | None  # the limit without a key, for comparison


def new_key(services: Services, ip: str | None, contact: Any, purpose: Any) -> NewKey:
    """Sign up under the policy in force (the domain step both sign-up views call)."""
    return sign_up(
        services.engine,
        services.limiter,
        services.signup.current(),
        ip,
        contact,
        purpose,
        services.settings.key_signup_ip_per_day,
    )


def usage_of(services: Services, key: str | None) -> dict[str, Any]:
    return key_usage(
        services.keys, services.limiter, key, services.settings.keyless_rate_per_minute
    )


def _decode(raw: bytes) -> SignupRequest:
    if not raw.strip():
        return SignupRequest()
    try:
        return msgspec.json.decode(raw, type=SignupRequest)
    except msgspec.ValidationError as exc:
        raise ParseError.validation_error({"body": str(exc)}) from None
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ParseError.decode_error(f"the body is not JSON: {exc}") from None


async def signup_api(request: Request) -> Response:
    services = services_of(request)
    try:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            raise ParseError.decode_error("send the sign-up as application/json")
        body = _decode(await read_body(request, MAX_SIGNUP_BYTES))
        ip = request_ip(request, services.settings.trusted_proxies)
        made = await run_in_threadpool(new_key, services, ip, body.contact, body.purpose)
    except ApiError as error:
        response = error_response(error, cors=False)
        response.headers.update(NO_STORE)
        return response
    answer = NewKeyResponse(made.key, made.key_id, made.status, made.daily_limit)
    response = json_response(answer, 201, cors=False)
    response.headers.update(NO_STORE)
    return response


async def usage_api(request: Request) -> Response:
    services = services_of(request)
    try:
        found = await run_in_threadpool(usage_of, services, request.query_params.get("key"))
    except ApiError as error:
        return error_response(error)
    response = json_response(found)
    response.headers.update(NO_STORE)
    return response


routes = [
    Route("/api/v1/keys", signup_api, methods=["POST"]),
    Route("/api/v1/keys/usage", usage_api, methods=["GET"]),
]

_TAGS = ("keys",)
openapi = [
    OpenAPIPath(
        "/api/v1/keys",
        "post",
        "Sign up for an API key (when the operator offers self-service keys).",
        request=SignupRequest,
        tags=_TAGS,
        description=(
            "The answer is the only time the key is shown: the server keeps only its hash."
            " In approve mode the key works once an administrator approves it."
        ),
        responses={
            201: Reply("The new key.", NewKeyResponse),
            400: Reply("A bad body.", ErrorEnvelope),
            403: Reply("Sign-up is off, or refused from this network.", ErrorEnvelope),
            429: Reply(
                "Too many sign-ups from this address today.",
                ErrorEnvelope,
                headers=("Retry-After",),
            ),
        },
    ),
    OpenAPIPath(
        "/api/v1/keys/usage",
        "get",
        "A key's state, limits and use today, for its holder.",
        params=[Param("key", "The API key.")],
        tags=_TAGS,
        responses={
            200: Reply("The key's standing.", KeyUsage),
            400: Reply("No such key.", ErrorEnvelope),
        },
    ),
]
