"""Keeping the statistics up to date: ``netatlas aggregate [--rebuild]`` and the pipeline job.

Each run reads the tests added since an aggregation's watermark, bins them, merges them into
the stored bins they fall in and moves the watermark on — in one transaction per aggregation.
An aggregation seen for the first time, or whose declaration or polygon layer changed, is
rebuilt from every test. Tests run against this server (``local``, ``mlab``) are left alone
for :data:`SURVEY_GRACE` seconds when some aggregation uses survey locations, because the
survey that carries the browser location is posted just after the test.

The aggregation's state row also keeps how many tests its bins hold and how many found no
area (outside the layer and its tolerance, or without a location): ``netatlas aggregate``
prints both for each run, the admin settings page the totals.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import Engine, func, select

from netatlas.broadband.aggregate import frame as fr
from netatlas.broadband.aggregate.build import (
    KEY_COLUMNS,
    Binned,
    IspLabels,
    bin_tests,
    by_country,
    merge,
)
from netatlas.broadband.aggregate.config import Aggregation, load_aggregations
from netatlas.broadband.aggregate.readings import add_ranks, read_tests
from netatlas.broadband.aggregate.store import (
    Counts,
    State,
    claim,
    get_state,
    load_bins,
    write_bins,
)
from netatlas.broadband.areas import AreaLayer, UnknownLayer, get_layer
from netatlas.broadband.models import measurements

__all__ = ["SURVEY_GRACE", "UpdateReport", "update_statistics"]

log = logging.getLogger(__name__)

SURVEY_GRACE = 600.0
CHUNK = 250_000


@dataclass
class UpdateReport:
    name: str
    area: str | None = None  # the layer
    rebuilt: bool = False
    tests: int = 0  # tests binned in this run
    unlocated: int = 0  # tests outside the layer (and its tolerance) or without a location
    totals: Counts = field(default_factory=Counts)  # of the stored bins after this run
    bins: int = 0  # bins written
    seconds: float = 0.0
    error: str | None = None


@dataclass
class _Plan:
    agg: Aggregation
    layer: AreaLayer | None
    fingerprint: str
    state: State | None
    start: int  # tests with a higher id are new to this aggregation
    full: bool
    isp: IspLabels
    report: UpdateReport
    parts: list[Binned] = field(default_factory=list)


def _plans(
    engine: Engine, aggs: Sequence[Aggregation], rebuild: bool
) -> tuple[list[_Plan], list[UpdateReport]]:
    plans: list[_Plan] = []
    failed: list[UpdateReport] = []
    for agg in aggs:
        report = UpdateReport(agg.name, agg.area)
        try:
            layer = get_layer(engine, agg.area) if agg.area else None
        except UnknownLayer as exc:
            report.error = str(exc)
            failed.append(report)
            continue
        fingerprint = agg.fingerprint(layer.version if layer else "")
        with engine.connect() as conn:
            state = get_state(conn, agg.name)
        full = rebuild or state is None or state.fingerprint != fingerprint
        start = 0 if full or state is None else state.watermark
        report.rebuilt = full
        plans.append(
            _Plan(agg, layer, fingerprint, state, start, full, IspLabels(agg.isp_rewrites), report)
        )
    return plans, failed


def _last_id(engine: Engine, after: int, plans: list[_Plan], now: float) -> int:
    m = measurements
    with engine.connect() as conn:
        last = int(conn.execute(select(func.max(m.c.id))).scalar() or 0)
        if any(p.agg.location == "survey" for p in plans):
            young = datetime.fromtimestamp(now, UTC).replace(tzinfo=None)
            young -= timedelta(seconds=SURVEY_GRACE)
            first_young = conn.execute(
                select(func.min(m.c.id)).where(
                    m.c.id > after, m.c.source.in_(("local", "mlab")), m.c.test_time > young
                )
            ).scalar()
            if first_young is not None:
                last = min(last, int(first_young) - 1)
    return last


def _strings(plan: _Plan, binned: Binned) -> dict[str, list[object]]:
    k = binned.keys
    areas = k["area"]
    if plan.layer is not None and areas.size:
        area_keys: list[object] = list(plan.layer.keys(areas))
    else:
        area_keys = [""] * areas.size
    names = plan.isp.names
    return {
        "area": area_keys,
        "period": k["period"].tolist(),
        "hour": k["hour"].tolist(),
        "dow": k["dow"].tolist(),
        "isp": [names[i] if i >= 0 else "" for i in k["isp"].tolist()],
    }


def _write(engine: Engine, plan: _Plan, last: int) -> None:
    binned = merge(plan.parts)
    keys = _strings(plan, binned)
    frame = binned.frame
    with engine.begin() as conn:
        counts = Counts(plan.report.tests, plan.report.unlocated)
        claimed = claim(
            conn, plan.agg.name, plan.state, plan.fingerprint, last, counts, rebuilt=plan.full
        )
        if claimed is None:
            raise RuntimeError("another process updated it at the same time; skipped")
        before = plan.state.counts if plan.state is not None and not plan.full else Counts()
        plan.report.totals = Counts(
            before.tests + counts.tests, before.unlocated + counts.unlocated
        )
        if not plan.full and frame.size:
            tuples = list(zip(*(keys[c] for c in KEY_COLUMNS), strict=True))
            stored = load_bins(conn, plan.agg.name, tuples)
            if stored:
                index = {t: i for i, t in enumerate(tuples)}
                group = np.array([*range(frame.size), *(index[r[:-1]] for r in stored)], np.int64)
                old = fr.from_blobs([r[-1] for r in stored])
                frame = fr.reduce(fr.concat([frame, old]), group, frame.size)
        columns = {**keys, "tests": frame.values["tests"].tolist(), "partial": fr.to_blobs(frame)}
        plan.report.bins = write_bins(conn, plan.agg.name, columns, replace_all=plan.full)


def update_statistics(
    engine: Engine,
    aggregations_path: str = "",
    *,
    rebuild: bool = False,
    names: Sequence[str] | None = None,
    now: float | None = None,
) -> list[UpdateReport]:
    """Bring every declared aggregation (or those named) up to date with the measurements."""
    aggs = load_aggregations(aggregations_path, engine)
    if names:
        aggs = tuple(a for a in aggs if a.name in names)
    plans, reports = _plans(engine, aggs, rebuild)
    if not plans:
        return reports
    started = time.monotonic()
    lo = min(p.start for p in plans)
    last = _last_id(engine, lo, plans, time.time() if now is None else now)
    needs_rank = any(p.agg.tests_per_client_day > 0 for p in plans)
    survey = any(p.agg.location == "survey" for p in plans)
    country = any(by_country(p.agg) for p in plans)
    for chunk in range(lo, last, CHUNK):
        with engine.connect() as conn:
            upto = min(chunk + CHUNK, last)
            tests = read_tests(conn, chunk, upto, survey=survey, country=country)
            if needs_rank:
                add_ranks(conn, tests)
        for plan in plans:
            mine = (
                tests if plan.start <= chunk else tests.take(np.flatnonzero(tests.id > plan.start))
            )
            if mine.size == 0:
                continue
            binned, unlocated = bin_tests(plan.agg, mine, plan.layer, plan.isp)
            plan.report.tests += int(binned.frame.values["tests"].sum())
            plan.report.unlocated += unlocated
            plan.parts.append(binned)
    for plan in plans:
        if not plan.full and last <= plan.start:
            continue  # nothing new: the version (and so ETags) stays
        try:
            _write(engine, plan, max(last, plan.start))
        except RuntimeError as exc:
            plan.report.error = str(exc)
            log.warning("aggregation %s: %s", plan.agg.name, exc)
        plan.report.seconds = time.monotonic() - started
        reports.append(plan.report)
    return reports
