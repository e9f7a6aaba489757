"""What the admin overview and settings pages show, gathered from the other features."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, select

from netatlas.admin.models import audit_log
from netatlas.admin.surveys import responses
from netatlas.broadband.aggregate.config import ConfigError
from netatlas.broadband.aggregate.service import StatsService
from netatlas.broadband.aggregate.store import states
from netatlas.broadband.form import FormError, load_form
from netatlas.export.models import export_config
from netatlas.location.models import api_key
from netatlas.settings import Settings

__all__ = ["configuration", "overview"]


def overview(engine: Engine) -> dict[str, Any]:
    """Counts of keys, export targets and survey responses, and the latest audit entries."""
    with engine.connect() as conn:
        keys = conn.execute(select(func.count()).select_from(api_key)).scalar_one()
        exports = conn.execute(select(func.count()).select_from(export_config)).scalar_one()
        recent = conn.execute(select(audit_log).order_by(audit_log.c.id.desc()).limit(8)).all()
    return {
        "keys": int(keys),
        "exports": int(exports),
        "survey_counts": responses(engine, 1).counts,
        "recent": [dict(r._mapping) for r in recent],
    }


def configuration(settings: Settings, engine: Engine) -> dict[str, Any]:
    """The survey form and the aggregations in force (saved on the admin pages, or from the
    settings files) with how many tests each holds and how many found no area, or the error
    that keeps either from loading."""
    out: dict[str, Any] = {
        "survey_path": settings.survey_path,
        "aggregations_path": settings.aggregations_path,
    }
    try:
        out["form"] = load_form(settings.survey_path, engine)
    except FormError as exc:
        out["form_error"] = str(exc)
    try:
        aggregations = StatsService(engine, settings.aggregations_path).aggregations(public=False)
    except ConfigError as exc:
        out["aggregations_error"] = str(exc)
        return out
    with engine.connect() as conn:
        known = states(conn)
    for agg in aggregations:  # tests in the bins, and tests that found no area
        state = known.get(agg["name"])
        agg["counts"] = state.counts if state is not None else None
    out["aggregations"] = aggregations
    return out
