"""Writing a challenge package: a zip of ``tests.csv``, ``tests.geojson``, ``places.csv`` and
``METHODOLOGY.txt``.

The tests are streamed from the database a chunk at a time (:mod:`.select`) into the CSV and
the GeoJSON, each deflated into a temporary file as it comes (:mod:`.zipwrite`) by a thread of
its own while the text of the next chunk is made (PostgreSQL is read by another); the zip is
put together at the end. Memory stays flat whatever the number of tests, except for five
numbers per placed test (:mod:`.places`).
Text that came from contributors or from outside (provider names, answers) is neutralised in
the CSV files so that a spreadsheet never runs it as a formula (:mod:`netatlas.http.csvsafe`).
"""

from __future__ import annotations

import math
import queue
import re
import tempfile
import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import IO, Any, TypeVar

import msgspec
import numpy as np
from sqlalchemy import Engine

from netatlas.broadband.challenge.localtime import LocalClock, LocalTimes, parse_zone
from netatlas.broadband.challenge.methodology import methodology
from netatlas.broadband.challenge.places import Places
from netatlas.broadband.challenge.select import Area, SelectionError, test_chunks
from netatlas.broadband.challenge.zipwrite import Deflated, ZipOut
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
_PLACES = 20_000  # places.csv lines made at a time
_MEMBERS = ("tests.csv", "tests.geojson", "places.csv", "METHODOLOGY.txt")
_encode = msgspec.json.encode
T = TypeVar("T")


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
        try:
            return list(map(seen.__getitem__, values))
        except KeyError:  # a value not seen yet
            if len(seen) > self.LIMIT:
                seen.clear()
            for v in set(values).difference(seen):
                seen[v] = self.make(v)
            return list(map(seen.__getitem__, values))


#: What CSV quotes (, " CR LF) or JSON escapes (controls, " and \\), but NUL: see _plain.
_NEEDS_QUOTES_OR_ESCAPE = re.compile('[\x01-\x1f",\\\\]')
_FORMULA = tuple("\x00" + start for start in FORMULA_START)
_TEXT = frozenset((str, type(None)))


def _plain(values: list[Any]) -> bool:
    """Whether every value is text (or None) that CSV and JSON take as it is: no formula
    start, nothing to quote or escape. Checked on the column joined by NUL, once per chunk
    rather than per value (a NUL inside a value is found by counting them)."""
    if not set(map(type, values)) <= _TEXT:
        return False
    text = [v for v in values if v is not None]
    if not text:
        return True
    joined = "\x00" + "\x00".join(text)
    if joined.count("\x00") != len(text) or _NEEDS_QUOTES_OR_ESCAPE.search(joined):
        return False
    return not any(start in joined for start in _FORMULA)


_FLAG = {True: "true", False: "false"}


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
    try:
        encoded = _encode(values) if values else b""
    except (OverflowError, TypeError):  # an int beyond 64 bits, a value of another type
        encoded = b""
    # Only numbers and nulls: no quote (text, Decimal) and no true or false.
    if encoded and not encoded[1:-1].translate(None, b"0123456789.,+-enul"):
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


