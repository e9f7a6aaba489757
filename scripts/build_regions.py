#!/usr/bin/env python3
"""Build the region package data in ``src/netatlas/geo/data/`` (run once, output is committed).

Inputs (none of them is needed at run time):

* Natural Earth admin-0 country polygons (public domain), as pre-built TopoJSON in the npm
  package ``world-atlas`` v2: ``countries-50m.json``, plus ``countries-10m.json`` for the few
  territories that the 1:50m file leaves out (Gibraltar, Tuvalu, U.S. Minor Outlying Islands)::

      mkdir -p /tmp/wa && cd /tmp/wa && npm install world-atlas@2

* The PyPI packages ``pycountry`` (ISO 3166 numeric -> alpha-2 codes and English names) and
  ``mobile-codes`` (MCC -> regions, the table Ichnaea used).  Install them out of the project's
  environment, e.g. ``pip install --target /tmp/bdeps pycountry mobile-codes``.

Run from the repository root::

    PYTHONPATH=/tmp/bdeps .venv/bin/python scripts/build_regions.py \\
        --world-atlas /tmp/wa/node_modules/world-atlas

Outputs:

* ``regions.geojson.gz``: one Feature per region, exact polygons, properties ``code`` (ISO
  alpha-2, ``XK`` for Kosovo) and ``radius`` (metres, see :func:`max_radius_m`).
* ``regions_buffer.geojson.gz``: the same regions buffered by 0.5 degrees (Ichnaea's rule for
  keeping coastal and border observations), clipped to the valid latitude range and with any
  part that sticks out past the antimeridian wrapped round to the other side.
* ``region_names.json``: region code -> English short name (all ISO 3166-1 codes, plus XK and
  the GENC codes XW and XR).
* ``mcc.json``: mobile country code -> sorted list of region codes that have a polygon.

Decisions about the source data:

* TopoJSON arcs are decoded here in Python (delta-encoded, quantised); no node at run time.
* Features without an ISO numeric id: Kosovo -> ``XK``; N. Cyprus merged into ``CY``;
  Somaliland merged into ``SO``; Siachen Glacier merged into ``IN`` (administered by India);
  "Indian Ocean Ter." split into Christmas Island ``CX`` and the Cocos (Keeling) Islands ``CC``.
* Natural Earth draws some overseas territories as parts of their sovereign's feature.  They
  are split out by location, so that each ISO region (and its MCC) has its own polygon:
  France -> GF, GP, MQ, RE, YT; Netherlands -> BQ; Norway -> SJ (Svalbard, Jan Mayen);
  New Zealand -> TK.  Ashmore and Cartier Is. (id 036) is merged into ``AU``.
* Territories only in the 1:10m file (any id whose region the 1:50m file lacks) are added from
  it and cut out of the 1:50m polygons they overlap (Gibraltar out of Spain).
* The MCC table starts from ``mobile-codes`` and adds ITU E.212 assignments that package lacks
  (see ``MCC_EXTRA``); regions without a polygon are dropped, and an MCC none of whose regions
  has a polygon is not listed (so it is not valid).  Unlike Ichnaea, Tuvalu (553) stays valid:
  Ichnaea only left it out because its shapefile had no Tuvalu polygon, and ours has one.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, box

BUFFER_DEGREES = 0.5
# Grid the coordinates are snapped to in the output files (about 10 m at the equator).  The
# source is quantised to ~0.0036 x 0.0017 degrees already, so this loses nothing of note.
GRID = 1e-4
# Douglas-Peucker tolerance for the buffered shapes; their outline is 0.5 degrees from land.
BUFFER_SIMPLIFY = 0.01

EARTH_RADIUS_M = 6_371_000.0

# Features without a usable ISO numeric id, by their Natural Earth name.
UNNUMBERED = {
    "Kosovo": "XK",
    "N. Cyprus": "CY",
    "Somaliland": "SO",
    "Siachen Glacier": "IN",
}

# Parts of a sovereign's feature that are regions of their own: parent -> (child, bbox).
# A part goes to the child when its representative point lies in the bbox
# (min_lon, min_lat, max_lon, max_lat).
SPLIT_PARTS: dict[str, list[tuple[str, tuple[float, float, float, float]]]] = {
    "FR": [
        ("GF", (-55.0, 1.5, -51.0, 6.5)),
        ("GP", (-62.0, 15.7, -60.8, 16.7)),
        ("MQ", (-61.4, 14.3, -60.7, 15.0)),
        ("RE", (55.0, -21.5, 56.0, -20.7)),
        ("YT", (44.8, -13.2, 45.5, -12.5)),
    ],
    "NL": [("BQ", (-69.0, 11.5, -62.5, 18.0))],
    "NO": [("SJ", (10.0, 74.0, 35.0, 81.5)), ("SJ", (-9.5, 70.5, -7.5, 71.5))],
    "NZ": [("TK", (-173.0, -10.0, -170.5, -8.0))],
    # The world-atlas "Indian Ocean Ter." feature (no id) is handled as parent "_IOT".
    "_IOT": [("CX", (105.0, -11.0, 106.5, -10.0)), ("CC", (96.0, -12.5, 97.5, -11.5))],
}

# ITU E.212 assignments missing from mobile-codes 0.7, or territories that use their
# sovereign's MCCs.  Added to (never replacing) the package's table.
MCC_EXTRA: dict[int, tuple[str, ...]] = {
    # 310-316 are the USA's; its territories' networks use them too.
    **{mcc: ("US", "PR", "VI", "GU", "AS", "MP", "UM") for mcc in range(310, 317)},
    332: ("VI",),
    534: ("MP",),
    535: ("GU",),
    221: ("XK",),
    235: ("GG", "IM", "JE"),
    340: ("BL",),
    647: ("YT",),
    742: ("GF",),
    242: ("SJ",),
    505: ("CX", "CC"),
    543: ("WF",),
    554: ("TK",),
    658: ("SH",),
    995: ("IO",),
}

# Name overrides where pycountry's (ISO) short name is not the usual English one.
NAME_OVERRIDES = {
    "BN": "Brunei",
    "CD": "Democratic Republic of the Congo",
    "CG": "Republic of the Congo",
    "FK": "Falkland Islands",
    "FM": "Micronesia",
    "PS": "Palestine",
    "RU": "Russia",
    "VA": "Vatican City",
    "VG": "British Virgin Islands",
    "VI": "U.S. Virgin Islands",
    "XK": "Kosovo",
    "XR": "Svalbard",
    "XW": "Palestinian Territories",
}


# --------------------------------------------------------------------------- TopoJSON


def decode_topojson(path: Path) -> Iterator[tuple[str | None, str, MultiPolygon]]:
    """Yield (numeric id, name, geometry) for each country of a world-atlas TopoJSON file."""
    topo = json.loads(path.read_text(encoding="utf-8"))
    (sx, sy), (tx, ty) = topo["transform"]["scale"], topo["transform"]["translate"]
    arcs: list[np.ndarray] = []
    for arc in topo["arcs"]:
        q = np.cumsum(np.asarray(arc, dtype=np.float64), axis=0)
        arcs.append(q * (sx, sy) + (tx, ty))

    def ring(indexes: list[int]) -> np.ndarray:
        pieces = []
        for n, i in enumerate(indexes):
            pts = arcs[i] if i >= 0 else arcs[~i][::-1]
            pieces.append(pts if n == 0 else pts[1:])
        return unwrap(np.concatenate(pieces))

    def polygon(rings: list[list[int]]) -> MultiPolygon | None:
        coords = [ring(r) for r in rings]
        # Quantisation collapses some tiny islands and lakes to fewer than 3 distinct points.
        if len(np.unique(coords[0], axis=0)) < 3:
            return None
        shell = coords[0]
        lo, hi = shell[:, 0].min(), shell[:, 0].max()
        holes = []
        for hole in coords[1:]:
            if len(np.unique(hole, axis=0)) < 3:
                continue
            mid = hole[:, 0].mean()
            shift = 360.0 if mid < lo else -360.0 if mid > hi else 0.0
            holes.append(hole + np.array([shift, 0.0]))
        poly = Polygon(shell, holes)
        if lo < -180.0 or hi > 180.0:
            return wrap_antimeridian(polygonal(poly))
        return polygonal(poly)

    for obj in topo["objects"]["countries"]["geometries"]:
        if obj["type"] == "Polygon":
            polys = [polygon(obj["arcs"])]
        elif obj["type"] == "MultiPolygon":
            polys = [polygon(p) for p in obj["arcs"]]
        else:
            continue
        parts = [q for p in polys if p is not None for q in p.geoms]
        if parts:
            yield obj.get("id"), obj["properties"]["name"], MultiPolygon(parts)


# --------------------------------------------------------------------------- geometry


def unwrap(ring: np.ndarray) -> np.ndarray:
    """Make a ring's longitudes continuous where it crosses the antimeridian.

    world-atlas keeps rings spherical: Russia's or Fiji's jump from +180 to -180 mid-ring.
    Unwrapped, such a ring lies partly beyond +-180 and is cut back by wrap_antimeridian().
    A ring round a pole (Antarctica) does not close once unwrapped; it is closed along the pole.
    """
    x = ring[:, 0]
    jumps = np.diff(x)
    offset = np.concatenate([[0.0], np.cumsum(-360.0 * np.sign(jumps) * (np.abs(jumps) > 180))])
    out: np.ndarray = ring + np.column_stack([offset, np.zeros_like(offset)])
    if not np.isclose(out[0, 0], out[-1, 0]):
        pole = -90.0 if out[:, 1].mean() < 0 else 90.0
        out = np.vstack([out, [[out[-1, 0], pole], [out[0, 0], pole], out[0]]])
    return out


def polygonal(geom: Any) -> MultiPolygon:
    """Valid MultiPolygon made of the polygonal parts of ``geom``."""
    geom = shapely.make_valid(geom)
    parts: list[Polygon] = []
    for part in shapely.get_parts(geom):
        if isinstance(part, Polygon):
            parts.append(part)
        elif isinstance(part, MultiPolygon):
            parts.extend(part.geoms)
        elif part.geom_type == "GeometryCollection":
            parts.extend(polygonal(part).geoms)
    return MultiPolygon([p for p in parts if not p.is_empty])


def snap(geom: Any) -> MultiPolygon:
    return polygonal(shapely.set_precision(geom, GRID))


def split_parts(code: str, geom: MultiPolygon) -> dict[str, list[Polygon]]:
    out: dict[str, list[Polygon]] = defaultdict(list)
    for part in geom.geoms:
        pt = part.representative_point()
        target = code
        for child, (x0, y0, x1, y1) in SPLIT_PARTS.get(code, []):
            if x0 <= pt.x <= x1 and y0 <= pt.y <= y1:
                target = child
                break
        out[target].append(part)
    return out


def wrap_antimeridian(geom: Any) -> MultiPolygon:
    """Clip to the world, moving what lies past +-180 degrees round to the other side."""
    world = box(-180.0, -90.0, 180.0, 90.0)
    pieces = [geom.intersection(world)]
    for shift in (-360.0, 360.0):
        moved = shapely.transform(geom, lambda c, s=shift: c + np.array([s, 0.0]))
        overflow = moved.intersection(world)
        if not overflow.is_empty:
            pieces.append(overflow)
    return polygonal(shapely.union_all(pieces))


def max_radius_m(geom: MultiPolygon) -> float:
    """Great-circle distance from the centroid to the farthest point of the outline, in metres.

    A circle of this radius round the centroid covers the whole region.  Rounded up to whole
    kilometres.  Regions straddling the antimeridian (Russia, Fiji, ...) take their centroid
    with longitudes shifted into [0, 360) when that gives the narrower extent.
    """
    shifted = shapely.transform(geom, lambda c: np.where(c < 0, c + np.array([360.0, 0.0]), c))
    x0, _, x1, _ = geom.bounds
    sx0, _, sx1, _ = shifted.bounds
    centroid = (shifted if (sx1 - sx0) < (x1 - x0) else geom).centroid
    outline = shapely.get_coordinates(geom.boundary)
    lat1, lon1 = np.radians(centroid.y), np.radians(centroid.x)
    lat2, lon2 = np.radians(outline[:, 1]), np.radians(outline[:, 0])
    a = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    far = float(np.max(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))))
    return float(math.ceil(far / 1000.0) * 1000.0)


def buffered(geom: MultiPolygon) -> MultiPolygon:
    buf = geom.buffer(BUFFER_DEGREES)
    buf = shapely.simplify(buf, BUFFER_SIMPLIFY, preserve_topology=True)
    return snap(wrap_antimeridian(buf))


# --------------------------------------------------------------------------- output


def _coords(ring: Any) -> list[list[float]]:
    return [[round(x, 4), round(y, 4)] for x, y in ring.coords]


def geojson_geometry(geom: MultiPolygon) -> dict[str, Any]:
    return {
        "type": "MultiPolygon",
        "coordinates": [
            [_coords(p.exterior), *(_coords(r) for r in p.interiors)] for p in geom.geoms
        ],
    }


def write_features(
    path: Path, features: Iterable[tuple[str, MultiPolygon, dict[str, Any]]]
) -> None:
    collection = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"code": code, **props},
                "geometry": geojson_geometry(geom),
            }
            for code, geom, props in features
        ],
    }
    text = json.dumps(collection, separators=(",", ":"), sort_keys=False)
    # mtime=0 keeps the output byte-for-byte reproducible.
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as fh:
        fh.write(text.encode("utf-8"))


def write_json(path: Path, data: dict[str, Any]) -> None:
    """A JSON object with one key per line: small, and readable in a diff."""
    lines = [
        f"{json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in sorted(data.items())
    ]
    path.write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")


# --------------------------------------------------------------------------- build


def build_shapes(atlas: Path, numeric_to_alpha2: dict[str, str]) -> dict[str, MultiPolygon]:
    parts: dict[str, list[Polygon]] = defaultdict(list)
    for num, name, geom in decode_topojson(atlas / "countries-50m.json"):
        if name == "Indian Ocean Ter.":
            code = "_IOT"
        elif num is not None and num in numeric_to_alpha2:
            code = numeric_to_alpha2[num]
        elif name in UNNUMBERED:
            code = UNNUMBERED[name]
        else:
            print(f"dropping 1:50m feature {name!r} (id {num!r})", file=sys.stderr)
            continue
        for target, polys in split_parts(code, polygonal(geom)).items():
            if target.startswith("_"):
                raise SystemExit(f"{name}: part at {polys[0].representative_point()} unmatched")
            parts[target].extend(polys)

    shapes = {code: snap(shapely.union_all(polys)) for code, polys in parts.items()}

    for num, name, geom in decode_topojson(atlas / "countries-10m.json"):
        extra_code = numeric_to_alpha2.get(num or "")
        if extra_code is None or extra_code in shapes:
            continue
        code = extra_code
        extra = snap(geom)
        for other, shape in shapes.items():
            if shape.intersects(extra):
                shapes[other] = snap(shape.difference(extra))
        print(f"added {code} ({name}) from the 1:10m file", file=sys.stderr)
        shapes[code] = extra
    return dict(sorted(shapes.items()))


def build_mcc(valid: set[str]) -> dict[str, list[str]]:
    import mobile_codes  # type: ignore[import-not-found]

    table: dict[int, set[str]] = defaultdict(set)
    for country in mobile_codes._countries():
        codes = country.mcc if isinstance(country.mcc, list | tuple) else [country.mcc]
        for mcc in codes:
            if mcc:
                table[int(mcc)].add(country.alpha2)
    for mcc, extra in MCC_EXTRA.items():
        table[mcc].update(extra)

    out: dict[str, list[str]] = {}
    for mcc, regions in sorted(table.items()):
        kept = sorted(regions & valid)
        if dropped := sorted(regions - valid):
            print(f"MCC {mcc}: no polygon for {dropped}", file=sys.stderr)
        if kept and 1 <= mcc <= 999:
            out[f"{mcc:03d}"] = kept
    return out


def build_names() -> dict[str, str]:
    import pycountry  # type: ignore[import-not-found]

    names = {c.alpha_2: getattr(c, "common_name", None) or c.name for c in pycountry.countries}
    names.update(NAME_OVERRIDES)
    return dict(sorted(names.items()))


def check_overlaps(shapes: dict[str, MultiPolygon]) -> None:
    codes = list(shapes)
    geoms = np.array([shapes[c] for c in codes])
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="overlaps")
    overlaps = [
        f"{codes[i]}/{codes[j]}: {shapes[codes[i]].intersection(shapes[codes[j]]).area:.6f}"
        for i, j in zip(left, right, strict=True)
        if i < j
    ]
    if overlaps:
        # netatlas.geo.regions relies on a point being inside at most one exact polygon.
        raise SystemExit(f"overlapping regions (square degrees): {overlaps}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--world-atlas", type=Path, required=True, help="world-atlas package dir")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent.parent / "src/netatlas/geo/data",
    )
    args = parser.parse_args(argv)

    import pycountry

    numeric_to_alpha2 = {c.numeric: c.alpha_2 for c in pycountry.countries}
    shapes = build_shapes(args.world_atlas, numeric_to_alpha2)
    check_overlaps(shapes)
    print(f"{len(shapes)} regions", file=sys.stderr)

    args.out.mkdir(parents=True, exist_ok=True)
    write_features(
        args.out / "regions.geojson.gz",
        ((code, geom, {"radius": max_radius_m(geom)}) for code, geom in shapes.items()),
    )
    write_features(
        args.out / "regions_buffer.geojson.gz",
        ((code, buffered(geom), {}) for code, geom in shapes.items()),
    )
    names = build_names()
    missing = sorted(set(shapes) - set(names))
    if missing:
        raise SystemExit(f"no English name for {missing}")
    write_json(args.out / "region_names.json", names)
    write_json(args.out / "mcc.json", build_mcc(set(shapes)))
    for f in sorted(args.out.iterdir()):
        print(f"{f.name}: {f.stat().st_size} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
