"""Export fan-out cost: pipeline throughput with and without `file` and `geosubmit` targets.

Runs the workload of bench/pipeline.py (N WiFi observations queued into `incoming`, drained by
P parallel `netatlas process --until-idle`) twice per repetition: once with only the internal
export, once with the internal export plus the default `file` archive plus a `geosubmit`
target (a local sink server in this process that answers 200 to every POST). Configurations
alternate, so load from other work on the machine hits both alike; medians are printed.

    .venv/bin/python -m bench.export_fanout postgresql --observations 1000000 --repeat 2
    .venv/bin/python -m bench.export_fanout sqlite --observations 1000000 --repeat 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import redis
from sqlalchemy import delete, text

from bench._common import PG_URL, REDIS_URL
from bench.pipeline import drain, make_networks, queue_round, station_count
from netatlas.db.engine import make_engine
from netatlas.db.migrate import upgrade
from netatlas.export.config import ExportConfig, create_config
from netatlas.export.models import export_config
from netatlas.settings import Settings


class Sink(BaseHTTPRequestHandler):
    received = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        Sink.received += 1
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        pass


def fresh(backend: str, tmp: str) -> dict[str, str]:
    env = {**os.environ, "NETATLAS_DATA_DIR": tmp, "NETATLAS_LOG_LEVEL": "warning"}
    env["NETATLAS_ALLOW_PRIVATE_TARGETS"] = "true"  # the sink listens on 127.0.0.1
    if backend == "postgresql":
        admin = make_engine(PG_URL.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS netatlas_bench"))
            conn.execute(text("CREATE DATABASE netatlas_bench"))
        admin.dispose()
        redis.Redis.from_url(REDIS_URL).flushdb()
        env.update(NETATLAS_DATABASE_URL=PG_URL, NETATLAS_REDIS_URL=REDIS_URL)
    return env


def run(backend: str, observations: int, processes: int, targets: bool, sink: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        env = fresh(backend, tmp)
        settings = Settings.from_env(env)
        engine = make_engine(settings.sqlalchemy_url)
        upgrade(engine)
        if targets:
            create_config(
                engine, ExportConfig("partner", "geosubmit", sink, batch=100), allow_private=True
            )
        else:
            with engine.begin() as conn:
                conn.execute(delete(export_config).where(export_config.c.name != "internal"))
        engine.dispose()
        nets = make_networks(observations, seed=1)
        n = queue_round(settings, nets, seed=2)
        elapsed = drain(env, processes)
        rows, _ = station_count(settings)
        assert rows == observations, rows
        archived = sum(len(files) for _, _, files in os.walk(os.path.join(tmp, "archive")))
        label = "internal+file+geosubmit" if targets else "internal"
        print(
            f"backend={backend} targets={label} observations={n} drain={elapsed:.1f}s "
            f"obs_per_s={n / elapsed:.0f} archive_files={archived} posts={Sink.received}",
            flush=True,
        )
        return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("backend", choices=["sqlite", "postgresql"])
    parser.add_argument("--observations", type=int, default=1_000_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sink = f"http://127.0.0.1:{server.server_address[1]}/v2/geosubmit"
    rates: dict[bool, list[float]] = {False: [], True: []}
    try:
        for _ in range(args.repeat):
            for targets in (False, True):
                rates[targets].append(
                    run(args.backend, args.observations, args.processes, targets, sink)
                )
                time.sleep(1)
    finally:
        server.shutdown()
    base = statistics.median(rates[False])
    with_targets = statistics.median(rates[True])
    print(
        f"backend={args.backend} median internal={base:.0f} obs/s, "
        f"internal+file+geosubmit={with_targets:.0f} obs/s, "
        f"change={100 * (with_targets / base - 1):+.1f}%"
    )


if __name__ == "__main__":
    main()
