"""The station updater's pure decisions: transitions, blocking, aggregation and merging."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import msgspec
import pytest

from netatlas.location.stations import rules as logic
from netatlas.location.stations.observations import CellObservation, Observation, WifiObservation
from netatlas.location.stations.rules import (
    BLOCK,
    BLOCKED,
    CHANGE,
    CONFIRM,
    MAX_DIST,
    NEW,
    NEW_BLOCK,
    NOTHING,
    REPLACE,
    Station,
    aggregate,
    decide,
    distance,
    is_blocked,
)

NOW = datetime(2025, 6, 1, 12, 0, 0)
TODAY = NOW.date()
GNSS = 3
QUERY = 9
WIFI = MAX_DIST["wifi"]


def wifi(
    lat: float = 51.5, lon: float = -0.12, source: int = GNSS, weight: float = 1.0
) -> WifiObservation:
    return WifiObservation("a0b1c2d3e4f5", lat, lon, 10.0, 0, 1.0, -70, None, source, weight)


def always(_lat: float, _lon: float, _code: str) -> bool:
    return True


def never(_lat: float, _lon: float, _code: str) -> bool:
    return False


def station(
    lat: float | None = 51.5,
    lon: float | None = -0.12,
    *,
    source: int | None = GNSS,
    weight: float | None = 10.0,
    samples: int | None = 10,
    created: datetime = NOW - timedelta(days=100),
    modified: datetime | None = None,
    last_seen: date | None = None,
    block_last: date | None = None,
    block_count: int | None = 0,
    region: str | None = "GB",
) -> Station:
    positioned = lat is not None and lon is not None
    return Station(
        lat=lat,
        lon=lon,
        max_lat=lat,
        min_lat=lat,
        max_lon=lon,
        min_lon=lon,
        radius=0 if positioned else None,
        region=region,
        samples=samples if positioned else None,
        source=source if positioned else None,
        weight=weight if positioned else None,
        created=created,
        modified=modified or created,
        last_seen=last_seen or (TODAY - timedelta(days=3)),
        block_first=block_last,
        block_last=block_last,
        block_count=block_count,
    )


def run(st: Station | None, *obs: Observation, in_region: object = always) -> logic.Decision:
    return decide(st, list(obs), WIFI, NOW, in_region)  # type: ignore[arg-type]


# --- distance and aggregation -----------------------------------------------------------------


def test_distance_one_degree_of_latitude() -> None:
    assert distance(0.0, 0.0, 1.0, 0.0) == pytest.approx(111_195, rel=1e-4)
    assert distance(51.5, -0.12, 51.5, -0.12) == 0.0


def test_aggregate_weighted_centre_and_radius() -> None:
    agg = aggregate([wifi(51.500, 0.0, weight=3.0), wifi(51.504, 0.0, weight=1.0)], WIFI)
    assert agg is not None
    assert agg.lat == pytest.approx(51.501)
    assert agg.lon == pytest.approx(0.0)
    assert (agg.min_lat, agg.max_lat) == (51.500, 51.504)
    assert agg.samples == 2
    assert agg.weight == 4.0
    assert agg.radius == round(distance(agg.lat, 0.0, 51.504, 0.0))  # farthest corner, ~333 m


def test_aggregate_inconsistent_when_bbox_wider_than_max_dist() -> None:
    assert aggregate([wifi(51.5, 0.0), wifi(51.56, 0.0)], WIFI) is None  # ~6.7 km
    assert aggregate([wifi(51.5, 0.0), wifi(51.56, 0.0)], MAX_DIST["cell"]) is not None


def test_corner_radius_picks_the_farthest_corner() -> None:
    brute = max(
        distance(10.0, 20.0, a, b) for a in (9.0, 10.5) for b in (19.9, 21.0)
    )  # corners of max_lat 10.5, min_lat 9.0, max_lon 21.0, min_lon 19.9
    assert logic.corner_radius(10.0, 20.0, 10.5, 9.0, 21.0, 19.9) == round(brute)


def test_gnss_observations_win_over_query_ones() -> None:
    chosen, source = logic.split_sources([wifi(source=QUERY), wifi(source=6), wifi(source=0)])
    assert source == GNSS and [o.source for o in chosen] == [6, 0]
    chosen, source = logic.split_sources([wifi(source=QUERY)])
    assert source == QUERY and len(chosen) == 1


# --- transitions ------------------------------------------------------------------------------


def test_new() -> None:
    d = run(None, wifi(51.5, -0.12), wifi(51.501, -0.12))
    assert d.transition == NEW and d.lookup_region
    assert d.station is not None
    assert d.station.lat == pytest.approx(51.5005)
    assert d.station.samples == 2 and d.station.source == GNSS
    assert d.station.created == d.station.modified == NOW
    assert d.station.last_seen == TODAY
    assert d.station.block_count == 0


def test_new_from_query_keeps_query_source() -> None:
    d = run(None, wifi(source=QUERY))
    assert d.transition == NEW and d.station is not None and d.station.source == QUERY


def test_new_block_when_first_observations_are_inconsistent() -> None:
    d = run(None, wifi(51.5, 0.0), wifi(51.6, 0.0))  # 11 km apart > WiFi MAX_DIST 5 km
    assert d.transition == NEW_BLOCK and not d.lookup_region
    st = d.station
    assert st is not None
    assert st.lat is None and st.samples is None
    assert (st.block_first, st.block_last, st.block_count) == (TODAY, TODAY, 1)
    assert st.created == NOW


def test_confirm_query_agreeing_with_gnss_station() -> None:
    d = run(station(), wifi(51.5001, -0.12, source=QUERY))
    assert d.transition == CONFIRM
    assert d.station is not None and d.station.last_seen == TODAY
    assert d.station.lat == 51.5 and d.station.samples == 10  # nothing else moves


def test_confirm_already_seen_today_writes_nothing() -> None:
    d = run(station(last_seen=TODAY), wifi(source=QUERY))
    assert d == (CONFIRM, None, False)


def test_change_merges_gnss_into_gnss_station() -> None:
    st = station(51.5, 0.0, weight=3.0, samples=3)
    d = run(st, wifi(51.504, 0.0, weight=1.0))
    assert d.transition == CHANGE and not d.lookup_region  # still inside its region
    new = d.station
    assert new is not None
    assert new.lat is not None and new.lat == pytest.approx(51.501)
    assert (new.min_lat, new.max_lat) == (51.5, 51.504)
    assert new.samples == 4 and new.weight == 4.0
    assert new.modified == NOW and new.last_seen == TODAY and new.created == st.created
    assert new.radius == round(distance(new.lat, 0.0, 51.504, 0.0))
    assert new.region == "GB"


def test_change_query_into_query_station() -> None:
    d = run(station(source=QUERY), wifi(51.5001, -0.12, source=QUERY))
    assert d.transition == CHANGE and d.station is not None and d.station.source == QUERY


def test_change_caps_the_old_weight() -> None:
    st = station(50.0, 0.0, weight=1e6, samples=1_000_000)
    d = run(st, wifi(50.01, 0.0, weight=10_000.0))  # 1.1 km away: agrees
    assert d.transition == CHANGE and d.station is not None
    # Old weight counts as 10,000, not 1,000,000: the centre moves half-way.
    assert d.station.lat == pytest.approx(50.005)
    assert d.station.weight == 1e6 + 10_000.0
    assert d.station.samples == 1_000_001


def test_change_caps_samples_and_weight() -> None:
    st = station(weight=1e9, samples=2**32 - 1)
    d = run(st, wifi())
    assert d.station is not None
    assert d.station.samples == 2**32 - 1 and d.station.weight == 1e9


def test_change_looks_up_region_when_centre_leaves_it() -> None:
    d = run(station(), wifi(51.5001, -0.12), in_region=never)
    assert d.transition == CHANGE and d.lookup_region


def test_change_of_positionless_station() -> None:
    st = station(None, None, block_last=TODAY - timedelta(days=10), block_count=1,
                 created=NOW - timedelta(days=400))  # fmt: skip
    d = run(st, wifi(51.5, 0.1))
    assert d.transition == CHANGE and d.station is not None
    assert (d.station.lat, d.station.lon, d.station.samples) == (51.5, 0.1, 1)
    assert d.station.block_count == 1  # history kept


def test_replace_gnss_upgrades_query_station() -> None:
    st = station(source=QUERY, weight=50.0, samples=50)
    d = run(st, wifi(51.5002, -0.12))
    assert d.transition == REPLACE and d.lookup_region
    assert d.station is not None
    assert (d.station.lat, d.station.samples, d.station.weight) == (51.5002, 1, 1.0)
    assert d.station.source == GNSS and d.station.created == st.created


def test_replace_disagreeing_station_older_than_a_year() -> None:
    old = NOW - timedelta(days=366)
    d = run(station(created=old, modified=old), wifi(52.0, 1.0))
    assert d.transition == REPLACE and d.station is not None and d.station.lat == 52.0


def test_block_when_recent_station_disagrees() -> None:
    # A WiFi AP moved 10 km: blocked.
    st = station(51.5, 0.0, created=NOW - timedelta(days=300), modified=NOW - timedelta(days=5))
    d = run(st, wifi(51.5 + 10_000 / 111_195, 0.0))
    assert d.transition == BLOCK
    new = d.station
    assert new is not None
    assert new.lat is None and new.max_lat is None and new.radius is None
    assert new.samples is None and new.source is None and new.weight is None
    assert new.last_seen is None
    assert new.region == "GB"  # kept
    assert (new.block_first, new.block_last, new.block_count) == (TODAY, TODAY, 1)
    assert new.modified == NOW


def test_block_when_new_observations_are_inconsistent() -> None:
    d = run(station(), wifi(51.5, -0.12), wifi(51.6, -0.12))
    assert d.transition == BLOCK


def test_nothing_for_positionless_station_and_inconsistent_observations() -> None:
    st = station(None, None, block_last=TODAY - timedelta(days=10), block_count=1,
                 created=NOW - timedelta(days=400))  # fmt: skip
    assert run(st, wifi(51.5, 0.0), wifi(51.6, 0.0)) == (NOTHING, None, False)


def test_blocked_station_ignores_observations() -> None:
    st = station(None, None, block_last=TODAY - timedelta(days=1), block_count=1,
                 created=NOW - timedelta(days=700))  # fmt: skip
    assert run(st, wifi()) == (BLOCKED, None, False)


def test_cell_uses_its_own_max_dist() -> None:
    cell = CellObservation(
        "lte", 234, 10, 1, 2, None, 51.5, 0.5, None, None, None, None, None, None, GNSS, 1.0
    )
    st = station(51.5, 0.0)  # 35 km away: fine for a cell, a move for a WiFi
    assert decide(st, [cell], MAX_DIST["cell"], NOW, always).transition == CHANGE
    assert decide(st, [cell], WIFI, NOW, always).transition == BLOCK


# --- blocking rules ---------------------------------------------------------------------------


def test_temporary_block_lasts_two_days() -> None:
    st = station(None, None, created=NOW - timedelta(days=730), block_count=1,
                 block_last=TODAY)  # fmt: skip
    assert is_blocked(st, TODAY)
    assert is_blocked(st, TODAY + timedelta(days=1))
    # A two-year-old station blocked once is free after the 2-day window.
    assert not is_blocked(st, TODAY + timedelta(days=2))


def test_long_term_block_first_seen_inconsistent() -> None:
    created = NOW
    st = station(None, None, created=created, block_count=1, block_last=created.date())
    # One block per 30 days: round(44/30) = 1 <= 1 block → still blocked; round(45/30) = 2.
    assert is_blocked(st, created.date() + timedelta(days=10))
    assert is_blocked(st, created.date() + timedelta(days=44))
    assert not is_blocked(st, created.date() + timedelta(days=45))


def test_long_term_block_uses_python_rounding() -> None:
    created = NOW
    st = station(None, None, created=created, block_count=2,
                 block_last=created.date())  # fmt: skip
    # 75 / 30 = 2.5 rounds to 2 (banker's rounding) → 2 blocks still block.
    assert is_blocked(st, created.date() + timedelta(days=75))
    assert not is_blocked(st, created.date() + timedelta(days=76))


def test_year_old_station_blocked_twelve_times_stays_blocked() -> None:
    st = station(None, None, created=NOW - timedelta(days=365), block_count=12,
                 block_last=TODAY - timedelta(days=20))  # fmt: skip
    assert is_blocked(st, TODAY)


def test_never_blocked_young_station_is_not_blocked() -> None:
    assert not is_blocked(station(created=NOW, block_count=0), TODAY)
    assert not is_blocked(station(created=NOW, block_count=None), TODAY)


# --- moves shorter than MAX_DIST ------------------------------------------------------------

MOVE = 150.0


def north(metres: float) -> float:
    return 51.5 + metres / 111_195


def test_batch_centred_beyond_move_distance_and_radius_restarts_the_station() -> None:
    st = station(weight=50.0, samples=30)
    d = decide(st, [wifi(north(500)), wifi(north(540))], WIFI, NOW, always, MOVE)
    assert d.transition == logic.MOVE and d.lookup_region
    assert d.station is not None and d.station.lat == pytest.approx(north(520))
    assert (d.station.samples, d.station.weight, d.station.source) == (2, 2.0, GNSS)
    assert d.station.created == st.created and d.station.block_count == 0


def test_no_move_without_move_distance_single_fix_or_within_radius() -> None:
    obs = [wifi(north(500)), wifi(north(540))]
    assert decide(station(), obs, WIFI, NOW, always).transition == CHANGE  # disabled (cells)
    assert decide(station(), obs[:1], WIFI, NOW, always, MOVE).transition == CHANGE
    wide = msgspec.structs.replace(station(), radius=800)  # heard up to 800 m away before
    assert decide(wide, obs, WIFI, NOW, always, MOVE).transition == CHANGE
    assert (
        decide(station(), [wifi(north(100)), wifi(north(140))], WIFI, NOW, always, MOVE)[0]
        == CHANGE
    )


def test_query_observations_never_move_a_station() -> None:
    obs = [wifi(north(500), source=QUERY), wifi(north(540), source=QUERY)]
    assert decide(station(), obs, WIFI, NOW, always, MOVE).transition == CONFIRM
