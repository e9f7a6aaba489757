"""A small reference reader: locate a scan from a pack's files, as ``/v1/geolocate`` would.

It reuses the server's own pieces (area grouping, :func:`estimate_cells`, WiFi clusters and
:func:`estimate_macs`, the choice among candidates of :class:`ResultList`), so that the reader
and the server differ only in what a file leaves out:

- ``cells.csv.gz`` (microG's format) has positions only: every cell counts with the same
  range and score, so a scan's cells are weighted by signal alone, ``10 ** (dBm / 30)``;
- an MLS-format file (``mls-cells-MCC.csv.gz``) has each cell's range, samples and created and
  updated times: with it the reader scores and weights cells as the server does, and gives the
  server's answer;
- ``wifi.csv.gz`` has positions only: every access point is taken as an established one
  (:data:`PACK_RADIUS`, :data:`PACK_SAMPLES`).

``bench/packs.py --accuracy`` measures how close each file's answers come to the server's.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Final, NamedTuple

from netatlas.location.cells.csvfile import BadRow, read_rows
from netatlas.location.ids import area_id
from netatlas.location.locate.cluster import clusters
from netatlas.location.locate.estimate import WIFI, Found, estimate_cells, estimate_macs
from netatlas.location.locate.result import Result, ResultList
from netatlas.location.locate.score import station_score
from netatlas.location.locate.service import MAX_LOOKUPS
from netatlas.location.models import RADIO_CODE
from netatlas.location.packs.formats import CELLS_HEADER, MICROG_TYPE, WIFI_HEADER
from netatlas.location.radio import RADIOS

__all__ = ["PACK_RADIUS", "PACK_SAMPLES", "TYPE_OF", "CellPack", "Heard", "WifiPack", "best_of"]

TYPE_OF: Final = MICROG_TYPE
_RADIO_OF: Final = {number: name for name, number in MICROG_TYPE.items()}
#: What the WiFi reader assumes of every access point, which ``wifi.csv.gz`` does not say.
PACK_RADIUS: Final = 60.0  # metres
PACK_SAMPLES: Final = 20


class Heard(NamedTuple):
    """One cell of a scan."""

    radio: str  # gsm | wcdma | lte | nr
    mcc: int
    mnc: int
    lac: int
    cid: int
    signal: int | None = None  # dBm


Key = tuple[int, int, int, int, int]  # type, mcc, mnc, lac, cid


class CellPack:
    """The cells of one ``cells.csv.gz`` (:meth:`parse`) or MLS-format file
    (:meth:`parse_mls`, with ranges, samples and dates), keyed as microG keys them."""

    def __init__(
        self,
        cells: Mapping[Key, tuple[float, float]],
        ranges: Mapping[Key, float] | None = None,
        samples: Mapping[Key, int] | None = None,
        times: Mapping[Key, tuple[int, int]] | None = None,
    ) -> None:
        self.cells = dict(cells)
        self.ranges = dict(ranges or {})
        self.samples = dict(samples or {})
        self.times = dict(times or {})  # (created, updated) day numbers

    @classmethod
    def parse(cls, data: bytes) -> CellPack:
        """Read the gzip bytes of a ``cells.csv.gz``; ValueError when its header is not ours."""
        cells: dict[Key, tuple[float, float]] = {}
        for r in _rows(data, CELLS_HEADER, "cells.csv.gz"):
            key = (int(r[2]), int(r[0]), int(r[1]), int(r[3]), int(r[4]))
            cells[key] = (float(r[6]), float(r[7]))
        return cls(cells)

    @classmethod
    def parse_mls(cls, data: bytes) -> CellPack:
        """Read the gzip bytes of an MLS-format cell file (``mls-cells-MCC.csv.gz``)."""
        text = io.StringIO(gzip.decompress(data).decode("utf-8"), newline="")
        cells: dict[Key, tuple[float, float]] = {}
        ranges: dict[Key, float] = {}
        samples: dict[Key, int] = {}
        times: dict[Key, tuple[int, int]] = {}
        for _, row in read_rows(text):
            if isinstance(row, BadRow):
                continue
            key = (TYPE_OF[row.radio], row.mcc, row.mnc, row.lac, row.cid)
            cells[key] = (row.lat, row.lon)
            ranges[key] = float(row.range)
            samples[key] = row.samples
            times[key] = (_day(row.created), _day(row.updated))
        return cls(cells, ranges, samples, times)

    @classmethod
    def load(cls, path: Path) -> CellPack:
        return cls.parse(path.read_bytes())

    def __len__(self) -> int:
        return len(self.cells)

    def locate(
        self, scan: Iterable[Heard], today: dt.date | None = None
    ) -> tuple[float, float] | None:
        """(lat, lon) of a cell scan, or None when the pack knows none of its cells."""
        return best_of(self.candidates(scan, today))

    def candidates(self, scan: Iterable[Heard], today: dt.date | None = None) -> list[Result]:
        """One candidate per area of known cells, as ``/v1/geolocate`` forms them.

        The strongest :data:`MAX_LOOKUPS` cells are looked up, known cells are grouped by area
        (radio, MCC, MNC, LAC), each area gives a weighted mean and an accuracy
        (:func:`estimate_cells`) and a score (the sum of its cells' scores); :func:`best_of`
        then makes the server's choice among candidates. From ``cells.csv.gz`` every cell has
        the same range (none) and score (one); from an MLS file, its own range, and a score
        from its samples and its created and updated times, as the server scores a station
        row (``today`` defaults to the current date).
        """
        day = (today or dt.date.today()).toordinal()
        heard = list(scan)
        if len(heard) > MAX_LOOKUPS:
            heard = sorted(heard, key=lambda h: _loudness(h.signal))[:MAX_LOOKUPS]
        groups: dict[tuple[int, int, int, int], list[Found]] = {}
        for h in heard:
            key = (TYPE_OF[h.radio], h.mcc, h.mnc, h.lac, h.cid)
            found = self.cells.get(key)
            if found is None:
                continue
            radius = self.ranges.get(key, 0.0)
            samples = self.samples.get(key, 1)
            made = self.times.get(key)
            if made is None:
                score = 1.0
            else:
                created, updated = made
                score = station_score(day, created, updated, updated, None, samples, radius)
            groups.setdefault(key[:4], []).append(
                Found(found[0], found[1], radius, samples, score, h.signal, None)
            )
        results = []
        for area, members in sorted(groups.items(), key=_area_order):
            members.sort(key=lambda f: -f.score)
            radio = RADIOS.get(_RADIO_OF[area[0]])
            weakest = -140 if radio is None else radio.signal_min
            lat, lon, accuracy = estimate_cells(members, weakest)
            results.append(Result(lat, lon, accuracy, sum(f.score for f in members)))
        return results


class WifiPack:
    """The access points of one ``wifi.csv.gz``: positions only, keyed by 6-byte MAC."""

    def __init__(self, points: Mapping[bytes, tuple[float, float]]) -> None:
        self.points = dict(points)

    @classmethod
    def parse(cls, data: bytes) -> WifiPack:
        """Read the gzip bytes of a ``wifi.csv.gz``; ValueError when its header is not ours."""
        rows = _rows(data, WIFI_HEADER, "wifi.csv.gz")
        return cls({bytes.fromhex(r[0]): (float(r[1]), float(r[2])) for r in rows})

    def __len__(self) -> int:
        return len(self.points)

    def candidates(self, scan: Iterable[tuple[str, int | None]]) -> list[Result]:
        """One candidate per cluster of known access points, as the server forms them.

        ``scan``: (MAC as 12 hex digits, with or without separators; signal in dBm or None).
        At least two known access points are needed. The file carries no range, sample count
        or age, so every access point counts as an established one (:data:`PACK_RADIUS`,
        :data:`PACK_SAMPLES`, score one) and the server's WiFi estimator does the rest.
        """
        heard = sorted(scan, key=lambda h: _loudness(h[1]))
        found: list[Found] = []
        for mac, signal in heard[:MAX_LOOKUPS]:
            key = bytes.fromhex(mac.replace(":", "").replace("-", ""))
            place = self.points.get(key)
            if place is not None:
                found.append(
                    Found(place[0], place[1], PACK_RADIUS, PACK_SAMPLES, 1.0, signal, None)
                )
        if len(found) < 2:
            return []
        results = []
        for members in clusters([(f.lat, f.lon) for f in found], WIFI.cluster_distance):
            used = [found[i] for i in members[: WIFI.top]]
            fit = estimate_macs(used, WIFI)
            results.append(Result(fit.lat, fit.lon, fit.accuracy, len(members) * fit.agreement))
        return results

    def locate(self, scan: Iterable[tuple[str, int | None]]) -> tuple[float, float] | None:
        return best_of(self.candidates(scan))


def best_of(*candidates: Iterable[Result]) -> tuple[float, float] | None:
    """(lat, lon) of the server's choice among candidates (:class:`ResultList`), or None."""
    results = ResultList()
    for some in candidates:
        results.extend(some)
    best = results.best()
    return None if best is None else (best.lat, best.lon)


def _area_order(item: tuple[tuple[int, int, int, int], list[Found]]) -> tuple[int, bytes]:
    """The server's order of areas: the loudest heard cell first, then the packed area id."""
    (kind, mcc, mnc, lac), members = item
    loudest = max(-1_000 if f.signal is None else f.signal for f in members)
    return -loudest, area_id(RADIO_CODE[_RADIO_OF[kind]], mcc, mnc, lac)


def _day(seconds: int) -> int:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).date().toordinal()


def _loudness(signal: int | None) -> int:
    """Sort key: the loudest first, networks without a signal last."""
    return -(signal if signal is not None else -1_000)


def _rows(data: bytes, header: str, name: str) -> Iterator[list[str]]:
    """The CSV rows after the header of a pack file's gzip bytes; ValueError for another
    header."""
    rows = csv.reader(io.StringIO(gzip.decompress(data).decode("utf-8"), newline=""))
    if ",".join(next(rows, [])) != header:
        raise ValueError(f"not a {name}: its header differs")
    return rows
