"""Distances and complete-linkage clustering of found stations (reference/ichnaea.md 4.4).

A query's networks normally all sit within a few hundred metres of each other. When some do not
(an access point that moved with its owner, a phone hotspot, stale data), the found stations are
split into clusters by complete-linkage agglomerative clustering: two groups are joined only if
*every* pair of stations across them is within the threshold (500 m WiFi, 100 m Bluetooth), so a
cluster's diameter never exceeds the threshold. Clusters with fewer than two stations are dropped
(privacy: a single network must never reveal a position).

The clustering is the nearest-neighbour-chain algorithm, O(n²) for n stations: complete linkage
is *reducible* (merging two clusters never brings a third one closer), so following chains of
nearest neighbours finds the same merges as the naive O(n³) search. Merges above the threshold
are never made, which lets a chain whose head's nearest neighbour is too far be retired whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from netatlas.geo.distance import EARTH_RADIUS, distance, distance_matrix

__all__ = ["EARTH_RADIUS", "clusters", "distance"]  # distance and EARTH_RADIUS: re-exported

_INF: Final = float("inf")


def clusters(
    points: Sequence[tuple[float, float]], threshold: float, min_size: int = 2
) -> list[list[int]]:
    """Complete-linkage clusters of ``points`` (lat, lon) whose diameter is at most ``threshold``.

    Returns lists of indexes into ``points``, only for clusters of at least ``min_size`` members,
    largest cluster first (ties: the one holding the lowest index first).
    """
    n = len(points)
    if n < min_size:
        return []
    if n == 1:
        return [[0]]
    # Fast path (the usual case): the bounding box is small enough that no pair can be farther
    # apart than the threshold (with a margin for the box's curvature).
    lats = [p[0] for p in points]
    lons = [p[1] for p in points]
    south, north, west, east = min(lats), max(lats), min(lons), max(lons)
    diagonal = max(distance(south, west, north, east), distance(south, east, north, west))
    if diagonal <= threshold * 0.999:
        return [list(range(n))]
    dist, largest = distance_matrix(points)
    if largest <= threshold:
        return [list(range(n))]
    members: list[list[int]] = [[i] for i in range(n)]
    active = set(range(n))
    done: list[list[int]] = []
    chain: list[int] = []
    while active:
        if len(active) == 1:
            done.append(members[active.pop()])
            break
        if not chain:
            chain.append(min(active))
        head = chain[-1]
        row = dist[head]
        previous = chain[-2] if len(chain) > 1 else -1
        best, best_d = previous, row[previous] if previous >= 0 else _INF
        for k in active:
            if k != head and row[k] < best_d:
                best, best_d = k, row[k]
        if best_d > threshold:
            # Nothing is close enough to the head, and distances along a chain only shrink:
            # every cluster on the chain is final.
            for c in chain:
                active.discard(c)
                done.append(members[c])
            chain.clear()
            continue
        if best == previous:
            chain.pop()
            chain.pop()
            # Merge `previous` into `head`: complete linkage keeps the larger distance.
            other = dist[previous]
            for k in active:
                if other[k] > row[k]:
                    row[k] = other[k]
                    dist[k][head] = other[k]
            members[head].extend(members[previous])
            active.discard(previous)
        else:
            chain.append(best)
    kept = [sorted(m) for m in done if len(m) >= min_size]
    kept.sort(key=lambda m: (-len(m), m[0]))
    return kept
