"""From a submission to a visible tile, end to end, and the scheduled tile job."""

from __future__ import annotations

import datetime as dt
import math
import time
from typing import Any

import numpy as np

from netatlas.datamap import state
from netatlas.datamap.png import decode_alpha
from netatlas.datamap.render import render_tiles
from netatlas.datamap.tasks import render_datamap_tiles, state_dir
from netatlas.features import job, process_until_idle
from netatlas.jobs.context import Context
from netatlas.storage.tiles import open_store

LAT, LON = 52.520_31, 13.404_87  # Berlin; its grid cell is (52.520, 13.405)


def submission() -> dict[str, Any]:
    return {
        "items": [
            {
                "timestamp": int(time.time() * 1000),
                "position": {"latitude": LAT, "longitude": LON, "accuracy": 10.0},
                "wifiAccessPoints": [
                    {"macAddress": "3c:a6:2f:aa:00:01", "signalStrength": -60},
                    {"macAddress": "3c:a6:2f:aa:00:02", "signalStrength": -70},
                ],
            }
        ]
    }


def pixel(lat: float, lon: float, z: int) -> tuple[float, float]:
    """Global Web Mercator pixel coordinates (fractional) at zoom z."""
    world = 256 << z
    x = (lon + 180) / 360 * world
    y = (0.5 - math.asinh(math.tan(math.radians(lat))) / (2 * math.pi)) * world
    return x, y


def test_a_submission_becomes_a_visible_tile(client: Any, ctx: Context) -> None:
    assert client.post("/v2/geosubmit", json=submission()).status_code == 200
    process_until_idle(ctx)

    # Seen today only: the privacy delay holds it back.
    first = render_datamap_tiles(ctx)
    assert first is not None and (first.cells, first.cells_drawn, first.tiles) == (1, 0, 0)
    x, y = pixel(LAT, LON, 11)
    tile = f"/tiles/11/{int(x) // 256}/{int(y) // 256}.png"
    assert client.get(tile).status_code == 404

    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    store = open_store(ctx.settings.tiles_store, ctx.settings)
    report = render_tiles(ctx.engine, store, state_dir(ctx.settings), now=later)
    assert report.mode == "incremental" and report.cells_drawn == 1 and report.new == 13

    res = client.get(tile)
    assert res.status_code == 200 and res.headers["content-type"] == "image/png"
    alpha = decode_alpha(res.content)
    rows, cols = np.nonzero(alpha)
    assert rows.size > 0
    # Every drawn pixel lies within the grid cell, 0.001° around its centre.
    west, north = pixel(52.5205, 13.4045, 11)
    east, south = pixel(52.5195, 13.4055, 11)
    left, top = int(x) // 256 * 256, int(y) // 256 * 256
    assert cols.min() + left >= int(west) and cols.max() + left <= int(east)
    assert rows.min() + top >= int(north) and rows.max() + top <= int(south)
    for z in range(11):
        zx, zy = pixel(LAT, LON, z)
        assert client.get(f"/tiles/{z}/{int(zx) // 256}/{int(zy) // 256}.png").status_code == 200
    assert client.get("/tiles/0/0/0@2x.png").status_code == 200
    assert client.get("/tiles/data.json").json()["tiles"] == 13


def test_the_tile_job_is_scheduled_outside_the_pipeline() -> None:
    render = job("render_datamap_tiles")
    assert render.pipeline is False and render.period == 600.0


def test_the_job_skips_a_store_that_is_being_rendered(ctx: Context) -> None:
    store = open_store(ctx.settings.tiles_store, ctx.settings)
    with state.exclusive(state.state_path(state_dir(ctx.settings), store.url)):
        assert render_datamap_tiles(ctx) is None
    assert render_datamap_tiles(ctx) is not None
