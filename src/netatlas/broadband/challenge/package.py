"""Writing a challenge package: a zip of ``tests.csv``, ``tests.geojson``, ``places.csv`` and
``METHODOLOGY.txt``.

The tests are streamed from the database a chunk at a time (:mod:`.select`) into the CSV (in
the zip) and the GeoJSON (a temporary file, added to the zip at the end): memory stays flat
whatever the number of tests, except for five numbers per placed test (:mod:`.places`).
Text that came from contributors or from outside (provider names, answers) is neutralised in
the CSV files so that a spreadsheet never runs it as a formula (:mod:`netatlas.http.csvsafe`).
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import IO, Any

import msgspec
import numpy as np
from sqlalchemy import Engine

from netatlas.broadband.challenge.localtime import LocalClock, LocalTimes, parse_zone
from netatlas.broadband.challenge.methodology import methodology
from netatlas.broadband.challenge.places import Places
from netatlas.broadband.challenge.select import Area, SelectionError, test_chunks
from netatlas.http.csvsafe import FORMULA_START, csv_cell

__all__ = ["PLACE_COLUMNS", "TEST_COLUMNS", "Package", "Request", "write_package"]

TEST_COLUMNS = (
    "test_id", "download_uuid", "upload_uuid", "time_utc", "time_local", "timezone",
    "evening_18_24", "peak_19_23", "provider_reported", "asn", "as_name", "technology",
    "connection_type", "download_mbps", "upload_mbps", "latency_ms", "loss_rate", "lat", "lon",
    "accuracy_m", "location_source", "place_id", "advertised_download_mbps",
    "advertised_upload_mbps", "consent_publication", "consent_challenge", "source",
    "verification",
)  # fmt: skip
PLACE_COLUMNS = (
    "place_id", "lat", "lon", "size_m", "tests", "distinct_days", "first_day", "last_day",
    "download_median_mbps", "upload_median_mbps", "latency_median_ms", "test_ids",
)  # fmt: skip
#: Deflate level: 1 compresses CSV and GeoJSON nearly as well as 6, several times faster.
LEVEL = 1
_encode = msgspec.json.encode


@dataclass(frozen=True)
class Request:
    """What to export: an area, a period [since, until) in UTC, the zone of the windows."""

    area: Area
    since: datetime  # naive UTC
    until: datetime
    timezone: str = "UTC"
    place_metres: float = 100.0

    def check(self) -> None:
        """Raises SelectionError for a bad zone, an empty period or a bad place size."""
        try:
            parse_zone(self.timezone)
        except ValueError as exc:
            raise SelectionError(str(exc)) from None
        if not self.since < self.until:
            raise SelectionError("the period is empty: since must be before until")
        if not 1 <= self.place_metres <= 10_000:
            raise SelectionError("a place is 1 to 10,000 metres across")


@dataclass
class Package:
    tests: int = 0
    placed: int = 0
    places: int = 0
    repeated_places: int = 0  # places with tests on two or more days
    created: str = ""
    files: list[str] = field(default_factory=list)


def _num(value: float | None, digits: int = 3) -> Any:
    return "" if value is None else round(value, digits)


def _csv_text(value: Any) -> str:
    """A text cell, neutralised (never a formula) and quoted as RFC 4180 asks."""
    if value is None:
        return ""
    text = str(csv_cell(value))
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _json_text(value: Any) -> str:
    return "null" if value is None else _encode(str(value)).decode()


def _number(value: Any, missing: str) -> str:
    if value is None:
        return missing
    if value.__class__ is float:
        return repr(value) if math.isfinite(value) else missing
    return str(value)


class _Cached:
    """Text forms of values that repeat (provider names, answers), made once per value."""

    LIMIT = 100_000

    def __init__(self, make: Callable[[Any], str]) -> None:
        self.make = make
        self.seen: dict[Any, str] = {}

    def __call__(self, values: list[Any]) -> list[str]:
        seen = self.seen
        if len(seen) > self.LIMIT:
            seen.clear()
        for v in set(values).difference(seen):
            seen[v] = self.make(v)
        return list(map(seen.__getitem__, values))


_NEEDS_QUOTES = re.compile('[,"\r\n]')
_NEEDS_ESCAPE = re.compile('[\x00-\x1f"\\\\]')
_FORMULA = tuple("\x00" + start for start in FORMULA_START)


def _plain(values: list[Any]) -> bool:
    """Whether every value is text (or None) that CSV and JSON take as it is: no formula
    start, nothing to quote or escape. Checked on the joined column, once per chunk rather
    than per value (a ``\\x00`` inside a value can only make the answer a safe False)."""
    text = [v for v in values if v is not None]
    if not all(v.__class__ is str for v in text):
        return False
    joined = "\x00" + "\x00".join(text)
    if _NEEDS_QUOTES.search(joined) or _NEEDS_ESCAPE.search(joined.replace("\x00", "")):
        return False
    return not any(start in joined for start in _FORMULA)


_FLAG = {True: "true", False: "false"}
_NUMERIC = frozenset((int, float, type(None)))


def _flags(values: list[Any]) -> list[str]:
    try:  # True/False, or 1/0 from SQLite
        return list(map(_FLAG.__getitem__, values))
    except KeyError:  # None or another value: its truth
        return ["true" if v else "false" for v in values]


def _numbers(values: list[Any]) -> tuple[list[str], list[str]]:
    """Numbers as CSV text ("" when missing or not finite) and as JSON text ("null").

    A float is written as ``str`` writes it, its shortest round trip. The text is made by
    msgspec's encoder, several times faster than ``str`` of each float and the same digit for
    digit, except in the form of numbers below 1e-4 or from 1e16 (``0.00001`` and ``1e16``
    where ``str`` has ``1e-05`` and ``1e+16``): those few are made by ``repr``."""
    text: list[str] | None = None
    if values and set(map(type, values)) <= _NUMERIC:
        try:
            encoded = _encode(values)
        except (OverflowError, TypeError):  # an int beyond 64 bits
            encoded = b""
        if encoded:
            text = encoded[1:-1].decode().split(",")
            if b"e" in encoded or b"0.0000" in encoded:
                text = [
                    repr(v) if "e" in t or t.startswith(("0.0000", "-0.0000")) else t
                    for v, t in zip(values, text, strict=True)
                ]
            if b"null" not in encoded:
                return text, text
            return ["" if t == "null" else t for t in text], text
    csv_text = [_number(v, "") for v in values]
    return csv_text, [t or "null" for t in csv_text]


#: How each column of a chunk is written: text (cached or not), a number or a flag.
_KIND = {
    "test_id": "number", "download_uuid": "text", "upload_uuid": "text", "time_utc": "plain",
    "time_local": "plain", "timezone": "repeated", "evening_18_24": "flag",
    "peak_19_23": "flag", "provider_reported": "repeated", "asn": "number",
    "as_name": "repeated", "technology": "repeated", "connection_type": "repeated",
    "download_mbps": "number", "upload_mbps": "number", "latency_ms": "number",
    "loss_rate": "number", "lat": "number", "lon": "number", "accuracy_m": "number",
    "location_source": "repeated", "place_id": "text", "advertised_download_mbps": "number",
    "advertised_upload_mbps": "number", "consent_publication": "flag",
    "consent_challenge": "flag", "source": "repeated", "verification": "repeated",
}  # fmt: skip
_PROPERTIES = tuple(name for name in TEST_COLUMNS if name not in ("lat", "lon"))
_POINT = '{"type":"Point","coordinates":[%s,%s]}'


def _feature(pieces: tuple[str, ...], point: str) -> str:
    """The format of one GeoJSON feature: ``pieces`` is each property's (``%s`` or, for text
    given as it is, ``"%s"``), ``point`` the geometry's."""
    properties = ",".join(f'"{name}":{p}' for name, p in zip(_PROPERTIES, pieces, strict=True))
    return '{"type":"Feature","id":%s,"geometry":' + point + ',"properties":{' + properties + "}}"


