"""Parsing of the three submit APIs into canonical :class:`~netatlas.location.report.Report`s.

``parse_submit`` is a pure function over the (already decompressed and decoded, see
:mod:`netatlas.location.body`) request text. Only a structurally unusable body is an error
(:class:`~netatlas.location.errors.ParseError`, HTTP 400): empty, not JSON, not an object, or
without an ``items`` array. Everything below that is lenient: a bad report or entry is dropped and
counted in :attr:`SubmitResult.dropped`, never the batch.

Drop reasons (keys of ``dropped``):

* ``report.invalid`` - an item that is not an object; ``report.empty`` - a report left with no
  Bluetooth, cell or WiFi entry; ``position.invalid`` - a ``position`` that is not an object (the
  report is kept, without a position).
* ``wifi.invalid`` / ``blue.invalid`` / ``cell.invalid`` - an entry that is not an object, an array
  member that is not an array, or (cells) a key field of an unusable type such as ``"abc"``.
* ``wifi.invalid_mac`` / ``blue.invalid_mac`` - MAC missing, not a string, not 12 hex digits,
  all-zero or all-ones; ``*.multicast_mac`` - group bit set; ``*.local_mac`` - locally
  administered (randomised) address.
* ``wifi.hidden`` - empty or NUL-only SSID; ``wifi.nomap`` - SSID ending in ``_nomap`` or
  containing ``_optout`` (owner opt-out conventions).
* ``cell.radio`` - cdma, unknown or missing radio type; ``cell.incomplete`` - MCC, MNC, LAC or cell
  id missing or an "unknown" sentinel (e.g. PSC-only neighbour cells); ``cell.out_of_range`` -
  key field outside its range for the radio.
* ``wifi.duplicate`` / ``blue.duplicate`` / ``cell.duplicate`` - the same network twice in one
  report (the better observation is kept).

Compared with Ichnaea: a non-string ``macAddress`` is dropped and counted instead of failing the
whole request with a 400; ``gps`` as position source is mapped to ``gnss``; SSIDs are never kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Final, Literal

import msgspec

from netatlas.location._submit_fields import (
    MAX_AGE,
    BadValue,
    as_code,
    as_float,
    int_in,
    iso_time_ms,
    timestamp_ms,
)
from netatlas.location._submit_networks import (
    EntryNames,
    MacCache,
    count,
    parse_blues,
    parse_cells,
    parse_wifis,
)
from netatlas.location.errors import ParseError
from netatlas.location.report import Position, Report

__all__ = ["SubmitApi", "SubmitResult", "parse_submit"]

SubmitApi = Literal["v2", "v1", "v0"]  # /v2/geosubmit, /v1/geosubmit, /v1/submit

_decoder: Final = msgspec.json.Decoder()

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


@dataclass(frozen=True, slots=True)
class _ApiNames:
    """Where one submit API keeps the parts of a report."""

    entries: EntryNames
    blues: str
    cells: str
    wifis: str
    radio: str  # report-level default radio type for cells
    nested_position: bool
    # Position members: latitude, longitude, accuracy, altitude, altitudeAccuracy, heading,
    # pressure, speed (floats) - in Position's field order - then age and source.
    floats: tuple[str, str, str, str, str, str, str, str]


_GEOSUBMIT_FLOATS: Final = (
    "latitude",
    "longitude",
    "accuracy",
    "altitude",
    "altitudeAccuracy",
    "heading",
    "pressure",
    "speed",
)
_V2: Final = _ApiNames(
    entries=EntryNames(
        mac="macAddress",
        signal="signalStrength",
        wifi_radio="radioType",
        cell_radio="radioType",
        mcc="mobileCountryCode",
        mnc="mobileNetworkCode",
        lac="locationAreaCode",
        cid="cellId",
        psc="primaryScramblingCode",
        psc_alias="psc",
        ta="timingAdvance",
    ),
    blues="bluetoothBeacons",
    cells="cellTowers",
    wifis="wifiAccessPoints",
    radio="radioType",
    nested_position=True,
    floats=_GEOSUBMIT_FLOATS,
)
# /v1/geosubmit: position members flat on the report; cells say "psc".
_V1: Final = _ApiNames(
    entries=EntryNames(
        mac="macAddress",
        signal="signalStrength",
        wifi_radio="radioType",
        cell_radio="radioType",
        mcc="mobileCountryCode",
        mnc="mobileNetworkCode",
        lac="locationAreaCode",
        cid="cellId",
        psc="psc",
        psc_alias="primaryScramblingCode",
        ta="timingAdvance",
    ),
    blues="bluetoothBeacons",
    cells="cellTowers",
    wifis="wifiAccessPoints",
    radio="radioType",
    nested_position=False,
    floats=_GEOSUBMIT_FLOATS,
)
# /v1/submit (MozStumbler's legacy format, still sent by GeoClue).
_V0: Final = _ApiNames(
    entries=EntryNames(
        mac="key",
        signal="signal",
        wifi_radio="radio",
        cell_radio="radio",
        mcc="mcc",
        mnc="mnc",
        lac="lac",
        cid="cid",
        psc="psc",
        psc_alias="primaryScramblingCode",
        ta="ta",
    ),
    blues="blue",
    cells="cell",
    wifis="wifi",
    radio="radio",
    nested_position=False,
    floats=(
        "lat",
        "lon",
        "accuracy",
        "altitude",
        "altitude_accuracy",
        "heading",
        "pressure",
        "speed",
    ),
)
_APIS: Final = {"v2": _V2, "v1": _V1, "v0": _V0}


def parse_submit(text: str | bytes, api: SubmitApi, now_ms: int) -> SubmitResult:
    """Parse a submit request body into canonical reports.

    ``api`` selects the format: ``"v2"`` (/v2/geosubmit), ``"v1"`` (/v1/geosubmit, flat position)
    or ``"v0"`` (/v1/submit, legacy short names). ``now_ms`` replaces missing or implausible
    report timestamps. Raises :class:`ParseError` only for a body that is empty, not JSON, not an
    object, or has no ``items`` array.
    """
    names = _APIS[api]
    items = _items(_load(text))
    result = SubmitResult()
    dropped = result.dropped
    macs: MacCache = {}  # raw MAC text -> normalised MAC or reason; MACs repeat across a batch
    append = result.reports.append
    for item in items:
        if type(item) is not dict:
            count(dropped, "report.invalid")
            continue
        report = _report(item, names, now_ms, macs, dropped)
        if report is not None:
            append(report)
    return result


def _load(text: str | bytes) -> object:
    """Decode JSON; fall back to the stdlib for its lenient literals and its error messages."""
    if not text or not text.strip():
        raise ParseError()  # an empty body: no details, as in Ichnaea
    try:
        return _decoder.decode(text)
    except msgspec.DecodeError:
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


def _report(
    item: dict[str, object],
    names: _ApiNames,
    now_ms: int,
    macs: MacCache,
    dropped: dict[str, int],
) -> Report | None:
    entry_names = names.entries
    blues = parse_blues(item.get(names.blues), entry_names, macs, dropped)
    cells = parse_cells(item.get(names.cells), entry_names, item.get(names.radio), dropped)
    wifis = parse_wifis(item.get(names.wifis), entry_names, macs, dropped)
    if not (blues or cells or wifis):
        count(dropped, "report.empty")
        return None

    if names.nested_position:
        timestamp = timestamp_ms(item.get("timestamp"), now_ms)
        raw_position = item.get("position")
        if type(raw_position) is dict:
            position = _position(raw_position, names)
        else:
            position = None
            if raw_position is not None:
                count(dropped, "position.invalid")
    else:
        if names is _V0:
            stamp = item.get("time")
            if stamp is None:
                stamp = item.get("timestamp")
            timestamp = iso_time_ms(stamp, now_ms)
        else:
            timestamp = timestamp_ms(item.get("timestamp"), now_ms)
        position = _position(item, names)

    carrier = item.get("carrier")
    try:
        home_mcc = as_code(item.get("homeMobileCountryCode"))
        home_mnc = as_code(item.get("homeMobileNetworkCode"))
    except BadValue:
        home_mcc = home_mnc = None
    return Report(
        timestamp=timestamp,
        position=position,
        bluetoothBeacons=blues,
        cellTowers=cells,
        wifiAccessPoints=wifis,
        carrier=carrier if type(carrier) is str and carrier else None,
        homeMobileCountryCode=home_mcc if home_mcc is not None and 1 <= home_mcc <= 999 else None,
        homeMobileNetworkCode=home_mnc if home_mnc is not None and 0 <= home_mnc <= 999 else None,
    )


def _position(raw: dict[str, object], names: _ApiNames) -> Position | None:
    """The position members of ``raw``; ``None`` when none is usable.

    Values are only type-checked here (non-finite and non-numeric values become absent); range
    checks, including for latitude and longitude, are the observation pipeline's job, as in
    Ichnaea, so a report with an unusable position is still accepted.
    """
    lat, lon, acc, alt, alt_acc, heading, pressure, speed = (
        as_float(raw.get(member)) for member in names.floats
    )
    age = int_in(raw.get("age"), -MAX_AGE, MAX_AGE)
    source = raw.get("source")
    source = _SOURCES.get(source.strip().lower()) if type(source) is str else None
    if (
        lat is None
        and lon is None
        and acc is None
        and alt is None
        and alt_acc is None
        and heading is None
        and pressure is None
        and speed is None
        and age is None
        and source is None
    ):
        return None
    return Position(
        latitude=lat,
        longitude=lon,
        accuracy=acc,
        altitude=alt,
        altitudeAccuracy=alt_acc,
        age=age,
        heading=heading,
        pressure=pressure,
        speed=speed,
        source=source,
    )
