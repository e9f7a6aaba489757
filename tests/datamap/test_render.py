"""Tile runs against real databases: full renders, and incremental ones that must come out
exactly as a full render of the same data would."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, delete

from netatlas.datamap import state
from netatlas.datamap.grid import grid_of, quadrant
from netatlas.datamap.models import datamap_tables
from netatlas.datamap.png import decode_alpha, pngquant_available
from netatlas.datamap.raster import deinterleave, project
from netatlas.datamap.render import render_tiles
from netatlas.datamap.tasks import cleanup_datamap
from netatlas.jobs.context import Context
from netatlas.storage.tiles import DirectoryTileStore
from tests.datamap.factories import Cell, add_cells, grid_key

NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
TODAY = NOW.date()


def day(age: int) -> dt.date:
    return TODAY - dt.timedelta(days=age)


def cluster(lat: float, lon: float, n: int, created: int, modified: int) -> list[Cell]:
    return [
        (lat + (i % 10) * 0.001, lon + (i // 10) * 0.001, day(created), day(modified))
        for i in range(n)
    ]


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*.png")}


def tile_of(lat: float, lon: float, z: int) -> str:
    x, y = deinterleave(project(np.array([lat]), np.array([lon]), z) >> np.uint64(16))
    return f"{z}/{int(x[0])}/{int(y[0])}.png"


def test_full_render(engine: Engine, tmp_path: Path) -> None:
    add_cells(engine, cluster(52.52, 13.40, 30, 40, 3))
    store = DirectoryTileStore(tmp_path / "tiles")
    report = render_tiles(engine, store, tmp_path / "state", now=NOW)
    drawn = files(tmp_path / "tiles")
    assert set(drawn) == {tile_of(52.52, 13.40, z) for z in range(12)} | {"0/0/0@2x.png"}
    assert (report.mode, report.cells, report.cells_drawn, report.points) == ("full", 30, 30, 390)
    assert report.rendered == report.new == report.tiles == len(drawn) == 13
    assert report.bytes == sum(len(b) for b in drawn.values())
    data = json.loads((tmp_path / "tiles/data.json").read_text())
    assert data["updated"] and data["run"] == report.run and data["tiles"] == 13
    assert decode_alpha(drawn["0/0/0@2x.png"]).shape == (512, 512)


def test_an_empty_grid_draws_nothing(engine: Engine, tmp_path: Path) -> None:
    store = DirectoryTileStore(tmp_path / "tiles")
    report = render_tiles(engine, store, tmp_path / "state", now=NOW)
    assert (report.rendered, report.tiles) == (0, 0)
    assert files(tmp_path / "tiles") == {}


def test_incremental_equals_full_after_every_kind_of_change(ctx: Context, tmp_path: Path) -> None:
    engine = ctx.engine
    add_cells(engine, cluster(52.52, 13.40, 40, 100, 60))  # Berlin, revisited below
    add_cells(engine, cluster(48.14, 11.58, 20, 20, 14))  # Munich: 13 points today, 12 tomorrow
    add_cells(engine, cluster(48.85, 2.35, 20, 20, 5))  # Paris (north-west quadrant): unchanged
    add_cells(engine, cluster(-33.87, 151.21, 10, 400, 365))  # Sydney: expires tomorrow
    add_cells(engine, cluster(40.71, -74.00, 10, 1, 1))  # New York: one day only, shown tomorrow
    add_cells(engine, cluster(-22.90, -43.20, 10, 200, 100))  # Rio: a row deleted below
    incremental = DirectoryTileStore(tmp_path / "a")
    first = render_tiles(engine, incremental, tmp_path / "state-a", now=NOW)
    assert first.mode == "full" and first.cells_drawn == 100  # New York held back
    assert tile_of(-33.87, 151.21, 11) in files(tmp_path / "a")

    later = NOW + dt.timedelta(days=1)
    berlin = cluster(52.52, 13.40, 40, 100, 60)[:5]
    with engine.begin() as conn:
        for lat, lon, _, _ in berlin:
            table = datamap_tables[quadrant(*grid_of(lat, lon))]
            conn.execute(
                table.update()
                .where(table.c.grid == grid_key(lat, lon))
                .values(modified=later.date())
            )
        rio = datamap_tables["sw"]
        conn.execute(delete(rio).where(rio.c.grid == grid_key(-22.90, -43.20)))
    add_cells(engine, cluster(53.55, 9.99, 10, 3, 0))  # Hamburg: new, seen on several days
    assert cleanup_datamap(ctx, today=later.date()) == 10  # Sydney's rows go

    second = render_tiles(engine, incremental, tmp_path / "state-a", now=later)
    full = render_tiles(engine, DirectoryTileStore(tmp_path / "b"), tmp_path / "state-b", now=later)
    assert second.mode == "incremental" and full.mode == "full"
    assert files(tmp_path / "a") == files(tmp_path / "b")
    # Berlin 5 + Munich 20 + Sydney 10 + New York 10 + Rio 1 + Hamburg 10
    assert second.cells_changed == 56
    assert 0 < second.rendered < full.rendered
    assert second.deleted >= 2  # Sydney's zoom 10 and 11 tiles held nothing else
    assert tile_of(-33.87, 151.21, 11) not in files(tmp_path / "a")
    assert (second.tiles, second.bytes) == (full.tiles, full.bytes)

    third = render_tiles(engine, incremental, tmp_path / "state-a", now=later)
    assert (third.mode, third.cells_changed, third.rendered, third.tiles) == (
        "incremental",
        0,
        0,
        full.tiles,
    )


def test_unchanged_areas_are_not_redrawn(engine: Engine, tmp_path: Path) -> None:
    add_cells(engine, cluster(48.85, 2.35, 20, 20, 5))
    add_cells(engine, cluster(52.52, 13.40, 20, 20, 5))
    store = DirectoryTileStore(tmp_path / "t")
    render_tiles(engine, store, tmp_path / "s", now=NOW)
    paris = {tile_of(48.85, 2.35, z) for z in range(5, 12)}
    stamps = {p: (tmp_path / "t" / p).stat().st_mtime_ns for p in paris}

    new = cluster(52.60, 13.50, 5, 2, 0)
    add_cells(engine, new)
    report = render_tiles(engine, store, tmp_path / "s", now=NOW)
    touched = {
        tile_of(lat + dlat, lon + dlon, z)
        for lat, lon, _, _ in new
        for dlat in (-0.0005, 0.0005)
        for dlon in (-0.0005, 0.0005)
        for z in range(12)
    }
    assert report.mode == "incremental" and report.cells_changed == 5
    assert report.rendered == len(touched) + 1  # and the 512 px tile
    assert {p: (tmp_path / "t" / p).stat().st_mtime_ns for p in paris} == stamps


def test_out_of_step_state_means_a_full_render(engine: Engine, tmp_path: Path) -> None:
    add_cells(engine, cluster(52.52, 13.40, 10, 20, 5))
    root = tmp_path / "tiles"
    store = DirectoryTileStore(root)
    render_tiles(engine, store, tmp_path / "s", now=NOW)
    stray = root / "11/0/0.png"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"left over")

    (root / "data.json").write_text('{"run": "someone else"}')
    report = render_tiles(engine, store, tmp_path / "s", now=NOW)
    assert report.mode == "full" and report.deleted == 1 and report.unchanged == 13
    assert not stray.exists()
    assert render_tiles(engine, store, tmp_path / "s", now=NOW).mode == "incremental"
    assert render_tiles(engine, store, tmp_path / "s", now=NOW, full=True).mode == "full"
    other = render_tiles(engine, store, tmp_path / "s", now=NOW, zooms=(0, 8))
    assert other.mode == "full" and other.deleted == 3  # zoom 9-11 tiles
    (tmp_path / "s").joinpath("render-broken.npz").write_bytes(b"junk")
    assert state.load(tmp_path / "s" / "render-broken.npz") is None


def test_one_render_per_store_at_a_time(engine: Engine, tmp_path: Path) -> None:
    store = DirectoryTileStore(tmp_path / "tiles")
    lock = state.exclusive(state.state_path(tmp_path / "s", store.url))
    with lock, pytest.raises(state.Busy):
        render_tiles(engine, store, tmp_path / "s", now=NOW)
    render_tiles(engine, store, tmp_path / "s", now=NOW)


def test_zoom_zero_only_still_draws_the_512_px_tile(engine: Engine, tmp_path: Path) -> None:
    add_cells(engine, cluster(52.52, 13.40, 10, 20, 5))
    render_tiles(engine, DirectoryTileStore(tmp_path / "t"), tmp_path / "s", now=NOW, zooms=(0, 0))
    assert set(files(tmp_path / "t")) == {"0/0/0.png", "0/0/0@2x.png"}


def test_a_snapshot_that_does_not_add_up_means_a_full_render(
    engine: Engine, tmp_path: Path
) -> None:
    add_cells(engine, cluster(52.52, 13.40, 10, 20, 5))
    store = DirectoryTileStore(tmp_path / "t")
    first = render_tiles(engine, store, tmp_path / "s", now=NOW)
    path = state.state_path(tmp_path / "s", store.url)
    saved = state.load(path)
    assert saved is not None
    state.save(path, dataclasses.replace(saved, pixel_counts=saved.pixel_counts * 0 + 1))
    with engine.begin() as conn:
        for table in datamap_tables.values():
            conn.execute(delete(table))
    report = render_tiles(engine, store, tmp_path / "s", now=NOW)
    assert report.mode == "full" and report.deleted == first.tiles and report.tiles == 0


@pytest.mark.skipif(not pngquant_available(), reason="the pngquant Debian package is absent")
def test_the_pngquant_pass(engine: Engine, tmp_path: Path) -> None:
    add_cells(engine, cluster(52.52, 13.40, 30, 40, 3))
    plain = render_tiles(engine, DirectoryTileStore(tmp_path / "a"), tmp_path / "s", now=NOW)
    store = DirectoryTileStore(tmp_path / "b")
    squeezed = render_tiles(engine, store, tmp_path / "s", now=NOW, pngquant=True)
    assert squeezed.tiles == plain.tiles and squeezed.bytes <= plain.bytes
    for path, data in files(tmp_path / "b").items():
        assert np.array_equal(decode_alpha(data) > 0, decode_alpha(files(tmp_path / "a")[path]) > 0)
