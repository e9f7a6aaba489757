"""Cell import throughput: `netatlas cells import` of a generated MLS-format file.

Generates N rows (default 2,000,000: GSM, UMTS, LTE and NR cells spread over Europe, a few
per area, gzip) once, then imports it into a fresh database and reports rows/s. A second
import of the same file measures the idempotent re-run (every row rewritten in place).

    .venv/bin/python -m bench.cell_import postgresql --rows 2000000
    .venv/bin/python -m bench.cell_import sqlite --rows 2000000
"""

from __future__ import annotations

import argparse
import gzip
import random
import tempfile
import time
from pathlib import Path

import redis
from sqlalchemy import func, select, text

from bench._common import PG_URL, REDIS_URL
from netatlas.db.engine import make_engine
from netatlas.db.migrate import upgrade
from netatlas.geo.regions import get_regions
from netatlas.location.cells.csvfile import HEADER, open_text
from netatlas.location.cells.importer import import_rows
from netatlas.location.models import cell_tables
from netatlas.settings import Settings

RADIOS = [("GSM", 65535, 65535), ("UMTS", 65535, 2**28 - 1), ("LTE", 65535, 2**28 - 1),
          ("NR", 2**24 - 1, 2**36 - 1)]  # fmt: skip


def generate(path: Path, rows: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    now = int(time.time())
    with gzip.open(path, "wt", compresslevel=1, newline="") as out:
        out.write(HEADER + "\r\n")
        lines = []
        operators = [(262, 1), (262, 2), (208, 10), (234, 15), (222, 88), (214, 7)]
        for i in range(rows):
            label, lac_max, cid_max = RADIOS[i % 4]
            area = i // 128  # about 32 cells of each radio per area, like real networks
            mcc, mnc = operators[area % len(operators)]
            lat = 36.0 + rng.random() * 30.0
            lon = -9.0 + rng.random() * 38.0
            lac = 1 + area % lac_max
            cid = 1 + (i * 7919) % cid_max
            unit = "" if label == "GSM" else str(rng.randrange(0, 504))
            created = now - rng.randrange(86400, 86400 * 3000)
            lines.append(
                f"{label},{mcc},{mnc},{lac},{cid},{unit},{lon:.7f},{lat:.7f},"
                f"{rng.randrange(100, 20000)},{rng.randrange(1, 500)},1,{created},"
                f"{created + rng.randrange(0, 86400 * 900)},\r\n"
            )
            if len(lines) >= 50_000:
                out.write("".join(lines))
                lines.clear()
        out.write("".join(lines))


def fresh_database(backend: str, tmp: str) -> Settings:
    if backend == "sqlite":
        return Settings(data_dir=Path(tmp))
    admin = make_engine(PG_URL.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS netatlas_bench"))
        conn.execute(text("CREATE DATABASE netatlas_bench"))
    admin.dispose()
    redis.Redis.from_url(REDIS_URL).flushdb()
    return Settings(data_dir=Path(tmp), database_url=PG_URL, redis_url=REDIS_URL)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("backend", choices=["sqlite", "postgresql"])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--file", type=Path, help="reuse (or keep) the generated file here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.file or Path(tmp) / "cells.csv.gz"
        if not path.exists():
            t0 = time.perf_counter()
            generate(path, args.rows)
            print(f"generated {args.rows} rows in {time.perf_counter() - t0:.1f}s "
                  f"({path.stat().st_size / 1e6:.0f} MB gzip)")  # fmt: skip
        settings = fresh_database(args.backend, tmp)
        engine = make_engine(settings.sqlalchemy_url)
        upgrade(engine)
        regions = get_regions()
        for label in ("new", "again"):
            t0 = time.perf_counter()
            with open_text(path) as reader:
                report = import_rows(engine, reader, "bench", regions)
            elapsed = time.perf_counter() - t0
            with engine.connect() as conn:
                cells = sum(
                    conn.execute(select(func.count()).select_from(t)).scalar_one()
                    for t in cell_tables.values()
                )
            print(
                f"backend={args.backend} round={label} rows={report.rows} "
                f"written={report.written} bad={sum(report.bad.values())} cells={cells} "
                f"time={elapsed:.1f}s rows_per_s={report.rows / elapsed:.0f}"
            )
        engine.dispose()


if __name__ == "__main__":
    main()
