"""What domain code needs from the region layer (implemented by ``geo.regions.Regions``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class RegionLookup(Protocol):
    def region_for(self, lat: float, lon: float) -> str | None:
        """The region (ISO alpha-2) containing the point, or the nearest within the buffer."""

    def regions_for(self, lats: Sequence[float], lons: Sequence[float]) -> list[str | None]:
        """Vectorised :meth:`region_for`."""

    def in_any_region(self, lat: float, lon: float) -> bool:
        """Inside some region's buffered polygon (positions elsewhere are dropped)."""

    def in_region(self, lat: float, lon: float, code: str) -> bool:
        """Inside that region's buffered polygon."""
