"""``/downloads``, ``/downloads/{name}`` and ``/api/v1/downloads``: the public cell exports."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import IO, Protocol

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from netatlas.export.downloads import CachedListing, Download, export_store, media_type
from netatlas.http.openapi import OpenAPIPath, Reply
from netatlas.http.responses import json_response
from netatlas.http.state import Core, Lazy, state_of
from netatlas.site.render import page

CHUNK = 256 * 1024


class DownloadsParts(Protocol):
    """The downloads pages' part of the app's services (see :mod:`netatlas.http.state`)."""

    downloads: Lazy[CachedListing]


def build_listing(core: Core) -> CachedListing:
    return CachedListing(export_store(core.settings))


def _listing(request: Request) -> CachedListing:
    parts: DownloadsParts = state_of(request)
    return parts.downloads.get()


async def _downloads(request: Request) -> list[Download]:
    return await run_in_threadpool(_listing(request).get)


async def downloads_page(request: Request) -> Response:
    return page(request, "downloads.html", downloads=await _downloads(request))


async def downloads_api(request: Request) -> Response:
    files = await _downloads(request)
    return json_response(
        {
            "downloads": [
                {
                    "name": d.name,
                    "size": d.size,
                    "kind": d.kind,
                    "created": d.created,
                    "covers_until": d.covers_until,
                    "url": str(request.url_for("download", name=d.name)),
                }
                for d in files
            ]
        }
    )


def _chunks(reader: IO[bytes]) -> Iterator[bytes]:
    try:
        while chunk := reader.read(CHUNK):
            yield chunk
    finally:
        reader.close()


def no_such_file() -> Response:
    return PlainTextResponse("no such file", status_code=404)


async def stream_stored(
    request: Request,
    open_file: Callable[[], IO[bytes]],
    *,
    filename: str,
    size: int,
    media: str,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A listed file of a store as an attachment: headers only for HEAD, else streamed in
    chunks from a worker thread; a 404 when it was pruned since the listing was read."""
    headers = {
        **(headers or {}),
        "Content-Length": str(size),
        "Content-Disposition": f'attachment; filename="{filename}"',
    }
    if request.method == "HEAD":
        return Response(headers=headers, media_type=media)
    try:
        reader = await run_in_threadpool(open_file)
    except FileNotFoundError:
        return no_such_file()
    return StreamingResponse(_chunks(reader), media_type=media, headers=headers)


async def download(request: Request) -> Response:
    name = request.path_params["name"]
    found = next((d for d in await _downloads(request) if d.name == name), None)
    if found is None:
        return no_such_file()
    store = _listing(request).store
    return await stream_stored(
        request, lambda: store.open(name), filename=name, size=found.size, media=media_type(name)
    )


routes = [
    Route("/downloads", downloads_page, methods=["GET", "HEAD"]),
    Route("/downloads/{name}", download, methods=["GET", "HEAD"], name="download"),
    Route("/api/v1/downloads", downloads_api, methods=["GET", "HEAD"]),
]


class DownloadLink(Download, frozen=True):
    """An export file of the listing and the address it is downloaded from."""

    url: str  # absolute: this host's /downloads/{name}


class DownloadListing(msgspec.Struct):
    downloads: list[DownloadLink]  # latest cut-off first; a full file before a diff


openapi = [
    OpenAPIPath(
        "/api/v1/downloads",
        "get",
        "The public cell export files and where to download them.",
        tags=("data",),
        description=(
            "Cell data in the MLS / OpenCellID CSV format, gzip-compressed: positioned cells of"
            " every radio (WiFi and Bluetooth are never exported; imported cells only from the"
            " data sets the operator lists). `kind` is `full`"
            " (daily: the cells modified in the 365 days before `covers_until`) or `diff`"
            " (hourly: the cells modified in the hour before `covers_until`), so a full file"
            " and the diffs after it add up to the current table. Diffs are kept three days"
            " and the newest seven full files; `created` is when the file was written, `size`"
            " its length in bytes, both times ISO 8601 in UTC. Files of `kind` `aggregates` are the"
            " published broadband statistics, one Parquet and one GeoJSON file per aggregation"
            " a day (the same noisy, thresholded figures as /api/v1/broadband/stats) and the"
            " day's licence text; `covers_until` is that day. The listing is re-read from the"
            " export store at most once a minute."
        ),
        responses={200: Reply("The files, latest cut-off first (may be empty).", DownloadListing)},
    ),
]