def _csv_lines(columns: list[list[str]]) -> str:
    """CSV lines (CRLF) of columns of cells, made by one join: the last cell of each line is
    joined with the first of the next."""
    first, last = columns[0], columns[-1]
    if not first:
        return ""
    ends = [z + "\r\n" + a for z, a in zip(last, first[1:], strict=False)]
    ends.append(last[-1] + "\r\n")
    return first[0] + "," + ",".join(chain.from_iterable(zip(*columns[1:-1], ends, strict=True)))


class _Writer:
    """Turns chunks of test columns into CSV lines and GeoJSON features."""

    def __init__(self, zone: str) -> None:
        self.clock = LocalClock(parse_zone(zone))
        self.zone = self.clock.zone.key
        self.csv_repeated = _Cached(_csv_text)
        self.json_repeated = _Cached(_json_text)
        self._format: tuple[tuple[str, ...], int, str] = ((), 0, "")

    def columns(
        self, c: dict[str, list[Any]], t: LocalTimes, places: list[str | None]
    ) -> dict[str, list[Any]]:
        return {
            "test_id": c["id"], "download_uuid": c["download_uuid"],
            "upload_uuid": c["upload_uuid"], "time_utc": t.utc, "time_local": t.local,
            "timezone": [self.zone] * len(t.utc), "evening_18_24": t.evening,
            "peak_19_23": t.peak, "provider_reported": c["isp"], "asn": c["asn"],
            "as_name": c["as_name"], "technology": c["technology"],
            "connection_type": c["connection_type"], "download_mbps": c["download"],
            "upload_mbps": c["upload"], "latency_ms": c["latency"], "loss_rate": c["loss_rate"],
            "lat": c["lat"], "lon": c["lon"], "accuracy_m": c["accuracy"],
            "location_source": c["location_source"], "place_id": places,
            "advertised_download_mbps": c["advertised_download"],
            "advertised_upload_mbps": c["advertised_upload"],
            "consent_publication": c["consent"], "consent_challenge": c["challenge_consent"],
            "source": c["source"], "verification": c["verification"],
        }  # fmt: skip

    def _features(self, key: tuple[str, ...], rows: int) -> str:
        """The format of ``rows`` features joined by ",\n" (the last one kept)."""
        if self._format[:2] != (key, rows):
            point = _POINT if key[0] == "point" else "%s"
            self._format = (key, rows, ",\n".join([_feature(key[1:], point)] * rows))
        return self._format[2]

    def texts(self, cols: dict[str, list[Any]]) -> tuple[str, str]:
        """The chunk's CSV lines and GeoJSON features. Numbers are made text once for both
        (JSON has null where CSV has an empty cell); text that JSON takes as it is goes in
        the features' format between quotes."""
        csv_out: list[list[str]] = []
        json_out: dict[str, list[str]] = {}
        pieces: dict[str, str] = {}
        for name in TEST_COLUMNS:
            kind, values = _KIND[name], cols[name]
            piece = "%s"
            if kind == "repeated":
                csv_out.append(self.csv_repeated(values))
                json_out[name] = self.json_repeated(values)
            elif kind == "text" and _plain(values):  # None: empty cell, null
                if None in values:
                    csv_out.append(["" if v is None else v for v in values])
                    json_out[name] = ["null" if v is None else '"' + v + '"' for v in values]
                else:
                    csv_out.append(values)
                    json_out[name], piece = values, '"%s"'
            elif kind == "text":
                csv_out.append([_csv_text(v) for v in values])
                json_out[name] = [_json_text(v) for v in values]
            elif kind == "number":
                csv_text, json_out[name] = _numbers(values)
                csv_out.append(csv_text)
            elif kind == "flag":
                text = _flags(values)
                csv_out.append(text)
                json_out[name] = text
            else:  # plain text known to need no quoting (times)
                csv_out.append(values)
                json_out[name], piece = values, '"%s"'
            pieces[name] = piece
        lines = _csv_lines(csv_out)
        lat, lon = json_out.pop("lat"), json_out.pop("lon")
        del pieces["lat"], pieces["lon"]
        if "null" in lat or "null" in lon:
            point = "%s"
            geometry = [
                "null" if y == "null" or x == "null" else _POINT % (x, y)
                for y, x in zip(lat, lon, strict=True)
            ]
            columns = [json_out["test_id"], geometry, *json_out.values()]
        else:
            point = "point"
            columns = [json_out["test_id"], lon, lat, *json_out.values()]
        fmt = self._features((point, *pieces.values()), len(lat))
        features = fmt % tuple(chain.from_iterable(zip(*columns, strict=True)))
        return lines, features


