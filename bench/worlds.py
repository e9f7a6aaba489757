"""A family of simulated towns for locate accuracy, and Ichnaea's estimator as the baseline.

One seeded world is easy to over-fit: an estimator tuned on one propagation model and one way of
stumbling learns that world's constants. So the towns here differ in everything that matters to
WiFi/Bluetooth positioning:

* propagation: path-loss exponent 2-4 around a common operating point (WiFi -74 dBm at 30 m,
  Bluetooth -84 dBm at 10 m, before the spread and losses below), log-normal shadowing 2-8 dB
  per scan, transmit power spread ±2-6 dB between stations, an extra loss per 100 m (walls,
  trees; it limits the range in low-exponent towns), a wall loss between a street and the
  buildings, and a fixed, direction dependent gain per station (an access point mounted next
  to a wall radiates unevenly);
* density: 250 (suburb) to 1,500 (centre) access points per km², streets every 80-150 m;
* stumblers: confined to the street grid (pavement or road, walking, cycling or driving at
  1.4-10 m/s) or wandering freely in a pedestrian zone; a report every ~15 m;
* GPS: σ 3-30 m per axis (varying per fix, the reported accuracy following it) and multipath
  outliers 50-250 m off that still claim a good accuracy;
* scan age: the scan was heard up to several seconds before or after the GPS fix, i.e. somewhere
  else along the path; half the phones say so (network ``age``, ``speed``), half do not;
* phone hotspots / bus WiFi (globally administered MACs) carried by some stumblers and heard next
  to some query places;
* moved access points: after a first round of stumbling a few percent of the access points move
  to another building of the town, then a second, smaller round of stumbling reports them there.

Each world is run through the real code: the reports are queued as the submit API queues them,
the pipeline (fan-out, observation weights, station updater) builds the station tables, and the
queries are parsed by :func:`~netatlas.location.locate.parse_query` and answered by
:func:`~netatlas.location.locate.locate` (internal answers only). Queries: 300 WiFi places (half
on a pavement, half inside buildings), 150 Bluetooth places in the pedestrian zone, and two
places next to each moved access point's new home.

The same reports also feed this module's own implementation of Ichnaea's documented algorithm
(reference/ichnaea.md 3.1, 3.3, 4.3, 4.4): observation weights, the batch station update
(consistency limits, blocking of moved stations, merging), station scores, complete-linkage
clustering, the ``score × age / signal²`` weighted mean and the 95th-percentile accuracy. That is
the baseline each world's figures are compared with.

The worlds are fixed: :data:`TUNING` worlds may be used to choose constants, :data:`HELD_OUT`
worlds are only for reporting.

    .venv/bin/python -m bench.worlds                  # held-out worlds (the reported figures)
    .venv/bin/python -m bench.worlds --set tuning
    .venv/bin/python -m bench.worlds --set all --json /tmp/worlds.json
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.locate_accuracy import M_PER_DEG, to_latlon, to_xy
from netatlas.db.migrate import upgrade
from netatlas.features import process_until_idle
from netatlas.jobs.context import Context
from netatlas.location.locate import locate, parse_query
from netatlas.location.locate.cluster import clusters, distance
from netatlas.location.submit.intake import INCOMING
from netatlas.location.submit.report import (
    BlueBeacon,
    Position,
    Report,
    Submission,
    WifiAccessPoint,
    encode_submission,
)
from netatlas.settings import Settings

SIDE = 1200.0  # metres: every town is this square
ZONE = 160.0  # half side of the pedestrian zone at the centre (free walkers, Bluetooth)
WIFI_FLOOR = -92.0
BLUE_FLOOR = -98.0


@dataclass(frozen=True)
class WorldSpec:
    name: str
    seed: int
    eta: float  # mean path-loss exponent (each station ±0.3)
    shadow: float  # dB, per scan
    tx_spread: float  # ± dB of transmit power between stations
    per_100m: float  # extra loss, dB per 100 m
    wall: float  # dB between the street and the buildings
    wifi_per_km2: float
    block: float  # street spacing, metres
    free_share: float  # share of stumblers wandering freely in the pedestrian zone
    speed: float  # m/s of the street stumblers
    gps_sigma: float  # metres per axis (typical)
    outliers: float  # share of fixes with a multipath error
    lag: float  # seconds: the scan was heard up to this long before/after the fix
    hotspots: float  # share of stumblers carrying a hotspot; share of queries hearing one
    moved: float  # share of access points that move after the first round
    reports: int = 6000  # first round; the second round has 40 % as many


# Fixed. Constants may be chosen on TUNING; HELD_OUT is only for reporting.
TUNING: tuple[WorldSpec, ...] = (
    WorldSpec("T1", 101, 2.4, 4, 3, 5, 6, 600, 100, 0.2, 1.4, 5, 0.02, 2, 0.05, 0.03),
    WorldSpec("T2", 102, 3.5, 7, 6, 3, 8, 1400, 80, 0.1, 5.0, 12, 0.05, 4, 0.05, 0.03),
    WorldSpec("T3", 103, 2.0, 2, 6, 10, 4, 250, 150, 0.0, 10.0, 20, 0.03, 3, 0.03, 0.03),
    WorldSpec("T4", 104, 3.0, 6, 4, 4, 10, 900, 110, 0.5, 1.4, 4, 0.01, 1, 0.05, 0.03),
)
HELD_OUT: tuple[WorldSpec, ...] = (
    WorldSpec("H1", 201, 2.8, 5, 6, 4, 6, 1000, 100, 0.3, 1.4, 8, 0.03, 3, 0.05, 0.03),
    WorldSpec("H2", 202, 3.8, 8, 5, 2, 8, 1500, 90, 0.1, 1.4, 6, 0.02, 2, 0.04, 0.03),
    WorldSpec("H3", 203, 2.2, 3, 6, 8, 5, 300, 140, 0.0, 8.0, 15, 0.04, 5, 0.03, 0.04),
    WorldSpec("H4", 204, 3.2, 6, 2, 4, 7, 700, 120, 0.2, 4.0, 30, 0.05, 2, 0.05, 0.03),
    WorldSpec("H5", 205, 4.0, 4, 6, 2, 9, 500, 100, 0.4, 1.4, 3, 0.01, 1, 0.05, 0.03),
    WorldSpec("H6", 206, 2.6, 8, 4, 6, 6, 1200, 80, 0.0, 10.0, 10, 0.03, 4, 0.03, 0.03),
)


# --- the town ------------------------------------------------------------------------------------


@dataclass
class Station:
    mac: str
    x: float
    y: float
    h: float
    ref: float  # dBm at `ref_at` metres
    ref_at: float
    eta: float
    lobe: float  # dB of direction-dependent gain
    lobe_dir: float  # radians
    indoor: bool = True


@dataclass
class World:
    spec: WorldSpec
    streets: list[float]
    wifis: list[Station]
    blues: list[Station]
    hotspots: list[str] = field(default_factory=list)

    def street_dist(self, x: float, y: float) -> float:
        return min(min(abs(x - s) for s in self.streets), min(abs(y - s) for s in self.streets))


def _mac(rng: random.Random) -> str:
    first = rng.randrange(256) & 0xFC  # globally administered unicast
    return f"{first:02x}" + "".join(f"{rng.randrange(256):02x}" for _ in range(5))


def _building_spot(rng: random.Random, streets: list[float], block: float) -> tuple[float, float]:
    """A place in a building: 65 % in the street-front row, 35 % anywhere in a block."""
    half = SIDE / 2
    front = min(30.0, block / 2 - 4)
    while True:
        if rng.random() < 0.65:
            s = rng.choice(streets)
            t = rng.uniform(-half, half)
            off = s + rng.choice([-1, 1]) * rng.uniform(7, front)
            x, y = (off, t) if rng.random() < 0.5 else (t, off)
        else:
            x, y = rng.uniform(-half, half), rng.uniform(-half, half)
        if abs(x) > half or abs(y) > half:
            continue
        if min(abs(x - s) for s in streets) > 6 and min(abs(y - s) for s in streets) > 6:
            return x, y


def make_world(spec: WorldSpec) -> World:
    rng = random.Random(spec.seed)
    n_streets = int(SIDE // spec.block) + 1
    start = -(n_streets - 1) * spec.block / 2
    streets = [start + spec.block * k for k in range(n_streets)]

    def station(x: float, y: float, h: float, ref: float, at: float, spread: float) -> Station:
        return Station(
            _mac(rng), x, y, h,
            ref + rng.uniform(-spread, spread), at,
            max(1.8, spec.eta + rng.uniform(-0.3, 0.3)),
            rng.uniform(0, 4), rng.uniform(0, 2 * math.pi),
        )  # fmt: skip

    wifis = []
    for _ in range(int(spec.wifi_per_km2 * (SIDE / 1000) ** 2)):
        x, y = _building_spot(rng, streets, spec.block)
        wifis.append(station(x, y, rng.uniform(0, 15), -74.0, 30.0, spec.tx_spread))
    blues = []
    for _ in range(220):
        x, y = rng.uniform(-ZONE, ZONE), rng.uniform(-ZONE, ZONE)
        blues.append(station(x, y, rng.uniform(0.5, 3), -84.0, 10.0, spec.tx_spread))
    return World(spec, streets, wifis, blues)


def level(
    s: Station, x: float, y: float, outdoor: bool, spec: WorldSpec, rng: random.Random
) -> float:
    dx, dy = x - s.x, y - s.y
    d = max(math.sqrt(dx * dx + dy * dy + (s.h - 1.5) ** 2), 1.0)
    out = (
        s.ref
        - 10 * s.eta * math.log10(d / s.ref_at)
        - spec.per_100m * d / 100
        + rng.gauss(0, spec.shadow)
    )
    out += s.lobe * math.cos(math.atan2(dy, dx) - s.lobe_dir)
    if s.indoor and (outdoor or d > 15):
        out -= spec.wall
    return out


class Grid:
    def __init__(self, items: list[Station], cell: float) -> None:
        self.cell = cell
        self.buckets: dict[tuple[int, int], list[Station]] = {}
        for e in items:
            self.buckets.setdefault((int(e.x // cell), int(e.y // cell)), []).append(e)

    def near(self, x: float, y: float, r: float) -> Iterable[Station]:
        c = self.cell
        for i in range(int((x - r) // c), int((x + r) // c) + 1):
            for j in range(int((y - r) // c), int((y + r) // c) + 1):
                yield from self.buckets.get((i, j), ())


@dataclass
class Heard:
    wifis: list[tuple[str, int]]
    blues: list[tuple[str, int]]


class Radio:
    def __init__(self, world: World) -> None:
        self.world = world
        self.wifi = Grid(world.wifis, 100.0)
        self.blue = Grid(world.blues, 50.0)

    def hear(self, x: float, y: float, offset: float, rng: random.Random) -> Heard:
        spec = self.world.spec
        outdoor = self.world.street_dist(x, y) < 6

        def scan(grid: Grid, r: float, floor: float, top: int) -> list[tuple[str, int]]:
            out = []
            for e in grid.near(x, y, r):
                lv = level(e, x, y, outdoor, spec, rng) + offset
                if lv > floor and rng.random() < min(1.0, (lv - floor) / 6 + 0.3):
                    out.append((e.mac, round(max(lv, -99.0))))
            out.sort(key=lambda kv: -kv[1])
            return out[:top]

        return Heard(scan(self.wifi, 350.0, WIFI_FLOOR, 40), scan(self.blue, 120.0, BLUE_FLOOR, 20))


# --- stumbling -----------------------------------------------------------------------------------


@dataclass
class Fix:
    lat: float
    lon: float
    accuracy: float
    heard: Heard
    age: int | None  # ms between scan and fix, when the phone says
    speed: float | None


def _street_path(
    world: World, rng: random.Random, speed: float, seconds: float
) -> list[tuple[float, float]]:
    """Positions every 0.5 s of someone moving along the street grid."""
    st = world.streets
    n = len(st)
    i, j = rng.randrange(n), rng.randrange(n)
    lane = rng.choice([-1, 1]) * (rng.uniform(3, 7) if speed < 6 else rng.uniform(1.5, 4))
    out: list[tuple[float, float]] = []
    while len(out) * 0.5 < seconds:
        di, dj = rng.choice([(1, 0), (-1, 0), (0, 1), (0, -1)])
        if not (0 <= i + di < n and 0 <= j + dj < n):
            di, dj = -di, -dj
        x0, y0, x1, y1 = st[i], st[j], st[i + di], st[j + dj]
        steps = max(int(world.spec.block / (speed * 0.5)), 1)
        for k in range(steps):
            f = k / steps
            out.append((x0 + (x1 - x0) * f + lane * dj, y0 + (y1 - y0) * f + lane * di))
        i, j = i + di, j + dj
    return out


def _free_path(rng: random.Random, seconds: float) -> list[tuple[float, float]]:
    """Positions every 0.5 s of someone wandering in the pedestrian zone."""
    x, y = rng.uniform(-ZONE, ZONE), rng.uniform(-ZONE, ZONE)
    heading = rng.uniform(0, 2 * math.pi)
    out = []
    for _ in range(int(seconds * 2)):
        heading += rng.gauss(0, 0.25)
        x += 0.7 * math.cos(heading)
        y += 0.7 * math.sin(heading)
        if abs(x) > ZONE or abs(y) > ZONE:
            heading += math.pi
            x, y = max(-ZONE, min(ZONE, x)), max(-ZONE, min(ZONE, y))
        out.append((x, y))
    return out


def stumble(world: World, radio: Radio, seed: int, reports: int) -> list[Fix]:
    """About ``reports`` reports from stumblers, 75 reports each."""
    spec = world.spec
    rng = random.Random(seed)
    out: list[Fix] = []
    while len(out) < reports:
        free = rng.random() < spec.free_share
        speed = 1.4 if free else spec.speed * rng.uniform(0.8, 1.2)
        interval = 15.0 / speed  # a report every ~15 m
        seconds = 75 * interval + 2 * spec.lag + 2
        path = _free_path(rng, seconds) if free else _street_path(world, rng, speed, seconds)
        offset = rng.gauss(0, 3.0)
        says_age = rng.random() < 0.5
        hotspot = None
        if rng.random() < spec.hotspots:
            hotspot = _mac(rng)
            world.hotspots.append(hotspot)
        k = int(spec.lag * 2) + 1
        while k < len(path) - int(spec.lag * 2) - 1 and len(out) < reports:
            lag = rng.uniform(-spec.lag, spec.lag)
            sx, sy = path[k + round(lag * 2)]
            heard = radio.hear(sx, sy, offset, rng)
            if hotspot is not None:
                heard.wifis.insert(0, (hotspot, round(rng.uniform(-42, -30))))
            gx, gy = path[k]
            sigma = spec.gps_sigma * rng.uniform(0.5, 1.5)
            if rng.random() < spec.outliers:
                a, r = rng.uniform(0, 2 * math.pi), rng.uniform(50, 250)
                ex, ey = r * math.cos(a), r * math.sin(a)
            else:
                ex, ey = rng.gauss(0, sigma), rng.gauss(0, sigma)
            k += max(int(interval * 2 * rng.uniform(0.8, 1.2)), 1)
            if not (heard.wifis or heard.blues):
                continue
            lat, lon = to_latlon(gx + ex, gy + ey)
            out.append(
                Fix(
                    lat, lon, round(sigma * 1.5, 1), heard,
                    round(abs(lag) * 1000) if says_age else None,
                    round(speed, 1) if says_age else None,
                )
            )  # fmt: skip
    return out


def _report(fix: Fix, now_ms: int) -> Report:
    return Report(
        timestamp=now_ms,
        position=Position(
            latitude=fix.lat,
            longitude=fix.lon,
            accuracy=fix.accuracy,
            age=0,
            speed=fix.speed,
            source="gnss",
        ),
        wifiAccessPoints=[
            WifiAccessPoint(macAddress=m, signalStrength=s, age=fix.age) for m, s in fix.heard.wifis
        ],
        bluetoothBeacons=[
            BlueBeacon(macAddress=m, signalStrength=s, age=fix.age) for m, s in fix.heard.blues
        ],
    )


def submit(ctx: Context, fixes: list[Fix], contributor: int = 0) -> None:
    """Queue the reports as the submit API does and run the pipeline until idle
    (``contributor``: the submitter's pseudonym, 0 for unknown)."""
    now_ms = int(time.time() * 1000)
    reports = [_report(f, now_ms) for f in fixes]
    items = [
        encode_submission(
            Submission(reports=reports[i : i + 50], received=now_ms, contributor=contributor)
        )
        for i in range(0, len(reports), 50)
    ]
    for i in range(0, len(items), 200):
        ctx.queue.push(INCOMING, items[i : i + 200])
    process_until_idle(ctx)


# --- queries -------------------------------------------------------------------------------------


@dataclass
class Probe:
    x: float
    y: float
    heard: Heard


def wifi_probes(world: World, radio: Radio, seed: int, count: int) -> list[Probe]:
    """Half on a pavement, half inside buildings; some hear a passing hotspot too."""
    rng = random.Random(seed)
    lim = SIDE / 2 - 60
    inner = [s for s in world.streets if abs(s) <= lim]
    out = []
    while len(out) < count:
        if len(out) % 2 == 0:
            s, t, side = rng.choice(inner), rng.uniform(-lim, lim), rng.uniform(-7, 7)
            x, y = (s + side, t) if rng.random() < 0.5 else (t, s + side)
        else:
            x, y = _building_spot(rng, inner, world.spec.block)
            if abs(x) > lim or abs(y) > lim:
                continue
        heard = radio.hear(x, y, rng.gauss(0, 3.0), rng)
        if world.hotspots and rng.random() < world.spec.hotspots * 2:
            heard.wifis.insert(0, (rng.choice(world.hotspots), round(rng.uniform(-60, -40))))
        out.append(Probe(x, y, heard))
    return out


def blue_probes(world: World, radio: Radio, seed: int, count: int) -> list[Probe]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        x, y = rng.uniform(-ZONE + 10, ZONE - 10), rng.uniform(-ZONE + 10, ZONE - 10)
        out.append(Probe(x, y, radio.hear(x, y, rng.gauss(0, 3.0), rng)))
    return out


def body(heard: Heard, kind: str) -> str:
    if kind == "wifi":
        entries = [{"macAddress": m, "signalStrength": s} for m, s in heard.wifis]
        return json.dumps({"considerIp": False, "wifiAccessPoints": entries})
    entries = [{"macAddress": m, "signalStrength": s} for m, s in heard.blues]
    return json.dumps({"considerIp": False, "bluetoothBeacons": entries})


@dataclass
class Outcome:
    asked: int = 0
    errors: list[float] = field(default_factory=list)
    accuracies: list[float] = field(default_factory=list)

    def add(self, probe: Probe, answer: tuple[float, float, float] | None) -> None:
        self.asked += 1
        if answer is None:
            return
        ax, ay = to_xy(answer[0], answer[1])
        self.errors.append(math.hypot(ax - probe.x, ay - probe.y))
        self.accuracies.append(answer[2])

    def summary(self) -> dict[str, float]:
        if not self.errors:
            return {"asked": self.asked, "answered": 0.0}
        errs = sorted(self.errors)
        p90 = errs[min(len(errs) - 1, math.ceil(0.9 * len(errs)) - 1)]
        inside = sum(e <= a for e, a in zip(self.errors, self.accuracies, strict=True))
        return {
            "asked": self.asked,
            "answered": len(errs) / self.asked,
            "median": statistics.median(errs),
            "p90": p90,
            "inside": inside / len(errs),
            "accuracy": statistics.median(self.accuracies),
        }


def ask_service(engine: Any, probes: Sequence[Probe], kind: str) -> Outcome:
    out = Outcome()
    for p in probes:
        best = locate(engine, parse_query(body(p.heard, kind))).best()
        out.add(p, None if best is None else (best.lat, best.lon, best.accuracy))
    return out


# --- Ichnaea's algorithm (reference/ichnaea.md 3.1, 3.3, 4.3, 4.4), the baseline ------------------

_MAX_ACC = {"wifi": 200.0, "blue": 100.0}
_MAX_DIST = {"wifi": 5000.0, "blue": 100.0}


def ichnaea_weight(kind: str, fix: Fix, signal: int) -> float:
    acc = max(abs(fix.accuracy), 10.0)
    if acc > _MAX_ACC[kind]:
        return 0.0
    w = math.sqrt(10.0 / acc)
    age = max(abs(fix.age) if fix.age is not None else 2000, 2000)
    if age > 20_000:
        return 0.0
    w *= min(math.sqrt(2000.0 / age), 1.0)
    speed = max(abs(fix.speed) if fix.speed is not None else 1.0, 1.0)
    if speed > 50:
        return 0.0
    w *= min(math.sqrt(5.0 / speed), 1.0)
    if kind == "wifi":
        w *= (1e4 / (signal - 20) ** 2) ** 2
    return w


@dataclass
class IStation:
    lat: float | None
    lon: float | None
    bbox: tuple[float, float, float, float] | None  # min_lat, min_lon, max_lat, max_lon
    samples: int
    weight: float
    blocked: bool = False


class Ichnaea:
    """Station tables built and queried the way Ichnaea documents it (one batch per round)."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, IStation]] = {"wifi": {}, "blue": {}}

    def update(self, fixes: Sequence[Fix]) -> None:
        for kind in ("wifi", "blue"):
            groups: dict[str, list[tuple[float, float, float]]] = {}
            for f in fixes:
                for mac, signal in getattr(f.heard, kind + "s"):
                    w = ichnaea_weight(kind, f, signal)
                    if w > 0:
                        groups.setdefault(mac, []).append((f.lat, f.lon, w))
            table = self.tables[kind]
            for mac, obs in groups.items():
                self._station(table, mac, obs, _MAX_DIST[kind])

    @staticmethod
    def _station(
        table: dict[str, IStation], mac: str, obs: list[tuple[float, float, float]], limit: float
    ) -> None:
        lats = [o[0] for o in obs]
        lons = [o[1] for o in obs]
        box = (min(lats), min(lons), max(lats), max(lons))
        consistent = distance(box[0], box[1], box[2], box[3]) <= limit
        total = sum(o[2] for o in obs)
        lat = sum(o[0] * o[2] for o in obs) / total
        lon = sum(o[1] * o[2] for o in obs) / total
        old = table.get(mac)
        if old is None:
            if consistent:
                table[mac] = IStation(lat, lon, box, len(obs), total)
            else:
                table[mac] = IStation(None, None, None, 0, 0.0, True)
            return
        if old.blocked:
            return  # a block lasts at least two days: every round here is the same day
        assert old.lat is not None and old.lon is not None and old.bbox is not None
        if not consistent or any(
            distance(old.lat, old.lon, a, b) > limit for a, b in zip(lats, lons, strict=True)
        ):
            table[mac] = IStation(None, None, None, 0, 0.0, True)
            return
        w_old = min(old.weight, 10_000.0)
        nlat = (lat * total + old.lat * w_old) / (total + w_old)
        nlon = (lon * total + old.lon * w_old) / (total + w_old)
        b = old.bbox
        box = (
            min(box[0], b[0], old.lat), min(box[1], b[1], old.lon),
            max(box[2], b[2], old.lat), max(box[3], b[3], old.lon),
        )  # fmt: skip
        table[mac] = IStation(nlat, nlon, box, old.samples + len(obs), old.weight + total)

    def locate(
        self, kind: str, heard: Sequence[tuple[str, int]]
    ) -> tuple[float, float, float] | None:
        table = self.tables[kind]
        found = []
        for mac, signal in heard:
            s = table.get(mac)
            if s is None or s.blocked or s.lat is None or s.lon is None:
                continue
            # Station score: fresh (age 1.0), collected within a day (0.1), samples log2.
            score = 0.1 * min(max(math.log2(s.samples) if s.samples > 1 else 0.5, 0.5), 10.0)
            found.append((s.lat, s.lon, score, signal))
        if len(found) < 2:
            return None
        limit, top, lo, hi = (500.0, 20, 10.0, 500.0) if kind == "wifi" else (100.0, 10, 10.0, 50.0)
        best: tuple[float, tuple[float, float, float]] | None = None
        for members in clusters([(f[0], f[1]) for f in found], limit):
            # Ichnaea sorted by score ascending before taking the sample (its apparent bug);
            # the best-scored ones are used here, which can only help it.
            used = sorted((found[i] for i in members), key=lambda f: -f[2])[:top]
            ws = [f[2] / float(f[3]) ** 2 for f in used]
            total = sum(ws)
            lat = sum(w * f[0] for w, f in zip(ws, used, strict=True)) / total
            lon = sum(w * f[1] for w, f in zip(ws, used, strict=True)) / total
            dists = sorted(distance(lat, lon, f[0], f[1]) for f in used)
            p95 = dists[max(math.ceil(0.95 * len(dists)) - 1, 0)]
            score = sum(found[i][2] for i in members)
            if best is None or score > best[0]:
                best = (score, (lat, lon, min(max(p95, lo), hi)))
        return None if best is None else best[1]


def ask_ichnaea(ich: Ichnaea, probes: Sequence[Probe], kind: str) -> Outcome:
    out = Outcome()
    for p in probes:
        heard = p.heard.wifis if kind == "wifi" else p.heard.blues
        # The query parser's privacy rule: fewer than two networks and the list is dropped.
        out.add(p, ich.locate(kind, heard) if len(heard) >= 2 else None)
    return out


# --- a world, end to end -------------------------------------------------------------------------


@dataclass
class Built:
    """A world after both rounds of stumbling, with its station tables and its queries."""

    world: World
    ctx: Context
    ichnaea: Ichnaea
    reports: int
    wifi: list[Probe]
    blue: list[Probe]
    moved: list[Probe]


def build(spec: WorldSpec) -> Built:
    world = make_world(spec)
    radio = Radio(world)
    first = stumble(world, radio, spec.seed + 1, spec.reports)
    settings = Settings(data_dir=Path(tempfile.mkdtemp()), demo=False, embedded_jobs=False)
    ctx = Context.from_settings(settings)
    upgrade(ctx.engine)
    submit(ctx, first)
    ich = Ichnaea()
    ich.update(first)
    rng = random.Random(spec.seed + 5)
    movers = rng.sample(world.wifis, max(1, int(len(world.wifis) * spec.moved)))
    for e in movers:
        e.x, e.y = _building_spot(rng, world.streets, spec.block)
    radio = Radio(world)
    second = stumble(world, radio, spec.seed + 2, int(spec.reports * 0.4))
    submit(ctx, second)
    ich.update(second)
    wifi = wifi_probes(world, radio, spec.seed + 3, 300)
    blue = blue_probes(world, radio, spec.seed + 4, 400)
    moved = []
    for e in movers:
        for _ in range(2):
            x, y = e.x + rng.uniform(-12, 12), e.y + rng.uniform(-12, 12)
            moved.append(Probe(x, y, radio.hear(x, y, rng.gauss(0, 3.0), rng)))
    return Built(world, ctx, ich, len(first) + len(second), wifi, blue, moved)


def run_world(spec: WorldSpec, baseline: bool = True) -> dict[str, Any]:
    started = time.perf_counter()
    b = build(spec)
    ctx, ich, wifi, blue, moved = b.ctx, b.ichnaea, b.wifi, b.blue, b.moved
    out: dict[str, Any] = {
        "world": spec.name,
        "reports": b.reports,
        "ours": {
            "wifi": ask_service(ctx.engine, wifi, "wifi").summary(),
            "blue": ask_service(ctx.engine, blue, "blue").summary(),
            "moved": ask_service(ctx.engine, moved, "wifi").summary(),
        },
    }
    if baseline:
        out["ichnaea"] = {
            "wifi": ask_ichnaea(ich, wifi, "wifi").summary(),
            "blue": ask_ichnaea(ich, blue, "blue").summary(),
            "moved": ask_ichnaea(ich, moved, "wifi").summary(),
        }
    ctx.engine.dispose()
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out


def _cell(s: dict[str, float]) -> str:
    if not s.get("answered"):
        return "no answers"
    return f"{s['median']:.1f} / {s['p90']:.1f} / {s['inside']:.0%} ({s['answered']:.0%})"


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| world | estimator | WiFi median / p90 / inside (answered) | BLE | next to a moved AP |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        for who in ("ours", "ichnaea"):
            if who in r:
                f = r[who]
                lines.append(
                    f"| {r['world']} | {who} | {_cell(f['wifi'])} | {_cell(f['blue'])} | "
                    f"{_cell(f['moved'])} |"
                )
    for who in ("ours", "ichnaea"):
        rows = [r[who] for r in results if who in r]
        if not rows:
            continue

        def med(kind: str, key: str, rows: list[Any] = rows) -> float:
            return statistics.median(f[kind].get(key, math.nan) for f in rows)

        def worst(kind: str, key: str, rows: list[Any] = rows) -> float:
            return min(f[kind].get(key, 0.0) for f in rows)

        lines.append(
            f"| median of worlds | {who} | "
            f"{med('wifi', 'median'):.1f} / {med('wifi', 'p90'):.1f} / "
            f"{med('wifi', 'inside'):.0%} (worst {worst('wifi', 'inside'):.0%}) | "
            f"{med('blue', 'median'):.1f} / {med('blue', 'p90'):.1f} / {med('blue', 'inside'):.0%} "
            f"(worst {worst('blue', 'inside'):.0%}) | {med('moved', 'median'):.1f} / "
            f"{med('moved', 'p90'):.1f} / {med('moved', 'inside'):.0%} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--set", choices=["tuning", "held-out", "all"], default="held-out")
    parser.add_argument("--only", help="comma-separated world names")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args()
    specs = {"tuning": TUNING, "held-out": HELD_OUT, "all": TUNING + HELD_OUT}[args.set]
    if args.only:
        names = set(args.only.split(","))
        specs = tuple(s for s in TUNING + HELD_OUT if s.name in names)
    results = []
    for spec in specs:
        r = run_world(spec, not args.no_baseline)
        print(json.dumps(r), flush=True)
        results.append(r)
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    _ = M_PER_DEG
    main()
