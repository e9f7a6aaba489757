"""Which stations reach the dump: built through the station updater on given days."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

from netatlas.export.dump.build import DumpConfig
from netatlas.export.dump.reader import load
from netatlas.export.dump.service import build_dump
from netatlas.jobs.context import Context
from netatlas.location.stations.observations import WifiObservation
from netatlas.location.stations.update import apply_observations

SALT = "0f" * 16
CONFIG = DumpConfig(grid_metres=100.0, k=3, log2_n=10, licence="ODbL-1.0")
LAT, LON = 52.52, 13.405
TODAY = dt.datetime.now(dt.UTC).replace(hour=12, minute=0, second=0, microsecond=0)


def mac(n: int) -> str:
    return f"1c2b3a{n:06x}"


def observe(
    ctx: Context,
    macs: list[str],
    when: dt.datetime,
    dlat: float = 0.0,
    contributor: int | None = None,
) -> None:
    """Two fixes of each MAC on ``when``'s day, by ``contributor`` (by default, one of the
    day's own: each day another contributor)."""
    who = when.toordinal() % 100_000 + 1 if contributor is None else contributor
    by_shard: dict[str, list[WifiObservation]] = {}
    for i, m in enumerate(macs):
        for j in range(2):  # two fixes a few metres apart
            lat = LAT + dlat + (i % 3) * 0.0001 + j * 0.00002
            lon = LON + (i % 2) * 0.0001
            obs = WifiObservation(m, lat, lon, 10.0, 0, 1.0, -60, None, 3, 1.0, who)
            by_shard.setdefault(m[4], []).append(obs)
    with ctx.engine.begin() as conn:
        for shard, items in by_shard.items():
            apply_observations(conn, "wifi", shard, items, ctx.regions, when)


def published(ctx: Context, tmp_path: Path, config: DumpConfig = CONFIG) -> set[str]:
    data, _ = build_dump(ctx, TODAY.date(), config, SALT)
    path = tmp_path / "dump.csv.gz"
    path.write_bytes(data)
    dump = load(path)
    return {m for m in (mac(n) for n in range(40)) if dump.lookup("wifi", m)}


def test_only_stable_never_blocked_stations_are_published(ctx: Context, tmp_path: Path) -> None:
    stable = [mac(n) for n in range(6)]
    one_day = [mac(n) for n in range(10, 14)]
    moved = [mac(n) for n in range(20, 24)]
    observe(ctx, stable + moved, TODAY - dt.timedelta(days=3))
    observe(ctx, stable, TODAY)
    observe(ctx, one_day, TODAY)
    # 20 km away: inconsistent with the stored place, so the updater blocks them (a moved
    # access point, a hotspot on a bus).
    observe(ctx, moved, TODAY - dt.timedelta(days=1), dlat=0.2)

    assert published(ctx, tmp_path) == set(stable)


def test_a_station_needs_two_contributors(ctx: Context, tmp_path: Path) -> None:
    alone = [mac(n) for n in range(6)]
    joined = [mac(n) for n in range(10, 16)]
    unknown = [mac(n) for n in range(20, 26)]  # older queue items and imports: contributor 0
    observe(ctx, alone + joined, TODAY - dt.timedelta(days=3), contributor=7)
    observe(ctx, alone, TODAY, contributor=7)
    observe(ctx, joined, TODAY, contributor=8)
    observe(ctx, unknown, TODAY - dt.timedelta(days=3), contributor=0)
    observe(ctx, unknown, TODAY, contributor=0)

    assert published(ctx, tmp_path) == set(joined)


def test_a_station_blocked_long_ago_stays_out(ctx: Context, tmp_path: Path) -> None:
    stable = [mac(n) for n in range(6)]
    once_moved = [mac(n) for n in range(30, 33)]
    observe(ctx, stable + once_moved, TODAY - dt.timedelta(days=300))
    observe(ctx, once_moved, TODAY - dt.timedelta(days=299), dlat=0.2)  # blocked
    # Heard at the new place ever since: locate uses them again, the dump does not.
    observe(ctx, once_moved, TODAY - dt.timedelta(days=200), dlat=0.2)
    observe(ctx, stable + once_moved, TODAY, dlat=0.2)
    observe(ctx, stable, TODAY - dt.timedelta(days=1), dlat=0.2)

    assert published(ctx, tmp_path) == set()  # stable ones moved too (>5 km): blocked today
    observe(ctx, [mac(n) for n in range(6, 9)], TODAY - dt.timedelta(days=2), dlat=0.2)
    observe(ctx, [mac(n) for n in range(6, 9)], TODAY, dlat=0.2)
    assert published(ctx, tmp_path, CONFIG._replace(k=2)) == {mac(n) for n in range(6, 9)}


def test_cells_with_fewer_than_k_stations_are_withheld(ctx: Context, tmp_path: Path) -> None:
    macs = [mac(n) for n in range(4)]
    observe(ctx, macs, TODAY - dt.timedelta(days=2))
    observe(ctx, macs, TODAY)

    assert published(ctx, tmp_path, CONFIG._replace(k=4)) == set(macs)
    assert published(ctx, tmp_path, CONFIG._replace(k=5)) == set()
    data, manifest = build_dump(ctx, TODAY.date(), CONFIG._replace(k=5), SALT)
    assert manifest.counts.withheld == 4 and manifest.counts.wifi == 0
    assert gzip.decompress(data).decode().count("\n") == 2  # the two header lines only
