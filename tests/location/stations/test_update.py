"""The station updater against real databases: SQLite always, PostgreSQL when
``NETATLAS_TEST_DATABASE_URL`` is set."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text

from netatlas.db.engine import make_engine
from netatlas.db.stats import STAT_KEYS, stat_counter
from netatlas.features import load_models
from netatlas.location.ids import area_id, cell_id, mac_bytes
from netatlas.location.models import cell_area, cell_area_dirty, cell_tables, wifi_shards
from netatlas.location.stations import update as stations
from netatlas.location.stations.observations import (
    BlueObservation,
    CellObservation,
    Observation,
    WifiObservation,
)
from netatlas.location.stations.rules import distance
from netatlas.location.stations.update import apply_observations, lock_key, recompute_areas

NOW = datetime(2025, 6, 1, 12, 0, 0)
TODAY = NOW.date()
BOXES = {"GB": (49.8, 60.9, -8.7, 1.8), "DE": (47.2, 55.1, 5.8, 15.1)}
MCCS = {234: ("GB",), 262: ("DE",), 901: ("GB", "DE")}
MAC = "a0b1c2d3e4f5"  # shard "c"
LONDON = (51.5, -0.12)


class FakeRegions:
    """Two boxes standing in for Great Britain and Germany; counts vectorised lookups."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def region_for(self, lat: float, lon: float) -> str | None:
        for code, (s, n, w, e) in BOXES.items():
            if s <= lat <= n and w <= lon <= e:
                return code
        return None

    def regions_for(self, lats: Sequence[float], lons: Sequence[float]) -> list[str | None]:
        self.batches.append(len(lats))
        return [self.region_for(a, b) for a, b in zip(lats, lons, strict=True)]

    def in_any_region(self, lat: float, lon: float) -> bool:
        return self.region_for(lat, lon) is not None

    def in_region(self, lat: float, lon: float, code: str) -> bool:
        s, n, w, e = BOXES[code]
        return s <= lat <= n and w <= lon <= e


