"""The coarse grid of a dump: cells of about ``size`` × ``size`` metres.

Rows are bands of equal latitude step (``size`` metres north-south); each band is cut into
columns of ``size`` metres east-west measured at the band's middle latitude. A published
station's place is the centre of its cell, so the dump says only "somewhere in this cell":
at most ``size / sqrt(2)`` metres (half the diagonal) from the stored position, and about
``size / 2.6`` on average.
"""

from __future__ import annotations

import math
from typing import Final

from netatlas.geo.distance import EARTH_RADIUS

__all__ = ["Cell", "cell_centre", "cell_of"]

M_PER_DEG: Final = EARTH_RADIUS * math.pi / 180.0
_MIN_COS: Final = 0.01  # bands next to the poles are not narrower than this

Cell = tuple[int, int]  # (row, column)


def _band(row: int, size: float) -> tuple[float, float]:
    """(middle latitude, longitude step) of a row."""
    dlat = size / M_PER_DEG
    middle = -90.0 + (row + 0.5) * dlat
    scale = max(math.cos(math.radians(middle)), _MIN_COS)
    return middle, size / (M_PER_DEG * scale)


def cell_of(lat: float, lon: float, size: float) -> Cell:
    """The cell holding a place (``size`` in metres)."""
    row = math.floor((lat + 90.0) / (size / M_PER_DEG))
    _, dlon = _band(row, size)
    return row, math.floor((lon + 180.0) / dlon)


def cell_centre(cell: Cell, size: float) -> tuple[float, float]:
    """(lat, lon) of a cell's centre, rounded to 6 decimals (0.1 m: nothing finer is meant)."""
    row, col = cell
    middle, dlon = _band(row, size)
    return round(middle, 6), round(-180.0 + (col + 0.5) * dlon, 6)
