"""Offline region packs: build time for a region of 1,000,000 stations, and how well a pack
answers cell scans compared with the server.

Build (default): fills the cell tables with ``--stations`` publishable cells in one region
(DE, MCC 262; 70 % LTE, 20 % NR, 10 % GSM), plus 5 % that the privacy filter drops (one
contributor), then times ``build_pack`` for the country pack: every row is streamed, written
to ``cells.csv.gz`` and the MLS file, and checksummed. The median of ``--runs`` builds.

    .venv/bin/python -m bench.packs                        # SQLite
    .venv/bin/python -m bench.packs --backend postgresql   # PostgreSQL (bench database)

Accuracy (``--accuracy``): how close answers from the pack's files come to the server's
answers to the same scans. Simulated cities of ``bench.locate_accuracy`` (``--seeds``; seed 7,
the one the benchmarks of locate use, is not among the defaults) are stumbled and their reports
go through the real pipeline; every station is then marked as vouched for (the simulation has
one contributor on one day; the filter itself is tested in the test suite), a pack with
``wifi.csv.gz`` is built for the city's bounding box, and held-out scans are answered by the
reference reader (:mod:`netatlas.location.packs.reader`) and by the server's locate:

- cell-only scans, from ``cells.csv.gz`` (positions only, as microG reads it) and from the MLS
  file (ranges, samples and dates, as Local NLP Backend reads it);
- full scans (WiFi + cells), from ``wifi.csv.gz`` + ``cells.csv.gz``;
- with ``--worlds``, the WiFi probes of the held-out worlds of ``bench.worlds`` (other
  propagation, density and stumbling), from ``wifi.csv.gz``.

Reported: the share of scans whose two answers lie within 50 m (of the scans answered by
either; a scan answered by one only counts as a miss), the median and p95 gap.

    .venv/bin/python -m bench.packs --accuracy --worlds
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
from netatlas.location.models import RADIO_CODE, cell_tables, wifi_shards
from netatlas.location.packs.build import PREFIX, BuildOptions, build_pack
from netatlas.location.packs.reader import CellPack, Heard, WifiPack, best_of
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


def _vouch_for_all(engine: Any) -> None:
    """The simulations have one contributor on one day: mark every station as seen by two on
    two days (the privacy filter itself is tested in the test suite)."""
    with engine.begin() as conn:
        for t in [*cell_tables.values(), *wifi_shards.values()]:
            conn.execute(update(t).values(contributors=2, days=2))


def _pack_files(ctx: Any, half: float) -> dict[str, bytes]:
    """Build the pack (with ``wifi.csv.gz``) of the square of ``half`` metres around the
    centre; its files by name."""
    from bench import locate_accuracy as world

    south, west = world.to_latlon(-half, -half)
    north, east = world.to_latlon(half, half)
    region = parse_region(f"bbox:{south:.4f},{west:.4f},{north:.4f},{east:.4f}")
    store = DirectoryStore(ctx.settings.data_dir / "exports")
    manifest = build_pack(ctx.engine, store, region, BuildOptions(wifi=True), ctx.settings.data_dir)
    files = {}
    for f in manifest.files:
        data = store.read(f"{PREFIX}{region.id}/{manifest.build}/{f.name}")
        assert data is not None
        files[f.name] = data
    return files


class Agreement:
    """Gaps between the pack reader's and the server's answers to the same scans."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.gaps: list[float] = []
        self.asked = 0  # scans answered by the server or the reader or both
        self.one_sided = 0  # answered by one of the two only
        self.unanswered = 0  # by neither (not counted in ``asked``)

    def add(self, server: Any, mine: tuple[float, float] | None) -> None:
        from bench.locate_accuracy import M_PER_DEG

        if server is None and mine is None:
            self.unanswered += 1
            return
        self.asked += 1
        if server is None or mine is None:
            self.one_sided += 1
            return
        kx = M_PER_DEG * math.cos(math.radians(server.lat))
        self.gaps.append(math.hypot((mine[0] - server.lat) * M_PER_DEG,
                                    (mine[1] - server.lon) * kx))  # fmt: skip

    def within(self, metres: float = 50.0) -> float:
        return sum(g <= metres for g in self.gaps) / max(self.asked, 1)

    def line(self) -> str:
        gaps = sorted(self.gaps) or [math.nan]
        p95 = gaps[max(math.ceil(0.95 * len(gaps)) - 1, 0)]
        return (f"{self.label:<34} {self.asked:>5} scans  within 50 m {self.within():6.1%}  "
                f"median gap {statistics.median(gaps):6.1f} m  p95 {p95:6.1f} m  "
                f"one-sided {self.one_sided}, by neither {self.unanswered}")  # fmt: skip


