"""A reference reader: locate a scan from a dump file, offline.

    python -m netatlas.export.dump.reader DUMP.csv.gz SCAN.json

``SCAN.json`` is a ``/v1/geolocate`` request body (``wifiAccessPoints`` and/or
``bluetoothBeacons`` with ``macAddress`` and ``signalStrength``), or a JSON list of
``[mac, signal]`` pairs (WiFi); ``-`` reads it from standard input. The answer is printed as
``/v1/geolocate`` prints one: ``{"location": {"lat": …, "lng": …}, "accuracy": …}``, or
``{"error": "not found"}`` (exit status 1).

How: each heard MAC is cleaned like a server query (same rules: at least two usable networks
of a kind, no ``_nomap``, no randomised MACs), hashed with the file's salt and cost, and looked
up; every entry under its key is a candidate (keys are truncated, so now and then an entry of
another network answers too). The candidates are then clustered and combined exactly as the
server combines the stations it finds (:mod:`netatlas.location.locate.estimate`), with two
allowances for the coarsening: each place is the centre of a grid cell of ``G`` metres, so a
station's own uncertainty grows by ``G / sqrt(6)`` (the RMS distance of a uniform point in the
cell from its centre) and the clustering limit by ``G × sqrt(2)`` (two places each off by up
to half a diagonal). The accuracy is then at least ``G / 2``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import msgspec

from netatlas.export.dump.build import FORMAT, HEADER
from netatlas.export.dump.keys import HashParams, key_hex, station_key
from netatlas.location.locate.cluster import clusters
from netatlas.location.locate.estimate import BLUE, WIFI, Found, Model, estimate_macs
from netatlas.location.locate.query import parse_query
from netatlas.location.locate.result import Result, ResultList
from netatlas.location.locate.score import station_score

__all__ = ["Answer", "Dump", "Entry", "load", "main"]


class Entry(NamedTuple):
    lat: float
    lon: float
    radius: int
    samples: int


class Answer(NamedTuple):
    lat: float
    lon: float
    accuracy: float  # metres


class DumpFormatError(ValueError):
    """The file is not a NetAtlas dump (or not one this reader knows)."""


def _score(entry: Entry) -> float:
    # A published station is recent and seen on several days: only its samples tell stations
    # apart (the server's age and collection weights are 1 for such a station).
    return station_score(0, 0, 0, 10, None, entry.samples, entry.radius)


class Dump:
    """A loaded dump: its parameters and its entries by (kind, key)."""

    def __init__(
        self, params: HashParams, grid_metres: float, entries: dict[tuple[str, str], list[Entry]]
    ) -> None:
        self.params = params
        self.grid_metres = grid_metres
        self.entries = entries
        g = grid_metres
        self.models = {
            kind: model._replace(
                station_sigma=math.hypot(model.station_sigma, g / math.sqrt(6.0)),
                cluster_distance=model.cluster_distance + g * math.sqrt(2.0),
                min_accuracy=max(model.min_accuracy, g / 2.0),
                max_accuracy=max(model.max_accuracy, g),
            )
            for kind, model in (("wifi", WIFI), ("blue", BLUE))
        }

    def __len__(self) -> int:
        return sum(len(v) for v in self.entries.values())

    def lookup(self, kind: str, mac_hex: str) -> list[Entry]:
        """Every entry under the key of a MAC (12 hex digits)."""
        key = key_hex(station_key(kind, bytes.fromhex(mac_hex), self.params), self.params.bits)
        return self.entries.get((kind, key), [])

    def locate(self, body: str | bytes | dict[str, Any]) -> Answer | None:
        """The position of a scan (a ``/v1/geolocate`` body), or None when nothing matches."""
        text = json.dumps(body) if isinstance(body, dict) else body
        query = parse_query(text)
        results = ResultList()
        for kind, heard in (("blue", query.blues), ("wifi", query.wifis)):
            found = [
                Found(e.lat, e.lon, float(e.radius), e.samples, _score(e), n.signalStrength, n.age)
                for n in heard
                for e in self.lookup(kind, n.macAddress)
            ]
            results.extend(_cluster_results(found, self.models[kind]))
        best = results.best()
        return None if best is None else Answer(best.lat, best.lon, best.accuracy)


def _cluster_results(found: Sequence[Found], model: Model) -> list[Result]:
    """One candidate per cluster of at least two stations, as the server makes them."""
    if len(found) < 2:
        return []
    ranked = sorted(found, key=lambda f: (-f.score, -(f.signal if f.signal is not None else -999)))
    out = []
    for members in clusters([(f.lat, f.lon) for f in ranked], model.cluster_distance):
        fit = estimate_macs([ranked[i] for i in members[: model.top]], model)
        score = sum(ranked[i].score for i in members) * fit.agreement
        out.append(Result(fit.lat, fit.lon, fit.accuracy, score))
    return out


def load(path: Path) -> Dump:
    """Read a dump file (gzip text, see :mod:`netatlas.export.dump.build`)."""
    with gzip.open(path, "rt", encoding="ascii", newline="\n") as f:
        first = f.readline()
        if not first.startswith(f"# {FORMAT} "):
            raise DumpFormatError(f"{path} is not a {FORMAT!r} file")
        head = json.loads(first[len(FORMAT) + 3 :])
        if f.readline().rstrip("\n") != HEADER:
            raise DumpFormatError(f"{path}: unexpected column header")
        params = msgspec.convert(head["hash"], HashParams)
        entries: dict[tuple[str, str], list[Entry]] = {}
        for line in f:
            kind, key, lat, lon, radius, samples = line.rstrip("\n").split(",")
            entry = Entry(float(lat), float(lon), int(radius), int(samples))
            entries.setdefault((kind, key), []).append(entry)
    return Dump(params, float(head["grid_metres"]), entries)


def _scan(raw: str) -> str:
    data = json.loads(raw)
    if isinstance(data, list):  # [[mac, signal], ...]: WiFi
        aps = [{"macAddress": str(m), "signalStrength": s} for m, s in data]
        return json.dumps({"wifiAccessPoints": aps})
    return raw


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m netatlas.export.dump.reader",
        description="Locate a WiFi/Bluetooth scan from a NetAtlas dump file, offline.",
    )
    parser.add_argument("dump", type=Path, help="the dump file (netatlas-dump-*.csv.gz)")
    parser.add_argument("scan", help="a /v1/geolocate body or [[mac, signal], ...]; - for stdin")
    args = parser.parse_args(argv)
    raw = sys.stdin.read() if args.scan == "-" else Path(args.scan).read_text()
    try:
        dump = load(args.dump)
        answer = dump.locate(_scan(raw))
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if answer is None:
        print(json.dumps({"error": "not found"}))
        return 1
    out = {
        "location": {"lat": round(answer.lat, 7), "lng": round(answer.lon, 7)},
        "accuracy": round(answer.accuracy, 1),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
