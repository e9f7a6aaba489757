"""Reading the datamap grid tables into numpy arrays, fast enough for millions of rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, Integer, cast, func, literal, select
from sqlalchemy.sql.elements import ColumnElement

from netatlas.datamap.models import datamap_tables
from netatlas.datamap.points import I64, U64

_FETCH = 100_000
_ROW = np.dtype([("grid", "S8"), ("created", "<i8"), ("modified", "<i8")])
_UNIX_JULIAN_DAY = 2440587.5


@dataclass(frozen=True)
class Cells:
    """Every grid cell, sorted by key: dates are days since 1970-01-01."""

    keys: U64
    created: I64
    modified: I64

    @property
    def size(self) -> int:
        return int(self.keys.size)


def _epoch_days(column: ColumnElement[object], dialect: str) -> ColumnElement[int]:
    # Dates as day numbers computed by the database: converting a million date objects or
    # strings in Python would cost more than the rest of the read.
    if dialect == "sqlite":
        return cast(func.julianday(column) - _UNIX_JULIAN_DAY, Integer)
    return cast(column - literal("1970-01-01").cast(column.type), Integer)


def load_cells(engine: Engine) -> Cells:
    """All rows of the four quadrant tables (each table read by one statement).

    Rows go straight from the driver's cursor into a structured array: going through
    SQLAlchemy's result objects costs more than the database's own work.
    """
    parts: list[npt.NDArray[np.void]] = []
    with engine.connect() as conn:
        cursor = conn.connection.cursor()
        try:
            for table in datamap_tables.values():
                query = select(
                    table.c.grid,
                    _epoch_days(table.c.created, conn.dialect.name),
                    _epoch_days(table.c.modified, conn.dialect.name),
                )
                compiled = query.compile(
                    dialect=conn.dialect, compile_kwargs={"literal_binds": True}
                )
                cursor.execute(str(compiled))
                while batch := cursor.fetchmany(_FETCH):
                    parts.append(np.array(batch, dtype=_ROW))
        finally:
            cursor.close()
    rows = np.concatenate(parts) if parts else np.zeros(0, dtype=_ROW)
    # "S8" keeps all eight bytes in the buffer (only reading it as bytes would strip NULs).
    pairs = rows["grid"].copy().view(">u4").reshape(-1, 2).astype(np.uint64)
    keys = (pairs[:, 0] << np.uint64(32)) | pairs[:, 1]
    order = np.argsort(keys, kind="stable")
    return Cells(
        keys[order],
        rows["created"][order].astype(np.int64),
        rows["modified"][order].astype(np.int64),
    )
