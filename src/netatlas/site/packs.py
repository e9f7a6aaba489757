"""``/downloads/packs/``, its files and ``/api/v1/packs``: the offline region packs.

Files are served under a stable address per pack (``/downloads/packs/DE/cells.csv.gz``) that
always gives the newest complete build; the strong ETag is the file's sha256 (as in the
manifest), so a client that polls with ``If-None-Match`` downloads a pack only when it changed.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from netatlas.http.openapi import OpenAPIPath, Reply
from netatlas.http.responses import CORS_HEADERS
from netatlas.http.state import Core, Lazy, state_of
from netatlas.location.packs.build import Manifest, PackFile
from netatlas.location.packs.listing import PackListing, Published
from netatlas.location.packs.region import PackRegion
from netatlas.location.packs.service import pack_store
from netatlas.site.downloads import no_such_file, stream_stored
from netatlas.site.render import page

# A pack's address always names its newest build: caches may keep a file an hour, then ask
# again with its ETag (a rebuild is daily).
CACHE = "public, max-age=3600"


class PacksParts(Protocol):
    """The packs pages' part of the app's services (see :mod:`netatlas.http.state`)."""

    packs: Lazy[PackListing]


def build_pack_listing(core: Core) -> PackListing:
    return PackListing(pack_store(core.settings))


def _listing(request: Request) -> PackListing:
    parts: PacksParts = state_of(request)
    return parts.packs.get()


async def _published(request: Request) -> dict[str, Published]:
    return await run_in_threadpool(_listing(request).get)


def _matches(request: Request, etag: str) -> bool:
    """If-None-Match holds this ETag (or ``*``); weak forms of it count (RFC 9110 13.1.2)."""
    header = request.headers.get("if-none-match")
    if not header:
        return False
    for tag in header.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


class PackFileLink(PackFile, frozen=True, kw_only=True):
    url: str  # absolute: this host's /downloads/packs/{pack}/{name}


class PackEntry(msgspec.Struct):
    pack: str
    region: PackRegion
    built: str
    licence: str
    attribution: str
    filter: str
    counts: dict[str, int]
    manifest_url: str
    files: list[PackFileLink]


class PackIndex(msgspec.Struct):
    packs: list[PackEntry]  # sorted by id


def _entry(request: Request, m: Manifest) -> PackEntry:
    def url(name: str) -> str:
        return str(request.url_for("pack_file", pack=m.pack, name=name))

    return PackEntry(
        pack=m.pack,
        region=m.region,
        built=m.built,
        licence=m.licence,
        attribution=m.attribution,
        filter=m.filter,
        counts=m.counts,
        manifest_url=url("manifest.json"),
        files=[PackFileLink(**msgspec.structs.asdict(f), url=url(f.name)) for f in m.files],
    )


async def packs_page(request: Request) -> Response:
    published = await _published(request)
    return page(request, "packs.html", packs=[published[k].manifest for k in sorted(published)])


async def packs_redirect(request: Request) -> Response:
    return RedirectResponse("/downloads/packs/", status_code=308)


async def packs_api(request: Request) -> Response:
    published = await _published(request)
    index = PackIndex([_entry(request, published[k].manifest) for k in sorted(published)])
    body = msgspec.json.encode(index)
    etag = f'"{hashlib.sha256(body).hexdigest()}"'
    headers = {**CORS_HEADERS, "ETag": etag, "Cache-Control": "public, max-age=60"}
    if _matches(request, etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


async def pack_file(request: Request) -> Response:
    pack = request.path_params["pack"]
    name = request.path_params["name"]
    published = (await _published(request)).get(pack)
    served = None if published is None else published.file(name)
    if published is None or served is None:
        return no_such_file()
    etag = f'"{served.sha256}"'
    headers = {**CORS_HEADERS, "ETag": etag, "Cache-Control": CACHE}
    if _matches(request, etag):
        return Response(status_code=304, headers=headers)
    if name == "manifest.json":
        return Response(published.manifest_bytes, media_type=served.media_type, headers=headers)
    listing = _listing(request)
    return await stream_stored(
        request,
        lambda: listing.open(served),
        filename=f"{pack}-{name}",
        size=served.size,
        media=served.media_type,
        headers=headers,
    )


routes = [
    Route("/downloads/packs", packs_redirect, methods=["GET", "HEAD"]),
    Route("/downloads/packs/", packs_page, methods=["GET", "HEAD"]),
    Route("/downloads/packs/{pack}/{name}", pack_file, methods=["GET", "HEAD"], name="pack_file"),
    Route("/api/v1/packs", packs_api, methods=["GET", "HEAD"]),
]


openapi = [
    OpenAPIPath(
        "/api/v1/packs",
        "get",
        "The offline region packs and where to download their files.",
        tags=("data",),
        description=(
            "Per-region station files for on-device location, rebuilt daily: `cells.csv.gz`"
            " for microG (header `mcc,mnc,type,lac,cid,psc,lat,lon,alt`, type CDMA 0, GSM 1,"
            " WCDMA 2, LTE 3, TD-SCDMA 4, NR 5), `wifi.csv.gz` (`mac,lat,lon,alt`) only where"
            " the operator enables it, and one MLS-format cell CSV per MCC (`mls-cells-MCC"
            ".csv.gz`, for Local NLP Backend and the lacells tools). Only stations seen by two"
            " contributors on two days, neither blocked, moved nor mobile, are included."
            " Each pack has a manifest (region, build time, licence, attribution, counts, and"
            " each file's size and sha256). File addresses always give the newest build; their"
            " strong ETag is the file's sha256, and `If-None-Match` answers 304 when unchanged."
        ),
        responses={
            200: Reply("The packs, by id (may be empty).", PackIndex, headers=("ETag",)),
            304: Reply("Unchanged since the ETag given in If-None-Match."),
        },
    ),
]
