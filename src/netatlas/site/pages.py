"""The public pages and the small JSON documents their scripts read.

* ``/`` the broadband map, ``/speedtest`` the speed test (its content comes from the
  broadband feature), ``/coverage`` the coverage map, ``/stats`` the statistics, ``/api`` the
  API reference, ``/privacy``; ``/downloads`` is in :mod:`netatlas.site.downloads`.
* ``/geo/outlines-{low|high}.geojson`` Natural Earth country outlines for the maps.
* ``/api/v1/stats`` stations and observations per day, ``/api/v1/stats/regions`` stations per
  country, and Ichnaea's ``/stats_{wifi|cell|blue}.json``.
"""

from __future__ import annotations

import gzip
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from netatlas.broadband import views as broadband_views
from netatlas.broadband.retention import policy as retention_policy
from netatlas.broadband.usecases import table as use_case_table
from netatlas.http.errors import NotFound, ParseError
from netatlas.http.openapi import OpenAPIPath, Param, Reply
from netatlas.http.responses import error_response, json_response
from netatlas.http.state import core_of
from netatlas.site import apidoc, sitestats
from netatlas.site.coverage import tile_bounds
from netatlas.site.outlines import outlines
from netatlas.site.render import STATIC_DIR, page
from netatlas.site.schema import IchnaeaSeries, RegionStats, StatsSeries

OUTLINE_MAX_AGE = 86400
STATS_MAX_AGE = 300
_GET = ["GET", "HEAD"]


def _engine(request: Request) -> Any:
    return core_of(request).read_engine


async def home(request: Request) -> Response:
    cases = await run_in_threadpool(broadband_views.use_cases, request)
    return page(request, "home.html", use_cases=use_case_table(cases))


async def speedtest(request: Request) -> Response:
    content = await broadband_views.speedtest_page(request)
    return page(request, "speedtest.html", headers=content.headers, **content.context)


async def coverage(request: Request) -> Response:
    engine = _engine(request)
    totals = await run_in_threadpool(sitestats.totals, engine)
    regions = await run_in_threadpool(sitestats.regions, engine)
    bounds = await run_in_threadpool(tile_bounds, core_of(request).settings)
    return page(
        request,
        "coverage.html",
        totals=totals,
        regions=regions,
        bounds=bounds,
        kinds=sitestats.KINDS,
    )


async def stats(request: Request) -> Response:
    engine = _engine(request)
    totals = await run_in_threadpool(sitestats.totals, engine)
    regions = await run_in_threadpool(sitestats.regions, engine)
    return page(request, "stats.html", totals=totals, regions=regions, kinds=sitestats.KINDS)


async def api_reference(request: Request) -> Response:
    document, live = await apidoc.document(request.app)
    sections = apidoc.sections(document, str(request.base_url).rstrip("/"))
    return page(request, "api.html", sections=sections, live=live, info=document.get("info", {}))


async def privacy(request: Request) -> Response:
    settings = core_of(request).settings
    return page(request, "privacy.html", retention=retention_policy(settings))


async def outline(request: Request) -> Response:
    try:
        data = await run_in_threadpool(outlines, request.path_params["level"])
    except KeyError:
        return error_response(NotFound("No such outline level: use low or high."))
    headers = {
        "Cache-Control": f"public, max-age={OUTLINE_MAX_AGE}",
        "ETag": f'"{data.etag}"',
        "Vary": "Accept-Encoding",
    }
    if data.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(data.gzipped, media_type="application/geo+json", headers=headers)
    return Response(
        gzip.decompress(data.gzipped), media_type="application/geo+json", headers=headers
    )


def _cached(data: Any) -> Response:
    response = json_response(data)
    response.headers["Cache-Control"] = f"public, max-age={STATS_MAX_AGE}"
    return response


async def stats_series(request: Request) -> Response:
    raw = request.query_params.get("days")
    days = None
    if raw is not None:
        # ASCII digits only: str.isdigit also takes "²", which int() refuses.
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 5) or not 1 <= int(raw) <= 36600:
            return error_response(ParseError("days must be a whole number from 1 to 36600."))
        days = int(raw)
    engine = _engine(request)
    series = await run_in_threadpool(sitestats.series, engine, days)
    totals = await run_in_threadpool(sitestats.totals, engine)
    return _cached({"totals": totals, "series": series, "kinds": sitestats.KINDS})


async def stats_regions(request: Request) -> Response:
    regions = await run_in_threadpool(sitestats.regions, _engine(request))
    return _cached({"regions": regions})


def _ichnaea(kind: str) -> Any:
    async def view(request: Request) -> Response:
        return _cached(await run_in_threadpool(sitestats.ichnaea_series, _engine(request), kind))

    return view


async def robots(request: Request) -> Response:
    return PlainTextResponse("User-agent: *\nDisallow: /admin\nDisallow: /api/\n")


routes = [
    Route("/", home, methods=_GET),
    Route("/speedtest", speedtest, methods=_GET),
    Route("/coverage", coverage, methods=_GET),
    Route("/stats", stats, methods=_GET),
    Route("/api", api_reference, methods=_GET),
    Route("/privacy", privacy, methods=_GET),
    Route("/robots.txt", robots, methods=_GET),
    Route("/geo/outlines-{level}.geojson", outline, methods=_GET),
    Route("/api/v1/stats", stats_series, methods=_GET),
    Route("/api/v1/stats/regions", stats_regions, methods=_GET),
    *(Route(f"/stats_{kind}.json", _ichnaea(kind), methods=_GET) for kind in sitestats.KINDS),
    Mount("/static", app=StaticFiles(directory=STATIC_DIR, check_dir=False), name="static"),
]

_STATS_TAGS = ("statistics",)
openapi = [
    OpenAPIPath(
        "/api/v1/stats",
        "get",
        "Stations and observations per day, as running totals (the statistics page's charts).",
        tags=_STATS_TAGS,
        params=[Param("days", "Only the last this many days (1–36600).", int)],
        responses={
            200: Reply("The series.", StatsSeries),
            400: Reply("A bad days parameter."),
        },
    ),
    OpenAPIPath(
        "/api/v1/stats/regions",
        "get",
        "Stations per country: cells by radio, WiFi networks and Bluetooth beacons.",
        tags=_STATS_TAGS,
        responses={200: Reply("The countries, most stations first.", RegionStats)},
    ),
    *(
        OpenAPIPath(
            f"/stats_{kind}.json",
            "get",
            f"Ichnaea's {info['title']} series: stations at the end of each month of a year.",
            tags=_STATS_TAGS,
            responses={200: Reply("One series.", IchnaeaSeries)},
        )
        for kind, info in sitestats.KINDS.items()
    ),
    OpenAPIPath(
        "/geo/outlines-{level}.geojson",
        "get",
        "Natural Earth country outlines (level low or high) for maps without a basemap.",
        tags=("maps",),
        responses={
            200: Reply(
                "A GeoJSON FeatureCollection (properties code, name).",
                media_type="application/geo+json",
            ),
            404: Reply("Another level."),
        },
    ),
]
