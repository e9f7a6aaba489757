"""Spatial bins: which area each test location falls in, and each area's outline.

Four kinds of layer, each answering with int64 codes (-1: outside every area):

* ``countries`` — Natural Earth countries (:mod:`netatlas.geo.regions`), keyed by ISO code;
* ``h3:R`` — H3 hexagons at resolution R (0–15), keyed by the cell's hex string;
* ``quadkey:Z`` — web-Mercator tiles at zoom Z (1–24), keyed by quadkey (zoom 16 is Ookla's
  open-data grid);
* any other name — a polygon layer imported with ``netatlas areas import``
  (:mod:`.areas_import`), keyed by the chosen property.

Polygon layers leave gaps: a coastline drawn at 1:50m puts IP locations in a harbour or just
off the shore in the sea, and imported layers rarely meet exactly. :func:`assign` therefore
gives a point outside every polygon to the nearest one when it lies within a tolerance (metres,
measured on the sphere); only those points are searched, against an index of the polygons'
edges built the first time it is needed.

Bins of one layer can be re-binned into a coarser one: H3 cells into their parents, tiles
into the tiles that hold them, any area into the area of another layer holding its centre.
"""

from __future__ import annotations

import functools
import math
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import h3.api.basic_int as h3
import msgspec
import numpy as np
import numpy.typing as npt
import shapely
from sqlalchemy import Engine, select

from netatlas.broadband.aggregate.models import area, area_layer
from netatlas.geo.distance import EARTH_RADIUS, distances
from netatlas.geo.regions import get_regions, region_name

