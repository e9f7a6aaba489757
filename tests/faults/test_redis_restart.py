"""Redis goes away and comes back while submissions arrive and the pipeline runs.

Redis holds the queues in scale-out mode. The server here is private (a free port, a temporary
directory, ``appendonly yes``): it is killed outright with ``appendfsync always`` (a crash
loses nothing acknowledged), or shut down cleanly with the default ``everysec`` (Redis writes
its append-only file on the way out). Meanwhile the API must answer every request with a
documented status (submissions 503 with ``Retry-After`` while Redis is away) and never hang;
afterwards every accepted report must be applied exactly once.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from netatlas.app import create_app
from netatlas.clock import ManualClock
from netatlas.features import process_until_idle
from netatlas.jobs.context import Context
from netatlas.settings import Settings
from tests.faults.conftest import PipelineWorker, RedisServer
from tests.faults.traffic import Traffic, assert_applied_once

pytestmark = [pytest.mark.fault, pytest.mark.slow]

ROUNDS = 30  # submissions before, during and after the outage (each)


@pytest.fixture
def scale_out(
    private_redis: RedisServer, sqlite_template: Path, tmp_path: Path
) -> Iterator[Settings]:
    """Queues in the private Redis; the database a SQLite copy (the fault is Redis's)."""
    shutil.copy(sqlite_template, tmp_path / "netatlas.db")
    yield Settings(
        data_dir=tmp_path,
        redis_url=private_redis.url,
        demo=False,
        embedded_jobs=False,
        incoming_batch=5,
        station_batch=5,
    )


def _run(settings: Settings, redis_server: RedisServer, stop: Any) -> None:
    app = create_app(settings, run_jobs=False)
    # The pipeline's leases run on a manual clock: they run out when the test says so.
    clock = ManualClock()
    ctx = Context.from_settings(settings, clock=clock)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        traffic = Traffic(client, app)
        with PipelineWorker(ctx) as worker:
            for _ in range(ROUNDS):
                assert traffic.submit() == 200
            traffic.probe()
            failures_before = worker.failures
            stop()
            outage = [traffic.submit() for _ in range(ROUNDS)]
            traffic.probe()
            assert set(outage) == {503}, "submissions must be refused while Redis is away"
            worker.wait_failure(failures_before)
            redis_server.start()
            worker.wait_rounds(2)  # a whole round of the worker meets the restarted server
            for _ in range(ROUNDS):
                assert traffic.submit() == 200
            traffic.probe()
        assert worker.failures > 0, "the worker never met the outage; the test proved nothing"
        # Batches claimed by rounds that failed come back once their lease has run out.
        clock.advance(settings.lease_seconds + 1)
        process_until_idle(ctx, timeout=120)
        assert_applied_once(ctx.engine, traffic)
        assert len(traffic.accepted) == 2 * ROUNDS * 2
        assert not ctx.queue.queues()
    ctx.engine.dispose()
    app.state.services.engine.dispose()


def test_redis_killed_and_restarted(scale_out: Settings, private_redis: RedisServer) -> None:
    _run(scale_out, private_redis, private_redis.kill)


def test_redis_shut_down_and_restarted(
    scale_out: Settings, private_redis: RedisServer, tmp_path: Path
) -> None:
    # Default durability (fsync once a second): a clean shutdown still keeps everything.
    private_redis.kill()
    relaxed = RedisServer(tmp_path / "redis-everysec", fsync="everysec")
    relaxed.start()
    try:
        _run(dataclasses.replace(scale_out, redis_url=relaxed.url), relaxed, relaxed.terminate)
    finally:
        relaxed.kill()
