"""Writing station rows for the locate tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert

from netatlas.location.ids import area_id, cell_id, mac_shard
from netatlas.location.models import RADIO_CODE, blue_shards, cell_area, cell_tables, wifi_shards

NOW = datetime(2025, 6, 15, 12, 0, 0)  # naive UTC, as stored
TODAY = NOW.date()
NOW_UTC = NOW.replace(tzinfo=UTC)


def _station(
    lat: float | None,
    lon: float | None,
    *,
    radius: int | None = 5,
    samples: int | None = 1,
    region: str | None = "GB",
    created: datetime = NOW,
    modified: datetime = NOW,
    last_seen: date | None = TODAY,
    block_last: date | None = None,
    block_count: int | None = None,
) -> dict[str, Any]:
    return {
        "lat": lat,
        "lon": lon,
        "radius": radius,
        "samples": samples,
        "region": region,
        "created": created,
        "modified": modified,
        "last_seen": last_seen,
        "block_first": block_last,
        "block_last": block_last,
        "block_count": block_count,
    }


def add_macs(
    engine: Engine, kind: str, rows: list[tuple[str, float | None, float | None]], **kw: Any
) -> None:
    tables = wifi_shards if kind == "wifi" else blue_shards
    with engine.begin() as conn:
        for mac, lat, lon in rows:
            values = {"mac": bytes.fromhex(mac), **_station(lat, lon, **kw)}
            conn.execute(insert(tables[mac_shard(mac)]).values(**values))


def add_cell(
    engine: Engine,
    radio: str,
    mcc: int,
    mnc: int,
    lac: int,
    cid: int,
    lat: float,
    lon: float,
    **kw: Any,
) -> None:
    kw.setdefault("radius", 500)
    kw.setdefault("samples", 10)
    values = {
        "cellid": cell_id(RADIO_CODE[radio], mcc, mnc, lac, cid),
        "radio": RADIO_CODE[radio],
        "mcc": mcc,
        "mnc": mnc,
        "lac": lac,
        "cid": cid,
        **_station(lat, lon, **kw),
    }
    with engine.begin() as conn:
        conn.execute(insert(cell_tables[radio]).values(**values))


def add_area(
    engine: Engine,
    radio: str,
    mcc: int,
    mnc: int,
    lac: int,
    lat: float,
    lon: float,
    *,
    radius: int = 25_000,
    num_cells: int = 4,
    region: str = "GB",
) -> None:
    values = {
        "areaid": area_id(RADIO_CODE[radio], mcc, mnc, lac),
        "radio": RADIO_CODE[radio],
        "mcc": mcc,
        "mnc": mnc,
        "lac": lac,
        "lat": lat,
        "lon": lon,
        "radius": radius,
        "region": region,
        "avg_cell_radius": 1000,
        "num_cells": num_cells,
        "created": NOW - timedelta(days=30),
        "modified": NOW,
        "last_seen": TODAY,
    }
    with engine.begin() as conn:
        conn.execute(insert(cell_area).values(**values))
