"""One tile run: read the grid, decide what changed, draw those tiles, publish, record.

Ichnaea compatibility (scripts/datamap.py): tiles for zoom levels 0-11 in ``{z}/{x}/{y}.png``,
a 512 px ``0/0/0@2x.png``, tiles without points are not stored, and ``data.json`` in the
store says when the last run finished (``updated``) and what it did.

A run is incremental when the store's ``data.json`` names the run that saved the local snapshot
(:mod:`netatlas.datamap.state`): the cells whose drawn point count changed since then update
the saved pixel counts, and only the tiles holding a pixel whose count changed are drawn and
compared with the store. Anything else (first run, ``full``, another zoom range, a new drawing
version, a snapshot lost, out of step or not adding up) draws everything, and the sync deletes
whatever stale tiles the store holds.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
from sqlalchemy import Engine

from netatlas.datamap import pyramid, state
from netatlas.datamap.cells import load_cells
from netatlas.datamap.draw import draw, quantised, scope_paths
from netatlas.datamap.points import U8, U64, point_counts
from netatlas.datamap.publish import sync
from netatlas.datamap.raster import U32
from netatlas.storage.tiles import DATA_JSON, DEFAULT_ZOOMS, TileStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RenderReport:
    """What a run did; also the content of ``data.json``."""

    updated: str  # when the run finished (ISO 8601, UTC)
    started: str
    seconds: float
    run: str  # names the local snapshot that matches the store's content
    mode: str  # "full" or "incremental"
    zooms: tuple[int, int]
    cells: int  # grid rows read
    cells_drawn: int  # rows with at least one point (old, held back or expired ones have none)
    cells_changed: int  # cells whose point count changed since the last run (full: all drawn)
    points: int
    rendered: int  # tiles drawn this run
    new: int
    changed: int
    unchanged: int
    deleted: int
    uploaded_bytes: int
    tiles: int  # tiles in the store after the run
    bytes: int  # their total size


def read_data_json(store: TileStore) -> dict[str, Any] | None:
    raw = store.read(DATA_JSON)
    if raw is None:
        return None
    try:
        data = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    return data if isinstance(data, dict) else None


def render_tiles(
    engine: Engine,
    store: TileStore,
    state_dir: Path,
    *,
    zooms: tuple[int, int] = DEFAULT_ZOOMS,
    full: bool = False,
    min_age_hours: float = 24.0,
    now: dt.datetime | None = None,
    pngquant: bool = False,
) -> RenderReport:
    """Render the coverage tiles into ``store``; raises state.Busy if a run is in progress.

    ``now`` (timezone-aware; default: the clock) sets the cells' ages and the privacy delay.
    """
    snapshot_path = state.state_path(state_dir, store.url)
    with state.exclusive(snapshot_path):
        return _run(engine, store, snapshot_path, zooms, full, min_age_hours, now, pngquant)


def _run(
    engine: Engine,
    store: TileStore,
    snapshot_path: Path,
    zooms: tuple[int, int],
    full: bool,
    min_age_hours: float,
    now: dt.datetime | None,
    pngquant: bool,
) -> RenderReport:
    clock = time.perf_counter()
    started = now or dt.datetime.now(dt.UTC)
    cells = load_cells(engine)
    today = (started.date() - dt.date(1970, 1, 1)).days
    counts = point_counts(
        cells.created,
        cells.modified,
        today=today,
        now=started.timestamp(),
        min_age_hours=min_age_hours,
    )
    drawn = counts > 0
    keys, counts = cells.keys[drawn], counts[drawn]

    previous = read_data_json(store)
    snapshot = None if full else state.load(snapshot_path)
    plan = None
    if snapshot is not None and previous is not None and _follows(snapshot, previous, zooms):
        plan = _incremental(snapshot, previous, keys, counts, zooms)
    if plan is None:
        pixel_keys, pixel_counts = pyramid.pixels(keys, counts, pyramid.base_zoom(zooms))
        plan = _Plan(pixel_keys, pixel_counts, None, int(keys.size), 0, 0)

    tiles: Iterator[tuple[str, bytes]] = iter(())
    if plan.dirty is None or any(t.size for t in plan.dirty.values()):
        tiles = draw(plan.pixel_keys, plan.pixel_counts, zooms, plan.dirty)
        if pngquant:
            tiles = quantised(tiles)
    scope = None if plan.dirty is None else scope_paths(plan.dirty)
    stats = sync(store, tiles, scope)

    if snapshot is not None and plan.dirty is not None and plan.cells_changed == 0:
        run = snapshot.run  # nothing changed: the saved snapshot still describes the store
    else:
        run = uuid.uuid4().hex
        pixels = (plan.pixel_keys, plan.pixel_counts)
        state.save(snapshot_path, state.Snapshot(run, zooms, state.VERSION, keys, counts, *pixels))
    if plan.dirty is None:  # the store now holds exactly the tiles drawn
        total_tiles, total_bytes = stats.rendered, stats.rendered_bytes
    else:
        total_tiles = plan.stored_tiles + stats.tiles_delta
        total_bytes = plan.stored_bytes + stats.bytes_delta
    report = RenderReport(
        updated=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        started=started.isoformat(timespec="seconds"),
        seconds=round(time.perf_counter() - clock, 3),
        run=run,
        mode="full" if plan.dirty is None else "incremental",
        zooms=zooms,
        cells=cells.size,
        cells_drawn=int(keys.size),
        cells_changed=plan.cells_changed,
        points=int(np.sum(counts, dtype=np.int64)),
        rendered=stats.rendered,
        new=stats.new,
        changed=stats.changed,
        unchanged=stats.unchanged,
        deleted=stats.deleted,
        uploaded_bytes=stats.uploaded_bytes,
        tiles=total_tiles,
        bytes=total_bytes,
    )
    store.write([(DATA_JSON, msgspec.json.encode(asdict(report)))])
    log.info("tiles %s: %s", report.mode, report)
    return report


@dataclass(frozen=True)
class _Plan:
    pixel_keys: U64  # the deepest zoom's pixels after this run
    pixel_counts: U32
    dirty: dict[int, U64] | None  # tiles to draw per zoom; None: all of them
    cells_changed: int
    stored_tiles: int  # in the store before this run (incremental runs keep a running total)
    stored_bytes: int


def _follows(snapshot: state.Snapshot, previous: dict[str, Any], zooms: tuple[int, int]) -> bool:
    """Whether the store was last written by the run that saved the snapshot, with this setup."""
    return (
        snapshot.run == previous.get("run")
        and snapshot.zooms == zooms
        and snapshot.version == state.VERSION
    )


def _incremental(
    snapshot: state.Snapshot,
    previous: dict[str, Any],
    keys: U64,
    counts: U8,
    zooms: tuple[int, int],
) -> _Plan | None:
    moved, before, after = pyramid.changed_cells(snapshot.keys, snapshot.counts, keys, counts)
    delta_keys, delta_counts = pyramid.delta(moved, before, after, pyramid.base_zoom(zooms))
    try:
        pixel_keys, pixel_counts = pyramid.apply_delta(
            snapshot.pixel_keys, snapshot.pixel_counts, delta_keys, delta_counts
        )
    except ValueError as exc:
        log.warning("tile snapshot unusable (%s); drawing every tile", exc)
        return None
    return _Plan(
        pixel_keys,
        pixel_counts,
        pyramid.dirty_tiles(delta_keys, zooms),
        int(moved.size),
        int(previous.get("tiles", 0)),
        int(previous.get("bytes", 0)),
    )