def city_accuracy(seed: int, args: argparse.Namespace) -> list[Agreement]:
    """A city of ``bench.locate_accuracy``: cell-only scans from each cell file, and full scans
    (WiFi + cells) from ``wifi.csv.gz`` + ``cells.csv.gz`` as microG loads them."""
    from bench import locate_accuracy as world
    from netatlas.jobs.context import Context
    from netatlas.location.locate import locate, parse_query

    city = world.make_city(seed, args.side)
    radio = world.Radio(city)
    fixes = world.walk(city, radio, seed + 1, args.walkers, args.blocks)
    settings = Settings(data_dir=Path(tempfile.mkdtemp()), demo=False, embedded_jobs=False)
    ctx = Context.from_settings(settings)
    upgrade(ctx.engine)
    world.submit_through_pipeline(ctx, fixes)
    _vouch_for_all(ctx.engine)
    files = _pack_files(ctx, args.side / 2 + 3000)
    cells = CellPack.parse(files["cells.csv.gz"])
    mls = CellPack.parse_mls(files["mls-cells-262.csv.gz"])
    wifi = WifiPack.parse(files["wifi.csv.gz"])
    out = [
        Agreement(f"seed {seed}: cells, cells.csv.gz"),
        Agreement(f"seed {seed}: cells, mls-cells-262.csv.gz"),
        Agreement(f"seed {seed}: WiFi + cells, microG files"),
    ]
    for _x, _y, heard in world.scans(city, radio, seed + 2, args.queries):
        scan = [Heard(k[0], k[1], k[2], k[3], k[4], s) for k, s in heard.cells]
        if heard.cells:
            server = locate(ctx.engine, parse_query(json.dumps(world.body(heard, "c")))).best()
            out[0].add(server, cells.locate(scan))
            out[1].add(server, mls.locate(scan))
        if heard.wifis:
            server = locate(ctx.engine, parse_query(json.dumps(world.body(heard, "wc")))).best()
            out[2].add(server, best_of(cells.candidates(scan), wifi.candidates(heard.wifis)))
    return out


def world_accuracy(spec: Any) -> Agreement:
    """A held-out world of ``bench.worlds`` (WiFi only, other propagation and stumbling):
    its WiFi probes from ``wifi.csv.gz``."""
    from bench import worlds
    from netatlas.location.locate import locate, parse_query

    built = worlds.build(spec)
    _vouch_for_all(built.ctx.engine)
    wifi = WifiPack.parse(_pack_files(built.ctx, worlds.SIDE)["wifi.csv.gz"])
    out = Agreement(f"world {spec.name}: WiFi, wifi.csv.gz")
    for probe in built.wifi:
        server = locate(built.ctx.engine, parse_query(worlds.body(probe.heard, "wifi"))).best()
        out.add(server, wifi.locate(probe.heard.wifis))
    return out


def accuracy(args: argparse.Namespace) -> None:
    from bench import worlds

    rows: list[Agreement] = []
    for seed in args.seeds:
        rows += city_accuracy(seed, args)
        print("\n".join(r.line() for r in rows[-3:]), flush=True)
    if args.worlds:
        for spec in worlds.HELD_OUT:
            rows.append(world_accuracy(spec))
            print(rows[-1].line(), flush=True)
    print("\nworst seed / world, share within 50 m of the server's answer:")
    for kind in ("cells, cells.csv.gz", "cells, mls-cells", "WiFi + cells", "WiFi, wifi.csv"):
        some = [r.within() for r in rows if kind in r.label]
        if some:
            print(f"  {kind:<22} worst {min(some):.1%}  median {statistics.median(some):.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--stations", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--accuracy", action="store_true")
    parser.add_argument(
        "--seeds", type=lambda v: [int(x) for x in v.split(",")], default=[11, 13, 17, 19]
    )
    parser.add_argument("--worlds", action="store_true", help="also the held-out WiFi worlds")
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
