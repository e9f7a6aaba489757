"""The public cell CSV format of MLS and OpenCellID: reading, checking and writing rows.

Header ``radio,mcc,net,area,cell,unit,lon,lat,range,samples,changeable,created,updated,
averageSignal``; radio GSM, UMTS, LTE or NR; ``unit`` is the PSC (UMTS) or PCI (LTE, NR);
longitude before latitude; ``range`` the cell's radius in metres; ``created`` and ``updated``
are seconds since the epoch. Files are gzip; lines end in CRLF (reference/ichnaea.md 5.5).
Reading is lenient about what it does not use (``changeable``, ``averageSignal``) and strict
about keys and positions: a row that fails is reported by line, never fatal.
"""

from __future__ import annotations

import calendar
import csv
import gzip
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, NamedTuple

from sqlalchemy import ColumnElement, Connection, and_, or_, select

from netatlas.location.models import RADIOS, cell_tables
from netatlas.location.radio import MCC_MAX, MCC_MIN, MNC_MAX, MNC_MIN, cell_radio
from netatlas.location.radio import RADIOS as RANGES

HEADER = (
    "radio,mcc,net,area,cell,unit,lon,lat,range,samples,changeable,created,updated,averageSignal"
)
COLUMNS = len(HEADER.split(","))
LABELS = {"gsm": "GSM", "wcdma": "UMTS", "lte": "LTE", "nr": "NR"}
RADIO_OF = {"GSM": "gsm", "UMTS": "wcdma", "WCDMA": "wcdma", "LTE": "lte", "NR": "nr"}
UNSUPPORTED = {"CDMA"}  # OpenCellID has CDMA rows; NetAtlas keeps no CDMA table
MAX_RANGE = 2**31 - 1
MAX_SAMPLES = 2**32 - 1
MAX_TIME = 2**33  # seconds; the year 2242


class CellRow(NamedTuple):
    radio: str  # gsm | wcdma | lte | nr
    mcc: int
    mnc: int
    lac: int
    cid: int
    psc: int | None
    lon: float
    lat: float
    range: int  # metres
    samples: int
    created: int  # seconds since the epoch
    updated: int


class BadRow(ValueError):
    """A row that cannot be used; ``reason`` is short and stable (it is counted)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _int(text: str, reason: str) -> int:
    try:
        return int(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            raise BadRow(reason) from None
        if not value.is_integer():
            raise BadRow(reason) from None
        return int(value)


def parse_row(fields: list[str]) -> CellRow:
    """One CSV row as a :class:`CellRow`; :class:`BadRow` says why it is unusable."""
    if len(fields) < COLUMNS - 1:  # a missing trailing averageSignal is tolerated
        raise BadRow("columns")
    label = fields[0].strip().upper()
    radio = RADIO_OF.get(label)
    if radio is None:
        raise BadRow("unsupported radio" if label in UNSUPPORTED else "radio")
    mcc = _int(fields[1], "mcc")
    mnc = _int(fields[2], "mnc")
    lac = _int(fields[3], "area")
    cid = _int(fields[4], "cell")
    radio = cell_radio(radio, cid)
    ranges = RANGES[radio]
    if not MCC_MIN <= mcc <= MCC_MAX:
        raise BadRow("mcc")
    if not MNC_MIN <= mnc <= MNC_MAX:
        raise BadRow("mnc")
    if not ranges.has_lac(lac):
        raise BadRow("area")
    if not ranges.has_cid(cid):
        raise BadRow("cell")
    unit_text = fields[5]
    psc: int | None = None
    if unit_text:
        try:
            psc = int(unit_text)
        except ValueError:
            psc = None
        if psc is not None and not 0 <= psc <= ranges.psc_max:
            psc = None
    try:
        lon = float(fields[6])
        lat = float(fields[7])
    except ValueError:
        raise BadRow("position") from None
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0) or (lat == 0.0 and lon == 0.0):
        raise BadRow("position")  # also NaN, which fails every comparison
    rng = _int(fields[8] or "0", "range")
    if not 0 <= rng <= MAX_RANGE:
        raise BadRow("range")
    samples = _int(fields[9] or "0", "samples")
    if not 0 <= samples <= MAX_SAMPLES:
        raise BadRow("samples")
    created = _int(fields[11], "time")
    updated = _int(fields[12], "time")
    if not (0 < created < MAX_TIME and 0 < updated < MAX_TIME):
        raise BadRow("time")
    return CellRow(radio, mcc, mnc, lac, cid, psc, lon, lat, rng, samples, created, updated)


def open_text(path: Path) -> IO[str]:
    """A text reader of a CSV file, gunzipped when it is gzip (by its magic bytes)."""
    with path.open("rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="")
    return path.open("r", encoding="utf-8", errors="replace", newline="")


def read_rows(text: Iterable[str]) -> Iterator[tuple[int, CellRow | BadRow]]:
    """(line number, row or the reason it is bad) for every data line; the header is skipped."""
    reader = csv.reader(text)
    line = 0
    for fields in reader:
        line = reader.line_num
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue
        if line == 1 and fields[0].strip().lower() == "radio":
            continue
        try:
            yield line, parse_row(fields)
        except BadRow as bad:
            yield line, bad


def format_row(row: CellRow) -> str:
    unit = "" if row.psc is None else str(row.psc)
    return (
        f"{LABELS[row.radio]},{row.mcc},{row.mnc},{row.lac},{row.cid},{unit},"
        f"{row.lon:.7f},{row.lat:.7f},{row.range},{row.samples},1,"
        f"{row.created},{row.updated},\r\n"
    )


def write_csv(rows: Iterable[CellRow], out: IO[bytes], level: int = 6) -> int:
    """Write the header and ``rows`` gzipped to ``out``; returns the rows written."""
    count = 0
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=level, mtime=0) as gz:
        buffer: list[str] = [HEADER + "\r\n"]
        for row in rows:
            buffer.append(format_row(row))
            count += 1
            if len(buffer) >= 10_000:
                gz.write("".join(buffer).encode())
                buffer.clear()
        gz.write("".join(buffer).encode())
    return count


def _seconds(value: datetime | None) -> int:
    return 0 if value is None else calendar.timegm(value.utctimetuple())


def iter_cells(
    conn: Connection,
    since: datetime,
    until: datetime | None = None,
    origins: Iterable[str] = (),
) -> Iterator[CellRow]:
    """Positioned cells modified in [since, until) (naive UTC), streamed table by table.

    Crowd cells (``origin`` NULL) always; imported ones only from the data sets in ``origins``.
    """
    allowed = sorted(set(origins))
    for radio in RADIOS:
        t = cell_tables[radio]
        origin: ColumnElement[bool] = t.c.origin.is_(None)
        if allowed:
            origin = or_(origin, t.c.origin.in_(allowed))
        window = [t.c.modified >= since]
        if until is not None:
            window.append(t.c.modified < until)
        query = (
            select(
                t.c.mcc, t.c.mnc, t.c.lac, t.c.cid, t.c.psc, t.c.lon, t.c.lat, t.c.radius,
                t.c.samples, t.c.created, t.c.modified,
            )
            .where(t.c.lat.is_not(None), t.c.lon.is_not(None), origin, and_(*window))
            .order_by(t.c.cellid)
        )  # fmt: skip
        result = conn.execution_options(stream_results=True, yield_per=10_000).execute(query)
        for r in result:
            modified = _seconds(r.modified)
            yield CellRow(
                radio, r.mcc, r.mnc, r.lac, r.cid, r.psc, r.lon, r.lat,
                r.radius or 0, r.samples or 0, _seconds(r.created) or modified, modified,
            )  # fmt: skip
