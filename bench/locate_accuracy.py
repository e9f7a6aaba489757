"""Locate accuracy on a simulated city, through the real submit pipeline and locate service.

The city (deterministic for a seed) has streets every 100 m, WiFi access points inside the blocks
(at random heights, each with its own transmit power and path-loss exponent), Bluetooth beacons
(dense in a shopping district), and LTE/NR macro cells with three sectors per mast. Stumblers
walk the streets with a GPS whose error is 5 m per axis and submit what their phone hears
(log-distance path loss with 4 dB shadowing for WiFi/BLE and 6 dB for cells, a per-phone RSSI
offset, and a miss chance near the sensitivity limit). The reports are queued exactly as the
submit API queues them and the station tables are built by ``process_until_idle`` (or, with
``--stations own``, by this script's own Ichnaea-style aggregation, for when the pipeline is
not runnable). Then held-out true places (half on the street, half indoors) are looked up
through :func:`netatlas.location.locate.locate`, and for each query type the script reports the
median and 90th-percentile error, the hit rate (an internal answer at all) and the share of
answers whose accuracy circle holds the true place. A last scenario moves 5 % of the access
points 10 km away, lets stumblers report them there, and checks answers at the old places.

    .venv/bin/python -m bench.locate_accuracy                 # default city, real pipeline
    .venv/bin/python -m bench.locate_accuracy --stations own  # own aggregation
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CENTRE = (52.5200, 13.4050)  # Berlin: MCC 262, region DE
M_PER_DEG = 111_319.49
MCC, MNC = 262, 1
GPS_SIGMA = 5.0  # metres per axis


def to_latlon(x: float, y: float) -> tuple[float, float]:
    lat0, lon0 = CENTRE
    return lat0 + y / M_PER_DEG, lon0 + x / (M_PER_DEG * math.cos(math.radians(lat0)))


def to_xy(lat: float, lon: float) -> tuple[float, float]:
    lat0, lon0 = CENTRE
    return (lon - lon0) * M_PER_DEG * math.cos(math.radians(lat0)), (lat - lat0) * M_PER_DEG


@dataclass
class Emitter:
    """A WiFi AP, BLE beacon or cell sector: where it is and how its signal falls off."""

    key: str | tuple[str, int, int, int, int]  # MAC, or (radio, mcc, mnc, lac, cid)
    x: float
    y: float
    height: float
    ref: float  # dBm at 1 m (cells: at 1 m with the sector gain)
    eta: float  # path-loss exponent
    azimuth: float | None = None  # cell sectors: main direction, radians


@dataclass
class City:
    side: float
    wifis: list[Emitter]
    blues: list[Emitter]
    cells: list[Emitter]
    streets: list[float] = field(default_factory=list)  # street centre lines (x and y alike)


def _mac(rng: random.Random) -> str:
    first = rng.randrange(256) & 0xFC  # globally administered unicast
    return f"{first:02x}" + "".join(f"{rng.randrange(256):02x}" for _ in range(5))


def _in_block(rng: random.Random, side: float, streets: list[float]) -> tuple[float, float]:
    """A place inside a building: 70 % in the street-front buildings (8-30 m from the street's
    centre line), 30 % anywhere in the block (rear buildings, courtyards)."""
    half = side / 2
    while True:
        if rng.random() < 0.7:
            s = rng.choice(streets)
            t = rng.uniform(-half, half)
            off = s + rng.choice([-1, 1]) * rng.uniform(8, 30)
            x, y = (off, t) if rng.random() < 0.5 else (t, off)
        else:
            x, y = rng.uniform(-half, half), rng.uniform(-half, half)
        if abs(x) > half or abs(y) > half:
            continue
        if min(abs(x - s) for s in streets) > 8 and min(abs(y - s) for s in streets) > 8:
            return x, y


def make_city(seed: int = 7, side: float = 2000.0, wifi_per_km2: float = 900.0) -> City:
    rng = random.Random(seed)
    streets = [-side / 2 + 100.0 * k for k in range(int(side // 100) + 1)]
    wifis = []
    for _ in range(int(wifi_per_km2 * (side / 1000) ** 2)):
        x, y = _in_block(rng, side, streets)
        wifis.append(
            Emitter(_mac(rng), x, y, rng.uniform(0, 20), rng.uniform(-46, -34), rng.uniform(2.6, 3.4))
        )
    blues = []
    for i in range(420):
        if i < 300:  # a shopping district around the centre
            x, y = rng.uniform(-200, 200), rng.uniform(-200, 200)
        else:
            x, y = _in_block(rng, side, streets)
        blues.append(
            Emitter(_mac(rng), x, y, rng.uniform(1, 4), rng.uniform(-63, -55), rng.uniform(2.5, 3.0))
        )
    cells = []
    spacing = 700.0
    reach = side / 2 + spacing
    n = int(2 * reach // spacing) + 1
    cid = 1000
    for i in range(n):
        for j in range(n):
            x = -reach + i * spacing + rng.uniform(-150, 150)
            y = -reach + j * spacing + rng.uniform(-150, 150)
            lac = 100 + (x > 0) + 2 * (y > 0)
            turn = rng.uniform(0, 2 * math.pi / 3)
            radios = ["lte", "nr"] if rng.random() < 0.3 else ["lte"]
            for radio in radios:
                for sector in range(3):
                    cid += 1
                    azimuth = turn + sector * 2 * math.pi / 3
                    key = (radio, MCC, MNC, lac, cid)
                    cells.append(Emitter(key, x, y, 30.0, rng.uniform(-22, -14), 3.2, azimuth))
    return City(side, wifis, blues, cells, streets)


def _dist3(e: Emitter, x: float, y: float, h: float = 1.5) -> float:
    return max(math.sqrt((e.x - x) ** 2 + (e.y - y) ** 2 + (e.height - h) ** 2), 1.0)


def _rssi(e: Emitter, x: float, y: float, offset: float, rng: random.Random, sigma: float) -> float:
    level = e.ref - 10 * e.eta * math.log10(_dist3(e, x, y)) + rng.gauss(0, sigma) + offset
    if e.azimuth is not None:  # sector antenna: 3 dB at ±60°, 20 dB down at the back
        off = math.atan2(y - e.y, x - e.x) - e.azimuth
        off = math.degrees(abs((off + math.pi) % (2 * math.pi) - math.pi))
        level -= min(12 * (off / 65) ** 2, 20)
    return level


class Grid:
    """A bucket grid for "what is within r metres of (x, y)"."""

    def __init__(self, items: list[Emitter], cell: float) -> None:
        self.cell = cell
        self.buckets: dict[tuple[int, int], list[Emitter]] = {}
        for e in items:
            self.buckets.setdefault((int(e.x // cell), int(e.y // cell)), []).append(e)

    def near(self, x: float, y: float, r: float) -> Iterable[Emitter]:
        c = self.cell
        for i in range(int((x - r) // c), int((x + r) // c) + 1):
            for j in range(int((y - r) // c), int((y + r) // c) + 1):
                yield from self.buckets.get((i, j), ())


@dataclass
class Heard:
    wifis: list[tuple[str, int]]
    blues: list[tuple[str, int]]
    cells: list[tuple[tuple[str, int, int, int, int], int]]


class Radio:
    """What a phone at (x, y) hears."""

    def __init__(self, city: City) -> None:
        self.wifi = Grid(city.wifis, 100.0)
        self.blue = Grid(city.blues, 50.0)
        self.cell = Grid(city.cells, 1000.0)

    def hear(self, x: float, y: float, offset: float, rng: random.Random, loss: float = 0.0) -> Heard:
        def scan(grid: Grid, r: float, floor: float, sigma: float) -> list[tuple[Any, int]]:
            out = []
            for e in grid.near(x, y, r):
                level = _rssi(e, x, y, offset, rng, sigma) - loss
                # Near the sensitivity floor a scan misses networks more and more often.
                if level > floor and rng.random() < min(1.0, (level - floor) / 6 + 0.3):
                    out.append((e.key, round(level)))
            out.sort(key=lambda kv: -kv[1])
            return out

        return Heard(
            scan(self.wifi, 250.0, -91.0, 4.0)[:50],
            scan(self.blue, 80.0, -96.0, 4.0)[:20],
            scan(self.cell, 3000.0, -122.0, 6.0)[:5],
        )


# --- stumbling -----------------------------------------------------------------------------------


@dataclass
class Fix:
    """One stumbler report before encoding: the GPS position and what was heard there."""

    lat: float
    lon: float
    accuracy: float
    heard: Heard


def walk(city: City, radio: Radio, seed: int, walkers: int, blocks: int) -> list[Fix]:
    """Walkers going ``blocks`` street blocks from crossing to crossing, on one pavement.

    A report every 12-20 m, with GPS noise σ = 5 m per axis and a per-phone RSSI offset.
    """
    rng = random.Random(seed)
    nodes = len(city.streets)
    out = []
    for _ in range(walkers):
        offset = rng.gauss(0, 2.5)
        i, j = rng.randrange(nodes), rng.randrange(nodes)
        for _ in range(blocks):
            di, dj = rng.choice([(1, 0), (-1, 0), (0, 1), (0, -1)])
            if not (0 <= i + di < nodes and 0 <= j + dj < nodes):
                di, dj = -di, -dj
            x0, y0 = city.streets[i], city.streets[j]
            x1, y1 = city.streets[i + di], city.streets[j + dj]
            side = rng.choice([-5.0, 5.0])
            travelled = rng.uniform(0, 12)
            while travelled < 100:
                f = travelled / 100
                px = x0 + (x1 - x0) * f + side * dj
                py = y0 + (y1 - y0) * f + side * di
                travelled += rng.uniform(12, 20)
                heard = radio.hear(px, py, offset, rng)
                if not (heard.wifis or heard.blues or heard.cells):
                    continue
                lat, lon = to_latlon(px + rng.gauss(0, GPS_SIGMA), py + rng.gauss(0, GPS_SIGMA))
                out.append(Fix(lat, lon, round(rng.uniform(4, 12), 1), heard))
            i, j = i + di, j + dj
    return out


def places(city: City, seed: int, count: int, district: float | None = None) -> list[tuple[float, float, bool]]:
    """Held-out true places: (x, y, indoors); half on a pavement, half inside a block."""
    rng = random.Random(seed)
    lim = district if district is not None else city.side / 2 - 50
    out = []
    while len(out) < count:
        if len(out) % 2 == 0:
            s = rng.choice([s for s in city.streets if abs(s) <= lim])
            t = rng.uniform(-lim, lim)
            side = rng.uniform(-7, 7)
            x, y = (s + side, t) if rng.random() < 0.5 else (t, s + side)
            out.append((x, y, False))
        else:
            x, y = _in_block(rng, 2 * lim, [s for s in city.streets if abs(s) <= lim])
            out.append((x, y, True))
    return out


# --- the station tables, built without the pipeline (--stations own) ------------------------------


@dataclass
class Row:
    lat: float
    lon: float
    radius: int
    samples: int


_MAX_DIST = {"wifi": 5_000.0, "blue": 100.0, "cell": 100_000.0}
_CELL_SIGNAL = {"lte": (-105, 5), "nr": (-110, 10)}


def _weight(kind: str, signal: int, accuracy: float, key: Any) -> float:
    """Ichnaea's observation weight (reference/ichnaea.md 3.1) for fresh, slow observations."""
    acc = max(accuracy, 10.0)
    w = math.sqrt(10.0 / acc)
    if kind == "wifi":
        w *= (1e4 / (signal - 20) ** 2) ** 2
    elif kind == "cell":
        _, offset = _CELL_SIGNAL[key[0]]
        w *= (1e4 / (signal + offset) ** 2) ** 2
    return w


