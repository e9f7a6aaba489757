"""Locate accuracy on a simulated city, through the real submit pipeline and locate service.

The city (deterministic for a seed) has streets every 100 m; 900 WiFi access points per km²
inside the blocks (70 % in the street-front buildings, 8-30 m from the street's centre line, 30 %
anywhere in the block), each at a random height with its own transmit power and path-loss
exponent; Bluetooth beacons, most of them in a pedestrian shopping district (400 m square) where
people walk freely; LTE and NR macro cells, three sectors per mast, masts every ~700 m. Stumblers
walk the streets (and wander the shopping district) with a GPS whose error is 5 m per axis and
submit what their phone hears: log-distance path loss with 4 dB shadowing for WiFi/BLE and 6 dB
for cells, sector antenna patterns, a per-phone RSSI offset (σ 2.5 dB) and more and more missed
networks near the sensitivity limit. The reports are queued exactly as the submit API queues
them and the station tables are built by the real pipeline (``process_until_idle``), or with
``--stations own`` by this script's own Ichnaea-style aggregation.

Then phones at held-out true places (half on a pavement, half inside buildings; BLE anywhere in
the shopping district) are looked up through :func:`netatlas.location.locate.locate`. For each
query type the script reports the median and 90th-percentile error, the hit rate (an internal
answer at all), the share of answers whose accuracy circle holds the true place and the median
accuracy; the WiFi and BLE queries are also run through Ichnaea's estimator (weights
``score / signal²``, accuracy the 95th percentile of distances) for comparison. A last
scenario moves 2 % of the access points, each 10 km away into another town, and checks answers
at their old and new places before and after stumblers report them there.

    .venv/bin/python -m bench.locate_accuracy                 # real pipeline (~1 min)
    .venv/bin/python -m bench.locate_accuracy --stations own  # own aggregation
    .venv/bin/python -m bench.locate_accuracy --perf          # µs per query, 100k stations
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from netatlas.db.engine import make_engine
from netatlas.db.migrate import upgrade
from netatlas.features import load_models, process_until_idle
from netatlas.jobs.context import Context
from netatlas.location.ids import cell_id, mac_shard
from netatlas.location.locate import locate, parse_query, service, sources
from netatlas.location.locate.cluster import distance
from netatlas.location.locate.estimate import Estimate, Found, Model, estimate_macs
from netatlas.location.models import RADIO_CODE, blue_shards, cell_tables, wifi_shards
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
from netatlas.settings import Settings

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
    ox: float = 0.0  # east offset of the town's centre, metres


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


def make_city(
    seed: int = 7,
    side: float = 2000.0,
    wifi_per_km2: float = 900.0,
    ox: float = 0.0,
    cid_base: int = 1000,
) -> City:
    """A town of ``side`` metres square centred ``ox`` metres east of :data:`CENTRE`."""
    rng = random.Random(seed)
    streets = [-side / 2 + 100.0 * k for k in range(int(side // 100) + 1)]
    wifis = []
    for _ in range(int(wifi_per_km2 * (side / 1000) ** 2)):
        x, y = _in_block(rng, side, streets)
        wifis.append(
            Emitter(
                _mac(rng), x, y, rng.uniform(0, 20), rng.uniform(-46, -34), rng.uniform(2.6, 3.4)
            )
        )
    blues = []
    for i in range(420):
        if i < 300:  # a pedestrian shopping district around the centre (see `shoppers`)
            x, y = rng.uniform(-200, 200), rng.uniform(-200, 200)
        else:
            x, y = _in_block(rng, side, streets)
        blues.append(
            Emitter(
                _mac(rng), x, y, rng.uniform(1, 4), rng.uniform(-63, -55), rng.uniform(2.5, 3.0)
            )
        )
    cells = []
    spacing = 700.0
    reach = side / 2 + spacing
    n = int(2 * reach // spacing) + 1
    cid = cid_base
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
    for e in (*wifis, *blues, *cells):
        e.x += ox
    return City(side, wifis, blues, cells, streets, ox)


def _dist3(e: Emitter, x: float, y: float, h: float = 1.5) -> float:
    return max(math.sqrt((e.x - x) ** 2 + (e.y - y) ** 2 + (e.height - h) ** 2), 1.0)


def _rssi(e: Emitter, x: float, y: float, offset: float, rng: random.Random, sigma: float) -> float:
    level = e.ref - 10 * e.eta * math.log10(_dist3(e, x, y)) + rng.gauss(0, sigma) + offset
    if e.azimuth is not None:  # sector antenna: ~10 dB down at ±60°, 20 dB at the back
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

    def hear(
        self, x: float, y: float, offset: float, rng: random.Random, loss: float = 0.0
    ) -> Heard:
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
                px = city.ox + x0 + (x1 - x0) * f + side * dj
                py = y0 + (y1 - y0) * f + side * di
                travelled += rng.uniform(12, 20)
                heard = radio.hear(px, py, offset, rng)
                if not (heard.wifis or heard.blues or heard.cells):
                    continue
                lat, lon = to_latlon(px + rng.gauss(0, GPS_SIGMA), py + rng.gauss(0, GPS_SIGMA))
                out.append(Fix(lat, lon, round(rng.uniform(4, 12), 1), heard))
            i, j = i + di, j + dj
    return out


def shoppers(city: City, radio: Radio, seed: int, walkers: int, steps: int) -> list[Fix]:
    """Stumblers wandering freely in the pedestrian shopping district (400 m square)."""
    rng = random.Random(seed)
    out = []
    for _ in range(walkers):
        offset = rng.gauss(0, 2.5)
        x, y = rng.uniform(-200, 200), rng.uniform(-200, 200)
        heading = rng.uniform(0, 2 * math.pi)
        for _ in range(steps):
            heading += rng.gauss(0, 0.6)
            step = rng.uniform(12, 20)
            x = max(-200.0, min(200.0, x + step * math.cos(heading)))
            y = max(-200.0, min(200.0, y + step * math.sin(heading)))
            heard = radio.hear(city.ox + x, y, offset, rng)
            if heard.wifis or heard.blues or heard.cells:
                lat, lon = to_latlon(
                    city.ox + x + rng.gauss(0, GPS_SIGMA), y + rng.gauss(0, GPS_SIGMA)
                )
                out.append(Fix(lat, lon, round(rng.uniform(4, 12), 1), heard))
    return out


def places(city: City, seed: int, count: int) -> list[tuple[float, float, bool]]:
    """Held-out true places: (x, y, indoors); half on a pavement, half inside buildings."""
    rng = random.Random(seed)
    lim = city.side / 2 - 50
    out: list[tuple[float, float, bool]] = []
    while len(out) < count:
        if len(out) % 2 == 0:
            s = rng.choice([s for s in city.streets if abs(s) <= lim])
            t = rng.uniform(-lim, lim)
            side = rng.uniform(-7, 7)
            x, y = (s + side, t) if rng.random() < 0.5 else (t, s + side)
            out.append((x + city.ox, y, False))
        else:
            x, y = _in_block(rng, 2 * lim, [s for s in city.streets if abs(s) <= lim])
            out.append((x + city.ox, y, True))
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
        for kind, heard in (
            ("wifi", fix.heard.wifis),
            ("blue", fix.heard.blues),
            ("cell", fix.heard.cells),
        ):
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
            radius = max(math.hypot(px - cx, py - cy) for px in (x0, x1) for py in (y0, y1))
            rows[key] = Row(lat, lon, round(radius), len(obs))
    return out


# --- loading the station tables ------------------------------------------------------------------


def _report(fix: Fix, now_ms: int) -> Report:
    return Report(
        timestamp=now_ms,
        position=Position(
            latitude=fix.lat, longitude=fix.lon, accuracy=fix.accuracy, age=0, source="gnss"
        ),
        wifiAccessPoints=[
            WifiAccessPoint(macAddress=m, signalStrength=s, age=0) for m, s in fix.heard.wifis
        ],
        bluetoothBeacons=[
            BlueBeacon(macAddress=m, signalStrength=s, age=0) for m, s in fix.heard.blues
        ],
        cellTowers=[
            CellTower(
                radioType=k[0],
                mobileCountryCode=k[1],
                mobileNetworkCode=k[2],
                locationAreaCode=k[3],
                cellId=k[4],
                signalStrength=s,
                age=0,
            )
            for k, s in fix.heard.cells
        ],
    )


def submit_through_pipeline(ctx: Any, fixes: list[Fix]) -> float:
    """Queue the reports as the submit API does and run the pipeline until idle; seconds taken."""
    now_ms = int(time.time() * 1000)
    reports = [_report(f, now_ms) for f in fixes]
    items = [
        encode_submission(Submission(reports=reports[i : i + 50], received=now_ms))
        for i in range(0, len(reports), 50)
    ]
    started = time.perf_counter()
    for i in range(0, len(items), 200):
        ctx.queue.push(INCOMING, items[i : i + 200])
    process_until_idle(ctx)
    return time.perf_counter() - started


def insert_own(engine: Any, stations: dict[str, dict[Any, Row]]) -> None:
    """Write this script's own aggregation into the station tables."""

    now = datetime.now(UTC).replace(tzinfo=None)
    common = {"created": now, "modified": now, "last_seen": now.date(), "region": "DE"}
    with engine.begin() as conn:
        for kind, tables in (("wifi", wifi_shards), ("blue", blue_shards)):
            by_shard: dict[str, list[dict[str, Any]]] = {}
            for mac, r in stations[kind].items():
                row = {"mac": bytes.fromhex(mac), "lat": r.lat, "lon": r.lon, "radius": r.radius}
                by_shard.setdefault(mac_shard(mac), []).append(
                    {**row, "samples": r.samples, **common}
                )
            for shard, rows in by_shard.items():
                conn.execute(insert(tables[shard]), rows)
        by_radio: dict[str, list[dict[str, Any]]] = {}
        for (radio, mcc, mnc, lac, cid), r in stations["cell"].items():
            by_radio.setdefault(radio, []).append(
                {
                    "cellid": cell_id(RADIO_CODE[radio], mcc, mnc, lac, cid),
                    "radio": RADIO_CODE[radio],
                    "mcc": mcc,
                    "mnc": mnc,
                    "lac": lac,
                    "cid": cid,
                    "lat": r.lat,
                    "lon": r.lon,
                    "radius": r.radius,
                    "samples": r.samples,
                    **common,
                }
            )
        for radio, rows in by_radio.items():
            conn.execute(insert(cell_tables[radio]), rows)