class _Background:
    """Runs calls one after another in a thread of its own, a few waiting at most: the
    deflate of a member (zlib lets go of the GIL) overlaps making the next chunk's text.
    The first error is raised in the caller's thread, at the next call or at the end."""

    def __init__(self, depth: int = 8) -> None:
        self._queue: queue.Queue[tuple[Callable[[Any], Any], Any] | None] = queue.Queue(depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="challenge-write", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is None:
                try:
                    item[0](item[1])
                except BaseException as exc:  # raised again in the caller's thread
                    self._error = exc

    def __call__(self, call: Callable[[Any], Any], arg: Any) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put((call, arg))

    def __enter__(self) -> _Background:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is not None and self._error is None:
            self._error = RuntimeError("stopped")  # the rest is skipped
        self._queue.put(None)
        self._thread.join()
        if kind is None and self._error is not None:
            raise self._error


def _read_ahead(engine: Engine, chunks: Generator[T, None, None], depth: int = 2) -> Iterator[T]:
    """The chunks, read from PostgreSQL by a thread of their own while the caller works on
    the previous ones: the server runs the query on the other core, and the client lets go
    of the GIL while it waits for each chunk. SQLite is read in the caller's thread: its
    driver lets go of the GIL for every row, and taking it back from a busy thread each time
    makes a reading thread slower than none."""
    if engine.dialect.name != "postgresql":
        yield from chunks
        return
    ready: queue.Queue[tuple[bool, Any]] = queue.Queue(depth)
    stop = threading.Event()

    def put(item: tuple[bool, Any]) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def read() -> None:
        end: BaseException | None = None
        try:
            for chunk in chunks:
                if not put((True, chunk)):
                    break
        except BaseException as exc:  # raised again in the caller's thread
            end = exc
        finally:
            chunks.close()  # in this thread, which holds the connection
        put((False, end))

    thread = threading.Thread(target=read, name="challenge-read", daemon=True)
    thread.start()
    try:
        while True:
            more, item = ready.get()
            if not more:
                if item is not None:
                    raise item
                return
            yield item
    finally:
        stop.set()
        thread.join()


def _write_tests(
    engine: Engine, req: Request, places: Places, csv_out: Deflated, geojson: Deflated
) -> int:
    """The tests into the CSV and the GeoJSON: the text of a chunk is made here while the
    previous chunk's is deflated by a thread of its own."""
    writer = _Writer(req.timezone)
    csv_out.write((",".join(TEST_COLUMNS) + "\r\n").encode())
    geojson.write(b'{"type":"FeatureCollection","features":[\n')

    def deflate(texts: tuple[bytes, bytes, bool]) -> None:
        lines, features, first = texts
        csv_out.write(lines)
        if not first:
            geojson.write(b",\n")
        geojson.write(features)

    count = 0
    with _Background() as write:
        for chunk in _read_ahead(engine, test_chunks(engine, req.area, req.since, req.until)):
            t = writer.clock.at(np.asarray(chunk["epoch"], np.int64))
            cols = writer.columns(chunk, t, _places(chunk, req, places, t.day_number))
            lines, features = writer.texts(cols)
            write(deflate, (lines.encode(), features.encode(), count == 0))
            count += len(chunk["id"])
    geojson.write(b"\n]}\n")
    return count


def _write_places(places: Places, out: Deflated, result: Package) -> None:
    """places.csv: a line per place, made a column at a time, a slice of places at a time."""
    c = places.columns()
    result.places = len(c.place_id)
    result.repeated_places = sum(days >= 2 for days in c.days)
    out.write((",".join(PLACE_COLUMNS) + "\r\n").encode())
    ends = [*c.starts[1:], len(c.ids)]
    for i in range(0, len(c.place_id), _PLACES):
        j = min(i + _PLACES, len(c.place_id))
        # Each place's test ids joined by "|": one join, split where the places begin.
        first = c.starts[i]
        ids = _numbers(c.ids[first : ends[j - 1]])[0]
        for start in c.starts[i + 1 : j]:
            ids[start - first] = "\x00" + ids[start - first]
        columns = [
            [_csv_text(p) for p in c.place_id[i:j]],
            _numbers(c.lat[i:j])[0],
            _numbers(c.lon[i:j])[0],
            [f"{places.metres:g}"] * (j - i),
            _numbers(c.tests[i:j])[0],
            _numbers(c.days[i:j])[0],
            c.first_day[i:j],
            c.last_day[i:j],
            *(
                _numbers([round(v, 3) for v in m[i:j]])[0]
                for m in (c.download_median, c.upload_median, c.latency_median)
            ),
            "|".join(ids).split("|\x00"),
        ]
        out.write(_csv_lines(columns).encode())


def write_package(engine: Engine, req: Request, out: IO[bytes], workdir: Path) -> Package:
    """Write the package for ``req`` as a zip to ``out``. ``workdir`` holds temporary files
    (the members, deflated) while it is written. Raises SelectionError for a bad request."""
    req.check()
    result = Package(created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    places = Places(req.place_metres)
    workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=workdir, prefix=".challenge-") as tmp:
        members = {name: Deflated(Path(tmp) / name, LEVEL) for name in _MEMBERS}
        try:
            csv_out, geojson = members["tests.csv"], members["tests.geojson"]
            result.tests = _write_tests(engine, req, places, csv_out, geojson)
            result.placed = len(places)
            _write_places(places, members["places.csv"], result)
            members["METHODOLOGY.txt"].write(methodology(req, result).encode())
            zf = ZipOut(out)
            for name, member in members.items():
                zf.add(name, member)
            zf.close()
        finally:
            for member in members.values():
                member.close()
    result.files = list(members)
    return result
