"""Datamap grid cells: 0.001° squares keyed by two scaled integers, in four quadrant tables."""

from __future__ import annotations

import struct
from collections.abc import Iterable

SCALE = 1000
MAX_AGE_DAYS = 365  # cells unseen for longer are drawn no more and removed by cleanup_datamap
_GRID = struct.Struct(">II")
# Quadrants split at 36°N and 5°E, which halves populated land (Ichnaea compatibility).
SPLIT_LAT = 36 * SCALE + 90 * SCALE
SPLIT_LON = 5 * SCALE + 180 * SCALE


def grid_of(lat: float, lon: float) -> tuple[int, int]:
    return round(lat * SCALE) + 90 * SCALE, round(lon * SCALE) + 180 * SCALE


def quadrant(lat_i: int, lon_i: int) -> str:
    return ("n" if lat_i >= SPLIT_LAT else "s") + ("e" if lon_i >= SPLIT_LON else "w")


def grid_items(positions: Iterable[tuple[float, float]]) -> dict[str, list[bytes]]:
    """Distinct grid keys of the positions: one packed chunk per datamap queue."""
    seen: set[tuple[int, int]] = set()
    out: dict[str, list[bytes]] = {}
    for lat, lon in positions:
        key = grid_of(lat, lon)
        if key in seen:
            continue
        seen.add(key)
        out.setdefault("update_datamap_" + quadrant(*key), []).append(_GRID.pack(*key))
    return {name: [b"".join(keys)] for name, keys in out.items()}


def decode_chunk(value: bytes) -> list[bytes]:
    """The 8-byte grid keys packed in one queue item."""
    return [value[i : i + 8] for i in range(0, len(value), 8)]


def decode_grid(value: bytes) -> tuple[int, int]:
    lat_i, lon_i = _GRID.unpack(value)
    return lat_i, lon_i
