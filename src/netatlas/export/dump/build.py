"""Building a dump: publishable stations → coarse cells → k-anonymous cells → hashed rows.

The file is gzip-compressed text (written with a zero timestamp, so the same data, date and salt
give the same bytes)::

    # netatlas-dump 1 {"hash": {...}, "grid_metres": 200.0, "k": 5}
    kind,key,lat,lon,radius,samples
    blue,0a1f…,52.519634,13.404133,32,8
    wifi,00c3…,52.521432,13.401187,128,64

one row per published station, sorted by kind and key (so the order says nothing about place).
``lat``/``lon`` are the centre of the station's grid cell; ``radius`` (metres the station is
heard over) is rounded up to a power of two, at least 16; ``samples`` is rounded down to a
power of two, at most 1024. A cell is published only when at least ``k`` publishable stations
(of both kinds) lie in it. Nothing is random: the same stations give the same places every
day, so comparing dumps cannot average a disguise away.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import io
import json
import os
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Final, NamedTuple

import msgspec

from netatlas.export.dump.grid import Cell, cell_centre, cell_of
from netatlas.export.dump.keys import HashParams, key_bits_for, key_hex, station_key
from netatlas.export.dump.select import Candidate

__all__ = [
    "FORMAT",
    "HEADER",
    "DumpConfig",
    "Manifest",
    "build_rows",
    "daily_salt",
    "radius_class",
    "samples_class",
    "write_dump",
]

FORMAT: Final = "netatlas-dump 1"
HEADER: Final = "kind,key,lat,lon,radius,samples"
MIN_RADIUS: Final = 16
MAX_RADIUS: Final = 8192
MAX_SAMPLES: Final = 1024


class DumpConfig(NamedTuple):
    grid_metres: float
    k: int
    log2_n: int
    licence: str


class Row(NamedTuple):
    kind: str
    key: str
    lat: float
    lon: float
    radius: int
    samples: int


class Counts(msgspec.Struct):
    wifi: int = 0
    blue: int = 0
    cells: int = 0  # grid cells published
    candidates: int = 0  # publishable stations before the k-anonymity rule
    withheld: int = 0  # publishable stations in cells with fewer than k


class Manifest(msgspec.Struct):
    """What a dump holds and how to read it (``<file>.json`` next to the file)."""

    format: str
    file: str
    date: str  # the UTC day the dump describes
    hash: HashParams
    grid_metres: float
    k: int
    counts: Counts
    size: int  # bytes of the file
    sha256: str  # of the file
    licence: str
    attribution: str = "NetAtlas contributors"
    radius: str = f"metres, rounded up to a power of two, {MIN_RADIUS}-{MAX_RADIUS}"
    samples: str = f"rounded down to a power of two, at most {MAX_SAMPLES}"


def daily_salt(secret: bytes, day: str) -> str:
    """A salt nobody can know before the day's dump is published (hex, 16 bytes)."""
    return hmac.new(secret, b"netatlas-dump-salt:" + day.encode(), hashlib.sha256).hexdigest()[:32]


def radius_class(radius: int | None) -> int:
    if not radius or radius <= MIN_RADIUS:
        return MIN_RADIUS
    return min(1 << (int(radius) - 1).bit_length(), MAX_RADIUS)


def samples_class(samples: int) -> int:
    return min(1 << (max(samples, 1).bit_length() - 1), MAX_SAMPLES)


def _hash_all(keys: list[tuple[str, bytes]], params: HashParams, threads: int) -> list[int]:
    # hashlib.scrypt releases the GIL: threads use every core.
    def one(item: tuple[str, bytes]) -> int:
        return station_key(item[0], item[1], params)

    if threads <= 1 or len(keys) < 64:
        return [one(k) for k in keys]
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, keys, chunksize=256))


def build_rows(
    stations: Iterable[Candidate],
    config: DumpConfig,
    salt: str,
    threads: int | None = None,
) -> tuple[list[Row], HashParams, Counts]:
    """The rows of a dump, its hash parameters and its counts."""
    size = config.grid_metres
    by_cell: dict[Cell, list[Candidate]] = {}
    for s in stations:
        by_cell.setdefault(cell_of(s.lat, s.lon, size), []).append(s)
    counts = Counts()
    kept: list[tuple[Cell, Candidate]] = []
    for cell, members in by_cell.items():
        counts.candidates += len(members)
        if len(members) < config.k:
            counts.withheld += len(members)
            continue
        counts.cells += 1
        kept.extend((cell, m) for m in members)
    params = HashParams(salt=salt, log2_n=config.log2_n, bits=key_bits_for(len(kept)))
    keys = _hash_all([(m.kind, m.mac) for _, m in kept], params, threads or os.cpu_count() or 1)
    rows = []
    per_kind: Counter[str] = Counter()
    for (cell, m), key in zip(kept, keys, strict=True):
        lat, lon = cell_centre(cell, size)
        per_kind[m.kind] += 1
        rows.append(
            Row(m.kind, key_hex(key, params.bits), lat, lon, radius_class(m.radius),
                samples_class(m.samples))
        )  # fmt: skip
    rows.sort()
    counts.wifi = per_kind["wifi"]
    counts.blue = per_kind["blue"]
    return rows, params, counts


def write_dump(
    rows: list[Row], params: HashParams, config: DumpConfig, counts: Counts, name: str, day: str
) -> tuple[bytes, Manifest]:
    """The gzip file's bytes and its manifest."""
    head = {"hash": msgspec.to_builtins(params), "grid_metres": config.grid_metres, "k": config.k}
    text = io.StringIO()
    text.write(f"# {FORMAT} {json.dumps(head, sort_keys=True)}\n{HEADER}\n")
    for r in rows:
        text.write(f"{r.kind},{r.key},{r.lat:.6f},{r.lon:.6f},{r.radius},{r.samples}\n")
    data = gzip.compress(text.getvalue().encode(), compresslevel=9, mtime=0)
    manifest = Manifest(
        format=FORMAT,
        file=name,
        date=day,
        hash=params,
        grid_metres=config.grid_metres,
        k=config.k,
        counts=counts,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        licence=config.licence,
    )
    return data, manifest
