"""HTTP: the local tile store at ``/tiles/{z}/{x}/{y}.png``, ``/tiles/0/0/0@2x.png`` and
``/tiles/data.json``.

Tiles without points are never stored, so an absent tile is a 404 that may be cached like a
tile: both change only when the tile job runs (every ten minutes at most).
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from netatlas.http.state import core_of
from netatlas.settings import Settings
from netatlas.storage.files import md5_hex
from netatlas.storage.tiles import DATA_JSON, published, tile_path, valid_tile

TILE_MAX_AGE = 600
DATA_MAX_AGE = 60
_NAME = re.compile(r"^(\d{1,5})(@2x)?\.png$")
_NUMBER = re.compile(r"[0-9]{1,5}")


def _settings(request: Request) -> Settings:
    settings: Settings = core_of(request).settings
    return settings


def _serve(request: Request, path: str, media_type: str, max_age: int) -> Response:
    cache = {"Cache-Control": f"public, max-age={max_age}"}
    data = published(_settings(request), path)
    if data is None:
        return PlainTextResponse("no such tile\n", status_code=404, headers=cache)
    etag = f'"{md5_hex(data)}"'
    headers = {**cache, "ETag": etag}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=media_type, headers=headers)


async def tile(request: Request) -> Response:
    # z and x are read here, not by an int path convertor: a path of thousands of digits is
    # a 404 like any other tile that does not exist, not an error converting it.
    raw_z, raw_x = request.path_params["z"], request.path_params["x"]
    match = _NAME.match(request.path_params["name"])
    if match is None or not (_NUMBER.fullmatch(raw_z) and _NUMBER.fullmatch(raw_x)):
        return PlainTextResponse("no such tile\n", status_code=404)
    z, x = int(raw_z), int(raw_x)
    retina = match.group(2) is not None
    if not valid_tile(z, x, int(match.group(1)), retina):
        return PlainTextResponse("no such tile\n", status_code=404)
    path = f"{z}/{x}/{match.group(1)}@2x.png" if retina else tile_path(z, x, int(match.group(1)))
    return _serve(request, path, "image/png", TILE_MAX_AGE)


async def data_json(request: Request) -> Response:
    return _serve(request, DATA_JSON, "application/json", DATA_MAX_AGE)


routes = [
    Route("/tiles/data.json", data_json, methods=["GET"]),
    Route("/tiles/{z}/{x}/{name}", tile, methods=["GET"]),
]
