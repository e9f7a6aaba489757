"""The export fan-out: the ``incoming`` queue is copied to every configured export target.

The internal export turns reports into validated observations and pushes them, as compact
chunks, to one queue per station shard, plus the datamap grid cells of their positions. Other
targets (issue: data sharing) get the submissions in their own ``export_<name>`` queue. Pushing
the derived items and removing the incoming batch happen in one atomic queue commit, so a crash
can neither lose nor duplicate anything.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import select

from netatlas.datamap.grid import grid_items
from netatlas.export.models import export_config
from netatlas.geo.mcc import regions_for_mcc
from netatlas.jobs.context import Context
from netatlas.location.observations import (
    Observation,
    encode_chunk,
    group_by_queue,
    observations_from_report,
)
from netatlas.location.report import Submission, decode_submission, report_source

INCOMING = "incoming"


@dataclass(frozen=True)
class ExportConfig:
    name: str
    batch: int
    schema: str
    url: str | None
    skip_keys: frozenset[str]
    skip_sources: frozenset[str]

    def accepts(self, api_key: str | None, source: str) -> bool:
        return (api_key or "") not in self.skip_keys and source not in self.skip_sources


def _split(value: str | None) -> frozenset[str]:
    return frozenset(p.strip() for p in (value or "").split(",") if p.strip())


def load_configs(ctx: Context) -> list[ExportConfig]:
    with ctx.engine.connect() as conn:
        rows = conn.execute(select(export_config)).all()
    return [
        ExportConfig(r.name, r.batch, r.schema, r.url, _split(r.skip_keys), _split(r.skip_sources))
        for r in rows
    ]


@dataclass
class FanOutStats:
    submissions: int = 0
    reports: int = 0
    observations: int = 0
    dropped: Counter[str] | None = None


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
            obs = observations_from_report(report, ctx.regions, regions_for_mcc)
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


def update_incoming(ctx: Context, *, max_batches: int | None = None) -> FanOutStats:
    """Drain the incoming queue into every export target's queue."""
    stats = FanOutStats(dropped=Counter())
    configs = load_configs(ctx)
    done = 0
    while max_batches is None or done < max_batches:
        batch = ctx.queue.claim(INCOMING, ctx.settings.incoming_batch)
        if batch is None:
            break
        done += 1
        submissions = [decode_submission(item) for item in batch.items]
        pushes: dict[str, list[bytes]] = {}
        for config in configs:
            if config.schema == "internal":
                derived, count, dropped = internal_pushes(ctx, submissions, config)
                pushes.update(derived)
                stats.observations += count
                assert stats.dropped is not None
                stats.dropped.update(dropped)
            elif config.schema != "dummy":
                pushes["export_" + config.name] = list(batch.items)
        ctx.queue.commit(batch, pushes)
        stats.submissions += len(submissions)
        stats.reports += sum(len(s.reports) for s in submissions)
    return stats
