"""Geographic regions (countries and territories): point -> region code look-ups.

The polygons are Natural Earth's 1:50m admin-0 countries (public domain), converted once by
``scripts/build_regions.py`` into package data under ``netatlas/geo/data/``; nothing but
Shapely is needed at run time.  Regions are keyed by ISO 3166-1 alpha-2 code (``XK`` for
Kosovo); :func:`genc_code` maps the few codes where Ichnaea's GENC-based output differs.

Like Ichnaea, each region also has a copy buffered by 0.5 degrees (about 55 km), so that
observations just off a coast or across a border still count as inside the region:

* :meth:`Regions.region_for` answers with the region whose exact polygon holds the point, or
  failing that the nearest region whose buffered polygon holds it;
* :meth:`Regions.in_any_region` and :meth:`Regions.in_region` test the buffered polygons
  (observations outside every buffered region are dropped).

Use :func:`get_regions` for the process-wide instance (loaded once, about 0.5 s).
"""

from __future__ import annotations

import functools
import gzip
import json
from collections.abc import Mapping, Sequence
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import shape

__all__ = [
    "BUFFER_DEGREES",
    "GENC_CODES",
    "Regions",
    "genc_code",
    "get_regions",
    "region_name",
]

#: Width of the buffer round each region, in degrees (Ichnaea's value).
BUFFER_DEGREES = 0.5

#: ISO alpha-2 codes that GENC (and so Ichnaea's GeoIP answers) spells differently.
GENC_CODES: Mapping[str, str] = {"AX": "FI", "PS": "XW", "SJ": "XR", "UM": "US"}

# GENC-only codes accepted by in_region() and max_radius(), mapped to the polygon's code.
_POLYGON_ALIASES: Mapping[str, str] = {"XW": "PS", "XR": "SJ"}

_EXACT_FILE = "regions.geojson.gz"
_BUFFER_FILE = "regions_buffer.geojson.gz"
_NAMES_FILE = "region_names.json"

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
Coordinates = Sequence[float] | npt.NDArray[np.floating[Any]]


def _data_dir() -> Traversable:
    return resources.files("netatlas.geo") / "data"


def genc_code(alpha2: str) -> str:
    """The GENC region code for an ISO alpha-2 code (AX->FI, PS->XW, SJ->XR, UM->US)."""
    code = alpha2.upper()
    return GENC_CODES.get(code, code)


@functools.cache
def _names() -> dict[str, str]:
    names: dict[str, str] = json.loads((_data_dir() / _NAMES_FILE).read_text(encoding="utf-8"))
    return names


def region_name(code: str) -> str:
    """English short name of a region ("GB" -> "United Kingdom").

    Knows every ISO 3166-1 alpha-2 code plus XK (Kosovo) and the GENC codes XW and XR.
    Raises KeyError for any other code.
    """
    return _names()[code.upper()]


def _read_features(source: Traversable | Path) -> list[dict[str, Any]]:
    data = json.loads(gzip.decompress(source.read_bytes()))
    features: list[dict[str, Any]] = data["features"]
    return features


def _explode(geoms: npt.NDArray[np.object_]) -> tuple[npt.NDArray[np.object_], IntArray]:
    """Single polygons of each geometry, and the index of the geometry each came from."""
    parts, owners = shapely.get_parts(geoms, return_index=True)
    return parts, owners.astype(np.intp)


