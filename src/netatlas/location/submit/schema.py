"""Typed shapes of the submit request bodies, and salvaging of badly typed ones (private).

The whole body is first decoded in one call into these Structs (msgspec's lax mode, so numeric
strings such as ``"-70"`` and integral floats such as ``-70.0`` are accepted for numbers). A body
that does not fit - one value of a wrong type anywhere - is decoded generically instead and each
report converted on its own; a report that still does not fit is *salvaged*: every member that
does not convert on its own (``"signalStrength": "strong"``, ``"macAddress": 10``) is treated as
absent, and array entries that are not objects are dropped and counted. Both routes give the same
Structs, so the clean-up rules downstream see one shape.

Attribute names are the /v2/geosubmit names; the legacy /v1/submit shapes rename them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, TypeVar

import msgspec

__all__ = [
    "BlueIn",
    "CellIn",
    "FlatReportIn",
    "PositionIn",
    "ReportIn",
    "ReportV2In",
    "WifiIn",
    "decode_reports",
    "salvage",
    "salvage_report",
]

_S = TypeVar("_S", bound=msgspec.Struct)
_Code = int | str | None  # network codes: numeric strings keep MNC leading zeros ("01")


class WifiIn(msgspec.Struct):
    macAddress: str | None = None
    age: int | None = None
    channel: int | None = None
    frequency: int | None = None
    radioType: str | None = None
    signalStrength: int | None = None
    signalToNoiseRatio: int | None = None
    ssid: str | None = None


class WifiInV0(
    WifiIn, rename={"macAddress": "key", "signalStrength": "signal", "radioType": "radio"}
):
    macAddress: str | None = None
    radioType: str | None = None
    signalStrength: int | None = None


class BlueIn(msgspec.Struct):
    macAddress: str | None = None
    age: int | None = None
    name: str | None = None
    signalStrength: int | None = None


class BlueInV0(BlueIn, rename={"macAddress": "key", "signalStrength": "signal"}):
    macAddress: str | None = None
    signalStrength: int | None = None


class CellIn(msgspec.Struct):
    radioType: str | None = None
    mobileCountryCode: _Code = None
    mobileNetworkCode: _Code = None
    locationAreaCode: _Code = None
    cellId: _Code = None
    newRadioCellId: _Code = None  # Google's member for the NR cell identity
    mobileCountryCodeStr: _Code = None  # NeoStumbler's string copies
    mobileNetworkCodeStr: _Code = None
    age: int | None = None
    asu: int | None = None
    primaryScramblingCode: int | None = None
    psc: int | None = None  # /v1/geosubmit's and /v1/submit's name
    serving: int | bool | None = None
    signalStrength: int | None = None
    timingAdvance: int | None = None
    arfcn: int | None = None


class CellInV0(
    CellIn,
    rename={
        "radioType": "radio",
        "mobileCountryCode": "mcc",
        "mobileNetworkCode": "mnc",
        "locationAreaCode": "lac",
        "cellId": "cid",
        "signalStrength": "signal",
        "timingAdvance": "ta",
    },
):
    radioType: str | None = None
    mobileCountryCode: _Code = None
    mobileNetworkCode: _Code = None
    locationAreaCode: _Code = None
    cellId: _Code = None
    signalStrength: int | None = None
    timingAdvance: int | None = None


class PositionIn(msgspec.Struct):
    latitude: float | None = None
    longitude: float | None = None
    accuracy: float | None = None
    altitude: float | None = None
    altitudeAccuracy: float | None = None
    age: int | None = None
    heading: float | None = None
    pressure: float | None = None
    speed: float | None = None
    source: str | None = None


class ReportV2In(msgspec.Struct):
    timestamp: int | float | str | None = None
    position: PositionIn | None = None
    radioType: str | None = None  # default for cells without their own
    carrier: str | None = None
    homeMobileCountryCode: _Code = None
    homeMobileNetworkCode: _Code = None
    bluetoothBeacons: Sequence[BlueIn] | None = None
    cellTowers: Sequence[CellIn] | None = None
    wifiAccessPoints: Sequence[WifiIn] | None = None


class FlatReportIn(PositionIn):
    """/v1/geosubmit: the position members sit on the report itself."""

    timestamp: int | float | str | None = None
    radioType: str | None = None
    carrier: str | None = None
    homeMobileCountryCode: _Code = None
    homeMobileNetworkCode: _Code = None
    bluetoothBeacons: Sequence[BlueIn] | None = None
    cellTowers: Sequence[CellIn] | None = None
    wifiAccessPoints: Sequence[WifiIn] | None = None


class FlatReportInV0(
    FlatReportIn,
    rename={
        "latitude": "lat",
        "longitude": "lon",
        "altitudeAccuracy": "altitude_accuracy",
        "timestamp": "time",  # an ISO 8601 string
        "radioType": "radio",
        "bluetoothBeacons": "blue",
        "cellTowers": "cell",
        "wifiAccessPoints": "wifi",
    },
):
    """/v1/submit, the legacy MozStumbler format."""

    latitude: float | None = None
    longitude: float | None = None
    altitudeAccuracy: float | None = None
    timestamp: int | float | str | None = None
    radioType: str | None = None
    bluetoothBeacons: Sequence[BlueInV0] | None = None
    cellTowers: Sequence[CellInV0] | None = None
    wifiAccessPoints: Sequence[WifiInV0] | None = None


ReportIn = ReportV2In | FlatReportIn


class _BodyV2(msgspec.Struct):
    items: list[ReportV2In]


class _BodyV1(msgspec.Struct):
    items: list[FlatReportIn]


class _BodyV0(msgspec.Struct):
    items: list[FlatReportInV0]


# The array members of each report type: JSON name -> (entry type, drop-reason prefix).
_ARRAYS: Final[dict[type[ReportIn], dict[str, tuple[type[msgspec.Struct], str]]]] = {
    ReportV2In: {
        "bluetoothBeacons": (BlueIn, "blue"),
        "cellTowers": (CellIn, "cell"),
        "wifiAccessPoints": (WifiIn, "wifi"),
    },
    FlatReportIn: {
        "bluetoothBeacons": (BlueIn, "blue"),
        "cellTowers": (CellIn, "cell"),
        "wifiAccessPoints": (WifiIn, "wifi"),
    },
    FlatReportInV0: {
        "blue": (BlueInV0, "blue"),
        "cell": (CellInV0, "cell"),
        "wifi": (WifiInV0, "wifi"),
    },
}
_ATTRIBUTES: Final = {
    "blue": "bluetoothBeacons",
    "cell": "cellTowers",
    "wifi": "wifiAccessPoints",
}

REPORT_TYPES: Final[dict[str, type[ReportIn]]] = {
    "v2": ReportV2In,
    "v1": FlatReportIn,
    "v0": FlatReportInV0,
}
_DECODE_V2: Final = msgspec.json.Decoder(_BodyV2, strict=False).decode
_DECODE_V1: Final = msgspec.json.Decoder(_BodyV1, strict=False).decode
_DECODE_V0: Final = msgspec.json.Decoder(_BodyV0, strict=False).decode


def _count(dropped: dict[str, int], reason: str) -> None:
    dropped[reason] = dropped.get(reason, 0) + 1


def salvage(value: dict[str, object], struct: type[_S]) -> _S:
    """Convert a JSON object, treating every member that does not convert on its own as absent."""
    try:
        return msgspec.convert(value, struct, strict=False)
    except msgspec.ValidationError:
        pass
    good: dict[str, object] = {}
    for key, member in value.items():
        try:
            msgspec.convert({key: member}, struct, strict=False)
        except msgspec.ValidationError:
            continue
        good[key] = member
    return msgspec.convert(good, struct, strict=False)


def _salvage_entries(
    value: object, struct: type[msgspec.Struct], kind: str, dropped: dict[str, int]
) -> list[msgspec.Struct] | None:
    if value is None:
        return None
    if type(value) is not list:
        _count(dropped, kind + ".invalid")
        return None
    entries: list[msgspec.Struct] = []
    for entry in value:
        if type(entry) is dict:
            entries.append(salvage(entry, struct))
        else:
            _count(dropped, kind + ".invalid")
    return entries


def salvage_report(
    item: dict[str, object], report_type: type[ReportIn], dropped: dict[str, int]
) -> ReportIn:
    """A report that did not convert as a whole, rebuilt member by member and entry by entry."""
    arrays = _ARRAYS[report_type]
    head: dict[str, object] = {}
    salvaged: dict[str, list[msgspec.Struct] | None] = {}
    position: PositionIn | None = None
    for key, value in item.items():
        spec = arrays.get(key)
        if spec is not None:
            struct, kind = spec
            salvaged[_ATTRIBUTES[kind]] = _salvage_entries(value, struct, kind, dropped)
        elif key == "position" and report_type is ReportV2In:
            if type(value) is dict:
                position = salvage(value, PositionIn)
            elif value is not None:
                _count(dropped, "position.invalid")
        else:
            head[key] = value
    report = salvage(head, report_type)
    for attribute, entries in salvaged.items():
        setattr(report, attribute, entries)
    if isinstance(report, ReportV2In):
        report.position = position
    return report


def decode_reports(text: str | bytes, api: str) -> Sequence[ReportIn] | None:
    """The reports of a well-typed body in one decoding pass; ``None`` when it does not fit."""
    try:
        if api == "v2":
            return _DECODE_V2(text).items
        if api == "v1":
            return _DECODE_V1(text).items
        return _DECODE_V0(text).items
    except (msgspec.DecodeError, RecursionError):  # DecodeError includes ValidationError
        return None