__all__ = [
    "DEFAULT_TOLERANCE_M",
    "AreaLayer",
    "CountriesLayer",
    "UnknownLayer",
    "assign",
    "get_layer",
    "layer_names",
    "valid_layer_name",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_encode = msgspec.json.encode
MAX_MERCATOR_LAT = 85.05112878
#: Points outside every polygon but this close to one (metres) count as in the nearest one.
DEFAULT_TOLERANCE_M = 25_000.0
#: Metres in a degree of latitude (and of longitude at the equator), on the mean sphere.
METRES_PER_DEGREE = EARTH_RADIUS * math.pi / 180.0
#: Polygon edges per entry of the nearest-edge index.
EDGES_PER_CHUNK = 16
#: Points searched at once (the candidate edges of a batch are held in memory together).
NEAREST_BATCH = 2048


class UnknownLayer(ValueError):
    """No layer of that name."""


class AreaLayer(Protocol):
    spec: str  # the name aggregations use
    version: str  # changes when the layer's areas change

    def assign(self, lat: F64, lon: F64) -> I64:
        """Area code of each point; -1 outside every area."""

    def keys(self, codes: I64) -> list[str]:
        """The key of each area code."""

    def codes(self, keys: Sequence[str]) -> I64:
        """The code of each key; -1 for keys not in the layer."""

    def centres(self, codes: I64) -> tuple[F64, F64]:
        """A point (lat, lon) inside each area."""

    def geometry(self, key: str) -> bytes | None:
        """The area's outline as GeoJSON."""

    def name(self, key: str) -> str | None:
        """A readable name of the area, when the layer has one."""


def valid_layer_name(name: str) -> bool:
    """Can an imported polygon layer have this name?"""
    return bool(_NAME.match(name)) and name not in ("countries", "all")


def _polygon(ring: Sequence[tuple[float, float]]) -> bytes:
    return _encode({"type": "Polygon", "coordinates": [[[x, y] for x, y in ring]]})


@functools.lru_cache(maxsize=1 << 16)
def _h3_outline(cell: int) -> bytes:
    """A hexagon's outline as GeoJSON (kept: a map answer asks for the same cells again)."""
    boundary = h3.cell_to_boundary(cell)
    ring = [(lng, lat) for lat, lng in boundary]
    return _polygon([*ring, ring[0]])


class H3Layer:
    def __init__(self, resolution: int) -> None:
        self.resolution = resolution
        self.spec = f"h3:{resolution}"
        self.version = "1"

    def assign(self, lat: F64, lon: F64) -> I64:
        res = self.resolution
        ok = np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
        out = np.full(lat.size, -1, np.int64)
        idx = np.flatnonzero(ok)
        pairs = zip(lat[idx].tolist(), lon[idx].tolist(), strict=True)
        cells = [h3.latlng_to_cell(a, b, res) for a, b in pairs]
        out[idx] = np.array(cells, dtype=np.int64)  # H3 indexes never set the top bit
        return out

    def keys(self, codes: I64) -> list[str]:
        return [h3.int_to_str(c) for c in codes.tolist()]

    def codes(self, keys: Sequence[str]) -> I64:
        out = []
        for key in keys:
            try:
                cell = h3.str_to_int(key)
                ok = h3.is_valid_cell(cell) and h3.get_resolution(cell) == self.resolution
            except (ValueError, TypeError):
                ok = False
            out.append(cell if ok else -1)
        return np.array(out, dtype=np.int64)

    def centres(self, codes: I64) -> tuple[F64, F64]:
        pts = [h3.cell_to_latlng(c) for c in codes.tolist()]
        arr = np.array(pts, dtype=np.float64).reshape(-1, 2)
        return arr[:, 0], arr[:, 1]

    def parents(self, codes: I64, resolution: int) -> I64:
        return np.array([h3.cell_to_parent(c, resolution) for c in codes.tolist()], np.int64)

    def geometry(self, key: str) -> bytes | None:
        return _h3_outline(h3.str_to_int(key))

    def name(self, key: str) -> str | None:
        return None


class QuadkeyLayer:
    def __init__(self, zoom: int) -> None:
        self.zoom = zoom
        self.spec = f"quadkey:{zoom}"
        self.version = "1"

    def assign(self, lat: F64, lon: F64) -> I64:
        n = 1 << self.zoom
        ok = np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= MAX_MERCATOR_LAT)
        ok &= np.abs(lon) <= 180
        phi = np.radians(np.clip(np.where(ok, lat, 0.0), -MAX_MERCATOR_LAT, MAX_MERCATOR_LAT))
        x = np.floor((np.where(ok, lon, 0.0) + 180.0) / 360.0 * n).astype(np.int64)
        y = np.floor((1.0 - np.arcsinh(np.tan(phi)) / math.pi) / 2.0 * n).astype(np.int64)
        x, y = np.clip(x, 0, n - 1), np.clip(y, 0, n - 1)
        return np.where(ok, x * n + y, -1)

    def _xy(self, codes: I64) -> tuple[I64, I64]:
        n = 1 << self.zoom
        return codes // n, codes % n

    def keys(self, codes: I64) -> list[str]:
        xs, ys = self._xy(codes)
        shifts = np.arange(self.zoom - 1, -1, -1, dtype=np.int64)
        digits = ((xs[:, None] >> shifts) & 1) + 2 * ((ys[:, None] >> shifts) & 1)
        chars = (digits + ord("0")).astype(np.uint8)
        keys: list[str] = chars.view(f"S{self.zoom}").reshape(-1).astype(str).tolist()
        return keys

    def codes(self, keys: Sequence[str]) -> I64:
        n = 1 << self.zoom
        out = []
        for key in keys:
            if len(key) != self.zoom or key.strip("0123"):
                out.append(-1)
                continue
            x = y = 0
            for digit in key:
                d = int(digit)
                x, y = (x << 1) | (d & 1), (y << 1) | (d >> 1)
            out.append(x * n + y)
        return np.array(out, dtype=np.int64)

    def _bounds(self, x: Any, y: Any) -> tuple[Any, Any, Any, Any]:
        n = float(1 << self.zoom)
        west = x / n * 360.0 - 180.0
        east = (x + 1) / n * 360.0 - 180.0
        north = np.degrees(np.arctan(np.sinh(math.pi * (1 - 2 * y / n))))
        south = np.degrees(np.arctan(np.sinh(math.pi * (1 - 2 * (y + 1) / n))))
        return west, south, east, north

    def centres(self, codes: I64) -> tuple[F64, F64]:
        x, y = self._xy(codes)
        w, s, e, n = self._bounds(x.astype(np.float64), y.astype(np.float64))
        return (s + n) / 2, (w + e) / 2

    def parents(self, codes: I64, zoom: int) -> I64:
        x, y = self._xy(codes)
        shift = self.zoom - zoom
        return (x >> shift) * (1 << zoom) + (y >> shift)

    def geometry(self, key: str) -> bytes | None:
        code = int(self.codes([key])[0])
        if code < 0:
            return None
        x, y = divmod(code, 1 << self.zoom)
        w, s, e, n = (float(v) for v in self._bounds(x, y))
        return _polygon([(w, s), (e, s), (e, n), (w, n), (w, s)])

    def name(self, key: str) -> str | None:
        return None


