"""The fast path of :func:`cells_io.parse_row`: a block of CSV rows parsed column by column.

Converting whole columns with ``map(int, …)`` and checking them with numpy costs a few
hundred nanoseconds a row instead of several microseconds. Any row the vector checks do not
accept (a bad value, an odd spelling such as ``" lte"`` or ``"100.0"``) goes through
``parse_row`` itself, which decides: so both paths accept and reject exactly the same rows, and
a bad row still gets its reason.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from netatlas.geo.distance import EARTH_RADIUS
from netatlas.location.cells.csvfile import (
    COLUMNS,
    MAX_RANGE,
    MAX_SAMPLES,
    MAX_TIME,
    BadRow,
    CellRow,
    parse_row,
)
from netatlas.location.models import RADIO_CODE
from netatlas.location.radio import MCC_MAX, MCC_MIN, MNC_MAX, MNC_MIN, RADIOS, cell_radio_codes

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

# Exact spellings taken on the fast path; parse_row handles every other one.
_FAST_LABELS = {"GSM": 0, "UMTS": 2, "WCDMA": 2, "LTE": 3, "NR": 4}
_FAST_LABELS |= {k.lower(): v for k, v in _FAST_LABELS.items()}
_SIZE = max(RADIO_CODE.values()) + 1


def _by_code(limits: dict[str, int]) -> I64:
    table = np.full(_SIZE, -1, np.int64)
    for radio, limit in limits.items():
        table[RADIO_CODE[radio]] = limit
    return table


_LAC_LIMIT = _by_code({name: r.lac_max for name, r in RADIOS.items()})
_CID_LIMIT = _by_code({name: r.cid_max for name, r in RADIOS.items()})
_UNIT_LIMIT = _by_code({name: r.psc_max for name, r in RADIOS.items()})


class Cells(NamedTuple):
    """Parsed rows as columns; ``psc`` is -1 where the file gives none."""

    radio: I64  # Ichnaea radio codes (gsm 0, wcdma 2, lte 3, nr 4)
    mcc: I64
    mnc: I64
    lac: I64
    cid: I64
    psc: I64
    lon: F64
    lat: F64
    range: I64
    samples: I64
    created: I64
    updated: I64

    def take(self, index: Any) -> Cells:
        return Cells(*(column[index] for column in self))


def _ints(column: Sequence[str]) -> tuple[I64, npt.NDArray[np.bool_] | None]:
    """Values, and a mask of those that are not plain integers (None when all are)."""
    try:
        return np.array(list(map(int, column)), dtype=np.int64), None
    except (ValueError, OverflowError):
        values = np.zeros(len(column), np.int64)
        bad = np.zeros(len(column), np.bool_)
        for i, text in enumerate(column):
            try:
                values[i] = int(text)
            except (ValueError, OverflowError):
                bad[i] = True
        return values, bad


def _floats(column: Sequence[str]) -> tuple[F64, npt.NDArray[np.bool_] | None]:
    try:
        return np.array(list(map(float, column)), dtype=np.float64), None
    except ValueError:
        values = np.zeros(len(column), np.float64)
        bad = np.zeros(len(column), np.bool_)
        for i, text in enumerate(column):
            try:
                values[i] = float(text)
            except ValueError:
                bad[i] = True
        return values, bad


def _unit(text: str) -> int:
    if not text:
        return -1
    try:
        return int(text)
    except ValueError:
        return -1


def _from_rows(rows: list[CellRow]) -> Cells:
    def ints(name: str) -> I64:
        return np.array([getattr(r, name) for r in rows], np.int64)

    return Cells(
        radio=np.array([RADIO_CODE[r.radio] for r in rows], np.int64),
        mcc=ints("mcc"),
        mnc=ints("mnc"),
        lac=ints("lac"),
        cid=ints("cid"),
        psc=np.array([-1 if r.psc is None else r.psc for r in rows], np.int64),
        lon=np.array([r.lon for r in rows], np.float64),
        lat=np.array([r.lat for r in rows], np.float64),
        range=ints("range"),
        samples=ints("samples"),
        created=ints("created"),
        updated=ints("updated"),
    )


def _concat(a: Cells, b: Cells) -> Cells:
    return Cells(*(np.concatenate([x, y]) for x, y in zip(a, b, strict=True)))


def parse_lines(lines: list[str], numbers: list[int]) -> tuple[Cells, list[tuple[int, str]], int]:
    """The good rows among CSV ``lines`` (no line ends) as columns, (line number, reason) of
    every bad one, and how many data rows there were (blank lines and the header are not)."""
    fast: list[str] = []
    fast_numbers: list[int] = []
    slow: list[tuple[int, list[str]]] = []
    for line, number in zip(lines, numbers, strict=True):
        if number == 1 and line.lstrip().lower().startswith("radio,"):
            continue  # the header
        commas = line.count(",")
        if commas >= COLUMNS - 2 and commas <= COLUMNS - 1 and '"' not in line:
            fast.append(line if commas == COLUMNS - 1 else line + ",")  # averageSignal is optional
            fast_numbers.append(number)
            continue
        fields = next(csv.reader([line]), [])
        if not "".join(fields).strip():
            continue  # a blank line
        if number == 1 and fields[0].strip().lower() == "radio":
            continue  # a quoted header
        slow.append((number, fields))
    count = len(fast) + len(slow)
    cells, bad = _parse_fast(fast, fast_numbers)
    extra: list[CellRow] = []
    for number, fields in slow:
        try:
            extra.append(parse_row(fields))
        except BadRow as error:
            bad.append((number, error.reason))
    if extra:
        cells = _concat(cells, _from_rows(extra))
    return cells, sorted(bad), count


def _parse_fast(lines: list[str], numbers: list[int]) -> tuple[Cells, list[tuple[int, str]]]:
    """Lines of exactly COLUMNS fields, without quotes: split once, checked as columns."""
    if not lines:
        return _from_rows([]), []
    # One split of the whole block and strided slices: no list per row, so no garbage
    # collector passes over millions of young lists.
    flat = ",".join(lines).split(",")
    cols = [flat[j::COLUMNS] for j in range(COLUMNS - 1)]
    get = _FAST_LABELS.get
    radio = np.array([get(s, -1) for s in cols[0]], np.int64)
    mcc, bad_mcc = _ints(cols[1])
    mnc, bad_mnc = _ints(cols[2])
    lac, bad_lac = _ints(cols[3])
    cid, bad_cid = _ints(cols[4])
    lon, bad_lon = _floats(cols[6])
    lat, bad_lat = _floats(cols[7])
    rng, bad_rng = _ints(cols[8])
    samples, bad_samples = _ints(cols[9])
    created, bad_created = _ints(cols[11])
    updated, bad_updated = _ints(cols[12])
    units = [int(s) if s.isdecimal() else _unit(s) for s in cols[5]]
    try:
        psc = np.array(units, np.int64)
    except OverflowError:  # absurdly long digit strings: no unit, like parse_row says
        psc = np.array([u if -1 <= u <= 65535 else -1 for u in units], np.int64)

    radio = cell_radio_codes(radio, cid, RADIO_CODE["gsm"], RADIO_CODE["wcdma"])
    code = np.where(radio < 0, 0, radio)
    with np.errstate(invalid="ignore"):
        ok = (
            (radio >= 0)
            & (mcc >= MCC_MIN) & (mcc <= MCC_MAX) & (mnc >= MNC_MIN) & (mnc <= MNC_MAX)
            & (lac >= 1) & (lac <= _LAC_LIMIT[code]) & (cid >= 1) & (cid <= _CID_LIMIT[code])
            & (lat >= -90.0) & (lat <= 90.0) & (lon >= -180.0) & (lon <= 180.0)
            & ~((lat == 0.0) & (lon == 0.0))
            & (rng >= 0) & (rng <= MAX_RANGE) & (samples >= 0) & (samples <= MAX_SAMPLES)
            & (created > 0) & (created < MAX_TIME) & (updated > 0) & (updated < MAX_TIME)
        )  # fmt: skip
    for mask in (bad_mcc, bad_mnc, bad_lac, bad_cid, bad_lon, bad_lat, bad_rng, bad_samples,
                 bad_created, bad_updated):  # fmt: skip
        if mask is not None:
            ok &= ~mask
    psc = np.where((psc >= 0) & (psc <= _UNIT_LIMIT[code]), psc, -1)
    cells = Cells(radio, mcc, mnc, lac, cid, psc, lon, lat, rng, samples, created, updated)
    if ok.all():
        return cells, []
    cells = cells.take(ok)
    extra: list[CellRow] = []
    bad_rows: list[tuple[int, str]] = []
    for i in np.flatnonzero(~ok).tolist():
        try:
            extra.append(parse_row(lines[i].split(",")))
        except BadRow as error:
            bad_rows.append((numbers[i], error.reason))
    if extra:
        cells = _concat(cells, _from_rows(extra))
    return cells, bad_rows


def bbox(lat: F64, lon: F64, radius: I64) -> tuple[F64, F64, F64, F64]:
    """(max_lat, min_lat, max_lon, min_lon) of squares whose corners lie ``radius`` metres from
    their centres, so each station's corner radius stays the file's range."""
    half = np.maximum(radius, 0) / math.sqrt(2.0)
    dlat = np.degrees(half / EARTH_RADIUS)
    dlon = dlat / np.maximum(np.cos(np.radians(lat)), 0.01)
    return (
        np.minimum(lat + dlat, 90.0),
        np.maximum(lat - dlat, -90.0),
        np.minimum(lon + dlon, 180.0),
        np.maximum(lon - dlon, -180.0),
    )
