"""Public cell exports: hourly diffs, daily full files, retention, /downloads and its API."""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
from typing import Any

import pytest
from sqlalchemy import insert

from netatlas.export.downloads import (
    export_diff,
    export_full,
    export_store,
    file_name,
    list_downloads,
    prune,
)
from netatlas.jobs.context import Context
from netatlas.location.cells.csvfile import HEADER
from netatlas.location.ids import cell_id
from netatlas.location.models import RADIO_CODE, cell_tables

NOW = dt.datetime(2026, 11, 27, 10, 5)


def add_cell(ctx: Context, radio: str, cid: int, modified: dt.datetime, **extra: Any) -> None:
    values = dict(
        cellid=cell_id(RADIO_CODE[radio], 262, 1, 4711, cid), radio=RADIO_CODE[radio], mcc=262,
        mnc=1, lac=4711, cid=cid, psc=None, lat=52.5, lon=13.4, radius=500, samples=3,
        created=dt.datetime(2026, 1, 1), modified=modified,
    )  # fmt: skip
    values.update(extra)
    with ctx.engine.begin() as conn:
        conn.execute(insert(cell_tables[radio]).values(**values))


def lines(ctx: Context, name: str) -> list[str]:
    with export_store(ctx.settings).open(name) as f:
        return gzip.decompress(f.read()).decode().split("\r\n")


def seed(ctx: Context) -> None:
    add_cell(ctx, "lte", 1, dt.datetime(2026, 11, 27, 9, 30))  # in the last hour
    add_cell(ctx, "nr", 60_000_000_001, dt.datetime(2026, 11, 27, 9, 0), psc=900)
    add_cell(ctx, "gsm", 2, dt.datetime(2026, 11, 27, 8, 59))  # the hour before
    add_cell(ctx, "wcdma", 3, dt.datetime(2026, 11, 27, 10, 1))  # after the cut-off
    add_cell(ctx, "lte", 4, dt.datetime(2026, 11, 27, 9, 10), lat=None, lon=None)  # blocked
    add_cell(ctx, "lte", 5, dt.datetime(2026, 11, 27, 9, 20), origin="ocid")  # share-alike
    add_cell(ctx, "lte", 6, dt.datetime(2026, 11, 27, 9, 20), origin="mls")
    add_cell(ctx, "lte", 7, dt.datetime(2025, 11, 1))  # older than a year


def test_hourly_diff(ctx: Context) -> None:
    seed(ctx)
    name = export_diff(ctx, NOW)
    assert name == "netatlas-diff-cell-export-2026-11-27T100000.csv.gz"
    assert export_diff(ctx, NOW) is None  # written once
    rows = lines(ctx, name)
    assert rows[0] == HEADER and rows[-1] == ""
    assert sorted(rows[1:-1]) == [
        "LTE,262,1,4711,1,,13.4000000,52.5000000,500,3,1,1767225600,1795771800,",
        "NR,262,1,4711,60000000001,900,13.4000000,52.5000000,500,3,1,1767225600,1795770000,",
    ]


def test_daily_full_and_origins(ctx: Context) -> None:
    seed(ctx)
    tomorrow = NOW + dt.timedelta(days=1)
    name = export_full(ctx, tomorrow)
    assert name == "netatlas-full-cell-export-2026-11-28T000000.csv.gz"
    cids = sorted(int(line.split(",")[4]) for line in lines(ctx, name)[1:-1])
    assert cids == [1, 2, 3, 60_000_000_001]
    with_mls = dataclasses.replace(
        ctx, settings=dataclasses.replace(ctx.settings, cell_export_origins=("mls",))
    )
    name = export_full(with_mls, tomorrow + dt.timedelta(days=1))
    assert name is not None
    cids = sorted(int(line.split(",")[4]) for line in lines(ctx, name)[1:-1])
    assert cids == [1, 2, 3, 6, 60_000_000_001]


def test_prune_keeps_three_days_of_diffs_and_seven_full_files(ctx: Context) -> None:
    store = export_store(ctx.settings)
    for hours in range(0, 24 * 5, 6):
        store.put(file_name("diff", NOW - dt.timedelta(hours=hours)), b"x")
    for days in range(10):
        store.put(file_name("full", NOW - dt.timedelta(days=days)), b"x")
    store.put("unrelated.txt", b"x")
    prune(store, NOW)
    kinds = [d.kind for d in list_downloads(store)]
    assert kinds.count("full") == 7 and kinds.count("diff") == 13
    assert any(f.name == "unrelated.txt" for f in store.list())


def test_downloads_page_and_api(ctx: Context, client: Any) -> None:
    seed(ctx)
    assert client.get("/api/v1/downloads").json() == {"downloads": []}
    assert "No files yet" in client.get("/downloads").text
    export_diff(ctx, NOW)
    export_full(ctx, NOW + dt.timedelta(days=1))
    client.app.state.services.downloads.get().seconds = 0  # no listing cache in the test
    listing = client.get("/api/v1/downloads").json()["downloads"]
    assert [(d["kind"], d["name"]) for d in listing] == [
        ("full", "netatlas-full-cell-export-2026-11-28T000000.csv.gz"),
        ("diff", "netatlas-diff-cell-export-2026-11-27T100000.csv.gz"),
    ]
    first = listing[0]
    assert first["size"] > 0 and first["created"].endswith("Z")
    assert first["url"] == f"http://127.0.0.1/downloads/{first['name']}"
    page = client.get("/downloads")
    assert page.status_code == 200 and first["name"] in page.text
    res = client.get(f"/downloads/{first['name']}")
    assert res.status_code == 200 and res.headers["content-type"] == "application/gzip"
    assert int(res.headers["content-length"]) == first["size"] == len(res.content)
    assert gzip.decompress(res.content).decode().startswith(HEADER)
    assert client.head(f"/downloads/{first['name']}").status_code == 200
    assert client.get("/downloads/nothing.csv.gz").status_code == 404
    assert client.get("/downloads/..%2Fnetatlas.db").status_code == 404


@pytest.mark.parametrize("prefix", ["exports", ""])
def test_exports_to_s3(
    ctx: Context, client: Any, s3_bucket: tuple[str, Any], moto_endpoint: str, prefix: str
) -> None:
    bucket, s3 = s3_bucket
    settings = dataclasses.replace(
        ctx.settings,
        export_store_url=f"s3://{bucket}/{prefix}",
        s3_endpoint_url=moto_endpoint,
    )
    s3ctx = dataclasses.replace(ctx, settings=settings)
    seed(s3ctx)
    name = export_diff(s3ctx, NOW)
    assert name is not None
    key = f"{prefix}/{name}" if prefix else name
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert gzip.decompress(body).decode().startswith(HEADER)
    assert [d.name for d in list_downloads(export_store(settings))] == [name]
    assert export_diff(s3ctx, NOW) is None

    # The web app reads the same store.
    client.app.state.services.settings = settings
    res = client.get("/api/v1/downloads")
    assert [d["name"] for d in res.json()["downloads"]] == [name]
    assert client.get(f"/downloads/{name}").content == body