# --- queries -------------------------------------------------------------------------------------


def body(heard: Heard, kinds: str) -> dict[str, Any]:
    out: dict[str, Any] = {"considerIp": False}
    if "w" in kinds:
        out["wifiAccessPoints"] = [
            {"macAddress": ":".join(m[i : i + 2] for i in range(0, 12, 2)), "signalStrength": s}
            for m, s in heard.wifis
        ]
    if "b" in kinds:
        out["bluetoothBeacons"] = [{"macAddress": m, "signalStrength": s} for m, s in heard.blues]
    if "c" in kinds:
        out["cellTowers"] = [
            {
                "radioType": k[0],
                "mobileCountryCode": k[1],
                "mobileNetworkCode": k[2],
                "locationAreaCode": k[3],
                "cellId": k[4],
                "signalStrength": s,
            }
            for k, s in heard.cells
        ]
    return out


@dataclass
class Outcome:
    errors: list[float] = field(default_factory=list)
    inside: int = 0
    accuracies: list[float] = field(default_factory=list)
    asked: int = 0

    def add(self, x: float, y: float, answer: Any) -> None:
        self.asked += 1
        if answer is None:
            return
        ax, ay = to_xy(answer.lat, answer.lon)
        error = math.hypot(ax - x, ay - y)
        self.errors.append(error)
        self.accuracies.append(answer.accuracy)
        self.inside += error <= answer.accuracy

    def line(self, label: str) -> str:
        if not self.errors:
            return f"{label:<26} asked {self.asked:4d}  no answers"
        errs = sorted(self.errors)
        p90 = errs[min(len(errs) - 1, math.ceil(0.9 * len(errs)) - 1)]
        return (
            f"{label:<26} asked {self.asked:4d}  hit {len(errs) / self.asked:6.1%}  "
            f"median {statistics.median(errs):7.1f} m  p90 {p90:7.1f} m  "
            f"inside {self.inside / len(errs):6.1%}  median accuracy "
            f"{statistics.median(self.accuracies):7.1f} m"
        )


