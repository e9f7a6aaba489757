"""Great-circle distances on the mean-radius sphere (haversine): the one implementation.

* :func:`distance` - one pair of points, plain floats (hot loops call it: the ``math``
  functions are bound to module names once);
* :func:`distance_matrix` - every pair of a few points, with the largest distance;
* :func:`distances` - element-wise over numpy arrays.

All take and give degrees in, metres out; latitudes before longitudes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = ["EARTH_RADIUS", "distance", "distance_matrix", "distances"]

EARTH_RADIUS: Final = 6_371_008.8  # mean radius, metres

F64 = npt.NDArray[np.float64]

_radians = math.radians
_sin = math.sin
_cos = math.cos
_asin = math.asin
_sqrt = math.sqrt
_TWO_R: Final = 2.0 * EARTH_RADIUS


def distance(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two points."""
    p1 = _radians(lat1)
    p2 = _radians(lat2)
    s1 = _sin((p2 - p1) * 0.5)
    s2 = _sin(_radians(lon2 - lon1) * 0.5)
    a = s1 * s1 + _cos(p1) * _cos(p2) * s2 * s2
    return _TWO_R * _asin(_sqrt(a if a < 1.0 else 1.0))


def distance_matrix(points: Sequence[tuple[float, float]]) -> tuple[list[list[float]], float]:
    """Pairwise distances of ``points`` (lat, lon) as a full symmetric matrix, and the largest."""
    n = len(points)
    phis = [_radians(lat) for lat, _ in points]
    lams = [_radians(lon) for _, lon in points]
    coss = [_cos(p) for p in phis]
    rows = [[0.0] * n for _ in range(n)]
    largest = 0.0
    for i in range(n):
        pi, li, ci, row = phis[i], lams[i], coss[i], rows[i]
        for j in range(i + 1, n):
            s1 = _sin((phis[j] - pi) * 0.5)
            s2 = _sin((lams[j] - li) * 0.5)
            a = s1 * s1 + ci * coss[j] * s2 * s2
            d = _TWO_R * _asin(_sqrt(a if a < 1.0 else 1.0))
            row[j] = d
            rows[j][i] = d
            if d > largest:
                largest = d
    return rows, largest


def distances(lat1: F64, lon1: F64, lat2: F64, lon2: F64) -> F64:
    """Element-wise great-circle distances in metres (the arrays broadcast)."""
    p1 = np.radians(lat1)
    p2 = np.radians(lat2)
    s1 = np.sin((p2 - p1) * 0.5)
    s2 = np.sin(np.radians(lon2 - lon1) * 0.5)
    a = s1 * s1 + np.cos(p1) * np.cos(p2) * s2 * s2
    result: F64 = _TWO_R * np.arcsin(np.sqrt(np.minimum(a, 1.0)))
    return result
