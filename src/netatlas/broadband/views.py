"""HTTP and WebSocket views of the speed test: the ndt7 endpoints, the page, the survey API.

* ``/ndt/v7/download``, ``/ndt/v7/upload`` — ndt7. A refused handshake is answered with an
  HTTP error and a JSON body saying why (400 bad subprotocol or metadata, 401 token, 429 per
  address, 503 server full), before any upgrade.
* the speed-test page's content (the site renders it at ``/speedtest``);
  ``GET /api/v1/speedtest/config`` — its settings;
  ``GET /api/v1/speedtest/token`` — a short-lived ndt7 access token.
* ``POST /api/v1/survey`` — answers linked to the test (201, or 400 with an error per field;
  429 with ``Retry-After`` past the hourly limit per address).
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from netatlas.broadband import page
from netatlas.broadband.aggregate.config import ConfigError
from netatlas.broadband.ndt7 import spec
from netatlas.broadband.ndt7.server import ChannelClosed
from netatlas.broadband.schema import (
    SpeedtestConfig,
    SpeedtestToken,
    SurveyCreated,
    SurveySubmission,
)
from netatlas.broadband.service import Broadband, Connection
from netatlas.broadband.state import broadband_of, stats_of
from netatlas.broadband.survey import SurveyError
from netatlas.broadband.usecases import DEFAULT_TABLE, UseCaseTable
from netatlas.http.clientip import client_ip
from netatlas.http.errors import ApiError, ErrorEnvelope, ParseError
from netatlas.http.openapi import OpenAPIPath, Reply
from netatlas.http.responses import error_response, json_response, read_body

MAX_SURVEY_BYTES = 64 * 1024


def _client(conn: HTTPConnection, bb: Broadband) -> str | None:
    host = conn.client.host if conn.client else None
    return client_ip(host, conn.headers.get("x-forwarded-for"), bb.settings.trusted_proxies)


class StarletteChannel:
    """An accepted Starlette WebSocket as an ndt7 :class:`~.server.Channel`."""

    def __init__(self, websocket: WebSocket) -> None:
        self.ws = websocket

    async def send_bytes(self, data: bytes) -> None:
        try:
            await self.ws.send({"type": "websocket.send", "bytes": data})
        except (WebSocketDisconnect, OSError, RuntimeError):
            raise ChannelClosed() from None

    async def send_text(self, data: str) -> None:
        try:
            await self.ws.send({"type": "websocket.send", "text": data})
        except (WebSocketDisconnect, OSError, RuntimeError):
            raise ChannelClosed() from None

    async def receive(self) -> bytes | str:
        try:
            message = await self.ws.receive()
        except (WebSocketDisconnect, OSError, RuntimeError):
            raise ChannelClosed() from None
        if message["type"] == "websocket.disconnect":
            raise ChannelClosed()
        data = message.get("bytes")
        if data is not None:
            return bytes(data)
        return str(message.get("text") or "")

    async def close(self, code: int) -> None:
        try:
            await self.ws.close(code)
        except (WebSocketDisconnect, OSError, RuntimeError):
            raise ChannelClosed() from None


def _denial(error: spec.Ndt7Error) -> Response:
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after else None
    body = {"error": {"code": error.status, "message": error.message}}
    return Response(
        msgspec.json.encode(body),
        status_code=error.status,
        media_type="application/json",
        headers=headers,
    )


def _ndt7_view(direction: str):  # type: ignore[no-untyped-def]
    async def view(websocket: WebSocket) -> None:
        start_ns = time.time_ns()
        bb = broadband_of(websocket)
        ip = _client(websocket, bb)
        try:
            request = bb.admit(
                websocket.scope.get("subprotocols", []), websocket.scope["query_string"], ip
            )
            ticket = bb.ticket(ip)
        except spec.Ndt7Error as error:
            await websocket.send_denial_response(_denial(error))
            return
        try:
            await websocket.accept(subprotocol=spec.SUBPROTOCOL)
            peer = websocket.scope.get("client") or ("", 0)
            local = websocket.scope.get("server") or ("", 0)
            conn = Connection(str(peer[0]), int(peer[1] or 0), str(local[0]), int(local[1] or 0))
            await bb.run(StarletteChannel(websocket), direction, request, conn, start_ns, ip)
        finally:
            ticket.release()

    return view


def use_cases(request: Request) -> UseCaseTable:
    """The use-case table in force (the aggregations settings'); the default one while those
    settings are wrong, so that a page still renders."""
    try:
        return stats_of(request).use_cases
    except ConfigError:
        return DEFAULT_TABLE


async def speedtest_page(request: Request) -> page.Content:
    """The speed-test page's content for ``request``: the site renders it and routes
    ``/speedtest`` to it (see :mod:`netatlas.site.pages`)."""
    bb = broadband_of(request)
    ip = _client(request, bb)
    cases = await run_in_threadpool(use_cases, request)
    config = await run_in_threadpool(page.page_config, bb, ip, cases)
    return page.content(config, bb.form, bb.settings)


async def speedtest_config(request: Request) -> Response:
    bb = broadband_of(request)
    cases = await run_in_threadpool(use_cases, request)
    config = await run_in_threadpool(page.page_config, bb, _client(request, bb), cases)
    return json_response(config, cors=False)


async def speedtest_token(request: Request) -> Response:
    bb = broadband_of(request)
    token, expires = bb.signer.issue(_client(request, bb))
    return json_response({"token": token, "expires": expires}, cors=False)


async def submit_survey(request: Request) -> Response:
    bb = broadband_of(request)
    ip = _client(request, bb)
    try:
        raw = await read_body(request, MAX_SURVEY_BYTES)
        try:
            body: Any = msgspec.json.decode(raw)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
            # msgspec reports bad UTF-8 inside strings as UnicodeDecodeError, and very deep
            # nesting as RecursionError: both are the client's malformed JSON.
            raise ParseError.decode_error(f"the body is not JSON: {exc}") from None
        saved = await run_in_threadpool(bb.submit_survey, body, ip)
    except SurveyError as error:
        errors = ParseError("The survey has errors.", {"validation": error.fields})
        return error_response(errors, cors=False)  # answered for this site's page only
    except ApiError as error:
        return error_response(error, cors=False)
    return json_response(
        {"id": saved.id, "measurements": {"download": saved.download, "upload": saved.upload}},
        201,
        cors=False,
    )


routes = [
    WebSocketRoute("/ndt/v7/download", _ndt7_view(spec.DOWNLOAD)),
    WebSocketRoute("/ndt/v7/upload", _ndt7_view(spec.UPLOAD)),
    Route("/api/v1/speedtest/config", speedtest_config, methods=["GET"]),
    Route("/api/v1/speedtest/token", speedtest_token, methods=["GET", "POST"]),
    Route("/api/v1/survey", submit_survey, methods=["POST"]),
]


_TAGS = ("broadband",)
_TOKEN_DESCRIPTION = (
    "A token for the ndt7 endpoints, needed only when the server requires one"
    " (`tokens_required` in the speed-test settings): send it as `access_token=` in the query"
    " string of /ndt/v7/download and /ndt/v7/upload. It is signed for the caller's address"
    " and good for every subtest started before `expires` (`token_ttl` seconds after it was"
    " issued). GET and POST do the same; POST reads no body."
)


def _token_doc(method: str) -> OpenAPIPath:
    return OpenAPIPath(
        "/api/v1/speedtest/token",
        method,
        "A short-lived access token for an ndt7 speed test.",
        tags=_TAGS,
        description=_TOKEN_DESCRIPTION,
        responses={200: Reply("The token and its expiry.", SpeedtestToken)},
    )


openapi = [
    OpenAPIPath(
        "/api/v1/speedtest/config",
        "get",
        "The speed-test page's settings: mode, token rule, survey form, use-case limits.",
        tags=_TAGS,
        description=(
            "The object the /speedtest page embeds for its script. `mode` is `local` (tests"
            " run against this server's ndt7 endpoints, or `server` when set) or `mlab`"
            " (against M-Lab's servers, found through their Locate API). `client_name` and"
            " `client_version` are what the page reports as ndt7 metadata, `vendor` is where"
            " the ndt7 browser client is served from, `form` is the survey to answer, and"
            " `isp_guess` is the caller's network operator looked up from its address in the"
            " ASN database (null when unknown)."
        ),
        responses={200: Reply("The settings.", SpeedtestConfig)},
    ),
    _token_doc("get"),
    _token_doc("post"),
    OpenAPIPath(
        "/api/v1/survey",
        "post",
        "Answer the survey about the speed test just run.",
        tags=_TAGS,
        request=SurveySubmission,
        request_required=True,
        description=(
            "A JSON object of at most 64 KiB (no Content-Encoding). `download` and `upload`"
            " name the subtests, at least one, by the UUID the server reported in ndt7's"
            " ConnectionInfo. In mode `local` each must be a test stored on this server, run"
            " from the caller's address and not yet linked to a survey. In mode `mlab` each"
            " also carries `tcpinfo` (with `ElapsedTime`), from which the measurement is"
            " recorded here. `answers` are checked against the form; unknown keys, at the top"
            " or in `answers`, are errors. `consent` must be true when the form requires it,"
            " and `location` is kept only with consent. The problems found are reported"
            " together; the tests are looked up once the rest of the body is right."
        ),
        responses={
            201: Reply("Stored; the ids of the linked measurements.", SurveyCreated),
            400: Reply(
                "The body is not JSON or its Content-Length is not a number"
                " (`details.decode`), or the survey has errors:"
                " `details.validation` maps field paths (answers.isp, download.uuid,"
                " location.latitude…) to messages.",
                ErrorEnvelope,
            ),
            413: Reply("The body is over 64 KiB.", ErrorEnvelope),
            429: Reply(
                "Too many submissions from this address (IPv4) or /64 (IPv6) this hour"
                " (`NETATLAS_SURVEY_IP_PER_HOUR`); `Retry-After` says when to try again.",
                ErrorEnvelope,
            ),
        },
    ),
]
