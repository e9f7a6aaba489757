"""The one great-circle distance: scalar, pairwise and numpy forms agree."""

from __future__ import annotations

import math

import numpy as np
import pytest

from netatlas.geo.distance import EARTH_RADIUS, distance, distance_matrix, distances

POINTS = [(51.5, -0.1), (51.5005, -0.1), (48.85, 2.35), (-33.9, 151.2), (0.0, 179.9), (0.0, -179.9)]


def test_one_degree_of_latitude_and_the_same_point() -> None:
    assert distance(0.0, 0.0, 1.0, 0.0) == pytest.approx(111_195, rel=1e-4)
    assert distance(51.5, -0.1, 51.5, -0.1) == 0.0


def test_antipodes_are_half_a_circumference_apart() -> None:
    assert distance(0.0, 0.0, 0.0, 180.0) == pytest.approx(math.pi * EARTH_RADIUS)
    assert distance(90.0, 0.0, -90.0, 0.0) == pytest.approx(math.pi * EARTH_RADIUS)


def test_across_the_antimeridian_is_short() -> None:
    assert distance(0.0, 179.9, 0.0, -179.9) == pytest.approx(22_239, rel=1e-3)


def test_the_matrix_holds_every_pair_and_the_largest() -> None:
    rows, largest = distance_matrix(POINTS)
    for i, a in enumerate(POINTS):
        assert rows[i][i] == 0.0
        for j, b in enumerate(POINTS):
            assert rows[i][j] == rows[j][i] == pytest.approx(distance(*a, *b), abs=1e-6)
    assert largest == max(max(row) for row in rows)


def test_the_numpy_form_agrees_with_the_scalar_one() -> None:
    lat1 = np.array([p[0] for p in POINTS])
    lon1 = np.array([p[1] for p in POINTS])
    lat2, lon2 = lat1[::-1].copy(), lon1[::-1].copy()
    got = distances(lat1, lon1, lat2, lon2)
    want = [distance(a, b, c, d) for a, b, c, d in zip(lat1, lon1, lat2, lon2, strict=True)]
    assert got.tolist() == pytest.approx(want, rel=1e-12, abs=1e-6)
