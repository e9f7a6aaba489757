"""PostgreSQL goes away and comes back while submissions arrive and the pipeline runs.

A private cluster (its own port and directory, never the shared server) holds the tables and a
private Redis the queues, as in scale-out. Submissions only need Redis, so they keep being
accepted while PostgreSQL is down; locate and the deep heartbeat answer 503 (never 500, never a
hang); the pipeline's batches fail and come back after their lease. Afterwards every accepted
report is applied exactly once.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from netatlas.app import create_app
from netatlas.clock import ManualClock
from netatlas.db.engine import make_engine
from netatlas.db.migrate import upgrade
from netatlas.features import process_until_idle
from netatlas.jobs.context import Context
from netatlas.settings import Settings
from tests.faults.conftest import PipelineWorker, PostgresServer, RedisServer
from tests.faults.traffic import Traffic, assert_applied_once, bounded

pytestmark = [pytest.mark.fault, pytest.mark.slow]

ROUNDS = 30


def test_postgres_restarted(
    private_postgres: PostgresServer, private_redis: RedisServer, tmp_path: Path
) -> None:
    engine = make_engine(private_postgres.url)
    upgrade(engine)
    engine.dispose()
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=private_postgres.url,
        redis_url=private_redis.url,
        demo=False,
        embedded_jobs=False,
        incoming_batch=5,
        station_batch=5,
    )
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
            private_postgres.stop("immediate")  # a crash: no checkpoint, recovery at start
            failures_before = worker.failures
            outage = [traffic.submit() for _ in range(ROUNDS)]
            # The queue is in Redis: submissions are still accepted.
            assert set(outage) == {200}
            traffic.probe()
            codes = {code for path, code in traffic.statuses[-3:] if path != "/__lbheartbeat__"}
            assert codes == {503}, traffic.statuses[-3:]
            worker.wait_failure(failures_before)
            bounded(private_postgres.start, timeout=90)
            for _ in range(ROUNDS):
                assert traffic.submit() == 200
            # Pooled connections died with the server: the first use of each may fail (503),
            # after which the pool has fresh ones.
            for _ in range(5):
                traffic.probe()
            assert traffic.statuses[-1] == ("/__lbheartbeat__", 200)
            assert [c for p, c in traffic.statuses[-3:-1]] == [404, 200]
        # Batches claimed by rounds that failed come back once their lease has run out.
        clock.advance(settings.lease_seconds + 1)
        process_until_idle(ctx, timeout=120)
        assert_applied_once(ctx.engine, traffic)
        assert len(traffic.accepted) == 3 * ROUNDS * 2
        assert not ctx.queue.queues()
    ctx.engine.dispose()
    app.state.services.engine.dispose()
