"""Rows of the datamap grid tables, written as the grid updater would."""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Iterable

from sqlalchemy import Engine, insert

from netatlas.datamap.grid import grid_of, quadrant
from netatlas.datamap.models import datamap_tables

Cell = tuple[float, float, dt.date, dt.date]  # lat, lon, created, modified


def grid_key(lat: float, lon: float) -> bytes:
    return struct.pack(">II", *grid_of(lat, lon))


def add_cells(engine: Engine, cells: Iterable[Cell]) -> None:
    rows: dict[str, list[dict[str, object]]] = {}
    for lat, lon, created, modified in cells:
        lat_i, lon_i = grid_of(lat, lon)
        row = {"grid": grid_key(lat, lon), "created": created, "modified": modified}
        rows.setdefault(quadrant(lat_i, lon_i), []).append(row)
    with engine.begin() as conn:
        for quad, items in rows.items():
            conn.execute(insert(datamap_tables[quad]), items)