def _places(c: dict[str, list[Any]], req: Request, places: Places, days: Any) -> list[str | None]:
    """Place the tests located by the browser precisely enough; the place id of each test."""
    accuracy = np.array([np.nan if a is None else a for a in c["accuracy"]], np.float64)
    browser = np.array([s == "browser" for s in c["location_source"]])
    placed = np.flatnonzero(browser & (accuracy <= req.place_metres))
    ids: list[str | None] = [None] * len(accuracy)
    if placed.size == 0:
        return ids
    values = np.array(
        [[np.nan if v is None else v for v in c[k]] for k in ("download", "upload", "latency")],
        np.float64,
    ).T
    found = places.add(
        np.asarray(c["id"], np.int64)[placed],
        np.asarray(c["lat"], np.float64)[placed],
        np.asarray(c["lon"], np.float64)[placed],
        days[placed],
        values[placed],
    )
    for i, place in zip(placed.tolist(), found, strict=True):
        ids[i] = place
    return ids


def _write_tests(
    engine: Engine, req: Request, places: Places, text: IO[str], geojson: IO[bytes]
) -> int:
    writer = _Writer(req.timezone)
    text.write(",".join(TEST_COLUMNS) + "\r\n")
    geojson.write(b'{"type":"FeatureCollection","features":[\n')
    count = 0
    for chunk in test_chunks(engine, req.area, req.since, req.until):
        t = writer.clock.at(np.asarray(chunk["epoch"], np.int64))
        cols = writer.columns(chunk, t, _places(chunk, req, places, t.day_number))
        lines, features = writer.texts(cols)
        text.write(lines)
        if count:
            geojson.write(b",\n")
        geojson.write(features.encode())
        count += len(chunk["id"])
    geojson.write(b"\n]}\n")
    return count


