"""The composition root: the one module, beside the entry points, that names every feature's
tables and jobs. Infrastructure (``db``, ``jobs``) only defines what a table or a job is; the
entry points hand it these lists."""

from __future__ import annotations

from functools import cache, partial

from sqlalchemy import MetaData

from netatlas.jobs.context import Context
from netatlas.jobs.run import process_until_idle as _process_until_idle
from netatlas.jobs.table import Job, JobTable

__all__ = ["job", "job_table", "load_models", "process_until_idle"]


def load_models() -> MetaData:
    """Import every models module so that the shared ``metadata`` knows all tables."""
    from netatlas.admin import models as _admin  # noqa: F401
    from netatlas.broadband import models as _broadband  # noqa: F401
    from netatlas.broadband.aggregate import models as _stats  # noqa: F401
    from netatlas.datamap import models as _datamap  # noqa: F401
    from netatlas.db import documents as _documents  # noqa: F401
    from netatlas.db import models as _db  # noqa: F401
    from netatlas.db import stats as _monitor  # noqa: F401
    from netatlas.db.metadata import metadata
    from netatlas.export import models as _export  # noqa: F401
    from netatlas.http import ratelimit_models as _limits  # noqa: F401
    from netatlas.location import models as _location  # noqa: F401

    return metadata


def _jobs() -> list[Job]:
    """Every job with its period. Pipeline jobs come in the order data flows, which is also the
    order ``netatlas process --until-idle`` runs them in."""
    from netatlas.broadband.aggregate.tasks import import_mlab_daily, update_broadband_stats
    from netatlas.broadband.opendata import open_data_publish
    from netatlas.broadband.tasks import speedtest_retention
    from netatlas.datamap.models import QUADRANTS
    from netatlas.datamap.tasks import cleanup_datamap, render_datamap_tiles, update_datamap
    from netatlas.export.downloads import cell_export_diff, cell_export_full
    from netatlas.export.dump.service import dump_daily
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
        # The published statistics as Parquet and GeoJSON, once a day.
        Job("open_data_publish", open_data_publish, 3600.0, pipeline=False),
        # Only when NETATLAS_DUMP_DAILY is on; writes the day's dump once.
        Job("wifi_dump_daily", dump_daily, 3600.0, pipeline=False),
        # Builds each configured region's pack once per (UTC) day.
        Job("build_region_packs", build_region_packs, 1800.0, pipeline=False),
    ]
    return jobs


def _parked(ctx: Context) -> set[str]:
    from netatlas.export.tasks import parked_queues

    return parked_queues(ctx)


@cache
def job_table() -> JobTable:
    """The table the embedded scheduler, ``process`` and Celery beat all run."""
    return JobTable(_jobs(), parked=_parked)


def job(name: str) -> Job:
    return job_table().job(name)


def process_until_idle(ctx: Context, *, timeout: float = 3600.0) -> int:
    """Run every pipeline job until the queues are empty (see :func:`netatlas.jobs.run`)."""
    return _process_until_idle(ctx, job_table(), timeout=timeout)
