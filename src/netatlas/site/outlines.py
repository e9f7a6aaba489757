"""Country outlines for the maps' offline background, from the package's Natural Earth polygons.

The maps draw these under their data when no basemap URL is configured (and under the tiles
when one is). Two levels of detail: ``low`` is simplified by 0.02° (about 2 km; 300 kB
gzipped for the world) for the world and continent views, ``high`` keeps Natural Earth's
1:50m lines, rounded to 0.001°, for closer views. Each is built once per process and then
served from memory, gzipped, with an ETag.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import threading
from dataclasses import dataclass
from importlib import resources

import numpy as np
import shapely

from netatlas.geo.regions import region_name

__all__ = ["LEVELS", "Outlines", "outlines"]

#: Simplification tolerance per level, in degrees (0: the source lines).
LEVELS = {"low": 0.02, "high": 0.0}
_PRECISION = 0.001
_lock = threading.Lock()


@dataclass(frozen=True)
class Outlines:
    gzipped: bytes  # a GeoJSON FeatureCollection, properties code and name
    etag: str


def _name(code: str) -> str:
    try:
        return region_name(code)
    except KeyError:
        return code


def _build(tolerance: float) -> Outlines:
    source = resources.files("netatlas.geo") / "data" / "regions.geojson.gz"
    features = json.loads(gzip.decompress(source.read_bytes()))["features"]
    geoms = np.array([shapely.from_geojson(json.dumps(f["geometry"])) for f in features])
    if tolerance:
        geoms = shapely.simplify(geoms, tolerance, preserve_topology=True)
    geoms = shapely.set_precision(geoms, _PRECISION)
    parts = []
    for feature, geom in zip(features, geoms, strict=True):
        if geom is None or shapely.is_empty(geom):
            continue
        code = feature["properties"]["code"]
        props = json.dumps(
            {"code": code, "name": _name(code)}, ensure_ascii=False, separators=(",", ":")
        )
        parts.append(
            f'{{"type":"Feature","properties":{props},"geometry":{shapely.to_geojson(geom)}}}'
        )
    body = ('{"type":"FeatureCollection","features":[' + ",".join(parts) + "]}").encode()
    return Outlines(gzip.compress(body, 6, mtime=0), hashlib.sha256(body).hexdigest()[:20])


@functools.cache
def _cached(level: str) -> Outlines:
    return _build(LEVELS[level])


def outlines(level: str) -> Outlines:
    """The outlines at ``level`` (``low`` or ``high``); KeyError for any other level."""
    if level not in LEVELS:
        raise KeyError(level)
    with _lock:  # one build per level, however many requests arrive at once
        return _cached(level)