@dataclass(frozen=True)
class _Edges:
    """Every edge of a layer's polygons (outer rings and holes), with the area it bounds, and
    an STRtree over runs of up to :data:`EDGES_PER_CHUNK` consecutive edges of one ring."""

    ax: F64  # first end, degrees
    ay: F64
    bx: F64  # second end
    by: F64
    owner: I64  # area code
    chunk_start: I64  # first edge of each run
    chunk_end: I64  # one past its last edge
    tree: shapely.STRtree

    @classmethod
    def of(cls, geoms: npt.NDArray[np.object_]) -> _Edges:
        parts, part_owner = shapely.get_parts(geoms, return_index=True)
        rings, ring_part = shapely.get_rings(parts, return_index=True)
        coords, ring = shapely.get_coordinates(rings, return_index=True)
        same = ring[1:] == ring[:-1]  # consecutive vertices of one ring make an edge
        a, b = coords[:-1][same], coords[1:][same]
        edge_ring = ring[:-1][same]
        owner = part_owner[ring_part[edge_ring]].astype(np.int64)
        # Runs never span two rings: one box round two far-apart islands would make every
        # point between them a candidate.
        n, k = edge_ring.size, EDGES_PER_CHUNK
        new_ring = np.ones(n, bool)
        new_ring[1:] = edge_ring[1:] != edge_ring[:-1]
        ring_first = np.maximum.accumulate(np.where(new_ring, np.arange(n), 0))
        starts = new_ring | ((np.arange(n) - ring_first) % k == 0)
        chunk_start = np.flatnonzero(starts).astype(np.int64)
        chunk_end = np.append(chunk_start[1:], n).astype(np.int64)
        xs, ys = np.stack([a[:, 0], b[:, 0]]), np.stack([a[:, 1], b[:, 1]])
        boxes = shapely.box(
            np.minimum.reduceat(xs.min(axis=0), chunk_start),
            np.minimum.reduceat(ys.min(axis=0), chunk_start),
            np.maximum.reduceat(xs.max(axis=0), chunk_start),
            np.maximum.reduceat(ys.max(axis=0), chunk_start),
        )
        return cls(
            a[:, 0],
            a[:, 1],
            b[:, 0],
            b[:, 1],
            owner,
            chunk_start,
            chunk_end,
            shapely.STRtree(boxes),
        )


def _reach(lat: F64, tolerance_m: float) -> tuple[float, F64]:
    """Half the height and width (degrees) of a box holding every point within
    ``tolerance_m`` of each latitude: the spherical cap's latitude and longitude spans."""
    delta = tolerance_m / METRES_PER_DEGREE
    sin_delta = math.sin(math.radians(min(delta, 90.0)))
    cos_lat = np.cos(np.radians(lat))
    wide = sin_delta >= cos_lat  # the cap holds a pole: every longitude
    ratio = np.where(wide, 1.0, sin_delta / np.where(wide, 1.0, cos_lat))
    dlon = np.where(wide, 180.0, np.degrees(np.arcsin(np.minimum(ratio, 1.0))))
    return delta * (1 + 1e-9) + 1e-9, dlon * (1 + 1e-9) + 1e-9


def _wrap(dlon: F64) -> F64:
    result: F64 = (dlon + 180.0) % 360.0 - 180.0
    return result


