"""Benchmark: ``netatlas mlab import`` of generated unified-view rows (NDJSON), and of the
real M-Lab archive.

    python -m bench.mlab_import [ROWS] [sqlite|postgresql]

Generates ROWS rows (default 1,000,000; half downloads, half uploads, 125,000 clients round
Seattle) into a temporary NDJSON file (not timed), imports them into an empty database, then
imports them again (every row a duplicate). Prints rows per second.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec
from sqlalchemy import text

from bench._common import PG_URL
from netatlas.broadband.mlab.importer import import_paths
from netatlas.broadband.mlab.synthetic import Isp, unified_rows
from netatlas.db.engine import make_engine
from netatlas.db.migrate import upgrade

ARCHIVE = Path(__file__).resolve().parents[1] / "tests/data/mlab/ndt7-archive-syd03-2020-03-18.tgz"
BBOX = (-122.6, 47.2, -121.8, 47.9)
US_ISPS = (
    Isp(7922, "Comcast Cable Communications, LLC", 250.0, 20.0, 0.4),
    Isp(209, "CenturyLink Communications, LLC", 60.0, 10.0, 0.2),
    Isp(11404, "Wave Broadband", 300.0, 25.0, 0.15),
    Isp(20055, "Ziply Fiber", 400.0, 350.0, 0.1),
    Isp(21928, "T-Mobile USA, Inc.", 120.0, 15.0, 0.1),
    Isp(14593, "Space Exploration Technologies Corporation", 100.0, 12.0, 0.05),
)


def write_rows(path: Path, rows: int, seed: int = 1, prefix: str = "ndt-bench") -> None:
    encode = msgspec.json.Encoder().encode
    start = datetime(2024, 1, 1, tzinfo=UTC)
    with open(path, "wb") as out:
        for row in unified_rows(
            rows // 2, bbox=BBOX, start=start, days=366, seed=seed, isps=US_ISPS,
            clients=max(1, rows // 8), prefix=prefix, country="US",
        ):  # fmt: skip
            out.write(encode(row) + b"\n")


def fresh_engine(backend: str, data_dir: Path):  # type: ignore[no-untyped-def]
    if backend == "postgresql":
        admin = make_engine(PG_URL.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS netatlas_bench"))
            conn.execute(text("CREATE DATABASE netatlas_bench"))
        admin.dispose()
        engine = make_engine(PG_URL)
    else:
        engine = make_engine(f"sqlite:///{data_dir / 'netatlas.db'}")
    upgrade(engine)
    return engine


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    backend = sys.argv[2] if len(sys.argv) > 2 else "sqlite"
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "unified_rows.ndjson"
        started = time.monotonic()
        write_rows(data, rows)
        print(f"generated {rows} rows ({data.stat().st_size / 1e6:.0f} MB) in "
              f"{time.monotonic() - started:.1f} s")  # fmt: skip
        engine = fresh_engine(backend, Path(tmp))
        for label in ("import", "re-import"):
            started = time.monotonic()
            report = import_paths(engine, [data])
            seconds = time.monotonic() - started
            print(f"{backend} {label}: {report.summary()} in {seconds:.1f} s"
                  f" = {rows / seconds:,.0f} rows/s")  # fmt: skip
        started = time.monotonic()
        report = import_paths(engine, [ARCHIVE])
        print(f"{backend} real archive ({ARCHIVE.name}): {report.summary()} in "
              f"{time.monotonic() - started:.2f} s")  # fmt: skip
        engine.dispose()


if __name__ == "__main__":
    main()
