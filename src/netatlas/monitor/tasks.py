"""Statistics jobs: fold the updaters' per-day counters into ``stat``; count stations by region."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from sqlalchemy import func, select

from netatlas.db.stats import region_stat, stat, stat_counter
from netatlas.db.upsert import insert_for
from netatlas.jobs.context import Context
from netatlas.location.models import RADIO_CODE, blue_shards, cell_area, wifi_shards


def update_statcounter(ctx: Context) -> int:
    """Recompute running totals per stat key and day from the per-day counters.

    ``stat`` holds cumulative totals (Ichnaea compatibility); each day's value is the sum of all
    counters up to and including that day, so running this twice changes nothing.
    """
    with ctx.engine.begin() as conn:
        rows = conn.execute(
            select(stat_counter.c.key, stat_counter.c.day, func.sum(stat_counter.c.value))
            .group_by(stat_counter.c.key, stat_counter.c.day)
            .order_by(stat_counter.c.key, stat_counter.c.day)
        ).all()
        totals: dict[int, int] = defaultdict(int)
        values = []
        for key, day, value in rows:
            totals[key] += int(value)
            values.append({"key": key, "time": day, "value": totals[key]})
        if values:
            stmt = insert_for(conn, stat)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["key", "time"], set_={"value": stmt.excluded.value}
                ),
                values,
            )
    return len(values)


def update_statregion(ctx: Context) -> int:
    """Per region: cells by radio (from cell areas), WiFi and Bluetooth stations."""
    counts: dict[str, dict[str, int]] = defaultdict(
        lambda: dict.fromkeys(("gsm", "wcdma", "lte", "nr", "blue", "wifi"), 0)
    )
    radio_names = {code: name for name, code in RADIO_CODE.items()}
    with ctx.engine.begin() as conn:
        for region, radio, num in conn.execute(
            select(cell_area.c.region, cell_area.c.radio, func.sum(cell_area.c.num_cells))
            .where(cell_area.c.region.is_not(None))
            .group_by(cell_area.c.region, cell_area.c.radio)
        ):
            name = radio_names.get(radio)
            if name in counts[region]:
                counts[region][name] += int(num or 0)
        for kind, shards in (("wifi", wifi_shards), ("blue", blue_shards)):
            for table in shards.values():
                for region, num in conn.execute(
                    select(table.c.region, func.count())
                    .where(table.c.region.is_not(None))
                    .group_by(table.c.region)
                ):
                    counts[region][kind] += int(num)
        conn.execute(region_stat.delete())
        if counts:
            conn.execute(
                region_stat.insert(), [{"region": r, **c} for r, c in sorted(counts.items())]
            )
    return len(counts)


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()
