"""Demo data: a small simulated town whose stumblers submit through the normal pipeline.

Networks sit at fixed places around a town centre; simulated walkers with GPS noise hear the
ones in range and submit reports, which are queued exactly as the submit API queues them. The
generator is deterministic (a fixed seed), so a fresh install always shows the same map.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import time
from dataclasses import dataclass

from sqlalchemy import Engine, select

from netatlas.datamap.grid import decode_chunk, grid_items
from netatlas.datamap.models import datamap_tables
from netatlas.db.engine import engine_from_settings
from netatlas.db.upsert import insert_for
from netatlas.location.models import wifi_shards
from netatlas.location.submit.intake import INCOMING
from netatlas.location.submit.report import (
    BlueBeacon,
    CellTower,
    Position,
    Report,
    Submission,
    WifiAccessPoint,
    encode_submission,
)
from netatlas.queue import Queue, make_queue
from netatlas.settings import Settings

# Greenwich, London: inside the test GeoIP database's region and an easy place to recognise.
CENTRE = (51.4800, -0.0050)
METRES_PER_DEG_LAT = 111_320.0


@dataclass(frozen=True)
class Town:
    wifis: list[tuple[str, float, float]]
    blues: list[tuple[str, float, float]]
    cells: list[tuple[int, int, int, int, float, float]]  # mnc, lac, cid, radio code, lat, lon


def _offset(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    return (
        lat + north_m / METRES_PER_DEG_LAT,
        lon + east_m / (METRES_PER_DEG_LAT * math.cos(math.radians(lat))),
    )


def _mac(rng: random.Random) -> str:
    first = rng.randrange(256) & 0xFC  # globally administered, unicast
    return f"{first:02x}" + "".join(f"{rng.randrange(256):02x}" for _ in range(5))


def make_town(seed: int = 1, wifis: int = 1500, blues: int = 400, cells: int = 24) -> Town:
    rng = random.Random(seed)
    lat0, lon0 = CENTRE
    span = 1500.0
    w = [
        (_mac(rng), *_offset(lat0, lon0, rng.uniform(-span, span), rng.uniform(-span, span)))
        for _ in range(wifis)
    ]
    b = [
        (_mac(rng), *_offset(lat0, lon0, rng.uniform(-span, span), rng.uniform(-span, span)))
        for _ in range(blues)
    ]
    c = []
    for i in range(cells):
        lat, lon = _offset(lat0, lon0, rng.uniform(-3000, 3000), rng.uniform(-3000, 3000))
        c.append((10 + i % 3, 100 + i % 4, 1000 + i, i % 2, lat, lon))
    return Town(w, b, c)


def _distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    dy = (lat2 - lat1) * METRES_PER_DEG_LAT
    dx = (lon2 - lon1) * METRES_PER_DEG_LAT * math.cos(math.radians(lat1))
    return math.hypot(dx, dy)


def walk_reports(town: Town, seed: int = 2, reports: int = 1500) -> list[Report]:
    rng = random.Random(seed)
    now = int(time.time() * 1000)
    out = []
    lat0, lon0 = CENTRE
    for _ in range(reports):
        lat, lon = _offset(lat0, lon0, rng.uniform(-1600, 1600), rng.uniform(-1600, 1600))
        noise = rng.uniform(3, 12)
        glat, glon = _offset(lat, lon, rng.gauss(0, noise / 2), rng.gauss(0, noise / 2))
        heard_w = [
            WifiAccessPoint(macAddress=mac, signalStrength=int(-40 - d / 3))
            for mac, wl, wn in town.wifis
            if (d := _distance_m(lat, lon, wl, wn)) < 120
        ]
        heard_b = [
            BlueBeacon(macAddress=mac, signalStrength=int(-50 - d))
            for mac, bl, bn in town.blues
            if (d := _distance_m(lat, lon, bl, bn)) < 40
        ]
        heard_c = [
            CellTower(
                radioType=("gsm", "lte")[radio],
                mobileCountryCode=234,
                mobileNetworkCode=mnc,
                locationAreaCode=lac,
                cellId=cid,
                signalStrength=int(-60 - d / 50),
            )
            for mnc, lac, cid, radio, cl, cn in town.cells
            if (d := _distance_m(lat, lon, cl, cn)) < 2500
        ][:3]
        if not (heard_w or heard_b or heard_c):
            continue
        out.append(
            Report(
                timestamp=now,
                position=Position(latitude=glat, longitude=glon, accuracy=noise, source="gnss"),
                wifiAccessPoints=heard_w,
                bluetoothBeacons=heard_b,
                cellTowers=heard_c,
            )
        )
    return out


def backdate_coverage(engine: Engine, reports: list[Report], days: int = 30) -> int:
    """Record the demo town's grid cells as first seen ``days`` ago.

    The coverage map draws a cell seen on one day only after a privacy delay; the demo town is
    simulated, so its coverage is dated as an established area's and shows on the first start.
    """
    first = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=days)
    items = grid_items(
        (r.position.latitude, r.position.longitude)
        for r in reports
        if r.position is not None
        and r.position.latitude is not None
        and r.position.longitude is not None
    )
    count = 0
    with engine.begin() as conn:
        for name, chunks in items.items():
            table = datamap_tables[name.rsplit("_", 1)[1]]
            rows = [
                {"grid": g, "created": first, "modified": first}
                for chunk in chunks
                for g in decode_chunk(chunk)
            ]
            stmt = insert_for(conn, table).on_conflict_do_nothing(index_elements=["grid"])
            conn.execute(stmt, rows)
            count += len(rows)
    return count


def queue_demo(queue: Queue, reports: int = 2000, engine: Engine | None = None) -> int:
    """Queue the demo town's reports; returns how many were queued."""
    items = walk_reports(make_town(), reports=reports)
    if engine is not None:
        backdate_coverage(engine, items)
    now = int(time.time() * 1000)
    chunks = [items[i : i + 50] for i in range(0, len(items), 50)]
    queue.push(
        INCOMING,
        [encode_submission(Submission(reports=c, api_key=None, received=now)) for c in chunks],
    )
    return len(items)


def seed_once(settings: Settings) -> int:
    """Queue the demo town on the first start of an install; 0 when already done."""
    marker = settings.data_dir / "demo-seeded"
    if marker.exists():
        return 0
    engine = engine_from_settings(settings, pooled=False)
    try:
        with engine.connect() as conn:
            has_data = any(
                conn.execute(select(t.c.mac).limit(1)).first() is not None
                for t in wifi_shards.values()
            )
        count = 0 if has_data else queue_demo(make_queue(settings, engine), engine=engine)
        from netatlas.broadband.mlab.demo import seed_broadband_demo

        seed_broadband_demo(engine, CENTRE, settings.aggregations_path)  # speed tests, if none yet
    finally:
        engine.dispose()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text("demo data queued\n" if count else "database was not empty\n")
    return count
