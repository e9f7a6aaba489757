"""Exactly-once: a pipeline worker killed with SIGKILL mid-batch loses and repeats nothing.

A real `netatlas process --until-idle` process is killed several times while it works through
small batches; afterwards a last run finishes the queues (batches left claimed by the killed
processes come back after their lease). Every station must then have been observed exactly as
often as it was submitted, and the statistics counters must agree.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from netatlas.db.stats import STAT_KEYS, stat_counter
from netatlas.jobs.context import Context
from netatlas.location.models import wifi_shards
from netatlas.location.submit.intake import INCOMING
from netatlas.location.submit.report import (
    Position,
    Report,
    Submission,
    WifiAccessPoint,
    encode_submission,
)
from netatlas.settings import Settings

NETATLAS = str(Path(sys.executable).with_name("netatlas"))
NETWORKS = 400
TIMES_SEEN = 3


def _env(settings: Settings) -> dict[str, str]:
    env = {
        **os.environ,
        "NETATLAS_DATA_DIR": str(settings.data_dir),
        "NETATLAS_INCOMING_BATCH": "1",
        "NETATLAS_STATION_BATCH": "1",
        "NETATLAS_LEASE_SECONDS": "2",
        "NETATLAS_LOG_LEVEL": "warning",
    }
    if settings.database_url:
        env["NETATLAS_DATABASE_URL"] = settings.database_url
        env["NETATLAS_REDIS_URL"] = settings.redis_url
    return env


def _queue_submissions(ctx: Context) -> None:
    rng = random.Random(5)
    macs = [f"{rng.randrange(64) * 4:02x}" + os.urandom(5).hex() for _ in range(NETWORKS)]
    now = int(time.time() * 1000)
    items = []
    for round_ in range(TIMES_SEEN):
        for i in range(0, NETWORKS, 20):
            reports = [
                Report(
                    timestamp=now,
                    position=Position(
                        latitude=51.5 + (i + j) * 1e-4 + round_ * 1e-6,
                        longitude=-0.1,
                        accuracy=10.0,
                        source="gnss",
                    ),
                    wifiAccessPoints=[
                        WifiAccessPoint(macAddress=macs[i + j], signalStrength=-70),
                        WifiAccessPoint(macAddress=macs[i + j + 1], signalStrength=-75),
                    ],
                )
                for j in range(0, 20, 2)
            ]
            items.append(encode_submission(Submission(reports=reports, received=now)))
    ctx.queue.push(INCOMING, items)


def _claimed_batches(ctx: Context) -> int:
    from sqlalchemy import text

    if ctx.settings.redis_url:
        client = ctx.queue.client  # type: ignore[attr-defined]
        return sum(int(client.zcard(k)) for k in client.scan_iter(match="netatlas:ql:*"))
    with ctx.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM queue_batch")).scalar_one())


@pytest.mark.slow
def test_sigkill_mid_batch_applies_every_observation_once(ctx: Context) -> None:
    _queue_submissions(ctx)
    env = _env(ctx.settings)
    rng = random.Random(11)
    interrupted = 0
    for _ in range(5):
        proc = subprocess.Popen([NETATLAS, "process", "--until-idle"], env=env)
        # Wait until the worker holds a batch, then kill it a moment later, mid-batch.
        while proc.poll() is None and _claimed_batches(ctx) == 0:
            time.sleep(0.002)
        time.sleep(rng.uniform(0, 0.05))
        if proc.poll() is not None:
            break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        interrupted += _claimed_batches(ctx) > 0
    assert interrupted >= 1, "no kill landed inside a batch; the test proved nothing"
    done = subprocess.run(
        [NETATLAS, "process", "--until-idle"], env=env, timeout=600, capture_output=True
    )
    assert done.returncode == 0, done.stderr.decode()

    with ctx.engine.connect() as conn:
        samples: list[int] = []
        for table in wifi_shards.values():
            samples += [int(s) for s in conn.execute(select(table.c.samples)).scalars()]
        counted = conn.execute(
            select(func.sum(stat_counter.c.value)).where(stat_counter.c.key == STAT_KEYS["wifi"])
        ).scalar_one()
    assert len(samples) == NETWORKS
    assert samples == [TIMES_SEEN] * NETWORKS
    assert int(counted) == NETWORKS * TIMES_SEEN
    assert not ctx.queue.queues()