def _write_places(places: Places, text: IO[str], result: Package) -> None:
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(PLACE_COLUMNS)
    for p in places.medians():
        result.places += 1
        result.repeated_places += p.days >= 2
        writer.writerow(
            [
                csv_cell(p.place_id), p.lat, p.lon, f"{places.metres:g}", p.tests, p.days,
                p.first_day, p.last_day, _num(p.download_median), _num(p.upload_median),
                _num(p.latency_median), "|".join(map(str, p.test_ids)),
            ]
        )  # fmt: skip


def write_package(engine: Engine, req: Request, out: IO[bytes], workdir: Path) -> Package:
    """Write the package for ``req`` as a zip to ``out``. ``workdir`` holds a temporary file
    (the GeoJSON) while it is written. Raises SelectionError for a bad request."""
    req.check()
    result = Package(created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    places = Places(req.place_metres)
    workdir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=workdir, prefix=".challenge-", suffix=".geojson")
    try:
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=LEVEL) as zf:
            with (
                os.fdopen(fd, "wb") as geojson,
                zf.open("tests.csv", "w", force_zip64=True) as raw,
                io.TextIOWrapper(raw, "utf-8", newline="") as text,
            ):
                result.tests = _write_tests(engine, req, places, text, geojson)
            zf.write(tmp, "tests.geojson")
            result.placed = len(places)
            with (
                zf.open("places.csv", "w", force_zip64=True) as raw,
                io.TextIOWrapper(raw, "utf-8", newline="") as text,
            ):
                _write_places(places, text, result)
            zf.writestr("METHODOLOGY.txt", methodology(req, result))
            result.files = zf.namelist()
    finally:
        Path(tmp).unlink(missing_ok=True)
    return result
