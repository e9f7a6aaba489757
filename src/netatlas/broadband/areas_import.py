"""``netatlas areas import NAME FILE --key PROPERTY``: a polygon layer from GeoJSON or a
shapefile (``.shp``, or a ``.zip`` holding one; read with pyshp).

Coordinates must be longitude/latitude degrees (WGS 84 or NAD 83, as census files are): a
shapefile whose ``.prj`` names a projected system is refused with a hint to reproject it.
Features sharing a key are merged into one area; invalid rings are repaired; features that are
not polygons, or lack the key, are skipped and counted. Importing a layer again replaces its
areas, and aggregations binned by it are rebuilt at their next update.
"""

from __future__ import annotations

import json
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import shape
from sqlalchemy import Engine, delete, insert, select

from netatlas.broadband.aggregate.models import area, area_layer
from netatlas.broadband.areas import valid_layer_name

__all__ = ["AreaImportError", "LayerImport", "import_layer"]

MAX_KEY = 64


class AreaImportError(ValueError):
    """The file or the arguments cannot make a layer."""


@dataclass
class LayerImport:
    name: str
    areas: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    version: int = 1


def _geojson_features(path: Path) -> Iterator[tuple[dict[str, Any], Any]]:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise AreaImportError(f"{path}: not readable GeoJSON ({exc})") from None
    if isinstance(data, dict) and data.get("type") == "FeatureCollection":
        features = data.get("features") or []
    elif isinstance(data, dict) and data.get("type") == "Feature":
        features = [data]
    else:
        raise AreaImportError(f"{path}: expected a GeoJSON FeatureCollection")
    for feature in features:
        if isinstance(feature, dict):
            yield feature.get("properties") or {}, feature.get("geometry")


def _shapefile_features(path: Path) -> Iterator[tuple[dict[str, Any], Any]]:
    try:
        import shapefile
    except ImportError:  # pragma: no cover - pyshp is a dependency
        raise AreaImportError("reading shapefiles needs the pyshp package") from None
    prj = path.with_suffix(".prj")
    if prj.exists() and "PROJCS" in prj.read_text(errors="replace").upper():
        raise AreaImportError(
            f"{path}: projected coordinates; reproject to longitude/latitude first"
            " (e.g. ogr2ogr -t_srs EPSG:4326 out.shp in.shp)"
        )
    # Files written by other tools (and by some pyshp releases) often declare a header length
    # that differs from the file's: pyshp warns and reads them correctly, so the warnings are
    # not errors here. The layer is read whole, inside the filter, before it is yielded.
    lenient = tuple(
        getattr(shapefile, name)
        for name in ("PossiblyCorruptFileHeader", "CorruptDbfRecord")
        if isinstance(getattr(shapefile, name, None), type)
    )
    with warnings.catch_warnings():
        for category in lenient:
            warnings.simplefilter("ignore", category)
        try:
            reader = shapefile.Reader(str(path))
        except (OSError, shapefile.ShapefileException) as exc:
            raise AreaImportError(f"{path}: not a readable shapefile ({exc})") from None
        with reader:
            rows = [
                (record.record.as_dict(), record.shape.__geo_interface__)
                for record in reader.iterShapeRecords()
            ]
    yield from rows


def _features(path: Path) -> Iterator[tuple[dict[str, Any], Any]]:
    suffix = path.suffix.lower()
    if suffix in (".shp", ".zip"):
        return _shapefile_features(path)
    return _geojson_features(path)


def import_layer(
    engine: Engine, name: str, path: Path, key: str, name_property: str | None = None
) -> LayerImport:
    """Read a polygon file into layer ``name`` (replacing the layer if it exists)."""
    if not valid_layer_name(name):
        raise AreaImportError(
            f"invalid layer name {name!r}: use letters, digits, - and _ (not 'countries')"
        )
    if not path.exists():
        raise AreaImportError(f"{path}: no such file")
    result = LayerImport(name)
    parts: dict[str, list[Any]] = {}
    names: dict[str, str | None] = {}
    seen_properties: set[str] = set()
    for properties, geometry in _features(path):
        seen_properties.update(properties)
        value = properties.get(key)
        if value is None or str(value).strip() == "":
            result.skipped["no key"] += 1
            continue
        k = str(value).strip()
        if len(k) > MAX_KEY:
            result.skipped["key too long"] += 1
            continue
        if not isinstance(geometry, dict) or geometry.get("type") not in (
            "Polygon",
            "MultiPolygon",
        ):
            result.skipped["not a polygon"] += 1
            continue
        try:
            geom = shapely.make_valid(shape(geometry))
        except (ValueError, TypeError, AttributeError, shapely.errors.GEOSException):
            result.skipped["bad geometry"] += 1
            continue
        x0, y0, x1, y1 = geom.bounds
        if min(x0, y0) < -180 or x1 > 180 or abs(y0) > 90 or abs(y1) > 90:
            raise AreaImportError(
                f"{path}: coordinates outside longitude/latitude range; reproject to EPSG:4326"
            )
        parts.setdefault(k, []).append(geom)
        if name_property and properties.get(name_property) is not None:
            names[k] = str(properties[name_property])[:255]
    if not parts:
        if key not in seen_properties:
            listed = ", ".join(sorted(seen_properties)) or "none"
            raise AreaImportError(f"no feature has property {key!r}; properties: {listed}")
        raise AreaImportError(f"{path}: no polygon features")
    rows = []
    for k, geoms in parts.items():
        geom = geoms[0] if len(geoms) == 1 else shapely.union_all(geoms)
        geom = shapely.force_2d(geom)
        polygons = shapely.get_parts(geom)
        polygons = polygons[shapely.get_type_id(polygons) == 3]  # drop slivers: lines, points
        if polygons.size == 0:
            result.skipped["empty geometry"] += 1
            continue
        geom = polygons[0] if polygons.size == 1 else shapely.multipolygons(polygons)
        point = shapely.point_on_surface(geom)
        rows.append(
            {
                "layer": name,
                "key": k,
                "name": names.get(k),
                "geometry": shapely.to_geojson(geom),
                "lat": float(shapely.get_y(point)),
                "lon": float(shapely.get_x(point)),
            }
        )
    with engine.begin() as conn:
        version = conn.execute(
            select(area_layer.c.version).where(area_layer.c.name == name)
        ).scalar()
        result.version = (version or 0) + 1
        conn.execute(delete(area).where(area.c.layer == name))
        conn.execute(delete(area_layer).where(area_layer.c.name == name))
        conn.execute(
            insert(area_layer).values(
                name=name,
                key_property=key,
                source=str(path)[-255:],
                features=len(rows),
                version=result.version,
                imported=datetime.now(UTC).replace(tzinfo=None),
            )
        )
        for i in range(0, len(rows), 1000):
            conn.execute(insert(area), rows[i : i + 1000])
    result.areas = len(rows)
    return result
