"""Parsing of the three submit APIs into canonical
:class:`~netatlas.location.submit.report.Report`s.

``parse_submit`` is a pure function over the (already decompressed and decoded, see
:mod:`netatlas.http.body`) request text. Only a structurally unusable body is an error
(:class:`~netatlas.http.errors.ParseError`, HTTP 400): empty (or only whitespace), not JSON,
not an object, or without an ``items`` array. Everything below that is lenient: a bad report or
entry is dropped and counted in :attr:`SubmitResult.dropped`, never the batch.

Drop reasons (keys of ``dropped``):

* ``report.invalid`` - an item that is not an object; ``report.empty`` - a report left with no
  Bluetooth, cell or WiFi entry; ``position.invalid`` - a ``position`` that is not an object (the
  report is kept, without a position).
* ``wifi.invalid`` / ``blue.invalid`` / ``cell.invalid`` - an entry that is not an object, a
  network array (``wifiAccessPoints``...) that is not an array (counted once), or (cells) a
  network code that is a non-numeric string (``"abc"``).
* ``wifi.invalid_mac`` / ``blue.invalid_mac`` - MAC missing, not a string, not 12 hex digits,
  all-zero or all-ones; ``*.multicast_mac`` - group bit set; ``*.local_mac`` - locally
  administered (randomised) address.
* ``wifi.hidden`` - empty or NUL-only SSID; ``wifi.nomap`` - SSID ending in ``_nomap`` or
  containing ``_optout`` (owner opt-out conventions).
* ``cell.radio`` - cdma, unknown or missing radio type; ``cell.incomplete`` - MCC, MNC, LAC or
  cell id missing, of an unusable type, or an "unknown" sentinel (e.g. PSC-only neighbour
  cells); ``cell.out_of_range`` - a key field outside its range for the radio.
* ``wifi.duplicate`` / ``blue.duplicate`` / ``cell.duplicate`` - the same network twice in one
  report (the better observation is kept).

A member whose JSON type cannot hold its value (``"signalStrength": "strong"``, ``"age": [1]``) is
treated as absent, like ``null``; numeric strings and integral floats are accepted for numbers.

Compared with Ichnaea: a non-string ``macAddress`` is dropped and counted instead of failing the
whole request with a 400; ``gps`` as position source is mapped to ``gnss``; SSIDs are never kept.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Final, Literal

import msgspec

from netatlas.http.errors import ParseError
from netatlas.location.submit.fields import (
    MAX_AGE,
    BadValue,
    as_code,
    clean_text,
    iso_time_ms,
    timestamp_ms,
)
from netatlas.location.submit.networks import MacCache, count, parse_blues, parse_cells, parse_wifis
from netatlas.location.submit.report import Position, Report
from netatlas.location.submit.schema import (
    REPORT_TYPES,
    FlatReportInV0,
    PositionIn,
    ReportIn,
    ReportV2In,
    decode_reports,
    salvage_report,
)

__all__ = ["SubmitApi", "SubmitResult", "parse_submit"]

SubmitApi = Literal["v2", "v1", "v0"]  # /v2/geosubmit, /v1/geosubmit, /v1/submit

_decode_any: Final = msgspec.json.Decoder().decode

# Position sources: Ichnaea's vocabulary, plus "gps" (NeoStumbler, Tower Collector) read as gnss.
_SOURCES: Final = {
    "fixed": "fixed",
    "gnss": "gnss",
    "gps": "gnss",
    "fused": "fused",
    "query": "query",
}
_MAX_SHOWN: Final = 100  # characters of a rejected value echoed back in a validation message


@dataclass(slots=True)
class SubmitResult:
    """The accepted reports of one request and the counted reasons for everything dropped."""

    reports: list[Report] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)


def parse_submit(text: str | bytes, api: SubmitApi, now_ms: int) -> SubmitResult:
    """Parse a submit request body into canonical reports.

    ``api`` selects the format: ``"v2"`` (/v2/geosubmit), ``"v1"`` (/v1/geosubmit, flat position)
    or ``"v0"`` (/v1/submit, legacy short names). ``now_ms`` replaces missing or implausible
    report timestamps. Raises :class:`ParseError` only for a body that is empty, not JSON, not an
    object, or has no ``items`` array.
    """
    result = SubmitResult()
    dropped = result.dropped
    reports = decode_reports(text, api)  # one pass when every value has a usable type
    if reports is None:
        reports = _reports_leniently(text, REPORT_TYPES[api], dropped)
    macs: MacCache = {}  # raw MAC text -> normalised MAC or reason; MACs repeat across a batch
    append = result.reports.append
    for raw in reports:
        report = _report(raw, now_ms, macs, dropped)
        if report is not None:
            append(report)
    return result


def _reports_leniently(
    text: str | bytes, report_type: type[ReportIn], dropped: dict[str, int]
) -> list[ReportIn]:
    """The slow route: decode generically, check the structure, convert report by report."""
    reports: list[ReportIn] = []
    for item in _items(_load(text)):
        if type(item) is not dict:
            count(dropped, "report.invalid")
            continue
        try:
            reports.append(msgspec.convert(item, report_type, strict=False))
        except msgspec.ValidationError:
            reports.append(salvage_report(item, report_type, dropped))
    return reports


def _load(text: str | bytes) -> object:
    """Decode JSON; fall back to the stdlib for its lenient literals and its error messages."""
    if not text or not text.strip():
        raise ParseError()  # an empty body: no details, as in Ichnaea
    try:
        return _decode_any(text)
    except (msgspec.DecodeError, RecursionError):
        pass
    # msgspec refuses NaN/Infinity literals and overflowing numbers, which the stdlib reads as
    # non-finite floats (dropped later); anything the stdlib refuses too is a parse error whose
    # details carry the repr of the stdlib's exception, which is what Ichnaea reported.
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ParseError.decode_error(repr(exc)) from None


def _shown(value: object) -> str:
    shown = repr(value)
    return shown if len(shown) <= _MAX_SHOWN else shown[: _MAX_SHOWN - 3] + "..."


def _items(body: object) -> list[object]:
    if type(body) is not dict:
        message = (
            f'"{_shown(body)}" is not a mapping type: Does not implement dict-like functionality.'
        )
        raise ParseError.validation_error({"": message})
    items = body.get("items")
    if items is None:
        raise ParseError.validation_error({"items": "Required"})
    if type(items) is not list:
        raise ParseError.validation_error({"items": f'"{_shown(items)}" is not iterable'})
    return items


def _report(raw: ReportIn, now_ms: int, macs: MacCache, dropped: dict[str, int]) -> Report | None:
    blues = parse_blues(raw.bluetoothBeacons, macs, dropped)
    cells = parse_cells(raw.cellTowers, raw.radioType, dropped)
    wifis = parse_wifis(raw.wifiAccessPoints, macs, dropped)
    if not (blues or cells or wifis):
        count(dropped, "report.empty")
        return None
    if isinstance(raw, ReportV2In):
        position = None if raw.position is None else _position(raw.position)
    else:
        position = _position(raw)
    if isinstance(raw, FlatReportInV0):
        timestamp = iso_time_ms(raw.timestamp, now_ms)
    else:
        timestamp = timestamp_ms(raw.timestamp, now_ms)
    try:
        home_mcc = as_code(raw.homeMobileCountryCode)
        home_mnc = as_code(raw.homeMobileNetworkCode)
    except BadValue:
        home_mcc = home_mnc = None
    return Report(
        timestamp=timestamp,
        position=position,
        bluetoothBeacons=blues,
        cellTowers=cells,
        wifiAccessPoints=wifis,
        carrier=clean_text(raw.carrier, 255),
        homeMobileCountryCode=home_mcc if home_mcc is not None and 1 <= home_mcc <= 999 else None,
        homeMobileNetworkCode=home_mnc if home_mnc is not None and 0 <= home_mnc <= 999 else None,
    )


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _position(raw: PositionIn) -> Position | None:
    """The position members of ``raw`` (a nested position or a flat report); ``None`` if empty.

    Values are only checked to be finite numbers here; range checks, including latitude and
    longitude, are the observation pipeline's job, as in Ichnaea, so a report with an unusable
    position is still accepted.
    """
    age = raw.age
    if age is not None and not -MAX_AGE <= age <= MAX_AGE:
        age = None
    source = raw.source
    if source is not None:
        source = _SOURCES.get(source) or _SOURCES.get(source.strip().lower())
    position = Position(
        latitude=_finite(raw.latitude),
        longitude=_finite(raw.longitude),
        accuracy=_finite(raw.accuracy),
        altitude=_finite(raw.altitude),
        altitudeAccuracy=_finite(raw.altitudeAccuracy),
        age=age,
        heading=_finite(raw.heading),
        pressure=_finite(raw.pressure),
        speed=_finite(raw.speed),
        source=source,
    )
    return None if position == _EMPTY_POSITION else position


_EMPTY_POSITION: Final = Position()
