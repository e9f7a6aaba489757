"""Datamap grid: which 0.001° cells have seen a position, split in four by 36°N and 5°E."""

from __future__ import annotations

from sqlalchemy import Column, Date, Index, LargeBinary, Table

from netatlas.db.metadata import metadata

QUADRANTS = ("ne", "nw", "se", "sw")


def _grid_table(quad: str) -> Table:
    name = f"datamap_{quad}"
    return Table(
        name,
        metadata,
        # Two big-endian u32: round(lat*1000)+90000, round(lon*1000)+180000.
        Column("grid", LargeBinary(8), primary_key=True),
        Column("created", Date, nullable=False),
        Column("modified", Date, nullable=False),
        Index(f"ix_{name}_created", "created"),
        Index(f"ix_{name}_modified", "modified"),
    )


datamap_tables: dict[str, Table] = {q: _grid_table(q) for q in QUADRANTS}
