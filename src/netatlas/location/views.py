"""HTTP views of the MLS-compatible submit API (Ichnaea wire format)."""

from __future__ import annotations

from typing import Literal

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from netatlas.location.backpressure import Overloaded
from netatlas.location.errors import ApiError, ParseError
from netatlas.location.intake import prepare_submission, queue_submission
from netatlas.location.schema import ErrorEnvelope, SubmitResponse, SubmitV0, SubmitV1, SubmitV2
from netatlas.web.http import (
    CORS_HEADERS,
    charset_of,
    error_response,
    json_response,
    options_response,
    read_body,
)
from netatlas.web.openapi import OpenAPIPath, Param, Reply

METHODS = ["GET", "HEAD", "POST", "OPTIONS"]
_INLINE_BYTES = 32 * 1024


def _submit_view(api: Literal["v2", "v1", "v0"]):  # type: ignore[no-untyped-def]
    async def view(request: Request) -> Response:
        if request.method == "OPTIONS":
            return options_response()
        services = request.app.state.services
        try:
            if request.method != "POST":
                # Ichnaea compatibility: a submit without a body is a parse error.
                raise ParseError()
            if services.backpressure.refusing():  # cached: refuse before reading the body
                raise Overloaded()
            raw = await read_body(request, services.settings.max_body_bytes)
            key = services.keys.get(request.query_params.get("key"))

            def prepare() -> tuple[bytes | None, int]:
                return prepare_submission(
                    raw,
                    api=api,
                    content_encoding=request.headers.get("content-encoding"),
                    charset=charset_of(request),
                    max_size=services.settings.max_body_bytes,
                    key=key,
                )

            # Parsing a typical batch takes about a millisecond: doing it on the event loop is
            # cheaper than a thread hop under the GIL. Big batches go to the thread pool so
            # they do not hold other requests up. The queue write always blocks: thread pool.
            if len(raw) <= _INLINE_BYTES:
                item, reports = prepare()
            else:
                item, reports = await run_in_threadpool(prepare)
            if item is not None:
                await run_in_threadpool(
                    queue_submission, services.queue, item, reports, services.backpressure
                )
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
