"""Benchmark: aggregating 1,000,000 unified-view rows into counties, H3 resolution 8 and
quadkey 16 tiles, each × month × ISP; an incremental update; a 3,000-feature stats answer;
the sketches' accuracy against numpy; the countries layer by point alone (how many tests
the coastline loses, and the cost of placing them in the nearest country within 25 km).

    python -m bench.aggregate [ROWS] [sqlite|postgresql]

Counties are 60 Voronoi polygons over the box (imported as a GeoJSON layer). The rebuild
includes reading the tests, spatial assignment and writing every bin. The stats answer is
timed in-process (query, statistics and GeoJSON), cold (answer cache emptied each time) and
warm. Accuracy, every county × ISP bin re-binned from months to the year: the sketches' p10,
quartiles, median and p90 (stored, exact up to the sketch) against ``numpy.quantile`` of the raw
tests in it; and the published (noisy) figures of the cells with at least 1,000 download tests.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import shapely
from sqlalchemy import select

from bench.mlab_import import BBOX, fresh_engine, write_rows
from netatlas.broadband.aggregate import frame as fr
from netatlas.broadband.aggregate.models import stats_bin
from netatlas.broadband.aggregate.service import StatsService, render
from netatlas.broadband.aggregate.sketch import quantiles
from netatlas.broadband.aggregate.update import update_statistics
from netatlas.broadband.areas import DEFAULT_TOLERANCE_M, assign, get_layer
from netatlas.broadband.areas_import import import_layer
from netatlas.broadband.mlab.importer import import_paths
from netatlas.broadband.models import measurements

AGGS = {
    "aggregation": [
        {"name": "counties", "area": "counties", "time": "month", "isp": True},
        {"name": "hex8", "area": "h3:8", "time": "month", "isp": True},
        {"name": "tiles", "area": "quadkey:16", "time": "month", "isp": True},
    ]
}


def counties(path: Path) -> None:
    rng = np.random.default_rng(1)
    w, s, e, n = BBOX
    seeds = shapely.multipoints(np.column_stack([rng.uniform(w, e, 60), rng.uniform(s, n, 60)]))
    cells = shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=shapely.box(*BBOX)))
    cells = shapely.intersection(cells, shapely.box(*BBOX))
    features = [
        {
            "type": "Feature",
            "properties": {"GEOID": f"53{i:03d}", "NAME": f"County {i}"},
            "geometry": json.loads(shapely.to_geojson(c)),
        }
        for i, c in enumerate(cells)
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    backend = sys.argv[2] if len(sys.argv) > 2 else "sqlite"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        engine = fresh_engine(backend, root)
        write_rows(root / "rows.ndjson", rows)
        write_rows(root / "more.ndjson", 10_000, seed=2, prefix="ndt-more")
        import_paths(engine, [root / "rows.ndjson"])
        counties(root / "counties.geojson")
        import_layer(engine, "counties", root / "counties.geojson", "GEOID", "NAME")
        config = root / "aggregations.json"
        config.write_text(json.dumps(AGGS))

        started = time.monotonic()
        reports = update_statistics(engine, str(config), rebuild=True)
        total = time.monotonic() - started
        for r in reports:
            print(f"rebuild {r.name}: {r.tests} tests -> {r.bins} bins")
        print(f"{backend}: rebuild of all three from {rows} rows: {total:.1f} s")

        import_paths(engine, [root / "more.ndjson"])
        started = time.monotonic()
        reports = update_statistics(engine, str(config))
        print(
            f"incremental update with 10,000 new rows: {time.monotonic() - started:.2f} s"
            f" ({', '.join(f'{r.name} {r.bins} bins' for r in reports)})"
        )

        service = StatsService(engine, str(config), b"bench secret")
        stats = "tests,download_median,upload_median,min_rtt_median"
        views = {
            # One provider and month by hexagon: about 3,000 cells, most too small to list.
            "one ISP, one month": {"b.area": "key", "f.time": "2024-03,2024-03",
                                   "f.isp": "Ziply Fiber", "stats": stats, "limit": "3000"},
            # The map's month view: every provider.
            "all ISPs, one month": {"b.area": "key", "f.time": "2024-03,2024-03",
                                    "stats": stats, "limit": "50000"},
        }  # fmt: skip
        for view, params in views.items():
            for label, clear in (("cold", True), ("warm", False)):
                times = []
                for _ in range(21):
                    if clear:
                        service._cache.clear()
                    started = time.perf_counter()
                    result = service.answer("hex8", params)
                    assert result.answer is not None
                    body, _ = render("hex8", result.answer, "geojson", None)
                    times.append(time.perf_counter() - started)
                features = len(json.loads(body)["features"])
                print(f"stats, {view}, {label}: {features} cells listed as GeoJSON"
                      f" ({len(body) / 1e6:.1f} MB),"
                      f" p50 {statistics.median(times) * 1000:.0f} ms")  # fmt: skip

        accuracy(engine, service)
        coast(engine)
        engine.dispose()


def coast(engine) -> None:  # type: ignore[no-untyped-def]
    """The countries layer by point alone (the rows' country codes ignored): the box takes in
    Puget Sound, whose waters lie outside Natural Earth's coastline."""
    layer = get_layer(engine, "countries")
    m = measurements.c
    with engine.connect() as conn:
        raw = conn.execute(select(m.lat, m.lon)).all()
    lat, lon = np.array([r[0] for r in raw]), np.array([r[1] for r in raw])
    assign(layer, lat[:10], lon[:10])  # the edge index: built once per layer
    timings = {}
    for tolerance in (0.0, DEFAULT_TOLERANCE_M):
        started = time.perf_counter()
        codes = assign(layer, lat, lon, tolerance)
        timings[tolerance] = (time.perf_counter() - started, int((codes < 0).sum()))
    (plain, lost), (near, left) = timings[0.0], timings[DEFAULT_TOLERANCE_M]
    spots = np.unique(lat + 1j * lon).size
    print(f"countries by point, {lat.size} tests at {spots} places: {lost} outside every"
          f" polygon ({plain:.2f} s); within 25 km of one: {left} left ({near:.2f} s)")  # fmt: skip


def accuracy(engine, service: StatsService) -> None:  # type: ignore[no-untyped-def]
    layer = get_layer(engine, "counties")
    m = measurements.c
    with engine.connect() as conn:
        raw = conn.execute(
            select(m.lat, m.lon, m.isp, m.mean_mbps).where(m.direction == "download")
        ).all()
        stored = conn.execute(
            select(stats_bin.c.area, stats_bin.c.isp, stats_bin.c.partial).where(
                stats_bin.c.aggregation == "counties"
            )
        ).all()
    lat, lon = np.array([r[0] for r in raw]), np.array([r[1] for r in raw])
    keys = layer.keys(layer.assign(lat, lon))
    groups: dict[tuple[str, str], list[float]] = {}
    for key, r in zip(keys, raw, strict=True):
        groups.setdefault((key, r[2]), []).append(r[3])
    qs = {"download_p10": 0.1, "download_q25": 0.25, "download_median": 0.5,
          "download_q75": 0.75, "download_p90": 0.9}  # fmt: skip

    # The sketches: stored bins merged per county × ISP, their quantiles against numpy's.
    cells = sorted({(r.area, r.isp) for r in stored})
    index = {c: i for i, c in enumerate(cells)}
    frame = fr.reduce(
        fr.from_blobs([r.partial for r in stored]),
        np.array([index[(r.area, r.isp)] for r in stored], np.int64),
        len(cells),
    )
    v, sk = frame.values, frame.sketches["dl"]
    table = quantiles(sk.starts(frame.size), sk.index, sk.count, v["dl_n"], v["dl_min"],
                      v["dl_max"], list(qs.values()))  # fmt: skip
    worst, compared = 0.0, 0
    for i, cell in enumerate(cells):
        values = np.array(groups.get(cell, []))
        if values.size < 20:
            continue
        for k, q in enumerate(qs.values()):
            exact = float(np.quantile(values, q))
            worst = max(worst, abs(table[i, k] - exact) / exact)
            compared += 1
    print(f"sketch accuracy: {compared} quantiles of {len(cells)} county × ISP bins (months merged"
          f" into the year) vs numpy: worst relative error {worst * 100:.4f} %")  # fmt: skip

    # What is published: noisy, thresholded.
    params = {"b.area": "key", "b.isp": "", "stats": ",".join(["download_count", *qs]),
              "limit": "50000"}  # fmt: skip
    answer = service.answer("counties", params).answer
    assert answer is not None
    errors: dict[str, list[float]] = {stat: [] for stat in qs}
    for row in answer.rows:
        values = np.array(groups[(row["area"], row["isp"])])
        if values.size < 1000:
            continue
        for stat, q in qs.items():
            exact = float(np.quantile(values, q))
            errors[stat].append(abs(row[stat] - exact) / exact)
    median_errors = np.array(errors["download_median"])
    tails = errors["download_p10"] + errors["download_p90"]
    print(f"published: {len(answer.rows)} of {len(cells)} county × ISP cells listed;"
          f" {median_errors.size} with ≥ 1,000 download tests: the median's relative error"
          f" typically {np.median(median_errors) * 100:.2f} %,"
          f" at most {median_errors.max() * 100:.2f} %;"
          f" p10 and p90 at most {max(tails) * 100:.1f} %")  # fmt: skip


if __name__ == "__main__":
    main()
