"""Where the coverage map has tiles: the bounding box of the deepest zoom level of the local
tile store, so the coverage page opens on the mapped area rather than the whole country.

The box is read from the directory names (``z/x/y.png``) and kept until the store's
``data.json`` changes (every tile run rewrites it). A store in S3 has no local directory:
no box, and the page falls back to the countries.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

from netatlas.settings import Settings
from netatlas.storage.tiles import DATA_JSON, local_tile_dir

__all__ = ["tile_bounds"]

Bounds = tuple[float, float, float, float]  # west, south, east, north


def _lat(y: int, z: int) -> float:
    n = math.pi - 2 * math.pi * y / (1 << z)
    return math.degrees(math.atan(math.sinh(n)))


@functools.lru_cache(maxsize=8)
def _scan(root: Path, stamp: float) -> Bounds | None:
    zooms = sorted((int(p.name) for p in root.iterdir() if p.name.isdigit()), reverse=True)
    for z in zooms:
        xs: list[int] = []
        ys: list[int] = []
        for column in (root / str(z)).iterdir():
            if not column.name.isdigit():
                continue
            rows = [int(f.name[:-4]) for f in column.iterdir() if f.name[:-4].isdigit()]
            if rows:
                xs.append(int(column.name))
                ys.extend((min(rows), max(rows)))
        if xs:
            size = 1 << z
            return (
                min(xs) / size * 360 - 180,
                _lat(max(ys) + 1, z),
                (max(xs) + 1) / size * 360 - 180,
                _lat(min(ys), z),
            )
    return None


def tile_bounds(settings: Settings) -> Bounds | None:
    """The box round the local store's deepest tiles, or None (no local store, no tiles)."""
    root = local_tile_dir(settings)
    if root is None:
        return None
    try:
        stamp = (root / DATA_JSON).stat().st_mtime
        return _scan(root, stamp)
    except OSError:
        return None
