"""Datamap jobs: record which grid cells saw positions today; forget cells unseen for a year;
render the coverage tiles."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, delete

from netatlas.datamap.grid import MAX_AGE_DAYS, decode_chunk
from netatlas.datamap.models import QUADRANTS, datamap_tables
from netatlas.db.upsert import insert_for
from netatlas.jobs.batches import drain
from netatlas.jobs.context import Context
from netatlas.queue.base import Batch
from netatlas.settings import Settings

if TYPE_CHECKING:
    from netatlas.datamap.render import RenderReport

log = logging.getLogger(__name__)


def update_datamap(ctx: Context, quad: str, *, today: dt.date | None = None) -> int:
    table = datamap_tables[quad]

    def apply(conn: Connection, batch: Batch) -> None:
        day = today or dt.datetime.now(dt.UTC).date()
        grids = sorted({g for item in batch.items for g in decode_chunk(item)})
        if not grids:
            return
        stmt = insert_for(conn, table)
        stmt = stmt.on_conflict_do_update(
            index_elements=["grid"],
            set_={"modified": stmt.excluded.modified},
            where=table.c.modified < stmt.excluded.modified,
        )
        conn.execute(stmt, [{"grid": g, "created": day, "modified": day} for g in grids])

    return drain(ctx, "update_datamap_" + quad, 100, apply)


def update_all_datamaps(ctx: Context) -> int:
    return sum(update_datamap(ctx, q) for q in QUADRANTS)


def cleanup_datamap(ctx: Context, *, today: dt.date | None = None) -> int:
    cutoff = (today or dt.datetime.now(dt.UTC).date()) - dt.timedelta(days=MAX_AGE_DAYS)
    removed = 0
    with ctx.engine.begin() as conn:
        for table in datamap_tables.values():
            removed += conn.execute(delete(table).where(table.c.modified < cutoff)).rowcount
    return removed


def state_dir(settings: Settings) -> Path:
    """Where render snapshots and locks live (never published)."""
    return settings.data_dir / "datamap"


def render_datamap_tiles(ctx: Context) -> RenderReport | None:
    """The scheduled incremental render into the configured tile store."""
    from netatlas.datamap.render import render_tiles
    from netatlas.datamap.state import Busy
    from netatlas.storage.tiles import open_store

    store = open_store(ctx.settings.tiles_store, ctx.settings)
    try:
        return render_tiles(
            ctx.engine,
            store,
            state_dir(ctx.settings),
            min_age_hours=ctx.settings.datamap_min_age_hours,
        )
    except Busy:
        log.info("tiles of %s are being rendered by another process; skipped", store.url)
        return None
