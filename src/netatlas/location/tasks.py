"""Station-updater jobs: drain the per-shard observation queues into the station tables."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from sqlalchemy import Connection

from netatlas.geo.mcc import regions_for_mcc
from netatlas.jobs.batches import drain
from netatlas.jobs.context import Context
from netatlas.location.models import RADIOS, SHARDS
from netatlas.location.stations.observations import decode_chunk
from netatlas.location.stations.update import apply_observations, recompute_areas
from netatlas.queue.base import Batch

Kind = Literal["wifi", "blue", "cell"]


def station_queues() -> list[tuple[Kind, str]]:
    kinds: list[tuple[Kind, str]] = [("blue", s) for s in SHARDS]
    kinds += [("wifi", s) for s in SHARDS]
    kinds += [("cell", r) for r in RADIOS]
    return kinds


def update_stations(ctx: Context, kind: Kind, shard: str) -> int:
    """Apply every waiting observation chunk of one shard; returns the chunks handled."""

    def apply(conn: Connection, batch: Batch) -> None:
        observations = [o for item in batch.items for o in decode_chunk(item, kind)]
        apply_observations(conn, kind, shard, observations, ctx.regions, dt.datetime.now(dt.UTC))

    return drain(ctx, f"update_{kind}_{shard}", ctx.settings.station_batch, apply)


def update_all_stations(ctx: Context, kind: Kind) -> int:
    return sum(update_stations(ctx, k, s) for k, s in station_queues() if k == kind)


def update_cellarea(ctx: Context) -> int:
    total = 0
    while True:
        with ctx.engine.begin() as conn:
            n = recompute_areas(conn, ctx.regions, regions_for_mcc, dt.datetime.now(dt.UTC))
        total += n
        if n == 0:
            return total