class Regions:
    """Region polygons, exact and buffered, with STRtree indexes over their single parts."""

    def __init__(
        self,
        exact: Mapping[str, Any],
        buffered: Mapping[str, Any],
        radii: Mapping[str, float],
    ) -> None:
        codes = tuple(sorted(exact))
        if set(buffered) != set(codes) or set(radii) != set(codes):
            raise ValueError("exact, buffered and radii must cover the same regions")
        self._codes = codes
        self._index = {code: i for i, code in enumerate(codes)}
        # Region codes by index, with None last so that index -1 means "no region".
        self._code_or_none = np.array([*codes, None], dtype=object)
        self._exact: npt.NDArray[np.object_] = np.array([exact[c] for c in codes], dtype=object)
        self._buffered: npt.NDArray[np.object_] = np.array(
            [buffered[c] for c in codes], dtype=object
        )
        self._radii = {c: float(radii[c]) for c in codes}

        self._exact_parts, self._exact_owner = _explode(self._exact)
        self._buffer_parts, self._buffer_owner = _explode(self._buffered)
        self._exact_tree = shapely.STRtree(self._exact_parts)
        self._buffer_tree = shapely.STRtree(self._buffer_parts)
        for geoms in (self._exact_parts, self._buffer_parts, self._buffered):
            shapely.prepare(geoms)
            # GEOS builds a prepared polygon's point locator on first use; do it now, so that
            # later look-ups only read shared state (safe across threads).
            shapely.contains_xy(geoms, 0.0, 0.0)

    @classmethod
    def load(cls, data_dir: Path | Traversable | None = None) -> Regions:
        """Read the package data (or the same files from ``data_dir``)."""
        directory = _data_dir() if data_dir is None else data_dir
        exact: dict[str, Any] = {}
        radii: dict[str, float] = {}
        for feature in _read_features(directory / _EXACT_FILE):
            code = feature["properties"]["code"]
            exact[code] = shape(feature["geometry"])
            radii[code] = float(feature["properties"]["radius"])
        buffered = {
            f["properties"]["code"]: shape(f["geometry"])
            for f in _read_features(directory / _BUFFER_FILE)
        }
        return cls(exact, buffered, radii)

    # ------------------------------------------------------------------ metadata

    @property
    def codes(self) -> tuple[str, ...]:
        """All region codes, sorted."""
        return self._codes

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and self._resolve(code) is not None

    def __len__(self) -> int:
        return len(self._codes)

    def polygon_code(self, code: str) -> str | None:
        """The code a region's polygon is kept under (GENC's XW and XR map to PS and SJ), or
        None for a code no polygon has."""
        i = self._resolve(code)
        return None if i is None else self._codes[i]

    def _resolve(self, code: str) -> int | None:
        code = code.upper()
        return self._index.get(_POLYGON_ALIASES.get(code, code))

    def _require(self, code: str) -> int:
        i = self._resolve(code)
        if i is None:
            raise KeyError(code)
        return i

    def shape(self, code: str) -> Any:
        """The exact (Multi)Polygon of a region, lon/lat degrees.  KeyError if unknown."""
        return self._exact[self._require(code)]

    def buffered_shape(self, code: str) -> Any:
        """The region's polygon buffered by :data:`BUFFER_DEGREES`.  KeyError if unknown."""
        return self._buffered[self._require(code)]

    def max_radius(self, code: str) -> float:
        """Radius in metres of a circle round the region's centroid that covers the region.

        The great-circle distance from the centroid to the farthest point of the outline,
        rounded up to whole kilometres (precomputed by the build script).  Accepts the GENC
        codes XW and XR too.  Raises KeyError for an unknown code.
        """
        return self._radii[self._codes[self._require(code)]]

    # ------------------------------------------------------------------ look-ups

    def region_for(self, lat: float, lon: float) -> str | None:
        """Code of the region at (lat, lon), or None if the point is in no buffered region."""
        result: str | None = self.regions_for([lat], [lon])[0]
        return result

    def regions_for(self, lats: Coordinates, lons: Coordinates) -> list[str | None]:
        """Vectorised :meth:`region_for`: one code (or None) per (lat, lon) pair."""
        x, y = _xy(lats, lons)
        found = self._region_indexes(x, y)
        codes: list[str | None] = self._code_or_none[found].tolist()
        return codes

    def in_any_region(self, lat: float, lon: float) -> bool:
        """Is (lat, lon) inside some region's buffered polygon?"""
        return bool(self.in_any_regions([lat], [lon])[0])

    def in_any_regions(self, lats: Coordinates, lons: Coordinates) -> list[bool]:
        """Vectorised :meth:`in_any_region`."""
        x, y = _xy(lats, lons)
        inside = np.zeros(x.size, dtype=bool)
        pt, part = self._buffer_tree.query(shapely.points(x, y))
        hit = shapely.contains_xy(self._buffer_parts[part], x[pt], y[pt])
        inside[pt[hit]] = True
        result: list[bool] = inside.tolist()
        return result

    def in_region(self, lat: float, lon: float, code: str) -> bool:
        """Is (lat, lon) inside the buffered polygon of region ``code``?  False if unknown."""
        i = self._resolve(code)
        if i is None:
            return False
        return bool(shapely.contains_xy(self._buffered[i], float(lon), float(lat)))

    # ------------------------------------------------------------------ internals

    def _region_indexes(self, x: FloatArray, y: FloatArray) -> IntArray:
        """Region index per point, -1 for none.  Exact polygons first, then buffers."""
        n = x.size
        found = np.full(n, -1, dtype=np.intp)
        if n == 0:
            return found
        points = shapely.points(x, y)

        pt, part = self._exact_tree.query(points)
        hit = shapely.contains_xy(self._exact_parts[part], x[pt], y[pt])
        # The build script rejects overlapping polygons, so a point is in at most one exact
        # region; should data with overlaps be loaded, the lowest region index wins.
        pt, region = _first_per_point(pt[hit], self._exact_owner[part[hit]])
        found[pt] = region

        rest = np.flatnonzero(found < 0)
        if rest.size == 0:
            return found
        local, part = self._buffer_tree.query(points[rest])
        hit = shapely.contains_xy(self._buffer_parts[part], x[rest[local]], y[rest[local]])
        pt, region = rest[local[hit]], self._buffer_owner[part[hit]]
        if pt.size == 0:
            return found
        # One pair per (point, region): a wrapped buffer can have touching parts.
        pairs = np.unique(np.column_stack([pt, region]), axis=0)
        pt, region = pairs[:, 0], pairs[:, 1]
        counts = np.bincount(pt, minlength=n)
        single = counts[pt] == 1
        found[pt[single]] = region[single]

        pt, region = pt[~single], region[~single]
        if pt.size:
            # Several buffers hold the point: the region whose exact polygon is nearest wins
            # (ties: lowest index).  Longitudes are also tried shifted by 360 degrees, for
            # buffers wrapped across the antimeridian.
            dist = np.min(
                [
                    shapely.distance(self._exact[region], shapely.points(x[pt] + shift, y[pt]))
                    for shift in (0.0, -360.0, 360.0)
                ],
                axis=0,
            )
            pt, region = _first_per_point(pt, region, dist)
            found[pt] = region
        return found


def _first_per_point(
    pt: IntArray, region: IntArray, dist: FloatArray | None = None
) -> tuple[IntArray, IntArray]:
    """One (point, region) pair per point: smallest ``dist``, then lowest region index."""
    keys = (region, pt) if dist is None else (region, dist, pt)
    order = np.lexsort(keys)
    pt, region = pt[order], region[order]
    first = np.ones(pt.size, dtype=bool)
    first[1:] = pt[1:] != pt[:-1]
    return pt[first], region[first]


def _xy(lats: Coordinates, lons: Coordinates) -> tuple[FloatArray, FloatArray]:
    y = np.asarray(lats, dtype=np.float64).reshape(-1)
    x = np.asarray(lons, dtype=np.float64).reshape(-1)
    if x.shape != y.shape:
        raise ValueError(f"{y.size} latitudes but {x.size} longitudes")
    return x, y


@functools.cache
def get_regions() -> Regions:
    """The process-wide :class:`Regions`, loaded from the package data on first use."""
    return Regions.load()
