"""Pipeline throughput: observations from the incoming queue to the station tables.

Queues N WiFi observations (reports of 10 networks each, positions around London) straight into
the incoming queue, then times `netatlas process --until-idle` run as P parallel processes until
every queue is empty. Round 1 creates new stations; round 2 submits the same networks again
(close to their first positions) and so measures updates of existing stations.

    .venv/bin/python -m bench.pipeline sqlite --observations 1000000
    .venv/bin/python -m bench.pipeline postgresql --observations 1000000 --processes 2
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import tempfile
import time

import redis
from sqlalchemy import func, select, text

from bench._common import NETATLAS, PG_URL, REDIS_URL
from netatlas.db.engine import make_engine
from netatlas.db.migrate import upgrade
from netatlas.location.models import wifi_shards
from netatlas.location.submit.intake import INCOMING
from netatlas.location.submit.report import (
    Position,
    Report,
    Submission,
    WifiAccessPoint,
    encode_submission,
)
from netatlas.queue import make_queue
from netatlas.settings import Settings

PER_REPORT = 10
PER_SUBMISSION = 50


def make_networks(count: int, seed: int) -> list[tuple[str, float, float]]:
    rng = random.Random(seed)
    nets = []
    for _ in range(count):
        first = rng.randrange(256) & 0xFC
        mac = f"{first:02x}" + "".join(f"{rng.randrange(256):02x}" for _ in range(5))
        nets.append((mac, 51.3 + rng.random() * 0.4, -0.4 + rng.random() * 0.6))
    return nets


def queue_round(settings: Settings, nets: list[tuple[str, float, float]], seed: int) -> int:
    rng = random.Random(seed)
    engine = make_engine(settings.sqlalchemy_url)
    queue = make_queue(settings, engine)
    now = int(time.time() * 1000)
    reports = []
    for i in range(0, len(nets), PER_REPORT):
        group = nets[i : i + PER_REPORT]
        lat = group[0][1] + rng.uniform(-0.0002, 0.0002)
        lon = group[0][2] + rng.uniform(-0.0002, 0.0002)
        reports.append(
            Report(
                timestamp=now,
                position=Position(latitude=lat, longitude=lon, accuracy=10.0, source="gnss"),
                wifiAccessPoints=[
                    WifiAccessPoint(macAddress=mac, signalStrength=-70) for mac, _, _ in group
                ],
            )
        )
    items = [
        encode_submission(Submission(reports=reports[i : i + PER_SUBMISSION], received=now))
        for i in range(0, len(reports), PER_SUBMISSION)
    ]
    for i in range(0, len(items), 500):
        queue.push(INCOMING, items[i : i + 500])
    engine.dispose()
    return len(reports) * PER_REPORT


def drain(env: dict[str, str], processes: int) -> float:
    start = time.perf_counter()
    procs = [
        subprocess.Popen([NETATLAS, "process", "--until-idle"], env=env, stdout=subprocess.DEVNULL)
        for _ in range(processes)
    ]
    for proc in procs:
        if proc.wait() != 0:
            raise RuntimeError("process --until-idle failed")
    return time.perf_counter() - start


def station_count(settings: Settings) -> tuple[int, int]:
    engine = make_engine(settings.sqlalchemy_url)
    with engine.connect() as conn:
        rows = sum(
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in wifi_shards.values()
        )
        samples = sum(
            conn.execute(select(func.coalesce(func.sum(t.c.samples), 0))).scalar_one()
            for t in wifi_shards.values()
        )
    engine.dispose()
    return rows, int(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("backend", choices=["sqlite", "postgresql"])
    parser.add_argument("--observations", type=int, default=1_000_000)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "NETATLAS_DATA_DIR": tmp, "NETATLAS_LOG_LEVEL": "warning"}
        if args.backend == "postgresql":
            admin = make_engine(
                PG_URL.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT"
            )
            with admin.connect() as conn:
                conn.execute(text("DROP DATABASE IF EXISTS netatlas_bench"))
                conn.execute(text("CREATE DATABASE netatlas_bench"))
            admin.dispose()
            redis.Redis.from_url(REDIS_URL).flushdb()
            env.update(NETATLAS_DATABASE_URL=PG_URL, NETATLAS_REDIS_URL=REDIS_URL)
        settings = Settings.from_env(env)
        engine = make_engine(settings.sqlalchemy_url)
        upgrade(engine)
        engine.dispose()
        nets = make_networks(args.observations, seed=1)
        for label, seed in (("new", 2), ("update", 3)):
            t0 = time.perf_counter()
            n = queue_round(settings, nets, seed)
            queued = time.perf_counter() - t0
            elapsed = drain(env, args.processes)
            rows, samples = station_count(settings)
            print(
                f"backend={args.backend} round={label} observations={n} processes={args.processes} "
                f"queue_fill={queued:.1f}s drain={elapsed:.1f}s obs_per_s={n / elapsed:.0f} "
                f"stations={rows} samples={samples}"
            )


if __name__ == "__main__":
    main()
