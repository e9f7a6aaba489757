"""The daily pack job (run by the embedded scheduler and Celery beat alike)."""

from __future__ import annotations

from netatlas.jobs.context import Context
from netatlas.location.packs.service import daily


def build_region_packs(ctx: Context) -> list[str]:
    """Build today's packs of ``NETATLAS_PACKS_REGIONS`` not yet built; returns their ids."""
    return daily(ctx.engine, ctx.settings)
