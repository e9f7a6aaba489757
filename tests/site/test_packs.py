"""/downloads/packs/, its files and /api/v1/packs: listing, strong ETags and 304s."""

from __future__ import annotations

import gzip
import hashlib
from typing import Any

from netatlas.jobs.context import Context
from netatlas.location.packs.region import parse_regions
from netatlas.location.packs.service import build_packs
from tests.location.packs._seed import TODAY, add_cell


def _publish(ctx: Context, client: Any) -> None:
    add_cell(ctx.engine, "lte", 1)
    build_packs(ctx.engine, ctx.settings, parse_regions("DE"), now=TODAY)
    client.app.state.services.packs.get().seconds = 0  # no listing cache in the test


def test_empty_listing(client: Any) -> None:
    assert client.get("/api/v1/packs").json() == {"packs": []}
    assert "No packs yet" in client.get("/downloads/packs/").text
    moved = client.get("/downloads/packs", follow_redirects=False)
    assert moved.status_code == 308 and moved.headers["location"] == "/downloads/packs/"


def test_index_files_and_etags(ctx: Context, client: Any) -> None:
    _publish(ctx, client)
    index = client.get("/api/v1/packs")
    assert index.status_code == 200
    (pack,) = index.json()["packs"]
    assert pack["pack"] == "DE" and pack["counts"] == {"cells": 1, "wifi": 0}
    names = [f["name"] for f in pack["files"]]
    assert names == ["cells.csv.gz", "mls-cells-262.csv.gz"]
    assert "cells.csv.gz" in client.get("/downloads/packs/").text

    cells = pack["files"][0]
    assert cells["url"] == "http://127.0.0.1/downloads/packs/DE/cells.csv.gz"
    res = client.get("/downloads/packs/DE/cells.csv.gz")
    assert res.status_code == 200
    assert hashlib.sha256(res.content).hexdigest() == cells["sha256"]
    assert gzip.decompress(res.content).startswith(b"mcc,mnc,type,lac,cid,psc,lat,lon,alt\n")
    etag = res.headers["etag"]
    assert etag == f'"{cells["sha256"]}"'  # strong: no W/
    again = client.get("/downloads/packs/DE/cells.csv.gz", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    other = client.get("/downloads/packs/DE/cells.csv.gz", headers={"If-None-Match": '"x"'})
    assert other.status_code == 200
    head = client.head("/downloads/packs/DE/cells.csv.gz")
    assert head.status_code == 200 and head.headers["content-length"] == str(cells["size"])

    manifest = client.get(pack["manifest_url"])
    assert manifest.json()["files"][0]["sha256"] == cells["sha256"]
    tag = manifest.headers["etag"]
    assert tag == f'"{hashlib.sha256(manifest.content).hexdigest()}"'
    assert client.get(pack["manifest_url"], headers={"If-None-Match": tag}).status_code == 304

    index_tag = index.headers["etag"]
    assert client.get("/api/v1/packs", headers={"If-None-Match": index_tag}).status_code == 304


def test_a_new_build_changes_the_etag(ctx: Context, client: Any) -> None:
    _publish(ctx, client)
    first = client.get("/downloads/packs/DE/cells.csv.gz")
    add_cell(ctx.engine, "lte", 2)
    build_packs(ctx.engine, ctx.settings, parse_regions("DE"), now=TODAY.replace(hour=13))
    second = client.get(
        "/downloads/packs/DE/cells.csv.gz", headers={"If-None-Match": first.headers["etag"]}
    )
    assert second.status_code == 200 and second.headers["etag"] != first.headers["etag"]
    assert gzip.decompress(second.content).count(b"\n") == 3


def test_unknown_files_are_404(ctx: Context, client: Any) -> None:
    _publish(ctx, client)
    assert client.get("/downloads/packs/FR/cells.csv.gz").status_code == 404
    assert client.get("/downloads/packs/DE/wifi.csv.gz").status_code == 404
    assert client.get("/downloads/packs/DE/..%2Fsecret").status_code == 404


def test_openapi_lists_packs(client: Any) -> None:
    doc = client.get("/openapi.json").json()
    assert "/api/v1/packs" in doc["paths"]
