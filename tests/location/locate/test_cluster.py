"""Complete-linkage clustering and distances."""

from __future__ import annotations

import itertools
import random

import pytest

from netatlas.location.locate.cluster import clusters, distance


def naive(points: list[tuple[float, float]], threshold: float) -> list[list[int]]:
    groups = [[i] for i in range(len(points))]

    def linkage(a: list[int], b: list[int]) -> float:
        return max(distance(*points[i], *points[j]) for i in a for j in b)

    while len(groups) > 1:
        d, a, b = min(
            (linkage(groups[a], groups[b]), a, b)
            for a, b in itertools.combinations(range(len(groups)), 2)
        )
        if d > threshold:
            break
        groups[a] += groups.pop(b)
    return sorted(sorted(g) for g in groups if len(g) >= 2)


def test_distance() -> None:
    assert distance(51.5, -0.1, 51.5, -0.1) == 0.0
    assert distance(0.0, 0.0, 1.0, 0.0) == pytest.approx(111_195, rel=1e-4)
    assert distance(51.5, -0.1, 52.5, -0.1) == pytest.approx(111_195, rel=1e-4)


def test_small_inputs() -> None:
    assert clusters([], 500) == []
    assert clusters([(51.5, -0.1)], 500) == []
    assert clusters([(51.5, -0.1)], 500, min_size=1) == [[0]]
    assert clusters([(51.5, -0.1), (51.501, -0.1)], 500) == [[0, 1]]
    assert clusters([(51.5, -0.1), (52.5, -0.1)], 500) == []


def test_complete_linkage_splits_a_chain() -> None:
    # 0-1 and 1-2 are 300 m apart, but 0-2 are 600 m: not one cluster of diameter <= 500 m.
    step = 300 / 111_195
    points = [(51.5, -0.1), (51.5 + step, -0.1), (51.5 + 2 * step, -0.1)]
    assert clusters(points, 500) in ([[0, 1]], [[1, 2]])


@pytest.mark.parametrize("seed", range(40))
def test_same_as_naive(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randrange(2, 30)
    points = [(51.5 + rng.gauss(0, 0.004), -0.1 + rng.gauss(0, 0.006)) for _ in range(n)]
    assert sorted(clusters(points, 500)) == naive(points, 500)


def test_largest_cluster_first() -> None:
    far = [(10.0, 10.0), (10.0, 10.0001)]
    near = [(51.5, -0.1), (51.5001, -0.1), (51.5002, -0.1)]
    assert clusters(far + near, 100) == [[2, 3, 4], [0, 1]]
