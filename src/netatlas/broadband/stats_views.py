"""HTTP: the broadband statistics API.

* ``GET /api/v1/broadband/aggregations`` — the declared aggregations, their bins, statistics
  and last update;
* ``GET /api/v1/broadband/stats/{aggregation}`` — binned statistics with ``stats=``,
  ``format=geojson|json|csv``, ``b.<bin>=`` (keep / re-bin), ``f.<bin>=`` (filter), ``limit``
  and ``offset`` (the answer links the next page), and an ETag (``If-None-Match`` → 304).

Unknown aggregations, statistics, bins, formats or parameters get a 400 listing the valid
names; statistics no longer published (minima, maxima, means, clients) get a 400 saying why.

Every figure is noisy and thresholded after filtering and merging (see
:mod:`netatlas.broadband.aggregate.privacy` and the ``/privacy`` page): cells below the
publication threshold are not listed, counts below it are ``null``, and distributions need
enough tests and clients.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from netatlas.broadband.aggregate.config import ConfigError
from netatlas.broadband.aggregate.query import QueryError
from netatlas.broadband.aggregate.service import StatsService, render
from netatlas.broadband.state import stats_of
from netatlas.http.openapi import OpenAPIPath, Param, Reply
from netatlas.http.responses import CORS_HEADERS, json_response

MAX_AGE = 60


def _service(request: Request) -> StatsService:
    return stats_of(request)


def _error(status: int, message: str, valid: list[str] | None = None) -> Response:
    body: dict[str, object] = {"code": status, "message": message}
    if valid:
        body["valid"] = valid
    return json_response({"error": body}, status)


async def aggregations(request: Request) -> Response:
    try:
        service = _service(request)
    except ConfigError as exc:
        return _error(503, f"aggregations are misconfigured: {exc}")
    listed = await run_in_threadpool(service.aggregations)
    return json_response({"aggregations": listed})


async def stats(request: Request) -> Response:
    name = request.path_params["aggregation"]
    params = dict(request.query_params)
    try:
        service = _service(request)
        result = await run_in_threadpool(
            service.answer, name, params, request.headers.get("if-none-match", "")
        )
    except ConfigError as exc:
        return _error(503, f"aggregations are misconfigured: {exc}")
    except QueryError as exc:
        return _error(400, str(exc), exc.valid)
    headers = {**CORS_HEADERS, "ETag": result.etag, "Cache-Control": f"public, max-age={MAX_AGE}"}
    if result.answer is None:
        return Response(status_code=304, headers=headers)
    answer = result.answer
    next_url = None
    if answer.offset + answer.limit < answer.total:
        next_url = str(request.url.include_query_params(offset=answer.offset + answer.limit))
        headers["Link"] = f'<{next_url}>; rel="next"'
    body, media_type = render(name, answer, result.format, next_url)
    return Response(body, media_type=media_type, headers=headers)


routes = [
    Route("/api/v1/broadband/aggregations", aggregations, methods=["GET"]),
    Route("/api/v1/broadband/stats/{aggregation}", stats, methods=["GET"]),
]

_BAD = Reply("Unknown aggregation, statistic, bin, format or parameter; `valid` lists the names.")
openapi = [
    OpenAPIPath(
        "/api/v1/broadband/aggregations",
        "get",
        "The declared aggregations: bins, statistics, last update, `publish_threshold` "
        "(the noisy test count a cell needs to be listed), `min_clients`, and the use-case "
        "table the scores are judged by (`use_cases`: limits and weights per use; "
        "`score_percentile`).",
        {200: Reply("`{aggregations: [...]}`"), 503: Reply("The aggregations file is wrong.")},
        tags=("broadband",),
    ),
    OpenAPIPath(
        "/api/v1/broadband/stats/{aggregation}",
        "get",
        "Binned speed-test statistics (Piecewise's query language), with differential-privacy "
        "noise: counts and distributions are noisy, a cell is listed only when its noisy count "
        "reaches the aggregation's `publish_threshold` (after filters and merging), a count "
        "below it is null, and minima, maxima and means are not published (see /privacy).",
        {
            200: Reply(
                "A GeoJSON FeatureCollection, JSON rows or CSV (listed cells only); ETag, "
                "Link: next. Null: withheld (too few tests or clients for that figure)."
            ),
            304: Reply("The client's copy (If-None-Match) is current."),
            400: _BAD,
        },
        params=(
            Param(
                "stats",
                "Comma-separated statistics, e.g. tests,download_median: tests, "
                "{download,upload}_{count,p5,p10,q25,median,q75,p90,p95,histogram}, "
                "min_rtt_median, good_<use> (share of tests meeting the use's download, upload "
                "and latency limits), "
                "{download,upload}_advertised_{count,80,100,ratio_median} (tests whose "
                "survey gave the plan's advertised speed: their count, the shares reaching 80 % "
                "and 100 % of it, the median measured/advertised ratio), score_<use> and "
                "iqb_score (M-Lab IQB-style 0–1 scores: each requirement passes or fails on "
                "the low percentile of speeds and the high percentile of latency and loss, "
                "weighted). <use> is a key of the aggregations' use-case table (default: "
                "browsing, video_streaming, audio_streaming, video_conferencing, online_backup, "
                "gaming; good_video_calls and good_streaming_4k are accepted for the old keys). "
                "A percentile q needs 15 / min(q, 1 - q) tests (30 for a median, 300 for p5 "
                "and p95); ratio shares and medians 30 tests with an advertised speed.",
            ),
            Param("format", "geojson (default), json or csv."),
            Param(
                "b.<bin>",
                "Keep a bin (area, time, hour, dow, isp) or re-bin it, e.g. "
                "b.time=year, b.area=h3:6; bins not named are merged.",
            ),
            Param(
                "f.<bin>",
                "Filter, e.g. f.time=2024-01,2024-06, f.isp=A,B, f.hour=7-9. Each value named "
                "adds its own fixed noise, with tests or not; more values, higher threshold.",
            ),
            Param("limit", "Bins per page (default 5000).", int),
            Param("offset", "Bins to skip (the answer links the next page).", int),
        ),
        tags=("broadband",),
    ),
]
