"""``/downloads/dump/{name}`` and ``/api/v1/downloads/dump``: the WiFi/Bluetooth dump files.

The files live in the export store under ``dump/`` (see :mod:`netatlas.export.dump.service`);
each data file ``netatlas-dump-DAY.csv.gz`` has its manifest ``netatlas-dump-DAY.json``.
"""

from __future__ import annotations

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from netatlas.export.dump.service import PREFIX, DumpFile, list_dumps
from netatlas.http.openapi import OpenAPIPath, Reply
from netatlas.http.responses import json_response
from netatlas.http.state import state_of
from netatlas.site.downloads import DownloadsParts, no_such_file, stream_stored
from netatlas.storage.files import FileStore


def _store(request: Request) -> FileStore:
    parts: DownloadsParts = state_of(request)
    return parts.downloads.get().store


async def _files(request: Request) -> list[DumpFile]:
    return await run_in_threadpool(list_dumps, _store(request))


async def dumps_api(request: Request) -> Response:
    files = await _files(request)
    return json_response(
        {
            "dumps": [
                {
                    "name": f.name,
                    "size": f.size,
                    "date": f.date,
                    "kind": f.kind,
                    "url": str(request.url_for("dump_file", name=f.name)),
                }
                for f in files
            ],
        }
    )


async def dump_file(request: Request) -> Response:
    name = request.path_params["name"]
    found = next((f for f in await _files(request) if f.name == name), None)
    if found is None:
        return no_such_file()
    media = "application/gzip" if found.kind == "data" else "application/json"
    store = _store(request)
    return await stream_stored(
        request, lambda: store.open(PREFIX + name), filename=name, size=found.size, media=media
    )


routes = [
    Route("/downloads/dump/{name}", dump_file, methods=["GET", "HEAD"], name="dump_file"),
    Route("/api/v1/downloads/dump", dumps_api, methods=["GET", "HEAD"]),
]


class DumpLink(DumpFile, frozen=True):
    """A dump file and the address it is downloaded from."""

    url: str  # absolute: this host's /downloads/dump/{name}


class DumpListing(msgspec.Struct):
    dumps: list[DumpLink]  # newest day first; each data file before its manifest


openapi = [
    OpenAPIPath(
        "/api/v1/downloads/dump",
        "get",
        "The privacy-preserving WiFi/Bluetooth dump files and where to download them.",
        tags=("data",),
        description=(
            "Each day's dump (when the operator publishes one) is a gzip text file"
            " (`kind` `data`) of hashed station keys and coarse places, and its manifest"
            " (`kind` `manifest`, JSON: salt, hash parameters, grid size, k, counts, SHA-256,"
            " licence). A station's key is a truncated salted scrypt hash of its MAC: only"
            " someone who knows a MAC can find its entry, and a place is the centre of a grid"
            " cell holding at least k stations (threat model: docs/dump.md in the source)."
            " The newest three days are kept; `date` is the UTC day, `size` in bytes."
        ),
        responses={200: Reply("The files, newest first (may be empty).", DumpListing)},
    ),
]