def mcc_regions(mcc: int) -> tuple[str, ...]:
    return MCCS.get(mcc, ())


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Engine]:
    """A fresh database with every table: a SQLite file, or a throwaway PostgreSQL schema."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path}/netatlas.db")
        load_models().create_all(eng)
        yield eng
        eng.dispose()
        return
    url = os.environ.get("NETATLAS_TEST_DATABASE_URL")
    if not url:
        pytest.skip("NETATLAS_TEST_DATABASE_URL is not set")
    schema = f"test_{uuid.uuid4().hex[:16]}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    eng = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        load_models().create_all(eng)
        yield eng
    finally:
        eng.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def wifi(
    lat: float = LONDON[0],
    lon: float = LONDON[1],
    *,
    mac: str = MAC,
    source: int = 3,
    weight: float = 1.0,
) -> WifiObservation:
    return WifiObservation(mac, lat, lon, 10.0, 0, 1.0, -70, None, source, weight)


def cell(
    lat: float = LONDON[0],
    lon: float = LONDON[1],
    *,
    cid: int = 1,
    lac: int = 100,
    mcc: int = 234,
    psc: int | None = None,
    radio: str = "lte",
) -> CellObservation:
    return CellObservation(
        radio, mcc, 10, lac, cid, psc, lat, lon, 10.0, 0, 1.0, -105, None, None, 3, 1.0
    )


def apply(
    engine: Engine,
    kind: Any,
    shard: str,
    observations: Sequence[Observation],
    now: datetime = NOW,
    regions: FakeRegions | None = None,
) -> stations.ApplyStats:
    with engine.begin() as conn:
        return apply_observations(conn, kind, shard, observations, regions or FakeRegions(), now)


def wifi_row(engine: Engine, mac: str = MAC) -> Any:
    table = wifi_shards[mac[4]]
    with engine.connect() as conn:
        return conn.execute(select(table).where(table.c.mac == mac_bytes(mac))).one_or_none()


def counters(engine: Engine) -> dict[tuple[int, date, str], int]:
    with engine.connect() as conn:
        rows = conn.execute(select(stat_counter)).all()
    return {(r.key, r.day, r.shard): r.value for r in rows}


# --- WiFi / BLE -------------------------------------------------------------------------------


def test_new_station_is_inserted_with_region_and_counted(engine: Engine) -> None:
    regions = FakeRegions()
    other = "a0b1ccd3e4f5"
    stats = apply(
        engine,
        "wifi",
        "c",
        [wifi(51.5, -0.12), wifi(51.501, -0.12), wifi(52.52, 13.4, mac=other)],
        regions=regions,
    )
    assert stats.transitions == {"new": 2}
    assert (stats.observations, stats.stations, stats.written) == (3, 2, 2)
    assert regions.batches == [2]  # one vectorised lookup for the batch
    row = wifi_row(engine)
    assert row.lat == pytest.approx(51.5005)
    assert (row.samples, row.weight, row.source, row.region) == (2, 2.0, 3, "GB")
    assert row.created == NOW and row.modified == NOW and row.last_seen == TODAY
    assert row.radius == 56
    assert wifi_row(engine, other).region == "DE"
    assert counters(engine) == {
        (STAT_KEYS["wifi"], TODAY, "wifi_c"): 3,
        (STAT_KEYS["unique_wifi"], TODAY, "wifi_c"): 2,
    }


def test_updates_merge_and_counters_add_up(engine: Engine) -> None:
    apply(engine, "wifi", "c", [wifi(51.5, -0.12)])
    stats = apply(engine, "wifi", "c", [wifi(51.504, -0.12, weight=1.0)], NOW + timedelta(hours=1))
    assert stats.transitions == {"change": 1}
    row = wifi_row(engine)
    assert row.lat == pytest.approx(51.502)
    assert (row.samples, row.weight, row.region) == (2, 2.0, "GB")
    assert (row.min_lat, row.max_lat) == (51.5, 51.504)
    assert row.created == NOW and row.modified == NOW + timedelta(hours=1)
    assert counters(engine) == {
        (STAT_KEYS["wifi"], TODAY, "wifi_c"): 2,
        (STAT_KEYS["unique_wifi"], TODAY, "wifi_c"): 1,
    }


def test_query_observation_confirms(engine: Engine) -> None:
    apply(engine, "wifi", "c", [wifi()])
    later = NOW + timedelta(days=3)
    stats = apply(engine, "wifi", "c", [wifi(source=9)], later)
    assert stats.transitions == {"confirm": 1} and stats.written == 1
    row = wifi_row(engine)
    assert row.last_seen == later.date() and row.modified == NOW and row.samples == 1
    stats = apply(engine, "wifi", "c", [wifi(source=9)], later)
    assert stats.transitions == {"confirm": 1} and stats.written == 0


def test_wifi_moved_10_km_is_blocked_then_ignored(engine: Engine) -> None:
    apply(engine, "wifi", "c", [wifi(51.5, -0.12)])
    moved = wifi(51.5 + 10_000 / 111_195, -0.12)
    later = NOW + timedelta(days=5)
    assert apply(engine, "wifi", "c", [moved], later).transitions == {"block": 1}
    row = wifi_row(engine)
    assert row.lat is None and row.samples is None and row.last_seen is None
    assert row.region == "GB"
    assert (row.block_first, row.block_last, row.block_count) == (later.date(),) * 2 + (1,)
    # Blocked (temporarily, and long-term as it is young): observations are counted, not used.
    stats = apply(engine, "wifi", "c", [moved], later + timedelta(days=1))
    assert stats.transitions == {"blocked": 1} and stats.written == 0
    assert counters(engine)[(STAT_KEYS["wifi"], later.date() + timedelta(days=1), "wifi_c")] == 1


def test_wifi_moved_600_m_restarts_at_its_new_place(engine: Engine) -> None:
    # Heard around one house (radius ~40 m), then, a week later, consistently 600 m north:
    # well within the 5 km MAX_DIST, so Ichnaea would merge it halfway between the two.
    home = [wifi(51.5 + d / 111_195, -0.12 + e / 69_000) for d, e in ((-20, 0), (20, 0), (0, 25))]
    apply(engine, "wifi", "c", home)
    north = 51.5 + 600 / 111_195
    there = [wifi(north + d / 111_195, -0.12) for d in (-30, -10, 10, 30)]
    later = NOW + timedelta(days=7)
    stats = apply(engine, "wifi", "c", there, later)
    assert stats.transitions == {"move": 1}
    row = wifi_row(engine)
    assert distance(row.lat, row.lon, north, -0.12) < 1.0
    assert (row.samples, row.weight, row.radius) == (4, 4.0, 30)
    assert row.created == NOW and row.modified == later and row.region == "GB"
    assert (row.block_count, row.block_last) == (0, None)  # a move is not a block
    # Later fixes there merge as usual.
    again = apply(engine, "wifi", "c", there[:2], later + timedelta(days=1))
    assert again.transitions == {"change": 1} and wifi_row(engine).samples == 6


def test_wifi_single_far_fix_or_short_shift_merges(engine: Engine) -> None:
    apply(engine, "wifi", "c", [wifi(51.5 + d / 111_195, -0.12) for d in (-20, 0, 20)])
    # One fix 400 m away (a GPS outlier, maybe) is never taken for a move.
    far = wifi(51.5 + 400 / 111_195, -0.12)
    assert apply(engine, "wifi", "c", [far], NOW + timedelta(hours=1)).transitions == {"change": 1}
    row = wifi_row(engine)
    assert row.samples == 4 and distance(row.lat, row.lon, *LONDON) < 120
    # A consistent batch 100 m away (inside the 150 m move distance) merges too.
    near = [wifi(51.5 + d / 111_195, -0.12) for d in (90, 100, 110)]
    assert apply(engine, "wifi", "c", near, NOW + timedelta(hours=2)).transitions == {"change": 1}
    assert wifi_row(engine).samples == 7


def test_inconsistent_first_observations_insert_a_blocked_station(engine: Engine) -> None:
    stats = apply(engine, "wifi", "c", [wifi(51.5, -0.12), wifi(51.6, -0.12)])
    assert stats.transitions == {"new_block": 1}
    row = wifi_row(engine)
    assert row.lat is None and row.block_count == 1 and row.block_last == TODAY
    assert counters(engine)[(STAT_KEYS["unique_wifi"], TODAY, "wifi_c")] == 1
    # Blocked until ~45 days after creation, then positioned again by consistent data.
    assert apply(engine, "wifi", "c", [wifi()], NOW + timedelta(days=44)).transitions == {
        "blocked": 1
    }
    assert apply(engine, "wifi", "c", [wifi()], NOW + timedelta(days=45)).transitions == {
        "change": 1
    }
    row = wifi_row(engine)
    assert (row.lat, row.samples, row.block_count) == (LONDON[0], 1, 1)


def test_blue_uses_its_own_tables_and_distance(engine: Engine) -> None:
    blue = BlueObservation(MAC, 51.5, -0.12, 10.0, 0, 1.0, -70, 3, 1.0)
    far = BlueObservation(MAC, 51.5015, -0.12, 10.0, 0, 1.0, -70, 3, 1.0)  # 167 m
    assert apply(engine, "blue", "c", [blue]).transitions == {"new": 1}
    assert apply(engine, "blue", "c", [far], NOW + timedelta(days=1)).transitions == {"block": 1}
    assert counters(engine)[(STAT_KEYS["unique_blue"], TODAY, "blue_c")] == 1


def test_many_keys_are_selected_in_chunks(engine: Engine, monkeypatch: Any) -> None:
    monkeypatch.setattr(stations, "SELECT_CHUNK", 3)
    macs = [f"a0b1c2{i:06x}" for i in range(10)]
    apply(engine, "wifi", "c", [wifi(mac=m) for m in macs])
    stats = apply(engine, "wifi", "c", [wifi(mac=m) for m in macs], NOW + timedelta(days=1))
    assert stats.transitions == {"change": 10}


def test_observations_must_match_the_shard(engine: Engine) -> None:
    with pytest.raises(ValueError):
        apply(engine, "wifi", "0", [wifi()])
    with pytest.raises(ValueError):
        apply(engine, "cell", "gsm", [cell()])


def test_empty_and_zero_weight_batches_write_nothing(engine: Engine) -> None:
    assert apply(engine, "wifi", "c", []).written == 0
    assert apply(engine, "wifi", "c", [wifi(weight=0.0)]).observations == 0
    assert counters(engine) == {}


def test_postgresql_serialises_a_shard(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's")
    key = lock_key("wifi", "c")
    assert key != lock_key("wifi", "d") and key != lock_key("blue", "c")
    with engine.begin() as conn:
        apply_observations(conn, "wifi", "c", [wifi()], FakeRegions(), NOW)
        with engine.connect() as other:
            taken = other.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": key})
            assert taken.scalar() is False
            free = other.execute(
                text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": lock_key("wifi", "d")}
            )
            assert free.scalar() is True
            other.rollback()


# --- cells and areas --------------------------------------------------------------------------


def test_cells_psc_and_dirty_areas(engine: Engine) -> None:
    stats = apply(engine, "cell", "lte", [cell(psc=5), cell(psc=None), cell(cid=2, lac=200)])
    assert stats.transitions == {"new": 2} and stats.areas == 2
    table = cell_tables["lte"]
    key = cell_id(3, 234, 10, 100, 1)
    with engine.connect() as conn:
        row = conn.execute(select(table).where(table.c.cellid == key)).one()
        dirty = set(conn.execute(select(cell_area_dirty.c.areaid)).scalars())
    assert (row.radio, row.mcc, row.mnc, row.lac, row.cid, row.psc) == (3, 234, 10, 100, 1, 5)
    assert row.region == "GB"
    assert dirty == {area_id(3, 234, 10, 100), area_id(3, 234, 10, 200)}
    assert counters(engine)[(STAT_KEYS["unique_cell"], TODAY, "cell_lte")] == 2

    # A confirm dirties nothing; PSC kept when the new observations carry none.
    with engine.begin() as conn:
        conn.execute(cell_area_dirty.delete())
    query = CellObservation(
        "lte", 234, 10, 100, 1, None, 51.5, -0.12, 10.0, 0, 1.0, -105, None, None, 9, 1.0
    )
    stats = apply(engine, "cell", "lte", [query], NOW + timedelta(days=1))
    assert stats.transitions == {"confirm": 1} and stats.areas == 0
    stats = apply(engine, "cell", "lte", [cell(51.51, -0.12)], NOW + timedelta(days=2))
    assert stats.transitions == {"change": 1} and stats.areas == 1
    with engine.connect() as conn:
        assert conn.execute(select(table.c.psc).where(table.c.cellid == key)).scalar() == 5


def test_recompute_areas(engine: Engine) -> None:
    apply(
        engine,
        "cell",
        "lte",
        [cell(51.50, -0.10, cid=1), cell(51.51, -0.10, cid=1), cell(51.60, -0.20, cid=2)],
    )
    regions = FakeRegions()
    with engine.begin() as conn:
        assert recompute_areas(conn, regions, mcc_regions, NOW) == 1
    with engine.connect() as conn:
        area = conn.execute(select(cell_area)).one()
        assert conn.execute(select(func.count()).select_from(cell_area_dirty)).scalar() == 0
    assert (area.radio, area.mcc, area.mnc, area.lac) == (3, 234, 10, 100)
    assert area.lat == pytest.approx((51.505 + 51.60) / 2)  # unweighted mean of cell centres
    assert area.lon == pytest.approx(-0.15)
    assert (area.num_cells, area.region, area.last_seen) == (2, "GB", TODAY)
    assert area.avg_cell_radius == round((556 + 0) / 2)
    assert area.created == NOW and area.modified == NOW
    # Centre to the farthest corner of the cells' boxes.
    assert area.radius == round(distance(area.lat, area.lon, 51.50, -0.20))

    # Block both cells: the area loses its cells and is deleted.
    later = NOW + timedelta(days=3)
    stats = apply(engine, "cell", "lte", [cell(53.5, -0.10, cid=1), cell(53.6, -0.2, cid=2)], later)
    assert stats.transitions == {"block": 2}
    with engine.begin() as conn:
        assert recompute_areas(conn, regions, mcc_regions, later) == 1
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(cell_area)).scalar() == 0
    with engine.begin() as conn:
        assert recompute_areas(conn, regions, mcc_regions, later) == 0


def test_recompute_areas_updates_and_keeps_created(engine: Engine) -> None:
    apply(engine, "cell", "lte", [cell(cid=1)])
    with engine.begin() as conn:
        recompute_areas(conn, FakeRegions(), mcc_regions, NOW)
    later = NOW + timedelta(days=1)
    apply(engine, "cell", "lte", [cell(51.52, -0.12, cid=2)], later)
    with engine.begin() as conn:
        recompute_areas(conn, FakeRegions(), mcc_regions, later)
    with engine.connect() as conn:
        area = conn.execute(select(cell_area)).one()
    assert (area.num_cells, area.created, area.modified) == (2, NOW, later)
    assert area.last_seen == later.date()


def test_recompute_areas_limit(engine: Engine) -> None:
    apply(engine, "cell", "lte", [cell(cid=1, lac=lac) for lac in (1, 2, 3)])
    with engine.begin() as conn:
        assert recompute_areas(conn, FakeRegions(), mcc_regions, NOW, limit=2) == 2
    with engine.begin() as conn:
        assert recompute_areas(conn, FakeRegions(), mcc_regions, NOW, limit=2) == 1
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(cell_area)).scalar() == 3


def test_area_region_majority_and_tie(engine: Engine) -> None:
    table = cell_tables["lte"]

    def put(lac: int, cid: int, lon: float, region: str) -> dict[str, Any]:
        lat = 52.0
        return dict(
            cellid=cell_id(3, 901, 1, lac, cid), radio=3, mcc=901, mnc=1, lac=lac, cid=cid,
            lat=lat, lon=lon, max_lat=lat, min_lat=lat, max_lon=lon, min_lon=lon, radius=100,
            region=region, samples=1, source=3, weight=1.0, created=NOW, modified=NOW,
            last_seen=TODAY, block_count=0,
        )  # fmt: skip

    cells = [
        put(1, 1, 7.0, "DE"), put(1, 2, 8.0, "DE"), put(1, 3, 1.0, "GB"),  # majority DE
        put(2, 1, -1.0, "GB"), put(2, 2, 1.0, "DE"),  # tie, centre (52, 0) in GB
        put(3, 1, 1.0, "GB"), put(3, 2, 7.0, "DE"),  # tie, centre (52, 4) in neither: first
        put(4, 1, 0.0, ""), put(4, 2, 0.5, ""),  # no regions: the centre's, among the MCC's
    ]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(table.insert(), cells)
        conn.execute(table.update().where(table.c.region == "").values(region=None))
        conn.execute(
            cell_area_dirty.insert(), [{"areaid": area_id(3, 901, 1, n)} for n in range(1, 5)]
        )
        assert recompute_areas(conn, FakeRegions(), mcc_regions, NOW) == 4
        found = {r.lac: r.region for r in conn.execute(select(cell_area.c.lac, cell_area.c.region))}
    assert found == {1: "DE", 2: "GB", 3: "DE", 4: "GB"}


def test_postgresql_recompute_skips_areas_being_marked(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite has one writer")
    apply(engine, "cell", "lte", [cell()])  # the area is dirty (committed)
    with engine.begin() as conn:
        # Changing the cell again locks the dirty row until this transaction commits, so a
        # concurrent recompute cannot read the old cells and then drop the mark.
        apply_observations(conn, "cell", "lte", [cell(51.51)], FakeRegions(), NOW)
        with engine.connect() as other:
            assert recompute_areas(other, FakeRegions(), mcc_regions, NOW) == 0
            other.rollback()
    with engine.begin() as conn:
        assert recompute_areas(conn, FakeRegions(), mcc_regions, NOW) == 1
        assert conn.execute(select(cell_area.c.lat)).scalar() == pytest.approx(51.505)