def _nearest_batch(edges: _Edges, lat: F64, lon: F64, tolerance_m: float) -> I64:
    """The area of the nearest edge within ``tolerance_m`` of each point, or -1."""
    out = np.full(lat.size, -1, np.int64)
    dlat, dlon = _reach(lat, tolerance_m)
    # Boxes round each point; those crossing the antimeridian once more from the other side.
    point = [np.arange(lat.size)]
    centre = [lon]
    for shift, beyond in ((360.0, lon - dlon < -180.0), (-360.0, lon + dlon > 180.0)):
        point.append(np.flatnonzero(beyond))
        centre.append(lon[beyond] + shift)
    crossing = sum(p.size for p in point) > lat.size
    owner_of_box = np.concatenate(point)
    x = np.concatenate(centre)
    y, w = lat[owner_of_box], dlon[owner_of_box]
    box, chunk = edges.tree.query(shapely.box(x - w, y - dlat, x + w, y + dlat))
    if box.size == 0:
        return out
    pt = owner_of_box[box]
    k, n = EDGES_PER_CHUNK, edges.owner.size
    # Distances in a plane tangent at each point (longitudes scaled by the cosine of its
    # latitude): exact enough over tens of kilometres, then checked on the sphere below.
    best_d2, best_edge, best_x, best_y = [], [], [], []
    step = max(1, 250_000 // k)  # pairs of point and run at once: a few MB an array
    for i in range(0, pt.size, step):
        p = pt[i : i + step]
        c = chunk[i : i + step]
        seg = edges.chunk_start[c][:, None] + np.arange(k)
        valid = seg < edges.chunk_end[c][:, None]
        seg = np.minimum(seg, n - 1)
        scale = np.maximum(np.cos(np.radians(lat[p])), 1e-12)[:, None]
        x0, y0 = lon[p][:, None], lat[p][:, None]
        ax = edges.ax[seg] - x0
        if crossing:  # the edge moved whole by 360 degrees, never split
            ax = _wrap(ax)
        ax, ay = ax * scale, edges.ay[seg] - y0
        ux, uy = (edges.bx[seg] - edges.ax[seg]) * scale, edges.by[seg] - edges.ay[seg]
        length2 = ux * ux + uy * uy
        t = np.clip(-(ax * ux + ay * uy) / np.where(length2 > 0, length2, 1.0), 0.0, 1.0)
        cx, cy = ax + t * ux, ay + t * uy
        d2 = np.where(valid, cx * cx + cy * cy, np.inf)
        j = np.argmin(d2, axis=1)
        rows = np.arange(p.size)
        best_d2.append(d2[rows, j])
        best_edge.append(seg[rows, j])
        best_x.append(cx[rows, j] / scale[:, 0])
        best_y.append(cy[rows, j])
    d2, edge = np.concatenate(best_d2), np.concatenate(best_edge)
    nx, ny = np.concatenate(best_x), np.concatenate(best_y)
    order = np.lexsort((d2, pt))
    first = np.ones(order.size, bool)
    first[1:] = pt[order][1:] != pt[order][:-1]
    chosen = order[first]
    p = pt[chosen]
    metres = distances(lat[p], lon[p], lat[p] + ny[chosen], lon[p] + nx[chosen])
    near = metres <= tolerance_m
    out[p[near]] = edges.owner[edge[chosen[near]]]
    return out


class _Polygons:
    """Shared by countries and imported layers: STRtree point-in-polygon over whole areas,
    and a nearest-edge search for the points that fall in none."""

    spec: str
    version: str

    def __init__(self, keys: Sequence[str], geoms: Sequence[Any]) -> None:
        self._keys = list(keys)
        self._index = {k: i for i, k in enumerate(self._keys)}
        self._geoms = np.array(geoms, dtype=object)
        shapely.prepare(self._geoms)
        self._tree = shapely.STRtree(self._geoms)
        self._json: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._edges: _Edges | None = None

    def nearest(self, lat: F64, lon: F64, tolerance_m: float) -> I64:
        """Area code of the polygon nearest to each point (distance on the sphere to its
        outline) when within ``tolerance_m`` metres; else -1. Meant for points outside every
        polygon (a point inside one is at distance 0 from it only on its outline)."""
        out = np.full(lat.size, -1, np.int64)
        ok = np.flatnonzero(np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90))
        ok = ok[np.abs(lon[ok]) <= 180]
        if tolerance_m <= 0 or ok.size == 0 or not self._keys:
            return out
        with self._lock:
            if self._edges is None:
                self._edges = _Edges.of(self._geoms)
            edges = self._edges
        for i in range(0, ok.size, NEAREST_BATCH):
            idx = ok[i : i + NEAREST_BATCH]
            out[idx] = _nearest_batch(edges, lat[idx], lon[idx], tolerance_m)
        return out

    def assign(self, lat: F64, lon: F64) -> I64:
        out = np.full(lat.size, -1, np.int64)
        ok = np.flatnonzero(np.isfinite(lat) & np.isfinite(lon))
        if ok.size == 0 or not self._keys:
            return out
        x, y = lon[ok], lat[ok]
        # Envelopes first, then the point-in-polygon test on the prepared polygons (a
        # predicate in the query would prepare the points instead: 40 times slower inside a
        # country of thousands of vertices).
        pt, geom = self._tree.query(shapely.points(x, y))
        hit = shapely.intersects_xy(self._geoms[geom], x[pt], y[pt])
        pt, geom = pt[hit], geom[hit]
        # A point on a shared border, or in overlapping areas: the first area wins.
        order = np.lexsort((geom, pt))
        pt, geom = pt[order], geom[order]
        first = np.ones(pt.size, bool)
        first[1:] = pt[1:] != pt[:-1]
        out[ok[pt[first]]] = geom[first]
        return out

    def keys(self, codes: I64) -> list[str]:
        return [self._keys[c] for c in codes.tolist()]

    def codes(self, keys: Sequence[str]) -> I64:
        return np.array([self._index.get(k, -1) for k in keys], dtype=np.int64)

    def centres(self, codes: I64) -> tuple[F64, F64]:
        pts = shapely.point_on_surface(self._geoms[codes])
        return shapely.get_y(pts), shapely.get_x(pts)

    def geometry(self, key: str) -> bytes | None:
        i = self._index.get(key)
        if i is None:
            return None
        with self._lock:
            if key not in self._json:
                self._json[key] = shapely.to_geojson(self._geoms[i]).encode()
            return self._json[key]

    def name(self, key: str) -> str | None:
        return None


