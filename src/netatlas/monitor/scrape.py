"""``GET /metrics``: the Prometheus text format.

Two sources make one page:

* process counters (:mod:`netatlas.http.metrics`): requests and latency per endpoint and
  status, locate answers by source, query learning, ndt7 tests, submissions and drop reasons,
  memory per process; summed over the live processes of this host.
* shared state, read at scrape time from the database and the queue, so any process (or
  host) reports the same figures: queue lengths and ages, the pipeline backlog and what
  backpressure does with it, pipeline totals (observations applied and stations created,
  from ``stat_counter``), export deliveries and failures per target (``export_state``), and
  whether each backend answers.

A collector that fails (its backend is down) is left out and ``netatlas_scrape_ok`` says so;
the page itself is always served.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from netatlas.db.stats import STAT_KEYS, stat_counter
from netatlas.export.models import export_state
from netatlas.http.metrics import (
    BUCKETS,
    COUNTERS,
    GAUGES,
    REGISTRY,
    Snapshot,
    read_spool,
    spool_dir,
)
from netatlas.location.services import services_of
from netatlas.queue import Queue

__all__ = ["collect", "metrics_view", "routes"]

log = logging.getLogger(__name__)
P = "netatlas_"
_LE = [*(repr(b) for b in BUCKETS), "+Inf"]


def _process_families(snapshots: list[Snapshot]) -> Iterable[Metric]:
    rows: dict[tuple[str, int], list[float]] = {}
    for snap in snapshots:
        for endpoint, status, row in snap.requests:
            total = rows.setdefault((endpoint, status), [0.0] * len(row))
            for i, value in enumerate(row):
                total[i] += value
    hist = HistogramMetricFamily(
        P + "http_request_duration_seconds",
        "HTTP request latency by route template and status.",
        labels=["endpoint", "status"],
    )
    count = CounterMetricFamily(
        P + "http_requests",
        "HTTP requests by route template and status.",
        labels=["endpoint", "status"],
    )
    for (endpoint, status), row in sorted(rows.items()):
        cumulative, buckets = 0.0, []
        for le, n in zip(_LE, row[:-1], strict=True):
            cumulative += n
            buckets.append((le, cumulative))
        hist.add_metric([endpoint, str(status)], buckets, row[-1])
        count.add_metric([endpoint, str(status)], cumulative)
    yield hist
    yield count

    for name, (doc, labels) in COUNTERS.items():
        family = CounterMetricFamily(P + name, doc, labels=list(labels))
        for labels_, value in _summed(s.counters.get(name, []) for s in snapshots):
            family.add_metric(labels_, value)
        yield family
    for name, (doc, labels) in GAUGES.items():
        gauge = GaugeMetricFamily(P + name, doc, labels=list(labels))
        for labels_, value in _summed(s.gauges.get(name, []) for s in snapshots):
            gauge.add_metric(labels_, value)
        yield gauge

    yield CounterMetricFamily(
        P + "submit_requests",
        "Submit requests parsed.",
        value=sum(s.submit_requests for s in snapshots),
    )
    yield CounterMetricFamily(
        P + "submit_reports",
        "Reports accepted into the incoming queue.",
        value=sum(s.submit_reports for s in snapshots),
    )
    dropped = CounterMetricFamily(
        P + "submit_dropped", "Submitted entries dropped, by reason.", labels=["reason"]
    )
    reasons: dict[str, int] = defaultdict(int)
    for snap in snapshots:
        for reason, n in snap.submit_dropped.items():
            reasons[reason] += n
    for reason, n in sorted(reasons.items()):
        dropped.add_metric([reason], n)
    yield dropped
    rss = GaugeMetricFamily(
        P + "process_resident_memory_bytes", "Resident memory per server process.", labels=["pid"]
    )
    for snap in sorted(snapshots, key=lambda s: s.pid):
        rss.add_metric([str(snap.pid)], snap.rss_bytes)
    yield rss


def _summed(
    groups: Iterable[list[tuple[list[str], float]]],
) -> list[tuple[list[str], float]]:
    totals: dict[tuple[str, ...], float] = defaultdict(float)
    for group in groups:
        for labels, value in group:
            totals[tuple(labels)] += value
    return [(list(k), v) for k, v in sorted(totals.items())]


def _queue_families(services: Any) -> Iterable[Metric]:
    from netatlas.monitor.queues import queue_ages

    queue: Queue = services.queue
    items = GaugeMetricFamily(
        P + "queue_items", "Items waiting or claimed, per queue.", labels=["queue"]
    )
    for name in queue.queues():
        items.add_metric([name], queue.size(name))
    yield items
    ages = GaugeMetricFamily(
        P + "queue_oldest_age_seconds",
        "Age of the oldest waiting item, where the queue can tell.",
        labels=["queue"],
    )
    now = time.time()
    for name, created in sorted(queue_ages(queue).items()):
        ages.add_metric([name], max(now - created, 0.0))
    yield ages


def _backlog_families(services: Any) -> Iterable[Metric]:
    pressure = services.backpressure
    state = pressure.refresh(force=True)
    yield GaugeMetricFamily(
        P + "pipeline_backlog", "Items in the pipeline queues (exports excluded).", state.backlog
    )
    yield GaugeMetricFamily(
        P + "query_learning_rate",
        "Share of locate answers learnt from after backlog sampling (1: all).",
        state.learn_rate,
    )
    yield GaugeMetricFamily(
        P + "submissions_refused",
        "1 while the backlog is over the hard limit and submissions get 503.",
        int(state.refusing),
    )


def _pipeline_families(services: Any) -> Iterable[Metric]:
    names = {code: name for name, code in STAT_KEYS.items()}
    with services.engine.connect() as conn:
        rows = conn.execute(
            select(stat_counter.c.key, func.sum(stat_counter.c.value)).group_by(stat_counter.c.key)
        ).all()
    observations = CounterMetricFamily(
        P + "pipeline_observations",
        "Observations applied to station tables, by kind.",
        labels=["kind"],
    )
    created = CounterMetricFamily(
        P + "pipeline_stations_created", "Stations created, by kind.", labels=["kind"]
    )
    for key, total in sorted(rows, key=lambda r: int(r[0])):
        name = names.get(int(key))
        if name is None:
            continue
        if name.startswith("unique_"):
            created.add_metric([name[len("unique_") :]], int(total or 0))
        else:
            observations.add_metric([name], int(total or 0))
    yield observations
    yield created


def _export_families(services: Any) -> Iterable[Metric]:
    with services.engine.connect() as conn:
        rows = conn.execute(select(export_state).order_by(export_state.c.name)).all()
    delivered = CounterMetricFamily(
        P + "export_reports", "Reports delivered, per export target.", labels=["target"]
    )
    failures = GaugeMetricFamily(
        P + "export_consecutive_failures",
        "Failed uploads since the last success, per export target.",
        labels=["target"],
    )
    success = GaugeMetricFamily(
        P + "export_last_success_timestamp_seconds",
        "Time of the last successful upload.",
        labels=["target"],
    )
    failure = GaugeMetricFamily(
        P + "export_last_failure_timestamp_seconds",
        "Time of the last failed upload.",
        labels=["target"],
    )
    for row in rows:
        delivered.add_metric([row.name], row.reports or 0)
        failures.add_metric([row.name], row.failures or 0)
        if row.last_success is not None:
            success.add_metric([row.name], row.last_success)
        if row.last_failure is not None:
            failure.add_metric([row.name], row.last_failure)
    yield from (delivered, failures, success, failure)


def _backend_families(services: Any) -> Iterable[Metric]:
    from netatlas.monitor.views import health

    _, parts = health(services)
    up = GaugeMetricFamily(P + "backend_up", "1 when the backend answers.", labels=["backend"])
    for name, part in sorted(parts.items()):
        up.add_metric([name], 1 if part.get("up") else 0)
    yield up


COLLECTORS: dict[str, Callable[[Any], Iterable[Metric]]] = {
    "queues": _queue_families,
    "backlog": _backlog_families,
    "pipeline": _pipeline_families,
    "exports": _export_families,
    "backends": _backend_families,
}


class _Page:
    """The families of one scrape, in the shape ``generate_latest`` takes."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


def collect(services: Any, own: Snapshot, spool: Path) -> bytes:
    """The metrics page: this process's ``own`` figures, the spool's, and the shared state."""
    families = list(_process_families([own, *read_spool(spool)]))
    ok = GaugeMetricFamily(
        P + "scrape_ok", "1 when the collector could read its backend.", labels=["collector"]
    )
    for name, collector in COLLECTORS.items():
        try:
            found = list(collector(services))
        except Exception as exc:  # a backend that is down costs its figures, not the page
            log.warning("metrics collector %s failed: %s", name, exc)
            ok.add_metric([name], 0)
            continue
        families += found
        ok.add_metric([name], 1)
    families.append(ok)
    return generate_latest(_Page(families))


async def metrics_view(request: Request) -> Response:
    services = services_of(request)
    spool = spool_dir(services.settings.data_dir)
    now = time.monotonic()
    REGISTRY.flush(spool, now)
    own = REGISTRY.snapshot()
    body = await run_in_threadpool(collect, services, own, spool)
    return Response(body, media_type=CONTENT_TYPE_PLAIN_0_0_4)


routes = [Route("/metrics", metrics_view, methods=["GET"])]
