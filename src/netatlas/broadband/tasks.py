"""Job functions of the speed test (see :mod:`netatlas.jobs.table`)."""

from __future__ import annotations

import logging
from datetime import datetime

from netatlas.broadband.retention import RetentionReport, run_retention
from netatlas.jobs.context import Context

__all__ = ["speedtest_retention"]

log = logging.getLogger(__name__)


def speedtest_retention(ctx: Context, now: datetime | None = None) -> RetentionReport:
    """Erase old client addresses and prune old ndt7 result files (see :mod:`.retention`)."""
    report = run_retention(ctx.engine, ctx.settings, now)
    if report.addresses or report.survey_addresses or report.files_deleted or report.files_archived:
        log.info("speed-test retention: %s", report.summary())
    for error in report.errors:
        log.warning("speed-test retention: %s", error)
    return report
