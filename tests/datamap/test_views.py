"""Serving the local tile store at /tiles."""

from __future__ import annotations

import dataclasses
from typing import Any

from netatlas.settings import Settings
from netatlas.storage.files import md5_hex
from netatlas.storage.tiles import DirectoryTileStore


def test_tiles_are_served_with_cache_headers(client: Any, settings: Settings) -> None:
    store = DirectoryTileStore(settings.data_dir / "tiles")
    tile = b"\x89PNG tile"
    store.write([("3/4/2.png", tile), ("0/0/0@2x.png", b"\x89PNG big")])
    store.write([("data.json", b'{"updated": "2025-06-01T12:00:00+00:00"}')])

    res = client.get("/tiles/3/4/2.png")
    assert res.status_code == 200 and res.content == tile
    assert res.headers["content-type"] == "image/png"
    assert res.headers["cache-control"] == "public, max-age=600"
    etag = res.headers["etag"]
    assert etag == f'"{md5_hex(tile)}"'
    again = client.get("/tiles/3/4/2.png", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""

    assert client.get("/tiles/0/0/0@2x.png").content == b"\x89PNG big"
    data = client.get("/tiles/data.json")
    assert data.json()["updated"].startswith("2025-06-01")
    assert data.headers["cache-control"] == "public, max-age=60"


def test_absent_and_impossible_tiles_are_404(client: Any) -> None:
    absent = client.get("/tiles/3/4/3.png")
    assert absent.status_code == 404 and absent.headers["cache-control"] == "public, max-age=600"
    for path in (
        "/tiles/3/8/0.png",  # x beyond 2^z
        "/tiles/14/0/0.png",  # deeper than any render
        "/tiles/1/0/0@2x.png",  # only zoom 0 has a 512 px tile
        "/tiles/1/0/zero.png",
        "/tiles/1/0/0.jpg",
        "/tiles/-1/0/0.png",
        "/tiles/data.json",  # before the first render
    ):
        assert client.get(path).status_code == 404, path


def test_nothing_is_served_locally_when_tiles_go_to_s3(settings: Settings) -> None:
    from starlette.testclient import TestClient

    from netatlas.app import create_app

    s3 = dataclasses.replace(settings, tiles_store="s3://bucket/tiles")
    DirectoryTileStore(settings.data_dir / "tiles").write([("0/0/0.png", b"stale")])
    app = create_app(s3, run_jobs=False)
    try:
        with TestClient(app, base_url="http://127.0.0.1") as client:
            assert client.get("/tiles/0/0/0.png").status_code == 404
    finally:
        app.state.services.engine.dispose()
