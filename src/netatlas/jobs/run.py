"""Running jobs: once until idle (``netatlas process --until-idle``) or on a schedule."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time

from netatlas.jobs.context import Context
from netatlas.jobs.table import Job, JobTable

log = logging.getLogger(__name__)


def run_job(ctx: Context, job: Job) -> object:
    return job.func(ctx)


def process_until_idle(ctx: Context, table: JobTable, *, timeout: float = 3600.0) -> int:
    """Run every pipeline job in flow order until all queues are empty; returns the rounds.

    Batches claimed by a process that died stay leased until their lease runs out; while
    only such batches remain, rounds are spaced out instead of spinning. Partial export
    batches are sent at once; queues of export targets that are failing (in back-off, or
    dead letters) do not keep it waiting.
    """
    ctx = dataclasses.replace(ctx, flush=True)
    pipeline = table.pipeline
    deadline = time.monotonic() + timeout
    rounds = 0
    while time.monotonic() < deadline:
        rounds += 1
        started = time.monotonic()
        for job in pipeline:
            run_job(ctx, job)
        if not set(ctx.queue.queues()) - table.parked(ctx):
            return rounds
        if time.monotonic() - started < 0.1:
            time.sleep(0.2)
    raise RuntimeError("queues did not drain")


class Scheduler:
    """The embedded runner: one thread that runs each due job, in table order."""

    def __init__(self, ctx: Context, table: JobTable, tick: float = 0.5) -> None:
        self.ctx = ctx
        self.table = table
        self.tick = tick
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next: dict[str, float] = {}

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="netatlas-jobs", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_due(self) -> int:
        now = time.monotonic()
        ran = 0
        for job in self.table:
            if self._stop.is_set():
                break
            if self._next.get(job.name, 0.0) <= now:
                try:
                    run_job(self.ctx, job)
                except Exception:
                    log.exception("job %s failed", job.name)
                self._next[job.name] = time.monotonic() + job.period
                ran += 1
        return ran

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_due()
            self._stop.wait(self.tick)
