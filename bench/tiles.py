"""Coverage tiles: full and incremental renders of a country-sized datamap grid.

Fills the four datamap tables with N grid cells spread like one country's contributions
(Zipf-sized cities, the roads between them, stumbling trips into the countryside; last-seen
dates skewed to recent), then times `netatlas tiles render` as a separate process:

* ``full``: a full render of zoom 0-11 into an empty directory (size optimisation included);
* ``incremental``: after 1% of the cells change (new and revisited cells along trips), the
  default incremental render; then the same after 1% change at random all over the country
  (the worst case: nearly every tile holds one changed cell).

    .venv/bin/python -m bench.tiles --cells 1000000 --repeat 3
    .venv/bin/python -m bench.tiles --cells 1000000 --backend postgresql
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, insert, text, update

from bench._common import NETATLAS, PG_URL
from netatlas.datamap.grid import quadrant
from netatlas.datamap.models import datamap_tables
from netatlas.db.engine import make_engine
from netatlas.db.migrate import upgrade

BBOX = (47.3, 55.0, 5.9, 15.0)  # a central-European country's extent
TODAY = dt.date.today()
TIME = "/usr/bin/time"  # GNU time (Debian package "time")
Cells = np.ndarray[Any, np.dtype[np.int64]]  # rows of (lat_i, lon_i)


def country_cells(count: int, seed: int) -> Cells:
    """``count`` distinct grid cells as (lat_i, lon_i) rows."""
    rng = np.random.default_rng(seed)
    lat0, lat1, lon0, lon1 = BBOX
    cities = 60
    clat = rng.uniform(lat0 + 0.3, lat1 - 0.3, cities)
    clon = rng.uniform(lon0 + 0.3, lon1 - 0.3, cities)
    weight = 1.0 / np.arange(1, cities + 1) ** 1.1
    weight /= weight.sum()
    parts = []
    draws = int(count * 3)  # dense areas repeat cells; draw more, then keep `count`
    for la, lo, w in zip(clat, clon, weight, strict=True):
        n = int(draws * 0.7 * w) + 300
        sigma = 0.02 + 0.25 * np.sqrt(w)
        parts.append(np.column_stack([rng.normal(la, sigma * 0.65, n), rng.normal(lo, sigma, n)]))
    roads = set()
    for i in range(cities):
        dist = (clat - clat[i]) ** 2 + (clon - clon[i]) ** 2
        for j in np.argsort(dist)[1:3]:
            roads.add((min(i, int(j)), max(i, int(j))))
    per_road = int(draws * 0.2) // len(roads)
    for i, j in sorted(roads):
        t = rng.uniform(0, 1, per_road)
        noise = rng.normal(0, 0.0006, (per_road, 2))
        lat = clat[i] + (clat[j] - clat[i]) * t + noise[:, 0]
        lon = clon[i] + (clon[j] - clon[i]) * t + noise[:, 1]
        parts.append(np.column_stack([lat, lon]))
    for _ in range(40):  # trips: random walks out of a random city
        start = rng.integers(cities)
        steps = rng.normal(0, 0.0012, (int(draws * 0.1) // 40, 2)).cumsum(axis=0)
        parts.append(steps + np.array([clat[start], clon[start]]))
    points = np.concatenate(parts)
    cells = np.unique(np.round(points * 1000).astype(np.int64), axis=0)
    cells = cells[rng.permutation(len(cells))[:count]]
    if len(cells) < count:
        raise SystemExit(f"only {len(cells):,} distinct cells; ask for fewer")
    return cells + np.array([90_000, 180_000])


def fill(engine: Engine, cells: Cells, seed: int) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Insert the cells with skewed dates; returns which of them were last seen today."""
    rng = np.random.default_rng(seed)
    age = np.minimum(rng.exponential(110, len(cells)).astype(int), 365)
    first = age + rng.integers(0, 400, len(cells))
    rows: dict[str, list[dict[str, Any]]] = {}
    for (lat_i, lon_i), a, f in zip(cells.tolist(), age.tolist(), first.tolist(), strict=True):
        rows.setdefault(quadrant(lat_i, lon_i), []).append(
            {
                "grid": lat_i.to_bytes(4, "big") + lon_i.to_bytes(4, "big"),
                "created": TODAY - dt.timedelta(days=f),
                "modified": TODAY - dt.timedelta(days=a),
            }
        )
    with engine.begin() as conn:
        for quad, items in rows.items():
            for i in range(0, len(items), 50_000):
                conn.execute(insert(datamap_tables[quad]), items[i : i + 50_000])
    return age == 0