def ichnaea_estimate(found: Sequence[Found], model: Model) -> Estimate:
    """Ichnaea's per-cluster estimate, for comparison (reference/ichnaea.md 4.4).

    Weighted mean with ``score × age_weight / signal²`` (a missing signal is the weakest), the
    accuracy the 95th percentile of the distances to the stations, clamped. Ichnaea's extra
    least-squares step minimised the same weighted distances and moves the answer little.
    """
    ws = [f.score / float(f.signal if f.signal is not None else model.weakest) ** 2 for f in found]
    total = sum(ws)
    lat = sum(w * f.lat for w, f in zip(ws, found, strict=True)) / total
    lon = sum(w * f.lon for w, f in zip(ws, found, strict=True)) / total
    dists = sorted(distance(lat, lon, f.lat, f.lon) for f in found)
    p95 = dists[max(math.ceil(0.95 * len(dists)) - 1, 0)]
    accuracy = min(max(p95, model.min_accuracy), model.max_accuracy)
    return Estimate(lat, lon, accuracy, 1.0)


def ask(engine: Any, points: list[tuple[float, float, Heard]], kinds: str) -> Outcome:
    out = Outcome()
    for x, y, heard in points:
        query = parse_query(json.dumps(body(heard, kinds)))
        out.add(x, y, locate(engine, query).best())
    return out


