"""The canonical report: what every submit API is normalised into before it is queued.

All three submit routes (``/v2/geosubmit``, ``/v1/geosubmit``, ``/v1/submit``) end in this one
shape, which is the ``/v2/geosubmit`` report with names kept (Ichnaea compatibility: the export
formats and the geosubmit forwarder speak v2). Values here have passed the lenient request-level
clean-up (sentinels removed, MACs normalised, private networks dropped); the range checks that
decide whether an observation is *used* happen later, in ``observations.py``.
"""

from __future__ import annotations

import zlib

import msgspec


class Position(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=False):
    latitude: float | None = None
    longitude: float | None = None
    accuracy: float | None = None
    altitude: float | None = None
    altitudeAccuracy: float | None = None
    age: int | None = None
    heading: float | None = None
    pressure: float | None = None
    speed: float | None = None
    source: str | None = None  # fixed | gnss | fused | query


class BlueBeacon(msgspec.Struct, omit_defaults=True):
    macAddress: str  # 12 lowercase hex characters, no separators
    age: int | None = None
    name: str | None = None
    signalStrength: int | None = None


class CellTower(msgspec.Struct, omit_defaults=True):
    radioType: str | None = None  # gsm | wcdma | lte | nr
    mobileCountryCode: int | None = None
    mobileNetworkCode: int | None = None
    locationAreaCode: int | None = None
    cellId: int | None = None
    age: int | None = None
    asu: int | None = None
    primaryScramblingCode: int | None = None
    serving: int | None = None
    signalStrength: int | None = None
    timingAdvance: int | None = None
    arfcn: int | None = None


class WifiAccessPoint(msgspec.Struct, omit_defaults=True):
    macAddress: str  # 12 lowercase hex characters, no separators
    age: int | None = None
    channel: int | None = None
    frequency: int | None = None
    radioType: str | None = None
    signalStrength: int | None = None
    signalToNoiseRatio: int | None = None
    ssid: str | None = None


class Report(msgspec.Struct, omit_defaults=True):
    timestamp: int  # ms since the epoch; the server's clock when the client's was unusable
    position: Position | None = None
    bluetoothBeacons: list[BlueBeacon] = []
    cellTowers: list[CellTower] = []
    wifiAccessPoints: list[WifiAccessPoint] = []
    carrier: str | None = None
    homeMobileCountryCode: int | None = None
    homeMobileNetworkCode: int | None = None


class Submission(msgspec.Struct, omit_defaults=True):
    """One accepted request: the unit pushed to the ``incoming`` queue."""

    reports: list[Report]
    api_key: str | None = None
    received: int = 0  # ms since the epoch, the server's clock at acceptance
    # Who submitted it: a keyed 31-bit hash of the client's address (see
    # intake.contributor_id), never the address itself; 0 when unknown.
    contributor: int = 0


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Submission)


def encode_submission(submission: Submission) -> bytes:
    """Queue form of a submission: msgpack, deflated.

    Compression cuts what the embedded queue writes (and checkpoints) by about five times, which
    keeps SQLite's WAL small and submit latency flat under load.
    """
    return zlib.compress(_encoder.encode(submission), 1)


def decode_submission(data: bytes) -> Submission:
    return _decoder.decode(zlib.decompress(data))


def report_source(report: Report) -> str:
    """The position source of a report, ``gnss`` when absent (Ichnaea's default)."""
    if report.position is not None and report.position.source:
        return report.position.source
    return "gnss"