def change(
    engine: Engine,
    cells: Cells,
    seen_today: np.ndarray[Any, np.dtype[np.bool_]],
    share: float,
    clustered: bool,
    seed: int,
) -> None:
    """Revisit ``share`` of the cells not yet seen today (modified = today): along trips
    (whole neighbourhoods of a few random cells), or at random all over."""
    rng = np.random.default_rng(seed)
    count = int(len(cells) * share)
    candidates = np.flatnonzero(~seen_today)
    if clustered:
        picked: set[int] = set()
        while len(picked) < count:
            centre = cells[rng.choice(candidates)]
            near = np.abs(cells[candidates] - centre).max(axis=1)
            nearest = candidates[np.argsort(near, kind="stable")[: min(250, count - len(picked))]]
            picked.update(nearest.tolist())
        chosen = np.array(sorted(picked))
    else:
        chosen = rng.choice(candidates, count, replace=False)
    seen_today[chosen] = True
    with engine.begin() as conn:
        for lat_i, lon_i in cells[chosen].tolist():
            table = datamap_tables[quadrant(lat_i, lon_i)]
            grid = lat_i.to_bytes(4, "big") + lon_i.to_bytes(4, "big")
            conn.execute(update(table).where(table.c.grid == grid).values(modified=TODAY))


def render(env: dict[str, str], out: Path, *extra: str) -> dict[str, Any]:
    """One `netatlas tiles render` process: wall and CPU time, peak memory, its data.json.

    GNU time measures the process (a child forked straight from this one would start with
    this process's memory, and report it as its own peak).
    """
    command = [NETATLAS, "tiles", "render", "--out", str(out), *extra]
    with tempfile.NamedTemporaryFile("r") as usage:
        start = time.perf_counter()
        subprocess.run(
            [TIME, "-f", "%U %S %M", "-o", usage.name, *command],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        wall = time.perf_counter() - start
        user, system, rss = usage.read().split()[-3:]
    data: dict[str, Any] = json.loads((out / "data.json").read_text())
    data.update(wall=wall, cpu=float(user) + float(system), rss=int(rss))
    return data


def line(label: str, runs: list[dict[str, Any]]) -> str:
    last = runs[-1]
    walls = ", ".join(f"{r['wall']:.1f}" for r in runs)
    cpu = statistics.median(r["cpu"] for r in runs)
    return (
        f"{label}: median {statistics.median(r['wall'] for r in runs):.1f} s wall ({walls}), "
        f"{cpu:.1f} s CPU, peak RSS {last['rss'] / 1024:.0f} MiB; "
        f"cells changed {last['cells_changed']:,}; tiles drawn {last['rendered']:,} "
        f"(new {last['new']:,}, changed {last['changed']:,}, unchanged {last['unchanged']:,}, "
        f"deleted {last['deleted']:,}), uploaded {last['uploaded_bytes']:,} B; "
        f"store {last['tiles']:,} tiles, {last['bytes']:,} B"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cells", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--pngquant", action="store_true", help="also time a --pngquant run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        env = {**os.environ, "NETATLAS_DATA_DIR": tmp, "NETATLAS_LOG_LEVEL": "warning"}
        if args.backend == "postgresql":
            admin = make_engine(
                PG_URL.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT"
            )
            with admin.connect() as conn:
                conn.execute(text("DROP DATABASE IF EXISTS netatlas_bench"))
                conn.execute(text("CREATE DATABASE netatlas_bench"))
            admin.dispose()
            env["NETATLAS_DATABASE_URL"] = PG_URL
            url = PG_URL
        else:
            url = f"sqlite:///{data_dir / 'netatlas.db'}"
        engine = make_engine(url)
        upgrade(engine)
        cells = country_cells(args.cells, seed=1)
        t0 = time.perf_counter()
        seen_today = fill(engine, cells, seed=2)
        print(f"{len(cells):,} cells ({args.backend}) inserted in {time.perf_counter() - t0:.0f} s")

        out = data_dir / "out"
        fulls = []
        for _ in range(args.repeat):
            shutil.rmtree(out, ignore_errors=True)
            shutil.rmtree(data_dir / "datamap", ignore_errors=True)
            fulls.append(render(env, out, "--full"))
        print(line("full render, empty store", fulls))
        if args.pngquant:
            shutil.rmtree(out, ignore_errors=True)
            print(line("full render with --pngquant", [render(env, out, "--full", "--pngquant")]))
            shutil.rmtree(out, ignore_errors=True)
            render(env, out, "--full")
        print(line("no change, incremental", [render(env, out) for _ in range(args.repeat)]))
        for label, clustered, seed in (("trips", True, 3), ("random", False, 4)):
            runs = []
            for i in range(args.repeat):
                # Each round revisits other cells, so every round draws a fresh 1%.
                change(engine, cells, seen_today, 0.01, clustered, seed * 100 + i)
                runs.append(render(env, out))
            print(line(f"1% changed ({label}), incremental", runs))
        engine.dispose()


if __name__ == "__main__":
    main()
