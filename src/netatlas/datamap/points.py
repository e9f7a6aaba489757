"""From grid cells to drawn points: how many each cell gets, and where they fall.

Ichnaea compatibility (data/datamap.py, scripts/datamap.py): a cell becomes 0 to 13 points,
13 while fresh and one fewer for every 30 days since it was last seen, so recently stumbled
areas draw denser. The points are a pure function of the cell and the point's index, so a
cell draws the same points in every run and tiles only change when the data does.

Privacy: a point lies inside its own 0.001° cell, and the cell key is all the renderer ever
knows (the pipeline rounds positions to it), so no drawn point tells more than the cell. A cell
seen on one day only is held back until ``min_age_hours`` after the end of that day, so the
map never shows where someone went a moment ago.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from netatlas.datamap.grid import MAX_AGE_DAYS, SCALE

MAX_POINTS = 13
DAYS_PER_STEP = 30

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint8]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_LAT0 = 90 * SCALE
_LON0 = 180 * SCALE


def cell_keys(lat_i: npt.ArrayLike, lon_i: npt.ArrayLike) -> U64:
    """One sortable uint64 per cell: the two grid integers side by side."""
    lat = np.asarray(lat_i, dtype=np.uint64)
    lon = np.asarray(lon_i, dtype=np.uint64)
    return (lat << np.uint64(32)) | lon


def split_keys(keys: U64) -> tuple[I64, I64]:
    lat = (keys >> np.uint64(32)).astype(np.int64)
    lon = (keys & np.uint64(0xFFFFFFFF)).astype(np.int64)
    return lat, lon


def point_counts(
    created: I64,
    modified: I64,
    *,
    today: int,
    now: float,
    min_age_hours: float,
) -> U8:
    """Points to draw per cell; dates are days since 1970-01-01, ``now`` is seconds since then.

    ``round(age / 30)`` steps are counted half up: ages 0-14 days draw 13 points, 15-44 draw 12,
    and so on down to 1 point in the last days before the cell expires.
    """
    age = np.maximum(today - modified, 0)
    steps = (age + DAYS_PER_STEP // 2) // DAYS_PER_STEP
    counts: I64 = np.clip(MAX_POINTS - steps, 0, MAX_POINTS)
    counts[age > MAX_AGE_DAYS] = 0
    shown_from = (created + 1) * 86400 + min_age_hours * 3600
    counts[(created == modified) & (shown_from > now)] = 0
    return counts.astype(np.uint8)


def _mix(z: U64) -> U64:
    """splitmix64's finaliser: every input bit flips about half of the output bits."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def expand(
    keys: U64, counts: npt.NDArray[np.integer], first: npt.NDArray[np.integer] | None = None
) -> tuple[U64, U64]:
    """Each cell key repeated ``count`` times, with the point's index within its cell
    (counting from ``first``, else from 0)."""
    reps = np.repeat(keys, counts)
    starts = np.repeat(np.cumsum(counts, dtype=np.int64) - counts, counts)
    index = np.arange(reps.size, dtype=np.int64) - starts
    if first is not None:
        index += np.repeat(first.astype(np.int64), counts)
    return reps, index.astype(np.uint64)


def jitter(keys: U64, index: U64) -> tuple[F64, F64]:
    """Latitude and longitude of point ``index`` of each cell: inside the cell, stable forever.

    The offsets are the ``index``-th output of a splitmix64 stream seeded by the cell key, so
    point k of a cell is the same whatever the cell's count, and fewer points are a prefix of
    more points.
    """
    h = _mix(_mix(keys) + (index + np.uint64(1)) * _GOLDEN)
    # Two 24-bit fractions in [0, 1), shifted to [-0.5, 0.5) of a cell.
    dy = (h >> np.uint64(40)).astype(np.float64) / (1 << 24) - 0.5
    dx = ((h >> np.uint64(16)) & np.uint64(0xFFFFFF)).astype(np.float64) / (1 << 24) - 0.5
    lat_i, lon_i = split_keys(keys)
    lat = (lat_i - _LAT0 + dy) / SCALE
    lon = (lon_i - _LON0 + dx) / SCALE
    return lat, lon
