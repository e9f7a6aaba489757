"""The one table of jobs and periods, run by the embedded scheduler and by Celery beat alike.

A job is a plain function ``(ctx) -> result``. Pipeline jobs are listed in the order data flows,
which is also the order ``netatlas process --until-idle`` runs them in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from netatlas.datamap.models import QUADRANTS
from netatlas.jobs.context import Context


@dataclass(frozen=True)
class Job:
    name: str
    func: Callable[[Context], Any]
    period: float  # seconds between runs
    pipeline: bool = True  # part of the submission pipeline (drained by process --until-idle)


def _jobs() -> list[Job]:
    from netatlas.broadband.aggregate.tasks import import_mlab_daily, update_broadband_stats
    from netatlas.broadband.tasks import speedtest_retention
    from netatlas.datamap.tasks import cleanup_datamap, render_datamap_tiles, update_datamap
    from netatlas.export.downloads import cell_export_diff, cell_export_full
    from netatlas.export.tasks import update_exports, update_incoming
    from netatlas.jobs.batches import prune_applied
    from netatlas.location.packs.tasks import build_region_packs
    from netatlas.location.tasks import station_queues, update_cellarea, update_stations
    from netatlas.monitor.tasks import update_statcounter, update_statregion

    jobs = [
        Job("update_incoming", update_incoming, 2.0),
        Job("update_exports", update_exports, 5.0),
    ]
    for kind, shard in station_queues():
        jobs.append(
            Job(f"update_{kind}_{shard}", partial(update_stations, kind=kind, shard=shard), 5.0)
        )
    jobs.append(Job("update_cellarea", update_cellarea, 10.0))
    for quad in QUADRANTS:
        jobs.append(Job(f"update_datamap_{quad}", partial(update_datamap, quad=quad), 10.0))
    jobs += [
        Job("update_statcounter", update_statcounter, 60.0),
        Job("update_broadband_stats", update_broadband_stats, 30.0),
        # Hourly check; fetches only when M-Lab has published a new day.
        Job("import_mlab_daily", import_mlab_daily, 3600.0, pipeline=False),
        Job("update_statregion", update_statregion, 3600.0, pipeline=False),
        Job("cleanup_datamap", cleanup_datamap, 86400.0, pipeline=False),
        Job("render_datamap_tiles", render_datamap_tiles, 600.0, pipeline=False),
        Job("prune_applied", prune_applied, 3600.0, pipeline=False),
        # Client addresses and ndt7 result files past their retention period.
        Job("speedtest_retention", speedtest_retention, 3600.0, pipeline=False),
        # Each writes its file once per hour / day; the periods only bound the delay.
        Job("cell_export_diff", cell_export_diff, 300.0, pipeline=False),
        Job("cell_export_full", cell_export_full, 1800.0, pipeline=False),
        # Builds each configured region's pack once per (UTC) day.
        Job("build_region_packs", build_region_packs, 1800.0, pipeline=False),
    ]
    return jobs


_CACHE: list[Job] = []


def jobs() -> list[Job]:
    if not _CACHE:
        _CACHE.extend(_jobs())
    return _CACHE


def job(name: str) -> Job:
    for j in jobs():
        if j.name == name:
            return j
    raise KeyError(name)