def scans(
    city: City, radio: Radio, seed: int, count: int, district: float | None = None
) -> list[tuple[float, float, Heard]]:
    """What phones hear at held-out places: the town's `places`, or anywhere in the district."""
    rng = random.Random(seed)
    if district is None:
        spots = [(x, y) for x, y, _indoor in places(city, seed, count)]
    else:
        spots = [
            (city.ox + rng.uniform(-district, district), rng.uniform(-district, district))
            for _ in range(count)
        ]
    return [(x, y, radio.hear(x, y, rng.gauss(0, 2.5), rng)) for x, y in spots]


# --- an access point moved 10 km away ------------------------------------------------------------


def moved_scenario(
    engine: Any, load: Callable[[list[Fix]], None], city: City, seed: int
) -> list[str]:
    """Move 2 % of the town's APs, each to its own place in a second town 10 km east.

    Checked: answers at the old places (the AP is no longer heard there), and answers at the
    new places while the database still has the old positions ("stale") and after stumblers have
    reported the APs at their new places. No answer may follow a moved AP back to its old town.
    """
    lines = []
    rng = random.Random(seed)
    other = make_city(seed + 100, side=1500.0, ox=10_000.0, cid_base=50_000)
    world = City(
        city.side, city.wifis + other.wifis, city.blues + other.blues, city.cells + other.cells
    )
    radio = Radio(world)
    load(walk(other, radio, seed + 101, walkers=60, blocks=20))
    movers = rng.sample(city.wifis, len(city.wifis) // 50)
    old_places = []
    for e in movers:
        a, d = rng.uniform(0, 2 * math.pi), rng.uniform(5, 25)
        old_places.append((e.x + d * math.cos(a), e.y + d * math.sin(a)))
    before = [(x, y, radio.hear(x, y, rng.gauss(0, 2.5), rng)) for x, y in old_places]
    lines.append(ask(engine, before, "w").line("old places, before"))
    for e in movers:  # the owners move house
        e.x = other.ox + rng.uniform(-700, 700)
        e.y = rng.uniform(-700, 700)
    radio = Radio(world)
    new_places = [(e.x + rng.uniform(-15, 15), e.y + rng.uniform(-15, 15)) for e in movers]

    def check(label: str) -> None:
        after = [(x, y, radio.hear(x, y, rng.gauss(0, 2.5), rng)) for x, y in old_places]
        lines.append(ask(engine, after, "w").line(f"old places, {label}"))
        there = [(x, y, radio.hear(x, y, rng.gauss(0, 2.5), rng)) for x, y in new_places]
        outcome = ask(engine, there, "w")
        lines.append(outcome.line(f"new places, {label}"))
        far = sum(e > 1000 for e in outcome.errors)
        lines.append(f"{'':<26}answers > 1 km off: {far} of {len(outcome.errors)}")

    check("stale DB")
    load(walk(other, radio, seed + 102, walkers=60, blocks=20))
    check("after reports")
    unusable = _unusable(engine, movers)
    lines.append(f"{'':<26}moved APs unusable now (blocked): {unusable} of {len(movers)}")
    return lines


def _unusable(engine: Any, movers: list[Emitter]) -> int:

    count = 0
    with engine.connect() as conn:
        for e in movers:
            mac = str(e.key)
            table = wifi_shards[mac_shard(mac)]
            row = conn.execute(select(table.c.lat).where(table.c.mac == bytes.fromhex(mac))).first()
            count += row is None or row[0] is None
    return count


# --- speed ---------------------------------------------------------------------------------------


def perf(stations: int = 100_000, queries: int = 3000, seed: int = 3) -> list[str]:
    """µs per 10-WiFi query on SQLite with ``stations`` WiFi rows: parse, locate, DB share."""
    rng = random.Random(seed)
    path = Path(tempfile.mkdtemp()) / "perf.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    now = datetime.now(UTC).replace(tzinfo=None)
    groups = []
    by_shard: dict[str, list[dict[str, Any]]] = {}
    for _ in range(stations // 10):
        cx, cy = rng.uniform(-20_000, 20_000), rng.uniform(-20_000, 20_000)
        group = []
        for _ in range(10):
            mac = _mac(rng)
            lat, lon = to_latlon(cx + rng.uniform(-80, 80), cy + rng.uniform(-80, 80))
            by_shard.setdefault(mac_shard(mac), []).append(
                {
                    "mac": bytes.fromhex(mac),
                    "lat": lat,
                    "lon": lon,
                    "radius": rng.randrange(20, 150),
                    "samples": rng.randrange(1, 200),
                    "created": now,
                    "modified": now,
                    "last_seen": now.date(),
                    "region": "DE",
                }
            )
            group.append(mac)
        groups.append(group)
    with engine.begin() as conn:
        for shard, rows in by_shard.items():
            conn.execute(insert(wifi_shards[shard]), rows)
    bodies = [
        json.dumps(
            {
                "wifiAccessPoints": [
                    {
                        "macAddress": ":".join(m[i : i + 2] for i in range(0, 12, 2)),
                        "signalStrength": rng.randrange(-90, -40),
                    }
                    for m in rng.choice(groups)
                ]
            }
        )
        for _ in range(queries)
    ]
    db_time = 0.0
    fetch = sources.fetch_stations

    def timed_fetch(*args: Any) -> Any:
        nonlocal db_time
        t = time.perf_counter()
        try:
            return fetch(*args)
        finally:
            db_time += time.perf_counter() - t

    sources.fetch_stations = timed_fetch  # type: ignore[assignment]
    try:
        for text in bodies[:200]:  # warm-up: caches, prepared statements, page cache
            locate(engine, parse_query(text))
        db_time = 0.0
        t0 = time.perf_counter()
        parsed = [parse_query(text) for text in bodies]
        t1 = time.perf_counter()
        with engine.connect() as conn:
            conn.execution_options(readonly=True)
            answered = sum(locate(conn, q).best() is not None for q in parsed)
        t2 = time.perf_counter()
        db_conn = db_time
        db_time = 0.0
        for q in parsed:
            locate(engine, q)
        t3 = time.perf_counter()
    finally:
        sources.fetch_stations = fetch
    n = len(bodies)
    us = 1e6 / n
    return [
        f"{stations} WiFi stations on SQLite, {n} queries of 10 known WiFi, {answered} answered",
        f"parse_query (JSON -> Query)           {(t1 - t0) * us:7.1f} µs/query",
        f"locate(conn): total                   {(t2 - t1) * us:7.1f} µs/query",
        f"  of which DB reads (fetch_stations)  {db_conn * us:7.1f} µs/query",
        f"  Python work                         {(t2 - t1 - db_conn) * us:7.1f} µs/query",
        f"locate(engine), a connection per call {(t3 - t2) * us:7.1f} µs/query",
        f"parse + locate Python work            {(t2 - t0 - db_conn) * us:7.1f} µs/query",
    ]


# --- main ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stations", choices=["pipeline", "own"], default="pipeline")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--side", type=float, default=2000.0, help="town size, metres")
    parser.add_argument("--walkers", type=int, default=120)
    parser.add_argument("--blocks", type=int, default=25, help="street blocks walked per walker")
    parser.add_argument("--queries", type=int, default=600)
    parser.add_argument("--skip-moved", action="store_true")
    parser.add_argument("--perf", action="store_true", help="only the µs/query measurement")
    parser.add_argument("--perf-stations", type=int, default=100_000)
    args = parser.parse_args()
    if args.perf:
        print("\n".join(perf(args.perf_stations)))
        return

    started = time.perf_counter()
    city = make_city(args.seed, args.side)
    radio = Radio(city)
    fixes = walk(city, radio, args.seed + 1, args.walkers, args.blocks)
    fixes += shoppers(city, radio, args.seed + 4, args.walkers // 4, 40)
    settings = Settings(data_dir=Path(tempfile.mkdtemp()), demo=False, embedded_jobs=False)
    ctx = Context.from_settings(settings)
    upgrade(ctx.engine)
    everything: list[Fix] = []

    def load(new: list[Fix]) -> None:
        everything.extend(new)
        if args.stations == "pipeline":
            submit_through_pipeline(ctx, new)
            return
        with ctx.engine.begin() as conn:
            for table in load_models().sorted_tables:
                if table.name.startswith(("wifi_shard", "blue_shard", "cell_")):
                    conn.execute(table.delete())
        insert_own(ctx.engine, own_stations(everything))

    t = time.perf_counter()
    load(fixes)
    observations = sum(len(f.heard.wifis) + len(f.heard.blues) + len(f.heard.cells) for f in fixes)
    print(
        f"city {args.side:.0f} m square: {len(city.wifis)} WiFi APs, {len(city.blues)} beacons, "
        f"{len(city.cells)} cells; {len(fixes)} reports, {observations} observations; "
        f"stations built by {args.stations} in {time.perf_counter() - t:.1f} s"
    )
    points = scans(city, radio, args.seed + 2, args.queries)
    print(ask(ctx.engine, points, "w").line("WiFi"))
    print(ask(ctx.engine, points, "wc").line("WiFi + cell"))
    print(ask(ctx.engine, points, "c").line("cell only"))
    shop = scans(city, radio, args.seed + 3, args.queries // 2, district=190.0)
    print(ask(ctx.engine, shop, "b").line("BLE (shopping area)"))
    service.estimate_macs = ichnaea_estimate  # type: ignore[attr-defined]  # Ichnaea's way
    try:
        print(ask(ctx.engine, points, "w").line("WiFi, Ichnaea's estimate"))
        print(ask(ctx.engine, shop, "b").line("BLE, Ichnaea's estimate"))
    finally:
        service.estimate_macs = estimate_macs  # type: ignore[attr-defined]
    indoor = [
        p
        for p, (_, _, i) in zip(points, places(city, args.seed + 2, args.queries), strict=True)
        if i
    ]
    street = [
        p
        for p, (_, _, i) in zip(points, places(city, args.seed + 2, args.queries), strict=True)
        if not i
    ]
    print(ask(ctx.engine, street, "w").line("  WiFi on the street"))
    print(ask(ctx.engine, indoor, "w").line("  WiFi indoors"))
    if not args.skip_moved:
        print("moved access points (2 % of the town's, each 10 km east):")
        for line in moved_scenario(ctx.engine, load, city, args.seed + 10):
            print("  " + line)
    print(f"total {time.perf_counter() - started:.0f} s")
    ctx.engine.dispose()


if __name__ == "__main__":
    main()
