"""Reading the grid tables into arrays, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import numpy as np
from sqlalchemy import Engine

from netatlas.datamap.cells import load_cells
from netatlas.datamap.grid import grid_of
from netatlas.datamap.points import cell_keys
from tests.datamap.factories import add_cells

EPOCH = dt.date(1970, 1, 1)


def test_load_cells_from_all_quadrants(engine: Engine) -> None:
    assert load_cells(engine).size == 0
    cells = [
        (52.52, 13.405, dt.date(2024, 1, 1), dt.date(2025, 6, 1)),  # ne
        (40.71, -74.006, dt.date(2025, 6, 1), dt.date(2025, 6, 1)),  # nw
        (-33.87, 151.21, dt.date(2023, 12, 31), dt.date(2024, 2, 29)),  # se
        (-22.9, -43.2, dt.date(1999, 1, 1), dt.date(2000, 1, 1)),  # sw
        (0.0, -180.0, dt.date(2025, 1, 1), dt.date(2025, 1, 2)),  # NUL bytes in the key
    ]
    add_cells(engine, cells)
    loaded = load_cells(engine)
    grids = np.array([grid_of(lat, lon) for lat, lon, _, _ in cells])
    expected = cell_keys(grids[:, 0], grids[:, 1])
    order = np.argsort(expected)
    assert loaded.keys.tolist() == expected[order].tolist()
    created = [(c[2] - EPOCH).days for c in cells]
    modified = [(c[3] - EPOCH).days for c in cells]
    assert loaded.created.tolist() == np.array(created)[order].tolist()
    assert loaded.modified.tolist() == np.array(modified)[order].tolist()
