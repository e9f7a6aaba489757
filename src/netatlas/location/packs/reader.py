"""A small reference reader: locate a cell scan from a pack's ``cells.csv.gz``, as microG does.

microG's on-device cell location knows only each cell's position (the file has no range):
one known cell gives its position, several give their mean weighted by signal. The weight
here is the server's signal term, ``10 ** (dBm / 30)`` (a cell heard 10 dB louder counts about
twice as much; a cell without a signal counts as the radio's weakest), so that the reader and
``/v1/geolocate`` differ only in what the file leaves out (ranges, scores, area grouping).
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final, NamedTuple

from netatlas.location.cells.csvfile import BadRow, read_rows
from netatlas.location.packs.formats import CELLS_HEADER, MICROG_TYPE
from netatlas.location.radio import RADIOS

__all__ = ["TYPE_OF", "CellPack", "Heard"]

TYPE_OF: Final = MICROG_TYPE


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
    """The cells of one ``cells.csv.gz`` (or an MLS file), keyed as microG keys them.

    Positions only, from ``cells.csv.gz``; with an MLS-format file (:meth:`parse_mls`) each
    cell also has its range, and a scan's cells are weighted by ``signal / range²`` as the
    server does (what Local NLP Backend can do with the same file).
    """

    def __init__(
        self,
        cells: Mapping[Key, tuple[float, float]],
        ranges: Mapping[Key, float] | None = None,
        samples: Mapping[Key, int] | None = None,
    ) -> None:
        self.cells = dict(cells)
        self.ranges = dict(ranges or {})
        self.samples = dict(samples or {})

    @classmethod
    def parse(cls, data: bytes) -> CellPack:
        """Read the gzip bytes of a ``cells.csv.gz``; ValueError when its header is not ours."""
        text = io.StringIO(gzip.decompress(data).decode("utf-8"), newline="")
        rows = csv.reader(text)
        if ",".join(next(rows, [])) != CELLS_HEADER:
            raise ValueError("not a cells.csv.gz: its header differs")
        cells: dict[Key, tuple[float, float]] = {}
        for r in rows:
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
        for _, row in read_rows(text):
            if isinstance(row, BadRow):
                continue
            key = (TYPE_OF[row.radio], row.mcc, row.mnc, row.lac, row.cid)
            cells[key] = (row.lat, row.lon)
            ranges[key] = float(row.range)
            samples[key] = row.samples
        return cls(cells, ranges, samples)

    @classmethod
    def load(cls, path: Path) -> CellPack:
        return cls.parse(path.read_bytes())

    def __len__(self) -> int:
        return len(self.cells)

    def locate(self, scan: Iterable[Heard]) -> tuple[float, float] | None:
        """(lat, lon) of a scan, or None when the pack knows none of its cells.

        Known cells are grouped by area (radio, MCC, MNC, LAC), as the server does; the area
        with the most trust answers with its weighted mean: each cell counts one, or with an
        MLS file ``clamp(log2(samples), 0.5, 10)`` like the server's sample weight.
        """
        groups: dict[tuple[int, int, int, int], list[tuple[float, float, float]]] = {}
        trust: dict[tuple[int, int, int, int], float] = {}
        for h in scan:
            kind = TYPE_OF[h.radio]
            key = (kind, h.mcc, h.mnc, h.lac, h.cid)
            found = self.cells.get(key)
            if found is None:
                continue
            signal = RADIOS[h.radio].signal_min if h.signal is None else h.signal
            weight = 10.0 ** (signal / 30.0)
            if self.ranges:
                radius = max(self.ranges.get(key, 0.0), 500.0)
                weight /= radius * radius
            area = key[:4]
            groups.setdefault(area, []).append((weight, found[0], found[1]))
            n = self.samples.get(key)
            score = 1.0 if n is None else min(max(math.log2(n) if n > 1 else 0.0, 0.5), 10.0)
            trust[area] = trust.get(area, 0.0) + score
        if not groups:
            return None
        area = max(groups, key=lambda a: (trust[a], sum(w for w, _, _ in groups[a])))
        best = groups[area]
        total = sum(w for w, _, _ in best)
        if total <= 0.0:
            return None
        return (
            sum(w * lat for w, lat, _ in best) / total,
            sum(w * lon for w, _, lon in best) / total,
        )