def own_stations(fixes: list[Fix]) -> dict[str, dict[Any, Row]]:
    """Weighted centre, radius to the farthest bounding-box corner, samples; spread-out → none."""
    groups: dict[str, dict[Any, list[tuple[float, float, float]]]] = {
        "wifi": {},
        "blue": {},
        "cell": {},
    }
    for fix in fixes:
        for kind, heard in (("wifi", fix.heard.wifis), ("blue", fix.heard.blues), ("cell", fix.heard.cells)):
            for key, signal in heard:
                w = _weight(kind, signal, fix.accuracy, key)
                groups[kind].setdefault(key, []).append((fix.lat, fix.lon, w))
    out: dict[str, dict[Any, Row]] = {}
    for kind, by_key in groups.items():
        rows = out[kind] = {}
        for key, obs in by_key.items():
            lats = [o[0] for o in obs]
            lons = [o[1] for o in obs]
            x0, y0 = to_xy(min(lats), min(lons))
            x1, y1 = to_xy(max(lats), max(lons))
            if math.hypot(x1 - x0, y1 - y0) > _MAX_DIST[kind]:
                continue
            total = sum(o[2] for o in obs)
            lat = sum(o[0] * o[2] for o in obs) / total
            lon = sum(o[1] * o[2] for o in obs) / total
            cx, cy = to_xy(lat, lon)
            radius = max(
                math.hypot(px - cx, py - cy) for px in (x0, x1) for py in (y0, y1)
            )
            rows[key] = Row(lat, lon, round(radius), len(obs))
    return out
