"""Job functions of the broadband statistics (see :mod:`netatlas.jobs.table`)."""

from __future__ import annotations

import logging
from datetime import date

from netatlas.broadband.aggregate.update import UpdateReport, update_statistics
from netatlas.jobs.context import Context

__all__ = ["import_mlab_daily", "update_broadband_stats"]

log = logging.getLogger(__name__)


def update_broadband_stats(ctx: Context) -> list[UpdateReport]:
    """Fold new measurements into the bins they fall in (a pipeline job)."""
    reports = update_statistics(ctx.engine, ctx.settings.aggregations_path)
    for report in reports:
        if report.error:
            log.warning("aggregation %s not updated: %s", report.name, report.error)
    return reports


def import_mlab_daily(ctx: Context) -> int:
    """Fetch the days M-Lab has published since the last run, when BigQuery is configured
    (``NETATLAS_BIGQUERY_PROJECT``, ``NETATLAS_MLAB_BBOX``, ``NETATLAS_MLAB_SINCE``)."""
    settings = ctx.settings
    if not (settings.bigquery_project and settings.mlab_bbox and settings.mlab_since):
        return 0
    from netatlas.broadband.mlab.bigquery import BBox, GoogleBigQuery, import_bigquery

    run = import_bigquery(
        ctx.engine,
        GoogleBigQuery(settings.bigquery_project),
        BBox.parse(settings.mlab_bbox),
        first=date.fromisoformat(settings.mlab_since),
    )
    if run is None:
        return 0
    log.info("M-Lab BigQuery %s..%s: %s", run.since, run.until, run.report.summary())
    return run.report.inserted
