"""Delivering a target's queued submissions: batching, retries with back-off, dead letters.

Each target that is not ``dummy`` or ``internal`` has three queues:

* ``export_<name>``: submissions copied there by the fan-out. A batch is sent when it is full
  (``batch`` submissions) or when the oldest has waited ``max_age`` seconds.
* ``export_<name>:retry``: batches whose upload failed, one item each (:class:`Parked`), with
  the attempts so far. They go first once the target's back-off has passed.
* ``export_<name>:dead``: batches that failed ``export_max_attempts`` times, kept until an
  operator replays them (``netatlas exports retry NAME``).

Moving a batch from one queue to another is one atomic queue commit, so nothing is lost when a
worker dies. A failing target only waits out its own back-off: every target is delivered
independently, and its submissions keep piling up in its queue meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import Connection, select

from netatlas.db.upsert import insert_for
from netatlas.export.config import ExportConfig
from netatlas.export.exporters import (
    Envelope,
    Exporter,
    ExportFailed,
    decode_envelope,
    make_exporter,
)
from netatlas.export.models import export_state
from netatlas.jobs.context import Context
from netatlas.queue.base import Batch

log = logging.getLogger(__name__)

MAX_BACKOFF = 3600.0
RUN_BUDGET = 10.0  # seconds one job run spends on a target before it lets other jobs run


def queue_name(name: str) -> str:
    return "export_" + name


def retry_queue(name: str) -> str:
    return f"export_{name}:retry"


def dead_queue(name: str) -> str:
    return f"export_{name}:dead"


class Parked(msgspec.Struct, array_like=True):
    """A batch waiting for another try (or for an operator)."""

    id: str  # the first delivery's batch id: archive object names derive from it
    attempts: int
    error: str
    failed: float  # seconds since the epoch
    items: list[bytes]  # encoded envelopes (exporters.encode_envelope)


_encode_parked = msgspec.msgpack.Encoder().encode
_decode_parked = msgspec.msgpack.Decoder(Parked).decode


@dataclass
class State:
    name: str
    failures: int = 0
    retry_at: float | None = None
    pending_since: float | None = None
    last_error: str | None = None
    last_failure: float | None = None
    last_success: float | None = None
    reports: int = 0


def load_state(conn: Connection, name: str) -> State:
    row = conn.execute(select(export_state).where(export_state.c.name == name)).first()
    return State(name) if row is None else State(**row._mapping)


def save_state(conn: Connection, state: State) -> None:
    ins: Any = insert_for(conn, export_state)
    values = dict(state.__dict__)
    conn.execute(
        ins.values(**values).on_conflict_do_update(
            index_elements=["name"], set_={k: v for k, v in values.items() if k != "name"}
        )
    )


@dataclass
class TargetRun:
    """What one run did for one target."""

    name: str
    batches: int = 0
    reports: int = 0
    failed: str | None = None  # the error of a failed upload
    waiting: bool = False  # in back-off: nothing tried


def backoff(failures: int, base: float) -> float:
    doubling = 2.0 ** min(max(failures - 1, 0), 30)
    return min(base * doubling, MAX_BACKOFF)


class _Delivery:
    def __init__(self, ctx: Context, config: ExportConfig, exporter: Exporter) -> None:
        self.ctx = ctx
        self.config = config
        self.exporter = exporter
        with ctx.engine.connect() as conn:
            self.state = load_state(conn, config.name)
        self.run = TargetRun(config.name)

    def _save(self) -> None:
        with self.ctx.engine.begin() as conn:
            save_state(conn, self.state)

    def deliver(self, batch: Batch, unit_id: str, attempts: int, items: list[bytes]) -> bool:
        """Send one batch; on failure park it for a retry (or as a dead letter)."""
        try:
            envelopes: Sequence[Envelope] = [decode_envelope(i) for i in items]
            sent = self.exporter.send(unit_id, envelopes)
        except Exception as exc:  # any failure, also a bug or a corrupt item, parks the batch
            if not isinstance(exc, ExportFailed):
                log.exception("export %s: batch %s", self.config.name, unit_id)
            now = time.time()
            attempts += 1
            error = (str(exc) or type(exc).__name__)[:500]
            parked = Parked(unit_id, attempts, error, now, items)
            dead = attempts >= self.ctx.settings.export_max_attempts
            target = dead_queue if dead else retry_queue
            self.ctx.queue.commit(batch, {target(self.config.name): [_encode_parked(parked)]})
            state = self.state
            state.failures += 1
            state.retry_at = now + backoff(state.failures, self.ctx.settings.export_retry_seconds)
            state.last_error = error
            state.last_failure = now
            self._save()
            self.run.failed = error
            log.warning(
                "export %s failed (attempt %d%s): %s",
                self.config.name, attempts, ", now a dead letter" if dead else "", error,
            )  # fmt: skip
            return False
        self.ctx.queue.ack(batch)
        state = self.state
        state.failures = 0
        state.retry_at = None
        state.last_success = time.time()
        state.reports += sent
        self._save()
        self.run.batches += 1
        self.run.reports += sent
        return True

    def go(self) -> TargetRun:
        name = self.config.name
        queue = self.ctx.queue
        started = time.monotonic()
        if self.state.retry_at is not None and time.time() < self.state.retry_at:
            self.run.waiting = True
            return self.run
        while time.monotonic() - started < RUN_BUDGET or self.ctx.flush:
            batch = queue.claim(retry_queue(name), 1)
            if batch is None:
                break
            parked = _decode_parked(batch.items[0])
            if not self.deliver(batch, parked.id, parked.attempts, parked.items):
                return self.run
        while time.monotonic() - started < RUN_BUDGET or self.ctx.flush:
            size = queue.size(queue_name(name))
            if size == 0:
                if self.state.pending_since is not None:
                    self.state.pending_since = None
                    self._save()
                break
            if size < self.config.batch and not self.ctx.flush:
                now = time.time()
                if self.state.pending_since is None:
                    self.state.pending_since = now
                    self._save()
                if now - self.state.pending_since < self.config.max_age:
                    break
            batch = queue.claim(queue_name(name), self.config.batch)
            if batch is None:
                break
            if not self.deliver(batch, batch.id, 0, batch.items):
                break
        return self.run


_exporters: dict[tuple[str, ...], Exporter] = {}
_exporters_lock = threading.Lock()


def exporter_for(ctx: Context, config: ExportConfig) -> Exporter:
    """One exporter per target and process (HTTP and S3 clients are reused)."""
    settings = ctx.settings
    key = (
        config.schema,
        config.url or "",
        str(settings.data_dir),
        settings.s3_endpoint_url,
        str(settings.allow_private_targets),
    )
    with _exporters_lock:
        exporter = _exporters.get(key)
        if exporter is None:
            exporter = _exporters[key] = make_exporter(
                config.schema,
                config.url or "",
                settings.data_dir,
                settings.s3_endpoint_url,
                allow_private=settings.allow_private_targets,
            )
        return exporter


def deliver_target(ctx: Context, config: ExportConfig) -> TargetRun:
    """Send what is due for one target; stops at the first failure (the back-off starts)."""
    return _Delivery(ctx, config, exporter_for(ctx, config)).go()


def replay_dead(ctx: Context, name: str) -> int:
    """Move a target's dead letters back for another round of attempts; returns how many.

    The back-off is reset, so the next run tries them at once.
    """
    moved = 0
    while True:
        batch = ctx.queue.claim(dead_queue(name), 100)
        if batch is None:
            break
        again = []
        for item in batch.items:
            parked = _decode_parked(item)
            again.append(_encode_parked(msgspec.structs.replace(parked, attempts=0)))
        ctx.queue.commit(batch, {retry_queue(name): again})
        moved += len(again)
    with ctx.engine.begin() as conn:
        state = load_state(conn, name)
        state.failures = 0
        state.retry_at = None
        save_state(conn, state)
    return moved


def dead_letters(ctx: Context, name: str) -> int:
    return ctx.queue.size(dead_queue(name))


def parked_queues(ctx: Context, configs: Sequence[ExportConfig]) -> set[str]:
    """Export queues no job drains now: dead letters, targets in back-off, removed targets."""
    now = time.time()
    live = {c.name for c in configs if c.queued}
    with ctx.engine.connect() as conn:
        waiting = {
            r.name
            for r in conn.execute(select(export_state.c.name, export_state.c.retry_at))
            if r.retry_at is not None and r.retry_at > now
        }
    parked = set()
    for queue in ctx.queue.queues():
        if not queue.startswith("export_"):
            continue
        base, _, suffix = queue[len("export_") :].partition(":")
        if suffix == "dead" or base not in live or base in waiting:
            parked.add(queue)
    return parked


@dataclass
class DeadBatch:
    id: str
    attempts: int
    error: str
    failed: float
    submissions: int
    reports: int


def inspect_dead(ctx: Context, name: str) -> list[DeadBatch]:
    """Read a target's dead letters (each goes back to the end of the dead-letter queue)."""
    queue = dead_queue(name)
    total = ctx.queue.size(queue)
    found: list[DeadBatch] = []
    while len(found) < total:
        batch = ctx.queue.claim(queue, total - len(found))
        if batch is None:
            break
        for item in batch.items:
            parked = _decode_parked(item)
            subs = [decode_envelope(i) for i in parked.items]
            found.append(
                DeadBatch(
                    parked.id,
                    parked.attempts,
                    parked.error,
                    parked.failed,
                    len(subs),
                    sum(len(s.reports) for s in subs),
                )
            )
        ctx.queue.commit(batch, {queue: batch.items})
    return found


def purge(ctx: Context, name: str) -> int:
    """Drop everything queued for a target (when it is deleted); returns the items dropped."""
    dropped = 0
    for queue in (queue_name(name), retry_queue(name), dead_queue(name)):
        while (batch := ctx.queue.claim(queue, 1000)) is not None:
            ctx.queue.ack(batch)
            dropped += len(batch.items)
    return dropped