class CountriesLayer(_Polygons):
    def __init__(self) -> None:
        regions = get_regions()
        codes = regions.codes
        super().__init__(codes, [regions.shape(c) for c in codes])
        self.spec = "countries"
        self.version = "1"

    def name(self, key: str) -> str | None:
        try:
            return region_name(key)
        except KeyError:
            return None

    def by_country(self, country: npt.NDArray[np.str_]) -> I64:
        """Area code of each country code (ISO 3166 alpha-2, or GENC as GeoIP answers give
        them; any case); -1 for empty or unknown codes."""
        if country.size == 0:
            return np.zeros(0, np.int64)
        uniq, inverse = np.unique(country, return_inverse=True)
        keys = [get_regions().polygon_code(str(c)) or "" for c in uniq.tolist()]
        codes: I64 = self.codes(keys)[inverse.reshape(-1)]
        return codes


class PolygonLayer(_Polygons):
    def __init__(self, spec: str, version: int, rows: Sequence[Any]) -> None:
        super().__init__([r.key for r in rows], [shapely.from_geojson(r.geometry) for r in rows])
        self.spec = spec
        self.version = str(version)
        self._names = {r.key: r.name for r in rows}
        self._points = {r.key: (r.lat, r.lon) for r in rows}

    def centres(self, codes: I64) -> tuple[F64, F64]:
        pts = [self._points[k] for k in self.keys(codes)]
        arr = np.array(pts, dtype=np.float64).reshape(-1, 2)
        return arr[:, 0], arr[:, 1]

    def name(self, key: str) -> str | None:
        return self._names.get(key)


@functools.cache
def _countries() -> CountriesLayer:
    return CountriesLayer()


_POLYGON_CACHE: dict[tuple[str, int], PolygonLayer] = {}
_CACHE_LOCK = threading.Lock()


def layer_names(engine: Engine) -> list[str]:
    """Imported polygon layers."""
    with engine.connect() as conn:
        return list(conn.execute(select(area_layer.c.name).order_by(area_layer.c.name)).scalars())


