"""The dump on a simulated town (``bench/worlds.py``), stumbled on two days, on each backend.

The reader must answer the scans the server answers, each within the stated coarsening of the
server's answer (half a cell diagonal), and the file must not give away the networks in it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import math
import random
from collections import Counter
from pathlib import Path

from bench.dump import compare, two_day_world
from bench.worlds import TUNING, blue_probes, wifi_probes

from netatlas.export.dump.build import DumpConfig
from netatlas.export.dump.keys import HashParams, key_hex, station_key
from netatlas.export.dump.reader import load
from netatlas.export.dump.service import build_dump
from netatlas.jobs.context import Context

SPEC = dataclasses.replace(TUNING[3], name="dump", seed=311, reports=2500)
GRID = 150.0
CONFIG = DumpConfig(grid_metres=GRID, k=4, log2_n=10, licence="ODbL-1.0")
SALT = "5a17" * 8


def _macs(world: object) -> list[str]:
    return [s.mac for s in (*world.wifis, *world.blues)] + list(world.hotspots)  # type: ignore[attr-defined]


def test_the_dump_answers_like_the_server_and_hides_its_networks(
    ctx: Context, tmp_path: Path
) -> None:
    world, radio = two_day_world(ctx, SPEC)
    today = dt.datetime.now(dt.UTC).date()
    data, manifest = build_dump(ctx, today, CONFIG, SALT)
    path = tmp_path / "dump.csv.gz"
    path.write_bytes(data)
    dump = load(path)
    assert manifest.counts.wifi > 300

    # Answers: as often as the server, and within half a cell diagonal of its answer.
    server, reader, gaps = compare(ctx, dump, wifi_probes(world, radio, SPEC.seed + 3, 80), "wifi")
    assert len(server.errors) >= 70
    # Stations withheld (one day only, cells under k) cost a few answers.
    assert len(gaps) >= 0.9 * len(server.errors)
    within = sum(g <= GRID / math.sqrt(2) for g in gaps)
    assert within >= 0.95 * len(gaps)
    assert sorted(reader.errors)[len(reader.errors) // 2] < GRID
    _, _, blue_gaps = compare(ctx, dump, blue_probes(world, radio, SPEC.seed + 4, 80), "blue")
    assert all(g <= GRID / math.sqrt(2) + 10.0 for g in blue_gaps)

    # No MAC in the file in any spelling, compressed or not.
    text = gzip.decompress(data)
    for m in _macs(world):
        spellings = {m, m.upper(), ":".join(m[i : i + 2] for i in range(0, 12, 2))}
        for s in spellings:
            assert s.encode() not in text.lower() and s.encode() not in data
        assert bytes.fromhex(m) not in text and bytes.fromhex(m) not in data

    # k-anonymity: every published place is shared by at least k stations.
    places = Counter(tuple(line.split(",")[2:4]) for line in text.decode().splitlines()[2:])
    assert places and min(places.values()) >= CONFIG.k

    # Enumerating: sweeping every last byte around published MACs finds them and nothing else
    # (the only way to a key is the salted scrypt itself).
    params = dump.params
    published = [m for m in (s.mac for s in world.wifis) if dump.lookup("wifi", m)]
    rng = random.Random(1)
    for m in rng.sample(published, 3):
        keys = {key for kind, key in dump.entries if kind == "wifi"}
        hits = [
            guess
            for guess in (m[:10] + f"{b:02x}" for b in range(256))
            if key_hex(station_key("wifi", bytes.fromhex(guess), params), params.bits) in keys
        ]
        assert m in hits
        assert len(hits) <= 3  # truncated keys: a rare stray match, never a list of neighbours
    other = HashParams(salt="00" * 16, log2_n=params.log2_n, bits=params.bits)
    cheaper = HashParams(salt=params.salt, log2_n=params.log2_n - 1, bits=params.bits)
    mac = bytes.fromhex(published[0])
    key = station_key("wifi", mac, params)
    assert station_key("wifi", mac, other) != key and station_key("wifi", mac, cheaper) != key

    # Deterministic: the same stations, day and salt give the same bytes.
    assert build_dump(ctx, today, CONFIG, SALT)[0] == data
