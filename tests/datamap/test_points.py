"""Point counts per cell (age, expiry, privacy delay) and the deterministic jitter."""

from __future__ import annotations

import numpy as np

from netatlas.datamap.grid import SCALE, grid_of
from netatlas.datamap.points import (
    MAX_POINTS,
    cell_keys,
    expand,
    jitter,
    point_counts,
    split_keys,
)

TODAY = 20_000  # days since 1970-01-01
NOON = TODAY * 86400 + 12 * 3600


def counts(
    created: list[int], modified: list[int], now: float = NOON, hours: float = 24
) -> list[int]:
    out = point_counts(
        np.array(created), np.array(modified), today=TODAY, now=now, min_age_hours=hours
    )
    return [int(c) for c in out]


def test_fresher_cells_draw_more_points() -> None:
    ages = [0, 14, 15, 44, 45, 180, 344, 345, 365, 366, 1000]
    got = counts([TODAY - 1000] * len(ages), [TODAY - a for a in ages])
    assert got == [13, 13, 12, 12, 11, 7, 2, 1, 1, 0, 0]


def test_a_cell_seen_on_one_day_waits_out_the_delay() -> None:
    day = TODAY - 1
    end_of_day = (day + 1) * 86400
    hidden = end_of_day + 24 * 3600 - 1
    shown = end_of_day + 24 * 3600
    assert counts([day], [day], now=hidden) == [0]
    assert counts([day], [day], now=shown) == [MAX_POINTS]
    # Seen on a second day: drawn at once; and the delay is a setting.
    assert counts([day - 1], [day], now=hidden) == [MAX_POINTS]
    assert counts([TODAY], [TODAY], now=NOON, hours=0) == [0]
    assert counts([TODAY - 1], [TODAY - 1], now=TODAY * 86400, hours=0) == [MAX_POINTS]


def test_points_stay_inside_their_cell() -> None:
    rng = np.random.default_rng(7)
    lat = rng.uniform(-85, 85, 2000)
    lon = rng.uniform(-180, 180, 2000)
    grids = np.array([grid_of(a, b) for a, b in zip(lat, lon, strict=True)])
    keys = cell_keys(grids[:, 0], grids[:, 1])
    reps, index = expand(keys, np.full(keys.size, MAX_POINTS, dtype=np.uint8))
    plat, plon = jitter(reps, index)
    lat_i, lon_i = split_keys(reps)
    # The cell of each point is the cell it was drawn for: the grid rounds it back there.
    assert np.array_equal(np.round(plat * SCALE) + 90 * SCALE, lat_i)
    assert np.array_equal(np.round(plon * SCALE) + 180 * SCALE, lon_i)
    assert np.abs(plat * SCALE - (lat_i - 90 * SCALE)).max() <= 0.5
    # Spread over the cell, not piled up.
    offsets = plat * SCALE - (lat_i - 90 * SCALE)
    assert offsets.std() > 0.25


def test_jitter_is_stable_and_fewer_points_are_a_prefix() -> None:
    keys = cell_keys([142_520, 142_521], [193_405, 193_405])
    many = jitter(*expand(keys, np.array([13, 13])))
    again = jitter(*expand(keys, np.array([13, 13])))
    few = jitter(*expand(keys, np.array([4, 0])))
    assert np.array_equal(many[0], again[0]) and np.array_equal(many[1], again[1])
    assert np.array_equal(few[0], many[0][:4]) and np.array_equal(few[1], many[1][:4])
    # Neighbouring cells do not repeat each other's pattern.
    assert not np.allclose(many[1][:13], many[1][13:])
