"""Offline region packs: build time for a region of 1,000,000 stations, and how well a pack
answers cell scans compared with the server.

Build (default): fills the cell tables with ``--stations`` publishable cells in one region
(DE, MCC 262; 70 % LTE, 20 % NR, 10 % GSM), plus 5 % that the privacy filter drops (one
contributor), then times ``build_pack`` for the country pack: every row is streamed, written
to ``cells.csv.gz`` and the MLS file, and checksummed. The median of ``--runs`` builds.

    .venv/bin/python -m bench.packs                        # SQLite
    .venv/bin/python -m bench.packs --backend postgresql   # PostgreSQL (bench database)

Accuracy (``--accuracy``): the simulated city of ``bench.locate_accuracy`` is stumbled and
its reports go through the real pipeline; every cell is then marked as vouched for (the
simulation has one contributor on one day; the filter itself is tested in the test suite), a
pack is built for the city's bounding box, and held-out cell-only scans are answered by
the reference reader (:mod:`netatlas.location.packs.reader`) from ``cells.csv.gz`` and by the
server's locate. Reported: the share of scans whose two answers lie within 50 m.

    .venv/bin/python -m bench.packs --accuracy
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text, update

from bench._common import PG_URL
from netatlas.db.engine import make_engine
from netatlas.db.migrate import upgrade
from netatlas.location.ids import cell_id
from netatlas.location.models import RADIO_CODE, cell_tables
from netatlas.location.packs.build import PREFIX, BuildOptions, build_pack
from netatlas.location.packs.reader import CellPack, Heard
from netatlas.location.packs.region import parse_region
from netatlas.settings import Settings
from netatlas.storage.files import DirectoryStore

PACKS_DB = "netatlas_bench_packs"


def fill(engine: Any, stations: int, seed: int = 5) -> None:
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(tzinfo=None)
    common = {"region": "DE", "created": now - timedelta(days=200), "modified": now,
              "last_seen": now.date(), "block_count": 0, "days": 2}  # fmt: skip
    batch: dict[str, list[dict[str, Any]]] = {r: [] for r in cell_tables}
    total = int(stations * 1.05)

    def flush() -> None:
        with engine.begin() as conn:
            for radio, rows in batch.items():
                if rows:
                    conn.execute(insert(cell_tables[radio]), rows)
                    rows.clear()

    for i in range(total):
        pick = rng.random()
        radio = "lte" if pick < 0.7 else ("nr" if pick < 0.9 else "gsm")
        cid = {"lte": 1 + i, "nr": 70_000_000 + i, "gsm": 1 + i % 65_535}[radio]
        lac = 1 + i // 60_000 if radio != "gsm" else 1 + i // 65_535
        mnc = 1 + i % 3
        batch[radio].append(
            {
                "cellid": cell_id(RADIO_CODE[radio], 262, mnc, lac, cid),
                "radio": RADIO_CODE[radio], "mcc": 262, "mnc": mnc, "lac": lac, "cid": cid,
                "psc": rng.randrange(504), "lat": rng.uniform(47.3, 55.0),
                "lon": rng.uniform(5.9, 15.0), "radius": rng.randrange(200, 5000),
                "samples": rng.randrange(2, 500),
                "contributors": 2 if i < stations else 1, **common,
            }
        )  # fmt: skip
        if len(batch[radio]) >= 20_000:
            flush()
    flush()


def build_time(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="netatlas-packs-"))
    if args.backend == "sqlite":
        engine = make_engine(f"sqlite:///{work}/bench.db")
    else:
        # A database of its own, so that other benchmarks' data is never touched.
        base, _, _ = PG_URL.rpartition("/")
        admin = make_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {PACKS_DB}"))
            conn.execute(text(f"CREATE DATABASE {PACKS_DB}"))
        admin.dispose()
        engine = make_engine(f"{base}/{PACKS_DB}")
    upgrade(engine)
    t = time.perf_counter()
    fill(engine, args.stations)
    print(f"{args.backend}: {args.stations:,} publishable cells (+5 % filtered) written "
          f"in {time.perf_counter() - t:.0f} s")  # fmt: skip
    if args.backend == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    store = DirectoryStore(work / "exports")
    region = parse_region("DE")
    times = []
    for _ in range(args.runs):
        t = time.perf_counter()
        manifest = build_pack(engine, store, region, BuildOptions(), work)
        times.append(time.perf_counter() - t)
        time.sleep(1.1)  # a new build stamp each run
    sizes = {f.name: f.size for f in manifest.files}
    print(f"pack DE: {manifest.counts['cells']:,} cells; files {sizes}")
    print(f"build: median {statistics.median(times):.1f} s of {args.runs} "
          f"(min {min(times):.1f}, max {max(times):.1f})")  # fmt: skip
    engine.dispose()


def accuracy(args: argparse.Namespace) -> None:
    from bench import locate_accuracy as world
    from netatlas.jobs.context import Context

    city = world.make_city(args.seed, args.side)
    radio = world.Radio(city)
    fixes = world.walk(city, radio, args.seed + 1, args.walkers, args.blocks)
    settings = Settings(data_dir=Path(tempfile.mkdtemp()), demo=False, embedded_jobs=False)
    ctx = Context.from_settings(settings)
    upgrade(ctx.engine)
    world.submit_through_pipeline(ctx, fixes)
    with ctx.engine.begin() as conn:
        for t in cell_tables.values():
            conn.execute(update(t).values(contributors=2, days=2))
    half = args.side / 2 + 3000
    south, west = world.to_latlon(-half, -half)
    north, east = world.to_latlon(half, half)
    region = parse_region(f"bbox:{south:.4f},{west:.4f},{north:.4f},{east:.4f}")
    store = DirectoryStore(settings.data_dir / "exports")
    manifest = build_pack(ctx.engine, store, region, BuildOptions(), settings.data_dir)
    data = store.read(f"{PREFIX}{region.id}/{manifest.build}/cells.csv.gz")
    assert data is not None
    mls = store.read(f"{PREFIX}{region.id}/{manifest.build}/mls-cells-262.csv.gz")
    assert mls is not None
    points = world.scans(city, radio, args.seed + 2, args.queries)
    print(f"city {args.side:.0f} m, {len(city.cells)} cell sectors, {len(fixes)} reports")
    compare(ctx.engine, CellPack.parse(data), points, "cells.csv.gz (microG: positions)")
    compare(ctx.engine, CellPack.parse_mls(mls), points, "mls-cells-262.csv.gz (ranges)")


def compare(engine: Any, pack: CellPack, points: list[Any], label: str) -> None:
    from bench import locate_accuracy as world
    from netatlas.location.locate import locate, parse_query

    gaps: list[float] = []
    asked = server_only = pack_only = 0
    for _x, _y, heard in points:
        if not heard.cells:
            continue
        asked += 1
        answer = locate(engine, parse_query(json.dumps(world.body(heard, "c")))).best()
        scan = [Heard(k[0], k[1], k[2], k[3], k[4], s) for k, s in heard.cells]
        mine = pack.locate(scan)
        if answer is None or mine is None:
            server_only += answer is not None
            pack_only += mine is not None
            continue
        kx = world.M_PER_DEG * math.cos(math.radians(answer.lat))
        gaps.append(math.hypot((mine[0] - answer.lat) * world.M_PER_DEG,
                               (mine[1] - answer.lon) * kx))  # fmt: skip
    within = sum(g <= 50.0 for g in gaps)
    gaps.sort()
    print(f"{label}: {len(pack)} cells; {asked} cell-only scans")
    print(f"  pack vs server within 50 m: {within}/{asked} = {within / max(asked, 1):.1%}; "
          f"median gap {statistics.median(gaps):.1f} m, "
          f"p95 {gaps[max(math.ceil(0.95 * len(gaps)) - 1, 0)]:.1f} m; "
          f"answered by the server only {server_only}, by the pack only {pack_only}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--stations", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--accuracy", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--side", type=float, default=2000.0)
    parser.add_argument("--walkers", type=int, default=120)
    parser.add_argument("--blocks", type=int, default=25)
    parser.add_argument("--queries", type=int, default=600)
    args = parser.parse_args()
    if args.accuracy:
        accuracy(args)
    else:
        build_time(args)


if __name__ == "__main__":
    main()
