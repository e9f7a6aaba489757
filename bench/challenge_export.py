"""Benchmark: a challenge package (tests.csv, tests.geojson, places.csv) of 1,000,000
consented tests, on SQLite or PostgreSQL.

    python -m bench.challenge_export [TESTS] [sqlite|postgresql] [RUNS]

Seeds TESTS survey responses that consented to challenge use (and 5 % more that did not),
each with a download and an upload subtest, over 90 days in a 0.8° × 0.7° box: 70 % located by
the browser around 200,000 homes (a few metres of jitter, accuracy 5–150 m), the rest by IP.
Times the whole package for the box and the 90 days (query, local times, CSV, GeoJSON, the
per-place medians and the zip), three runs; the median is the figure.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, insert, text

from netatlas.broadband.challenge.package import Request, write_package
from netatlas.broadband.challenge.select import parse_bbox
from netatlas.broadband.models import measurements, survey_response
from netatlas.db.engine import make_engine
from netatlas.db.migrate import upgrade

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/netatlas_bench_challenge"
BBOX = (-122.6, 47.2, -121.8, 47.9)
START = datetime(2026, 1, 1)
CHUNK = 20_000


def fresh_engine(backend: str, data_dir: Path) -> Engine:
    if backend == "postgresql":
        admin = make_engine(PG_URL.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS netatlas_bench_challenge"))
            conn.execute(text("CREATE DATABASE netatlas_bench_challenge"))
        admin.dispose()
        engine = make_engine(PG_URL)
    else:
        engine = make_engine(f"sqlite:///{data_dir / 'netatlas.db'}")
    upgrade(engine)
    return engine


def seed(engine: Engine, tests: int) -> None:
    rng = np.random.default_rng(7)
    total = int(tests * 1.05)
    w, s, e, n = BBOX
    homes = np.column_stack([rng.uniform(s, n, 200_000), rng.uniform(w, e, 200_000)])
    isps = ["Comcast", "CenturyLink", "=HYPERLINK(1)", "Wave", "Ziply"]
    techs = ["fibre", "cable", "dsl", "fixed_wireless"]
    for first in range(0, total, CHUNK):
        size = min(CHUNK, total - first)
        ids = np.arange(first, first + size)
        home = homes[rng.integers(0, homes.shape[0], size)]
        jitter = rng.normal(0, 0.00003, (size, 2))
        browser = rng.random(size) < 0.7
        when = rng.uniform(0, 90 * 86400, size)
        down = rng.lognormal(4, 0.8, size)
        up = rng.lognormal(2.5, 0.8, size)
        rtt = rng.lognormal(3, 0.5, size)
        m_rows = []
        s_rows = []
        for i in range(size):
            t = START + timedelta(seconds=float(when[i]))
            k = int(ids[i])
            base = {
                "source": "local", "test_time": t, "asn": 7922 + k % 5, "isp": isps[k % 5],
                "lat": float(home[i, 0]) + 0.01, "lon": float(home[i, 1]) - 0.01,
                "accuracy": 20_000.0, "loss_rate": 0.001, "min_rtt_ms": float(rtt[i]),
            }  # fmt: skip
            m_rows.append({**base, "id": 2 * k + 1, "uuid": f"d{k}", "direction": "download",
                           "mean_mbps": float(down[i])})  # fmt: skip
            m_rows.append({**base, "id": 2 * k + 2, "uuid": f"u{k}", "direction": "upload",
                           "mean_mbps": float(up[i])})  # fmt: skip
            located = bool(browser[i])
            s_rows.append(
                {
                    "id": k + 1, "created": t, "form": "piecewise", "consent": True,
                    "challenge_consent": k < tests,
                    "answers": {"isp": isps[k % 5], "technology": techs[k % 4],
                                "connection_type": "wired", "advertised_download": 300,
                                "advertised_upload": 20},
                    "lat": float(home[i, 0] + jitter[i, 0]) if located else None,
                    "lon": float(home[i, 1] + jitter[i, 1]) if located else None,
                    "accuracy": float(5 + (k % 30) * 5) if located else None,
                    "download_id": 2 * k + 1, "upload_id": 2 * k + 2,
                }
            )  # fmt: skip
        with engine.begin() as conn:
            conn.execute(insert(measurements), m_rows)
            conn.execute(insert(survey_response), s_rows)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))


def main() -> None:
    tests = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    backend = sys.argv[2] if len(sys.argv) > 2 else "sqlite"
    with tempfile.TemporaryDirectory() as tmp:
        engine = fresh_engine(backend, Path(tmp))
        started = time.monotonic()
        seed(engine, tests)
        print(f"seeded {tests} consented tests (+5 % not) in {time.monotonic() - started:.0f} s")
        req = Request(
            area=parse_bbox(",".join(map(str, BBOX))),
            since=START,
            until=START + timedelta(days=90),
            timezone="America/Los_Angeles",
            place_metres=100,
        )
        runs = []
        for _ in range(int(sys.argv[3]) if len(sys.argv) > 3 else 3):
            out = Path(tmp) / "package.zip"
            started = time.monotonic()
            with out.open("wb") as f:
                result = write_package(engine, req, f, Path(tmp))
            runs.append(time.monotonic() - started)
            print(
                f"{backend}: {result.tests} tests, {result.places} places "
                f"({result.repeated_places} on 2+ days), {out.stat().st_size / 1e6:.0f} MB zip "
                f"in {runs[-1]:.1f} s"
            )
        print(f"median {statistics.median(runs):.1f} s")
        engine.dispose()


if __name__ == "__main__":
    main()
