"""Scale-out: `netatlas worker` and `netatlas beat` (Celery on Redis) run the pipeline."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from netatlas.demo import queue_demo
from netatlas.jobs.context import Context
from netatlas.location.models import wifi_shards

NETATLAS = str(Path(sys.executable).with_name("netatlas"))


@pytest.mark.slow
def test_celery_worker_and_beat_drain_the_pipeline(ctx: Context) -> None:
    if not ctx.settings.redis_url:
        pytest.skip("Celery runs in scale-out mode only")
    queued = queue_demo(ctx.queue, reports=300)
    assert queued > 0
    env = {
        **os.environ,
        "NETATLAS_DATA_DIR": str(ctx.settings.data_dir),
        "NETATLAS_DATABASE_URL": ctx.settings.database_url,
        "NETATLAS_REDIS_URL": ctx.settings.redis_url,
        "NETATLAS_LOG_LEVEL": "warning",
    }
    procs = [
        subprocess.Popen(
            [NETATLAS, "worker", "--concurrency", "2"], env=env, start_new_session=True
        ),
        subprocess.Popen([NETATLAS, "beat"], env=env, start_new_session=True),
    ]

    # Export targets (the default raw archive) hold partial batches up to their max age.
    def pipeline_queues() -> list[str]:
        return [q for q in ctx.queue.queues() if not q.startswith("export_")]

    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if not pipeline_queues():
                break
            time.sleep(1)
        assert not pipeline_queues(), "Celery did not drain the queues in time"
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    with ctx.engine.connect() as conn:
        stations = sum(
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in wifi_shards.values()
        )
    assert stations > 100
