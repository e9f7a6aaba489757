"""HTTP views of the MLS-compatible submit API (Ichnaea wire format)."""

from __future__ import annotations

from typing import Literal

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from netatlas.http.body import decode_body, decode_small_body, failed_size
from netatlas.http.errors import ApiError, ErrorEnvelope, ParseError
from netatlas.http.metrics import keyless_client
from netatlas.http.openapi import OpenAPIPath, Param, Reply
from netatlas.http.responses import (
    CORS_HEADERS,
    charset_of,
    error_response,
    json_response,
    options_response,
    read_body,
    request_ip,
    run_large,
)
from netatlas.location.schema import SubmitResponse, SubmitV0, SubmitV1, SubmitV2
from netatlas.location.services import services_of
from netatlas.location.submit.backpressure import Overloaded
from netatlas.location.submit.intake import contributor_id, parse_submission, queue_submission

METHODS = ["GET", "HEAD", "POST", "OPTIONS"]


def _submit_view(api: Literal["v2", "v1", "v0"]):  # type: ignore[no-untyped-def]
    async def view(request: Request) -> Response:
        if request.method == "OPTIONS":
            return options_response()
        services = services_of(request)
        try:
            if request.method != "POST":
                # Ichnaea compatibility: a submit without a body is a parse error.
                raise ParseError()
            if services.backpressure.refusing():  # cached: refuse before reading the body
                raise Overloaded()
            max_size = services.settings.max_body_bytes
            raw = await read_body(request, max_size)
            key = services.keys.get(request.query_params.get("key"))
            encoding = request.headers.get("content-encoding")
            charset = charset_of(request)
            # Submissions without a known key count against their address's rate limit, in
            # decoded bytes (a body that cannot be decoded: what it could have inflated to).
            address = request_ip(request, services.settings.trusted_proxies)
            ip = None if key is not None else address
            if key is None:
                keyless_client("submit", request.headers.get("user-agent"))
            contributor = contributor_id(address, services.contributor_key)

            def count(size: int) -> None:
                if ip is not None:
                    services.limiter.check_submit(ip, size)

            def push(item: bytes | None, reports: int) -> None:
                if item is not None:
                    queue_submission(services.queue, item, reports, services.backpressure)

            def count_and_push(size: int, item: bytes | None, reports: int) -> None:
                count(size)
                push(item, reports)

            def decode_count_parse() -> tuple[bytes | None, int]:
                try:
                    text = decode_body(raw, encoding, charset, max_size)
                except ApiError:
                    count(failed_size(raw, max_size))
                    raise
                count(len(text))  # before the parse: a refused body is not parsed
                return parse_submission(text, api=api, key=key, contributor=contributor)

            # A typical batch is decoded and parsed here, on the event loop: about a millisecond,
            # less than a thread hop costs under the GIL. A large one (over INLINE_BYTES) is
            # decoded, counted and parsed in a worker thread (see run_large), so that it does not
            # hold other requests up. The rate limit and the queue write may block (Redis, the
            # database): thread pool.
            text = None
            try:
                text = decode_small_body(raw, encoding, charset, max_size)
                item, reports = (
                    (None, 0)
                    if text is None
                    else parse_submission(text, api=api, key=key, contributor=contributor)
                )
            except ApiError:
                if ip is not None:
                    size = failed_size(raw, max_size) if text is None else len(text)
                    await run_in_threadpool(count, size)
                raise
            if text is None:
                item, reports = await run_large(decode_count_parse)
                if item is not None:
                    await run_in_threadpool(push, item, reports)
            elif item is not None or ip is not None:
                await run_in_threadpool(count_and_push, len(text), item, reports)
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


def _submit_doc(path: str, body: type, ok: int, summary: str) -> OpenAPIPath:
    ok_reply = (
        Reply("Queued; no body (Ichnaea compatibility).")
        if ok == 204
        else Reply("Queued durably.", SubmitResponse)
    )
    return OpenAPIPath(
        path,
        "post",
        summary,
        request=body,
        request_required=True,
        params=[Param("key", "API key (optional for submissions).")],
        tags=("location",),
        description="Bodies may be gzip- or deflate-encoded (Content-Encoding).",
        responses={
            ok: ok_reply,
            400: Reply("The body could not be decoded or has the wrong shape.", ErrorEnvelope),
            413: Reply("The body is over the size limit.", ErrorEnvelope),
            429: Reply(
                "Too much submitted from this address without a known key.",
                ErrorEnvelope,
                headers=("Retry-After",),
            ),
            503: Reply(
                "The queue is unavailable or the backlog is over its hard limit.",
                ErrorEnvelope,
                headers=("Retry-After",),
            ),
        },
    )


openapi = [
    _submit_doc("/v2/geosubmit", SubmitV2, 200, "Submit observations (geosubmit v2)."),
    _submit_doc("/v1/geosubmit", SubmitV1, 200, "Submit observations (geosubmit v1)."),
    _submit_doc("/v1/submit", SubmitV0, 204, "Submit observations (legacy MozStumbler format)."),
]