def get_layer(engine: Engine, spec: str) -> AreaLayer:
    """The layer an aggregation names. Raises UnknownLayer."""
    kind, _, arg = spec.partition(":")
    if kind in ("h3", "quadkey") and arg:
        try:
            level = int(arg)
        except ValueError:
            raise UnknownLayer(f"{spec!r}: the level must be a number") from None
        if kind == "h3":
            if not 0 <= level <= 15:
                raise UnknownLayer(f"{spec!r}: H3 resolutions are 0 to 15")
            return H3Layer(level)
        if not 1 <= level <= 24:
            raise UnknownLayer(f"{spec!r}: quadkey zooms are 1 to 24")
        return QuadkeyLayer(level)
    if spec == "countries":
        return _countries()
    with engine.connect() as conn:
        version = conn.execute(
            select(area_layer.c.version).where(area_layer.c.name == spec)
        ).scalar()
        if version is None:
            raise UnknownLayer(f"no area layer {spec!r}")
        key = (spec, int(version))
        with _CACHE_LOCK:
            cached = _POLYGON_CACHE.get(key)
        if cached is not None:
            return cached
        rows = conn.execute(
            select(area.c.key, area.c.name, area.c.geometry, area.c.lat, area.c.lon)
            .where(area.c.layer == spec)
            .order_by(area.c.key)
        ).all()
    layer = PolygonLayer(spec, int(version), rows)
    with _CACHE_LOCK:
        for old in [k for k in _POLYGON_CACHE if k[0] == spec]:
            del _POLYGON_CACHE[old]
        _POLYGON_CACHE[key] = layer
    return layer


def assign(layer: AreaLayer, lat: F64, lon: F64, tolerance_m: float = DEFAULT_TOLERANCE_M) -> I64:
    """``layer.assign`` once per distinct location (IP locations repeat a lot); on polygon
    layers, locations outside every polygon but within ``tolerance_m`` metres of one go to
    the nearest (0: no such search)."""
    if lat.size < 1024 or isinstance(layer, QuadkeyLayer):  # tiles: plain arithmetic
        return _with_nearest(layer, lat, lon, layer.assign(lat, lon), tolerance_m)
    # One complex number per point: numpy's 1-D unique is several times faster than axis=0.
    points = np.nan_to_num(lat, nan=999.0) + 1j * np.nan_to_num(lon, nan=999.0)
    uniq, inverse = np.unique(points, return_inverse=True)
    if uniq.size > 0.8 * lat.size:
        return _with_nearest(layer, lat, lon, layer.assign(lat, lon), tolerance_m)
    la = np.where(uniq.real == 999.0, np.nan, uniq.real)
    lo = np.where(uniq.imag == 999.0, np.nan, uniq.imag)
    found = _with_nearest(layer, la, lo, layer.assign(la, lo), tolerance_m)
    codes: I64 = found[inverse.reshape(-1)]
    return codes


def _with_nearest(layer: AreaLayer, lat: F64, lon: F64, codes: I64, tolerance_m: float) -> I64:
    if not isinstance(layer, _Polygons) or tolerance_m <= 0:
        return codes
    outside = np.flatnonzero(codes < 0)
    if outside.size:
        codes[outside] = layer.nearest(lat[outside], lon[outside], tolerance_m)
    return codes


def rebin_codes(source: AreaLayer, codes: I64, target: AreaLayer) -> I64:
    """The code in ``target`` of each ``source`` area: parent cells and tiles where the grids
    nest, else the target area holding the source area's centre (or, for a centre just
    outside a polygon layer, the nearest area within :data:`DEFAULT_TOLERANCE_M`)."""
    if (
        isinstance(source, H3Layer)
        and isinstance(target, H3Layer)
        and target.resolution <= source.resolution
    ):
        return source.parents(codes, target.resolution)
    if (
        isinstance(source, QuadkeyLayer)
        and isinstance(target, QuadkeyLayer)
        and target.zoom <= source.zoom
    ):
        return source.parents(codes, target.zoom)
    uniq, inverse = np.unique(codes, return_inverse=True)
    lat, lon = source.centres(uniq)
    found = _with_nearest(target, lat, lon, target.assign(lat, lon), DEFAULT_TOLERANCE_M)
    result: I64 = found[inverse.reshape(-1)]
    return result
