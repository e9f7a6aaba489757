"""Export jobs: the fan-out of the ``incoming`` queue, and delivery to every other target.

The internal export turns reports into validated observations and pushes them, as compact
chunks, to one queue per station shard, plus the datamap grid cells of their positions. Every
``geosubmit``, ``s3`` and ``file`` target gets the submissions its ``skip_keys`` and
``skip_sources`` let through in its own ``export_<name>`` queue, from where
:func:`update_exports` delivers them. Pushing the derived items and removing the incoming batch
happen in one atomic queue commit, so a crash can neither lose nor duplicate anything.
"""

from __future__ import annotations

import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from netatlas.datamap.grid import grid_items
from netatlas.export.config import ExportConfig, load_configs
from netatlas.export.delivery import TargetRun, deliver_target, queue_name
from netatlas.export.delivery import parked_queues as _parked
from netatlas.export.exporters import Envelope, encode_envelope, envelope
from netatlas.geo.mcc import regions_for_mcc
from netatlas.jobs.context import Context
from netatlas.location.stations.observations import (
    Observation,
    encode_chunk,
    group_by_queue,
    observations_from_report,
)
from netatlas.location.submit.report import Submission, decode_submission, report_source

log = logging.getLogger(__name__)

INCOMING = "incoming"


@dataclass
class FanOutStats:
    submissions: int = 0
    reports: int = 0
    observations: int = 0
    dropped: Counter[str] = field(default_factory=Counter)


def internal_pushes(
    ctx: Context, submissions: list[Submission], config: ExportConfig
) -> tuple[dict[str, list[bytes]], int, Counter[str]]:
    """Observation chunks per shard queue and datamap grid items for these submissions."""
    observations: list[Observation] = []
    positions: list[tuple[float, float]] = []
    dropped: Counter[str] = Counter()
    for sub in submissions:
        for report in sub.reports:
            if not config.accepts(sub.api_key, report_source(report)):
                continue
            obs = observations_from_report(report, ctx.regions, regions_for_mcc, sub.contributor)
            dropped.update(obs.drops)
            if obs.empty:
                continue
            observations += obs.wifis
            observations += obs.blues
            observations += obs.cells
            if obs.lat is not None and obs.lon is not None:
                positions.append((obs.lat, obs.lon))
    count = len(observations)
    by_queue = group_by_queue(observations)
    pushes = {name: [encode_chunk(items)] for name, items in by_queue.items()}
    for name, items in grid_items(positions).items():
        pushes[name] = items
    return pushes, count, dropped


def target_items(envelopes: list[Envelope], config: ExportConfig) -> list[bytes]:
    """The queue items a target gets: every envelope its skip lists leave reports in."""
    kept: list[bytes] = []
    for env in envelopes:
        if (env.api_key or "") in config.skip_keys:
            continue
        if config.skip_sources:
            reports = [r for r in env.reports if r[0] not in config.skip_sources]
            if not reports:
                continue
            env = Envelope(env.api_key, env.received, reports)
        kept.append(encode_envelope(env))
    return kept


def update_incoming(ctx: Context, *, max_batches: int | None = None) -> FanOutStats:
    """Drain the incoming queue into every export target's queue."""
    stats = FanOutStats()
    configs = load_configs(ctx.engine)
    done = 0
    while max_batches is None or done < max_batches:
        batch = ctx.queue.claim(INCOMING, ctx.settings.incoming_batch)
        if batch is None:
            break
        done += 1
        submissions = [decode_submission(item) for item in batch.items]
        pushes: dict[str, list[bytes]] = {}
        envelopes: list[Envelope] | None = None
        plain: list[bytes] | None = None  # for targets without skip lists: encoded once
        for config in configs:
            if config.schema == "internal":
                derived, count, dropped = internal_pushes(ctx, submissions, config)
                pushes.update(derived)
                stats.observations += count
                stats.dropped.update(dropped)
            elif config.queued:
                if envelopes is None:
                    envelopes = [envelope(sub) for sub in submissions]
                if config.skip_keys or config.skip_sources:
                    items = target_items(envelopes, config)
                else:
                    plain = plain if plain is not None else target_items(envelopes, config)
                    items = plain
                if items:
                    pushes[queue_name(config.name)] = items
        ctx.queue.commit(batch, pushes)
        stats.submissions += len(submissions)
        stats.reports += sum(len(s.reports) for s in submissions)
    return stats


def update_exports(ctx: Context) -> list[TargetRun]:
    """Deliver what is due to every target, side by side, so a slow one holds none up."""
    targets = [c for c in load_configs(ctx.engine) if c.queued]
    if not targets:
        return []

    def one(config: ExportConfig) -> TargetRun:
        try:
            return deliver_target(ctx, config)
        except Exception as exc:  # a broken target (bad URL, store) must not stop the others
            log.exception("export %s", config.name)
            return TargetRun(config.name, failed=str(exc) or type(exc).__name__)

    if len(targets) == 1:
        return [one(targets[0])]
    with ThreadPoolExecutor(max_workers=min(len(targets), 4)) as pool:
        return list(pool.map(one, targets))


def parked_queues(ctx: Context) -> set[str]:
    """Export queues no job will drain now (see :func:`delivery.parked_queues`)."""
    return _parked(ctx, load_configs(ctx.engine))
