"""The WiFi/Bluetooth dump: reader accuracy against the server, and build time.

Accuracy: a held-out world of ``bench/worlds.py`` is stumbled on two days: the first day's
reports are applied by the station updater (:func:`apply_observations`) dated yesterday, the
second day's go through the real pipeline (submit queue → fan-out → station updater) today, so
stations heard on both days are publishable. A dump is built from the tables; then every WiFi
and Bluetooth query of the world is answered by the server (:func:`locate`) and by the
reference reader from the dump file, and both are compared with the true place and with each
other.

Build time: ``--stations N`` WiFi stations (random MACs in a 40 km square, seen on two days)
are inserted straight into the station tables, then a dump is built and timed; the scrypt
share is measured separately.

    .venv/bin/python -m bench.dump accuracy [--world H1] [--grid 200] [--k 5]
    .venv/bin/python -m bench.dump build [--stations 1000000] [--cost 11]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import random
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import insert

from bench.locate_accuracy import to_latlon, to_xy
from bench.worlds import (
    HELD_OUT,
    TUNING,
    Fix,
    Outcome,
    Probe,
    Radio,
    WorldSpec,
    _report,
    blue_probes,
    body,
    make_world,
    stumble,
    submit,
    wifi_probes,
)
from netatlas.db.migrate import upgrade
from netatlas.export.dump.build import DumpConfig
from netatlas.export.dump.keys import HashParams, station_key
from netatlas.export.dump.reader import Dump, load
from netatlas.export.dump.service import build_dump
from netatlas.geo.mcc import regions_for_mcc
from netatlas.jobs.context import Context
from netatlas.location.locate import locate, parse_query
from netatlas.location.models import wifi_shards
from netatlas.location.stations.observations import (
    Observation,
    observations_from_report,
    shard_of,
)
from netatlas.location.stations.update import apply_observations
from netatlas.settings import Settings

SALT = "00112233445566778899aabbccddeeff"


def apply_on(ctx: Context, fixes: Sequence[Fix], when: dt.datetime, contributor: int) -> None:
    """Apply reports through the station updater as if on ``when`` (the pipeline uses now),
    as submitted by ``contributor``."""
    now_ms = int(when.timestamp() * 1000)
    groups: dict[tuple[str, str], list[Observation]] = {}
    for fix in fixes:
        obs = observations_from_report(
            _report(fix, now_ms), ctx.regions, regions_for_mcc, contributor=contributor
        )
        for w in obs.wifis:
            groups.setdefault(("wifi", shard_of(w)), []).append(w)
        for b in obs.blues:
            groups.setdefault(("blue", shard_of(b)), []).append(b)
    with ctx.engine.begin() as conn:
        for (kind, shard), items in sorted(groups.items()):
            apply_observations(conn, "wifi" if kind == "wifi" else "blue", shard, items,
                               ctx.regions, when)  # fmt: skip


def two_day_world(ctx: Context, spec: WorldSpec) -> tuple[Any, Radio]:
    """A world stumbled yesterday (station updater) and today (the submit pipeline), by two
    contributors: one each day."""
    world = make_world(spec)
    radio = Radio(world)
    yesterday = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    apply_on(ctx, stumble(world, radio, spec.seed + 1, spec.reports), yesterday, contributor=1)
    submit(ctx, stumble(world, radio, spec.seed + 2, spec.reports), contributor=2)
    return world, radio


def compare(
    ctx: Context, dump: Dump, probes: Sequence[Probe], kind: str
) -> tuple[Outcome, Outcome, list[float]]:
    """Server and reader outcomes, and the reader-to-server distances where both answer."""
    server, reader, gaps = Outcome(), Outcome(), []
    for p in probes:
        text = body(p.heard, kind)
        best = locate(ctx.engine, parse_query(text)).best()
        a = None if best is None else (best.lat, best.lon, best.accuracy)
        server.add(p, a)
        answer = dump.locate(text)
        b = None if answer is None else (answer.lat, answer.lon, answer.accuracy)
        reader.add(p, b)
        if a is not None and b is not None:
            ax, ay = to_xy(a[0], a[1])
            bx, by = to_xy(b[0], b[1])
            gaps.append(math.hypot(ax - bx, ay - by))
    return server, reader, gaps


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, math.ceil(q * len(s)) - 1)] if s else math.nan


def accuracy(spec: WorldSpec, grid: float, k: int, cost: int) -> dict[str, Any]:
    settings = Settings(data_dir=Path(tempfile.mkdtemp()), demo=False, embedded_jobs=False)
    ctx = Context.from_settings(settings)
    upgrade(ctx.engine)
    world, radio = two_day_world(ctx, spec)
    config = DumpConfig(grid, k, cost, "ODbL-1.0")
    started = time.perf_counter()
    data, manifest = build_dump(ctx, dt.datetime.now(dt.UTC).date(), config, SALT)
    built = time.perf_counter() - started
    path = Path(settings.data_dir) / "dump.csv.gz"
    path.write_bytes(data)
    dump = load(path)
    out: dict[str, Any] = {
        "world": spec.name,
        "grid": grid,
        "k": k,
        "counts": msgspec.to_builtins(manifest.counts),
        "build_s": round(built, 2),
    }
    for kind, probes in (
        ("wifi", wifi_probes(world, radio, spec.seed + 3, 300)),
        ("blue", blue_probes(world, radio, spec.seed + 4, 200)),
    ):
        server, reader, gaps = compare(ctx, dump, probes, kind)
        out[kind] = {
            "server": server.summary(),
            "reader": reader.summary(),
            "gap_median": statistics.median(gaps) if gaps else math.nan,
            "gap_p90": _pct(gaps, 0.9),
            "gap_within_half_diagonal": (
                sum(g <= grid / math.sqrt(2) for g in gaps) / len(gaps) if gaps else math.nan
            ),
        }
    ctx.engine.dispose()
    return out


def build_time(stations: int, cost: int, grid: float, k: int) -> dict[str, Any]:
    settings = Settings(data_dir=Path(tempfile.mkdtemp()), demo=False, embedded_jobs=False)
    ctx = Context.from_settings(settings)
    upgrade(ctx.engine)
    rng = random.Random(5)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    created = now - dt.timedelta(days=20)
    rows: dict[str, list[dict[str, Any]]] = {}
    side = 40_000.0
    for _ in range(stations):
        mac = bytes([rng.randrange(256) & 0xFC] + [rng.randrange(256) for _ in range(5)])
        lat, lon = to_latlon(rng.uniform(-side / 2, side / 2), rng.uniform(-side / 2, side / 2))
        rows.setdefault(mac.hex()[4], []).append(
            {
                "mac": mac, "lat": lat, "lon": lon, "max_lat": lat, "min_lat": lat,
                "max_lon": lon, "min_lon": lon, "radius": rng.randrange(10, 200), "region": "DE",
                "samples": rng.randrange(2, 500), "source": 3, "weight": 1.0,
                "created": created, "modified": now, "last_seen": now.date(), "block_count": 0,
            }
        )  # fmt: skip
    with ctx.engine.begin() as conn:
        for shard, items in rows.items():
            for i in range(0, len(items), 20_000):
                conn.execute(insert(wifi_shards[shard]), items[i : i + 20_000])
    config = DumpConfig(grid, k, cost, "ODbL-1.0")
    started = time.perf_counter()
    data, manifest = build_dump(ctx, now.date(), config, SALT)
    total = time.perf_counter() - started
    params = HashParams(salt=SALT, log2_n=cost)
    sample = 2000
    t0 = time.perf_counter()
    for i in range(sample):
        station_key("wifi", i.to_bytes(6, "big"), params)
    per_hash = (time.perf_counter() - t0) / sample
    ctx.engine.dispose()
    return {
        "stations": stations,
        "published": manifest.counts.wifi,
        "cells": manifest.counts.cells,
        "build_s": round(total, 1),
        "bytes": len(data),
        "hash_ms_one_core": round(per_hash * 1000, 3),
        "key_bits": manifest.hash.bits,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=["accuracy", "build"])
    parser.add_argument("--world", default="H1", help="comma-separated world names")
    parser.add_argument("--grid", type=float, default=200.0)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--cost", type=int, default=11)
    parser.add_argument("--stations", type=int, default=1_000_000)
    args = parser.parse_args()
    if args.what == "build":
        print(json.dumps(build_time(args.stations, args.cost, args.grid, args.k)), flush=True)
        return
    names = set(args.world.split(","))
    for spec in (s for s in TUNING + HELD_OUT if s.name in names):
        print(json.dumps(accuracy(spec, args.grid, args.k, args.cost)), flush=True)


if __name__ == "__main__":
    main()
