"""Pixels of the Web Mercator tile pyramid, kept as sorted Morton (Z-order) keys.

A pixel's key interleaves the bits of its global x (even bits) and y (odd bits). Shifting a
key right by two gives the pixel containing it one zoom level out, and shifting by sixteen gives
its 256 px tile, so a sorted key array stays sorted through every zoom level and each tile is
one contiguous run of it: one sort at the deepest zoom serves the whole pyramid.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from netatlas.datamap.points import F64, U64

MAX_LAT = 85.0511287798  # Web Mercator's square world
TILE_BITS = 8
TILE = 1 << TILE_BITS

U32 = npt.NDArray[np.uint32]

_SPREAD = (
    (16, 0x0000FFFF0000FFFF),
    (8, 0x00FF00FF00FF00FF),
    (4, 0x0F0F0F0F0F0F0F0F),
    (2, 0x3333333333333333),
    (1, 0x5555555555555555),
)


def _spread(v: U64) -> U64:
    for shift, mask in _SPREAD:
        v = (v | (v << np.uint64(shift))) & np.uint64(mask)
    return v


_COMPACT = (
    (1, 0x3333333333333333),
    (2, 0x0F0F0F0F0F0F0F0F),
    (4, 0x00FF00FF00FF00FF),
    (8, 0x0000FFFF0000FFFF),
    (16, 0x00000000FFFFFFFF),
)


def _compact(v: U64) -> U64:
    v = v & np.uint64(0x5555555555555555)
    for shift, mask in _COMPACT:
        v = (v | (v >> np.uint64(shift))) & np.uint64(mask)
    return v


def interleave(x: U64, y: U64) -> U64:
    return _spread(x) | (_spread(y) << np.uint64(1))


def deinterleave(keys: U64) -> tuple[U64, U64]:
    return _compact(keys), _compact(keys >> np.uint64(1))


# Position inside a tile (row * 256 + column) of each 16-bit in-tile key.
_IN_TILE = np.arange(1 << (2 * TILE_BITS), dtype=np.uint64)
_IN_TILE_X, _IN_TILE_Y = deinterleave(_IN_TILE)
IN_TILE_OFFSET = (_IN_TILE_Y * np.uint64(TILE) + _IN_TILE_X).astype(np.int64)


def project(lat: F64, lon: F64, zoom: int) -> U64:
    """Morton keys of the pixels at ``zoom`` that contain the points."""
    world = float(TILE << zoom)
    x = (lon + 180.0) / 360.0 * world
    phi = np.radians(np.clip(lat, -MAX_LAT, MAX_LAT))
    y = (0.5 - np.arcsinh(np.tan(phi)) / (2 * math.pi)) * world
    top = world - 1
    xi = np.clip(x, 0, top).astype(np.uint64)
    yi = np.clip(y, 0, top).astype(np.uint64)
    return interleave(xi, yi)


def count_sorted(keys: U64, weights: U32 | None = None) -> tuple[U64, U32]:
    """Distinct keys of a sorted array and how many (or how much weight) each had."""
    if keys.size == 0:
        return keys, np.zeros(0, dtype=np.uint32)
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    if weights is None:
        counts = np.diff(np.append(starts, keys.size)).astype(np.uint32)
    else:
        counts = np.add.reduceat(weights, starts).astype(np.uint32)
    return keys[starts], counts


def merge_counts(parts: list[tuple[U64, U32]]) -> tuple[U64, U32]:
    """Add up several (keys, counts) pairs, each sorted, into one sorted pair."""
    if not parts:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.uint32)
    keys = np.concatenate([k for k, _ in parts])
    weights = np.concatenate([c for _, c in parts])
    # A stable sort finds the sorted runs and merges them instead of sorting from scratch.
    order = np.argsort(keys, kind="stable")
    return count_sorted(keys[order], weights[order])


def zoom_out(keys: U64, counts: U32) -> tuple[U64, U32]:
    """The pixels one zoom level out: four pixels become one, their counts added."""
    return count_sorted(keys >> np.uint64(2), counts)


@dataclass(frozen=True)
class TileRun:
    """The pixels of one tile: a slice of its zoom level's sorted key array."""

    x: int
    y: int
    start: int
    stop: int


def tile_runs(keys: U64, only: U64 | None = None) -> Iterator[TileRun]:
    """The tiles of one zoom level's sorted pixel keys; ``only``: just these tile keys."""
    tiles = keys >> np.uint64(2 * TILE_BITS)
    if tiles.size == 0:
        return
    starts = np.flatnonzero(np.concatenate(([True], tiles[1:] != tiles[:-1])))
    stops = np.append(starts[1:], tiles.size)
    firsts = tiles[starts]
    if only is not None:
        keep = np.isin(firsts, only)
        starts, stops, firsts = starts[keep], stops[keep], firsts[keep]
    xs, ys = deinterleave(firsts)
    for x, y, a, b in zip(xs.tolist(), ys.tolist(), starts.tolist(), stops.tolist(), strict=True):
        yield TileRun(x, y, a, b)


def tile_keys(x: npt.ArrayLike, y: npt.ArrayLike) -> U64:
    """Morton keys of tiles (the pixel keys of a zoom level shifted right by sixteen)."""
    return interleave(np.asarray(x, dtype=np.uint64), np.asarray(y, dtype=np.uint64))


def pixel_latitudes(keys: U64, zoom: int) -> F64:
    """Latitude of each pixel's centre row."""
    _, y = deinterleave(keys)
    world = float(TILE << zoom)
    merc = math.pi * (1.0 - 2.0 * (y.astype(np.float64) + 0.5) / world)
    return np.degrees(np.arctan(np.sinh(merc)))
