"""Area layers: GeoJSON and shapefile import, point assignment, re-binning."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine

from netatlas.broadband.areas import (
    H3Layer,
    QuadkeyLayer,
    UnknownLayer,
    assign,
    get_layer,
    rebin_codes,
)
from netatlas.broadband.areas_import import AreaImportError, import_layer


def square(key: str, x0: float, y0: float, size: float = 1.0, **props: object) -> dict[str, object]:
    ring = [[x0, y0], [x0 + size, y0], [x0 + size, y0 + size], [x0, y0 + size], [x0, y0]]
    return {
        "type": "Feature",
        "properties": {"GEOID": key, **props},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def write(path: Path, features: list[dict[str, object]]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def test_geojson_layer(engine: Engine, tmp_path: Path) -> None:
    feats = [square("A", 0, 0, NAME="Alpha"), square("B", 1, 0), square("A", 0, 1)]
    feats.append(
        {
            "type": "Feature",
            "properties": {"GEOID": "P"},
            "geometry": {"type": "Point", "coordinates": [0, 0]},
        }
    )
    feats.append(square("", 5, 5))
    result = import_layer(engine, "blocks", write(tmp_path / "b.geojson", feats), "GEOID", "NAME")
    assert result.areas == 2 and result.version == 1
    assert dict(result.skipped) == {"not a polygon": 1, "no key": 1}
    layer = get_layer(engine, "blocks")
    lat = np.array([0.5, 1.5, 0.5, 9.0, np.nan])
    lon = np.array([0.5, 0.5, 1.5, 9.0, 0.0])
    assert layer.keys(layer.assign(lat, lon)[:3]) == ["A", "A", "B"]
    assert layer.assign(lat, lon)[3:].tolist() == [-1, -1]
    assert layer.name("A") == "Alpha"
    geometry = json.loads(layer.geometry("A") or b"")
    assert geometry["type"] == "Polygon"  # the two squares merged
    again = import_layer(
        engine, "blocks", write(tmp_path / "c.geojson", [square("C", 0, 0)]), "GEOID"
    )
    assert again.version == 2
    assert get_layer(engine, "blocks").keys(np.array([0])) == ["C"]


def test_import_errors(engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path / "a.geojson", [square("A", 0, 0)])
    with pytest.raises(AreaImportError, match="properties: GEOID"):
        import_layer(engine, "x", path, "COUNTYFP")
    with pytest.raises(AreaImportError, match="invalid layer name"):
        import_layer(engine, "h3:8", path, "GEOID")
    with pytest.raises(AreaImportError, match="longitude/latitude"):
        import_layer(engine, "x", write(tmp_path / "p.geojson", [square("A", 500000, 0)]), "GEOID")
    (tmp_path / "bad.geojson").write_text("{")
    with pytest.raises(AreaImportError):
        import_layer(engine, "x", tmp_path / "bad.geojson", "GEOID")
    with pytest.raises(UnknownLayer):
        get_layer(engine, "x")


def write_polygon_shapefile(
    base: Path, field: str, value: str, ring: list[tuple[float, float]]
) -> None:
    """One polygon with one text attribute, as ESRI's shapefile specification lays it out.

    Written by hand so that the test reads a well-formed file whatever pyshp release is
    installed (some releases' writers declare wrong header lengths)."""
    xs, ys = [x for x, _ in ring], [y for _, y in ring]
    bbox = struct.pack("<4d", min(xs), min(ys), max(xs), max(ys))
    content = struct.pack("<i", 5) + bbox + struct.pack("<2i", 1, len(ring)) + struct.pack("<i", 0)
    content += b"".join(struct.pack("<2d", x, y) for x, y in ring)
    record = struct.pack(">2i", 1, len(content) // 2) + content

    def header(total_bytes: int) -> bytes:
        return (
            struct.pack(">7i", 9994, 0, 0, 0, 0, 0, total_bytes // 2)
            + struct.pack("<2i", 1000, 5)
            + bbox
            + struct.pack("<4d", 0, 0, 0, 0)
        )

    base.with_suffix(".shp").write_bytes(header(100 + len(record)) + record)
    base.with_suffix(".shx").write_bytes(header(108) + struct.pack(">2i", 50, len(content) // 2))
    width = len(value)
    descriptor = field.encode().ljust(11, b"\0") + b"C" + bytes(4) + bytes([width, 0]) + bytes(14)
    dbf_header = struct.pack("<B3BiHH20x", 3, 124, 1, 1, 1, 32 + 32 + 1, 1 + width)
    base.with_suffix(".dbf").write_bytes(
        dbf_header + descriptor + b"\r" + b" " + value.encode() + b"\x1a"
    )


def test_shapefile_layer(engine: Engine, tmp_path: Path) -> None:
    base = tmp_path / "counties"
    write_polygon_shapefile(base, "GEOID", "01001", [(0, 0), (0, 1), (1, 1), (1, 0), (0, 0)])
    result = import_layer(engine, "counties", base.with_suffix(".shp"), "GEOID")
    assert result.areas == 1
    layer = get_layer(engine, "counties")
    assert layer.keys(layer.assign(np.array([0.5]), np.array([0.5]))) == ["01001"]
    base.with_suffix(".prj").write_text('PROJCS["NAD83 / UTM zone 17N",GEOGCS["NAD83"]]')
    with pytest.raises(AreaImportError, match="projected"):
        import_layer(engine, "counties", base.with_suffix(".shp"), "GEOID")


def test_grids() -> None:
    lat, lon = np.array([51.48, -33.87, 95.0]), np.array([-0.005, 151.21, 0.0])
    quad = QuadkeyLayer(16)
    codes = quad.assign(lat, lon)
    assert codes[2] == -1
    keys = quad.keys(codes[:2])
    assert all(len(k) == 16 for k in keys)
    assert quad.codes(keys).tolist() == codes[:2].tolist()
    clat, clon = quad.centres(codes[:2])
    assert abs(clat[0] - 51.48) < 0.01 and abs(clon[0] + 0.005) < 0.01
    parents = rebin_codes(quad, codes[:2], QuadkeyLayer(10))
    assert QuadkeyLayer(10).keys(parents) == [k[:10] for k in keys]
    hexes = H3Layer(8)
    cells = hexes.assign(lat, lon)
    assert cells[2] == -1
    assert hexes.codes(hexes.keys(cells[:2])).tolist() == cells[:2].tolist()
    assert hexes.codes(["zz", "8a2a1072b59ffff"]).tolist() == [-1, -1]  # junk, wrong level
    parent = rebin_codes(hexes, cells[:2], H3Layer(5))
    assert H3Layer(5).assign(lat[:2], lon[:2]).tolist() == parent.tolist()
    many = np.repeat(lat[:2], 2000), np.repeat(lon[:2], 2000)
    assert assign(hexes, *many).tolist() == hexes.assign(*many).tolist()
    geometry = json.loads(hexes.geometry(hexes.keys(cells[:1])[0]) or b"")
    assert len(geometry["coordinates"][0]) == 7


def test_countries(engine: Engine) -> None:
    layer = get_layer(engine, "countries")
    codes = layer.assign(np.array([51.48, 48.85]), np.array([-0.005, 2.35]))
    assert layer.keys(codes) == ["GB", "FR"]
    assert layer.name("GB") == "United Kingdom"
    hexes = H3Layer(6)
    cells = hexes.assign(np.array([48.85]), np.array([2.35]))
    assert layer.keys(rebin_codes(hexes, cells, layer)) == ["FR"]
